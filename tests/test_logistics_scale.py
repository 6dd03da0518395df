"""`logistics check` on big ledgers (issue 18): parcels judged one at a time, the open
tickets read by the fast scan, with the same answers as holding and folding everything."""

from __future__ import annotations

import json
import random

from aftersales import ledger, logistics, registers
from aftersales.clock import parse_time
from aftersales.policy import load_policy

CST = "+08:00"


def at(day: int, hhmm: str = "09:00") -> str:
    return f"2026-11-{day:02d}T{hhmm}:00{CST}"


def chase(run, now):
    r = run("logistics", "check", "--format", "json", now=now)
    return [(x["rule"], x["waybill"], x["ticket"]) for x in json.loads(r.stdout)]


def _shipments(shop, n=300, seed=3):
    """n rows over about n/2 waybills: first rows, then updates, some written after `at(20)`."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        wb = f"ZT{rnd.randrange(n // 2):04d}"
        day = rnd.randrange(10, 23)
        row = {"waybill": wb, "at": at(day), "order": f"O{wb}", "courier": "zto",
               "destination": rnd.choice(["浙江杭州", "新疆乌鲁木齐", "广东深圳", "火星", ""])}
        kind = rnd.randrange(4)
        if kind >= 1:
            row["shipped_at"] = at(day - 1, "08:00")
        if kind >= 2:
            row["collected_at"] = at(day - 1, "12:00")
            row["last_update_at"] = at(day, "06:00")
        if kind == 3:
            row["signed_at"] = at(day, "07:00")
            row["signed_by"] = rnd.choice(["本人", "门卫", ""])
        if rnd.random() < 0.1:
            row["source"] = 'note, with "quotes"\nand a line break'
        rows.append(row)
    ledger.append(shop, "shipments", rows, load_policy(shop))
    from aftersales import tracking

    tracking.register_ledger()
    traces = []
    for _ in range(n // 3):  # tracking states, their event times in no order
        code, state = rnd.choice([("1", "in_transit"), ("501", "at_locker"), ("2", "problem"), ("303", "delivered_proxy"),
                                  ("101", "not_collected")])
        traces.append({"waybill": f"ZT{rnd.randrange(n // 2):04d}", "at": at(rnd.randrange(10, 23)),
                       "provider": "kuaidi100", "code": code, "state": state,
                       "event_at": at(rnd.randrange(8, 22), rnd.choice(["05:00", "10:00"]))})
    ledger.append(shop, "tracking", traces, load_policy(shop))


def test_latest_each_gives_what_latest_gives(shop):
    _shipments(shop)
    for until in (None, parse_time(at(20)), parse_time(at(15))):
        want = ledger.latest(shop, "shipments", "waybill", until)
        got = list(ledger.latest_each(shop, "shipments", "waybill", until))
        assert {k: rec for _i, k, rec in got} == want and len(got) == len(want)
        assert [k for _i, k, _r in sorted(got, key=lambda x: x[0])] == list(want)  # positions of first rows


def test_latest_each_reads_plain_ledgers_from_bytes_and_the_others_by_csv(shop):
    ledger.append(shop, "shipments", [{"waybill": w, "at": at(d), "order": "O1"} for w, d in
                                      (("A", 1), ("B", 2), ("A", 3))], load_policy(shop))
    assert ledger._first_field_counts(shop, "shipments") == ({hash("A")}, 3)
    path = ledger.ledger_path(shop, "shipments")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # CRLF: still plain lines
    assert ledger._first_field_counts(shop, "shipments") == ({hash("A")}, 3)
    assert [(k, r["at"]) for _i, k, r in ledger.latest_each(shop, "shipments", "waybill")] == [("B", at(2)),
                                                                                                 ("A", at(3))]
    ledger.append(shop, "shipments", [{"waybill": "C", "at": at(4), "order": "O1", "source": 'a "b"'}],
                  load_policy(shop))
    assert ledger._first_field_counts(shop, "shipments") is None  # a quote: csv.reader counts
    assert {k for _i, k, _r in ledger.latest_each(shop, "shipments", "waybill")} == {"A", "B", "C"}


def test_the_chase_is_the_same_judged_one_parcel_at_a_time(shop):
    _shipments(shop)
    toml = shop / "policies" / "logistics.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('default_zone = "zone2"', 'default_zone = ""'),
                    encoding="utf-8")  # 火星 and "" have no zone now
    policy = load_policy(shop)
    seen = 0
    for now in (parse_time(at(12)), parse_time(at(20)), parse_time(at(25))):
        lost = {"ZT0001", "ZT0002"}
        want, want_unzoned = logistics.chase(policy, logistics.parcels(shop, now), now, lost)
        got, got_unzoned, kept = logistics.chase_ledger(shop, policy, now, lost, keep={"ZT0003", "nope"})
        assert got == want and got_unzoned == want_unzoned
        seen += len(want) * len(want_unzoned)
        assert kept == {k: v for k, v in logistics.parcels(shop, now).items() if k == "ZT0003"}
    assert seen > 100


def test_tickets_closed_after_now_are_open_then_and_reshipments_see_closed_tickets(run, shop):
    early = run.new(category="out_of_stock", model=None, summary="缺货", now=at(23, "09:00"))
    late = run.new(category="out_of_stock", model=None, summary="缺货", now=at(23, "09:10"))
    run("ticket", "reply", early, "您好,缺货", now=at(23, "09:20"))
    run("ticket", "close", early, "--force", "客户取消", by="l01", now=at(23, "10:00"))
    run("ticket", "reply", late, "您好,缺货", now=at(23, "09:20"))
    run("ticket", "close", late, "--force", "客户取消", by="l01", now=at(23, "12:00"))
    assert chase(run, at(23, "11:00")) == [("out_of_stock", "", late)]
    assert chase(run, at(23, "09:30")) == [("out_of_stock", "", early), ("out_of_stock", "", late)]
    assert chase(run, at(23, "12:00")) == []

    tid = run.new(category="transit_damage", model=None, courier="sf", waybill="SF111", summary="碗碎了",
                  now=at(24, "09:00"))
    run("reship", "new", "--ticket", tid, "--new-waybill", "SF222", "--courier", "sf", "--reason", "破损补发",
        "--responsible", "快递", now=at(24, "10:00"))
    run("ticket", "close", tid, "--force", "已补发", by="l01", now=at(24, "11:00"))
    assert chase(run, at(24, "12:00")) == [("send_waybill", "SF222", tid)]  # closed, and still owed
    assert logistics.owed_tickets(registers.load(shop, registers.SPECS["reship"]), parse_time(at(24, "12:00"))) \
        == {tid}


def test_a_time_that_does_not_parse_is_named_by_file_and_line(run, shop):
    ledger.append(shop, "shipments", [{"waybill": "ZT1", "at": at(20), "order": "O1", "destination": "上海",
                                       "shipped_at": at(20)}], load_policy(shop))
    path = ledger.ledger_path(shop, "shipments")
    path.write_text(path.read_text(encoding="utf-8").replace(f",{at(20)},,", ",yesterday,,"), encoding="utf-8")
    r = run("logistics", "check", now=at(23))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("error: ledgers/shipments.csv:2: 'shipped_at' value 'yesterday' is not valid")
