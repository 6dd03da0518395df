"""Logistics chase, return eligibility and review follow-up (seeds 000, 001, 004), then on real Olist data."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil

import pytest

from aftersales import ledger
from aftersales.policy import load_policy

from conftest import REPO

CST = "+08:00"


def at(day: int, hhmm: str, month: int = 11) -> str:
    return f"2026-{month:02d}-{day:02d}T{hhmm}:00{CST}"


def ship(shop, waybill, **cols):
    row = {"waybill": waybill, "at": at(1, "00:00"), "order": "O-" + waybill, "courier": "zto"}
    row.update(cols)
    ledger.append(shop, "shipments", [row], load_policy(shop))


def chase(run, now):
    r = run("logistics", "check", "--format", "json", now=now)
    return r.exit_code, {x["waybill"]: x for x in json.loads(r.stdout)}


# ------------------------------------------------------------------ chase rules


def test_zone_1_is_chased_after_24_hours_without_an_update(run, shop):
    ship(shop, "ZT1", destination="浙江杭州", shipped_at=at(20, "09:00"), collected_at=at(20, "18:00"),
         last_update_at=at(21, "10:00"))
    assert chase(run, at(22, "10:00")) == (0, {})  # exactly 24 h
    code, got = chase(run, at(22, "10:01"))
    assert code == 1 and got["ZT1"]["rule"] == "no_update" and got["ZT1"]["zone"] == "zone1"
    assert got["ZT1"]["why"] == "一区: no tracking update for 24 h (limit 24h)"


def test_zones_2_and_3_wait_48_hours(run, shop):
    ship(shop, "ZT2", destination="广东深圳", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"))
    ship(shop, "ZT3", destination="新疆乌鲁木齐", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"))
    ship(shop, "ZT4", destination="火星", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"))  # default zone 2
    assert chase(run, at(22, "10:00")) == (0, {})
    code, got = chase(run, at(22, "10:01"))
    assert {k: v["zone"] for k, v in got.items()} == {"ZT2": "zone2", "ZT3": "zone3", "ZT4": "zone2"}


def test_not_collected_24_hours_after_shipping_except_in_a_promotion(run, shop):
    ship(shop, "YT1", destination="上海", shipped_at=at(18, "09:00"))  # after 双11 (10-20 .. 11-12)
    ship(shop, "YT2", destination="上海", shipped_at=at(10, "09:00"))  # during 双11
    code, got = chase(run, at(19, "09:00"))
    assert "YT1" not in got and "YT2" in got and got["YT2"]["rule"] == "not_collected"
    code, got = chase(run, at(11, "09:01"))  # 24 h after YT2 shipped, inside the promotion
    assert "YT2" not in got
    code, got = chase(run, at(19, "09:01"))
    assert got["YT1"]["why"] == "shipped 24 h ago and not collected by the courier (limit 24h)"


def test_signed_by_someone_else_is_verified_then_reported_lost(run, shop):
    ship(shop, "SF1", destination="江苏", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"),
         signed_at=at(21, "15:00"), signed_by="门卫代签")
    ship(shop, "SF2", destination="江苏", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"),
         signed_at=at(21, "15:00"), signed_by="本人")
    code, got = chase(run, at(22, "09:00"))
    assert set(got) == {"SF1"} and got["SF1"]["rule"] == "verify_signer"
    code, got = chase(run, at(23, "16:00"))  # 25 h after the verification was due
    assert got["SF1"]["rule"] == "report_lost"
    run("lost", "new", "--order", "O-SF1", "--waybill", "SF1", "--courier", "sf", now=at(23, "16:05"))
    assert chase(run, at(23, "16:10")) == (0, {})


def test_a_later_signing_is_not_known_earlier(run, shop):
    """Replays: at a past --now, a parcel signed since then was still in transit."""
    ship(shop, "ZT9", destination="上海", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"),
         signed_at=at(23, "09:00"), signed_by="本人")
    assert chase(run, at(21, "11:00"))[1]["ZT9"]["rule"] == "no_update"
    assert chase(run, at(23, "10:00")) == (0, {})


def test_table_prints_the_remark_and_the_customer_notice_and_tickets_open_once(run, shop):
    ship(shop, "ZT1", destination="浙江", shipped_at=at(20, "09:00"), collected_at=at(20, "10:00"))
    r = run("logistics", "check", now=at(23, "10:00"))
    assert r.exit_code == 1
    assert "1 parcel to chase. Order remark after chasing: 已催件 a01 2026-11-23" in r.stdout
    assert "Customer notice (催件告知): 小主,这边已经给您联系快递催件" in r.stdout
    r = run("logistics", "check", "--open-tickets", now=at(23, "10:00"))
    assert "opened 1 ticket" in r.stdout
    listed = json.loads(run("ticket", "list", "--format", "json", now=at(23, "10:05")).stdout)
    assert [(t["category"], t["order"]) for t in listed] == [("logistics_query", "O-ZT1")]
    r = run("logistics", "check", "--open-tickets", now=at(23, "11:00"))
    assert "opened" not in r.stdout and len(json.loads(run("ticket", "list", "--format", "json").stdout)) == 1


# ------------------------------------------------------------------ eligibility


@pytest.mark.parametrize("now, verdict, day", [(at(18, "23:59"), "yes", 7), (at(19, "00:00"), "no", 8)])
def test_seven_days_from_signing_in_the_shops_zone(run, shop, now, verdict, day):
    # signed 2026-11-10 16:30 UTC = 11-11 00:30 in Shanghai: day 0 is the 11th there, day 7 the 18th
    ship(shop, "SF7", destination="上海", shipped_at=at(9, "09:00"), collected_at=at(9, "10:00"),
         signed_at="2026-11-10T16:30:00+00:00", signed_by="本人")
    rows = {x["rule"]: x for x in json.loads(run("eligibility", "O-SF7", "--format", "json", now=now).stdout)}
    assert rows["no_reason_return"]["verdict"] == verdict and rows["price_difference"]["verdict"] == verdict
    assert f"today is day {day}" in rows["no_reason_return"]["why"]


def test_fast_refund_return_shipping_and_out_of_stock(run, shop):
    tid = run.new(category="out_of_stock", model=None, order="OS1", order_amount="150.00", member="gold",
                  summary="缺货", now=at(20, "09:00"))
    rows = {x["rule"]: x for x in json.loads(run("eligibility", "--ticket", tid, "--fault", "courier", "--format", "json",
                                                 now=at(20, "10:00")).stdout)}
    assert rows["fast_refund"]["verdict"] == "yes"
    assert rows["no_reason_return"]["verdict"] == "no"  # not signed yet
    assert rows["return_shipping"]["why"] == "return shipping: paid by the shop (and claims it from the courier) (courier's fault; seed 001)"
    assert rows["out_of_stock"]["why"] == ("out-of-stock compensation: from a ¥5.00 coupon to up to ¥45.00 "
                                           "(lead: 30% order_amount), by the delay")
    tid2 = run.new(category="usage", model=None, order="OS2", order_amount="250.00", member="diamond", summary="x")
    rows = {x["rule"]: x for x in json.loads(run("eligibility", "--ticket", tid2, "--format", "json").stdout)}
    assert rows["fast_refund"]["verdict"] == "no" and rows["return_shipping"]["verdict"] == "n/a"
    r = run("eligibility", "NOPE")
    assert r.exit_code == 2 and "order 'NOPE' is in no ticket and no shipment" in r.stderr


# ------------------------------------------------------------------ reviews


def review(shop, rid, score, created, **cols):
    row = {"review": rid, "at": created, "order": "O-" + rid, "product": cols.pop("product", "P1"), "score": score,
           "created_at": created}
    row.update(cols)
    ledger.append(shop, "reviews", [row], load_policy(shop))


def test_a_bad_review_must_be_contacted_within_an_hour(run, shop):
    review(shop, "R1", 1, at(23, "09:00"), comment="漏水")
    review(shop, "R2", 3, at(23, "09:00"))  # not bad
    r = run("reviews", "check", "--format", "json", now=at(23, "10:00"))
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    r = run("reviews", "check", "--format", "json", now=at(23, "10:01"))
    assert r.exit_code == 1 and [x["review"] for x in json.loads(r.stdout)] == ["R1"]
    assert run("reviews", "contact", "R1", now=at(23, "10:05")).exit_code == 0
    r = run("reviews", "check", "--format", "json", now=at(23, "10:10"))
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])


def test_follow_up_tickets_open_once_and_products_are_counted(run, shop):
    for i, product in enumerate(["K-200", "K-200", "K-300"]):
        review(shop, f"R{i}", 1, at(23, "08:00"), product=product, comment="有异味")
    review(shop, "R9", 5, at(23, "08:00"), product="K-300")
    r = run("reviews", "check", "--open-tickets", now=at(23, "10:00"))
    assert r.exit_code == 1 and "opened 3 follow-up tickets" in r.stdout
    assert "most bad reviews: K-200 (2 of 2); K-300 (1 of 2)" in r.stdout
    r = run("reviews", "check", "--open-tickets", "--format", "json", now=at(23, "10:30"))
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    assert len(json.loads(run("ticket", "list", "--format", "json").stdout)) == 3
    got = json.loads(run("reviews", "check", "--by-product", "--format", "json", now=at(23, "10:30")).stdout)
    assert got == [{"product": "K-200", "bad_reviews": 2, "reviews": 2}, {"product": "K-300", "bad_reviews": 1, "reviews": 2}]


# ------------------------------------------------------------------ real data: Olist

OLIST = REPO.parent / "shared" / "realdata" / "olist"
olist = pytest.mark.skipif(not OLIST.is_dir(), reason="needs ../shared/realdata/olist beside the repository")
SAO_PAULO = dt.timezone(dt.timedelta(hours=-3))  # no summer time in 2018-08/09
NOW = dt.datetime(2018, 8, 20, 12, 0, tzinfo=SAO_PAULO)


@pytest.fixture
def demo_copy(tmp_path):
    """The demo shop's policies (with the Olist mappings) and empty ledgers."""
    from aftersales.scaffold import init_workspace

    root = tmp_path / "olist-shop"
    init_workspace(root)
    for p in (REPO / "policies").glob("*.toml"):
        shutil.copyfile(p, root / "policies" / p.name)
    return root


def _olist_orders():
    with open(OLIST / "olist_orders_dataset.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(OLIST / "olist_customers_dataset.csv", encoding="utf-8", newline="") as f:
        state = {r["customer_id"]: r["customer_state"] for r in csv.DictReader(f)}
    return rows, state


def _t(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO) if text else None


@olist
def test_olist_orders_import_reports_contradictions_by_line(run, demo_copy, tmp_path):
    from conftest import Runner

    run = Runner(demo_copy)
    r = run("import", "olist_orders", OLIST / "olist_orders_dataset.csv", now="2018-10-20T12:00:00-03:00")
    assert r.exit_code == 2  # all or nothing by default
    assert (demo_copy / "ledgers/shipments.csv").read_text(encoding="utf-8") == ledger.schema_of("shipments").header
    orders, _ = _olist_orders()
    kept = [(i, o) for i, o in enumerate(orders, start=2) if o["order_status"] in ("shipped", "delivered")]
    bad = set()
    for line, o in kept:  # the rules, computed here independently
        shipped, collected, signed = _t(o["order_approved_at"]), _t(o["order_delivered_carrier_date"]), _t(o["order_delivered_customer_date"])
        if o["order_status"] == "delivered" and (collected is None or signed is None):
            bad.add(line)
        for a, b in ((shipped, collected), (collected, signed), (shipped, signed)):
            if a and b and a > b:
                bad.add(line)
    reported = {int(x.split(":")[1]) for x in r.stdout.splitlines() if x.startswith(str(OLIST))}
    assert reported == bad and len(bad) == 88
    assert r.stderr.splitlines()[-1] == f"{len(bad)} of {len(kept)} rows are bad; nothing was imported"
    assert "signed_at is empty" in r.stdout and "'signed_at' (" in r.stdout  # both kinds of contradiction named

    rejects = tmp_path / "rejects.csv"
    r = run("import", "olist_orders", OLIST / "olist_orders_dataset.csv", "--keep-going", "--rejects", rejects,
            now="2018-10-20T12:00:00-03:00")
    assert r.exit_code == 1
    assert f"imported {len(kept) - len(bad)} of {len(kept)} rows into ledgers/shipments.csv; {len(bad)} rejected" in r.stderr
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        rej = list(csv.DictReader(f))
    assert len(rej) == len(bad) and all(x["error"] for x in rej)
    assert run("check").exit_code == 0


@olist
def test_olist_chase_and_reviews_match_the_rules(run, demo_copy):
    from conftest import Runner

    run = Runner(demo_copy)
    run("import", "olist_orders", OLIST / "olist_orders_dataset.csv", "--keep-going", "--rejects",
        demo_copy / "rejects.csv", now="2018-10-20T12:00:00-03:00")
    assert run("import", "olist_reviews", OLIST / "olist_order_reviews_dataset.csv", now="2018-10-20T12:00:00-03:00").exit_code == 0
    r = run("logistics", "check", "--format", "json", now=NOW.isoformat())
    got = {x["waybill"]: x["rule"] for x in json.loads(r.stdout)}

    orders, state = _olist_orders()
    policy = load_policy(demo_copy)
    zones = {region: z for z, zone in policy.logistics.zones.items() for region in zone.regions}
    want = {}
    for o in orders:
        if o["order_status"] not in ("shipped", "delivered"):
            continue
        shipped, collected, signed = _t(o["order_approved_at"]), _t(o["order_delivered_carrier_date"]), _t(o["order_delivered_customer_date"])
        if (o["order_status"] == "delivered" and (collected is None or signed is None)) or any(
                a and b and a > b for a, b in ((shipped, collected), (collected, signed), (shipped, signed))):
            continue  # rejected at import
        known = [t if t and t <= NOW else None for t in (shipped, collected, signed)]
        shipped, collected, signed = known
        if signed is not None or shipped is None:
            continue
        if collected is None:
            if NOW - shipped > dt.timedelta(hours=24):
                want[o["order_id"]] = "not_collected"
            continue
        limit = 24 if zones.get(state[o["customer_id"]], "zone2") == "zone1" else 48
        if NOW - max(shipped, collected) > dt.timedelta(hours=limit):
            want[o["order_id"]] = "no_update"
    assert got == want and r.exit_code == 1
    assert len(want) > 1000  # 1,160 no_update and 31 not_collected at this time

    with open(OLIST / "olist_order_reviews_dataset.csv", encoding="utf-8", newline="") as f:
        revs = list(csv.DictReader(f))
    late = {x["review_id"] for x in revs if int(x["review_score"]) <= 2
            and _t(x["review_creation_date"]) + dt.timedelta(hours=1) < NOW}
    r = run("reviews", "check", "--format", "json", now=NOW.isoformat())
    assert {x["review"] for x in json.loads(r.stdout)} == late and r.exit_code == 1


def test_an_open_tickets_bad_intake_data_is_named_whatever_its_category(run, shop):
    # the chase reads the intake forms of its categories' tickets only, but checks every one's
    tid = run.new(now=at(20, "09:00"))
    ship(shop, "ZT1", destination="浙江杭州", shipped_at=at(20, "09:00"), collected_at=at(20, "18:00"))
    assert chase(run, at(20, "19:00"))[0] == 0
    path = shop / "ledgers" / "tickets.csv"
    text = path.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if line.startswith(tid) and ",open," in line)
    cell = first[first.index(',"{') + 1:]
    path.write_text(text.replace(first, first.replace(cell, '"{""channel"":}"')), encoding="utf-8")
    r = run("logistics", "check", "--format", "json", now=at(20, "19:00"))
    assert r.exit_code == 2 and "is not a JSON object" in r.stderr, r.stderr


def test_the_parcels_read_beside_the_tickets_give_what_one_process_gives(run, shop, monkeypatch):
    # logistics check reads the shipments in a forked process while it scans the tickets
    from aftersales import logistics

    ship(shop, "SF1", destination="浙江杭州", courier="sf", shipped_at=at(18, "09:00"), collected_at=at(18, "18:00"),
         signed_at=at(19, "10:00"), signed_by="本人")
    ship(shop, "ZT2", destination="浙江杭州", shipped_at=at(18, "09:00"), collected_at=at(18, "18:00"))
    run.new(category="signed_not_received", model=None, waybill="SF1", summary="没收到", now=at(20, "09:00"))
    run.new(category="usage", model=None, waybill="ZT2", summary="x", now=at(20, "09:00"))

    def chase_json(**env):
        r = run("logistics", "check", "--format", "json", now=at(22, "10:00"), env=env)
        assert r.exit_code == 1, r.stderr
        return r.stdout

    one = chase_json(AFTERSALES_JOBS="1")
    rules = {(x["waybill"], x["rule"], x["courier"], x["destination"]) for x in json.loads(one)}
    assert ("SF1", "report_lost", "sf", "浙江杭州") in rules and ("ZT2", "no_update", "zto", "浙江杭州") in rules
    assert chase_json() == one
    here, plain = os.getpid(), logistics.chase_ledger

    def failing(*a, **k):  # in the child only: its work is done again here
        if os.getpid() != here:
            os._exit(3)
        return plain(*a, **k)

    monkeypatch.setattr(logistics, "chase_ledger", failing)
    assert chase_json() == one
