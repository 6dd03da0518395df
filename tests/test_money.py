"""Money and registers as seeds 000 and 001 set them: authority, approvals, registers, courier claims."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales import tickets
from aftersales.money import parse_amount


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


def payments(shop):
    with open(shop / "ledgers" / "compensations.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def pay(run, tid, amount, by="a01", now=None, **opts):
    args = ["compensate", tid, "--amount", amount, "--method", opts.pop("method", "balance"),
            "--liability", opts.pop("liability", "shop")]  # courier/warehouse at fault raise caps (seed 001)
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", v] if v is not True else [f"--{k}"]
    return run(*args, by=by, now=now or at("10:00"))


@pytest.fixture
def kettle(run):
    """A damaged ¥299 kettle in a ¥309 order: the lead may pay 10% of the item price, ¥29.90."""
    return run.new(item_amount="299.00", order_amount="309.00", shipping_fee="10.00", now=at("09:00"))


def test_an_agent_may_pay_up_to_10_yuan_for_a_quality_problem(run, shop, kettle):
    r = pay(run, kettle, "8.00")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split(": ", 1)[1] == (f"paid ¥8.00 on {kettle[:7]} (balance, liability shop); "
                                          "total paid ¥8.00 of the ticket's limit ¥29.90 (lead: 10% item_amount)\n")
    [row] = payments(shop)
    assert (row["ticket"], row["by"], row["amount"], row["method"], row["liability"], row["approved_by"], row["order"]) == (
        kettle, "a01", "8.00", "balance", "shop", "", "TB20261123001")


def test_limits_count_what_was_already_paid(run, shop, kettle, ledgers_unchanged):
    pay(run, kettle, "8.00")
    with ledgers_unchanged():
        r = pay(run, kettle, "5.00", now=at("11:00"))
    assert r.exit_code == 2
    assert r.stderr == (f"error: a total of ¥13.00 on ticket {kettle[:7]} is over a01's authority (agent: ¥10.00)\n"
                        "hint: it needs the approval of a lead (客服组长, lead: 10% item_amount): add --approved-by STAFF\n")
    r = pay(run, kettle, "5.00", now=at("11:00"), approved_by="l01")
    assert r.exit_code == 0
    assert payments(shop)[-1]["approved_by"] == "l01"


@pytest.mark.parametrize("approver, message", [
    ("a02", "--approved-by a02 has the role agent (售后客服专员); a total of ¥20.00 needs a lead (客服组长) or higher"),
    ("a01", "the payer cannot approve their own payment; --approved-by must name someone else"),
    ("x99", "--approved-by x99: unknown staff member; known: a01, a02, a03, d01, e01, gm, l01, m01, o01, p01, q01, w01"),
])
def test_approval_by_the_wrong_person_is_refused(run, kettle, ledgers_unchanged, approver, message):
    with ledgers_unchanged():
        r = pay(run, kettle, "20.00", approved_by=approver)
    assert (r.exit_code, r.stderr) == (2, f"error: {message}\n")


def test_a_lead_pays_within_10_percent_and_a_director_above_it(run, shop, kettle):
    assert pay(run, kettle, "29.90", by="l01").exit_code == 0  # exactly the lead's cap
    r = pay(run, kettle, "0.10", by="l01", now=at("10:30"))
    assert r.exit_code == 2 and "it needs the approval of a director (售后总监, director: 100% order_amount)" in r.stderr


def test_a_payment_over_the_tickets_limit_makes_it_abnormal(run, shop, kettle):
    r = pay(run, kettle, "35.00", approved_by="d01")
    assert r.exit_code == 0
    assert r.stdout.endswith("  abnormal compensation_over_limit (rule compensation-over-limit)\n")
    t = tickets.load_ticket(shop, kettle)
    assert t.abnormal == "compensation_over_limit"


def test_out_of_stock_at_most_30_percent_of_the_order(run):
    tid = run.new(category="out_of_stock", model=None, order_amount="200.00", summary="下单三天还没发货")
    assert pay(run, tid, "60.00", by="l01", liability="shop").exit_code == 0
    r = pay(run, tid, "0.01", by="l01", liability="shop", now=at("10:05"))
    assert r.exit_code == 2 and "needs the approval of a director" in r.stderr


def test_a_wrong_item_normally_no_more_than_the_shipping_fee(run):
    tid = run.new(category="short_wrong", model=None, shipping_fee="8.00", order_amount="99.00", summary="发错颜色")
    assert pay(run, tid, "8.00", liability="shop").exit_code == 0
    r = pay(run, tid, "1.00", liability="shop", now=at("10:05"))
    assert r.exit_code == 2 and "needs the approval of a lead" in r.stderr  # the next superior first


def test_no_authority_without_the_amount_a_cap_is_a_share_of(run):
    tid = run.new(summary="坏了")  # no item or order amount on the ticket
    r = pay(run, tid, "12.00", by="d01")
    assert r.exit_code == 2
    assert r.stderr == (f"error: no role may pay a total of ¥12.00 on ticket {tid[:7]} (category quality); the ticket has "
                        f"no order_amount, item_amount, shipping_fee, which the caps are shares of "
                        f"(`aftersales ticket set {tid[:7]} order_amount …`)\n")


@pytest.mark.parametrize("amount, message", [
    ("0", '"0" is zero; an amount must be above zero'),
    ("-8", '"-8" is negative; amounts are in yuan and above zero'),
    ("8.001", '"8.001" has more than two decimal places (fen are the smallest unit)'),
    ("NaN", '"NaN" is not an amount; write it like 8.00'),
    ("八元", '"八元" is not an amount; write it like 8.00'),
])
def test_bad_amounts_are_refused(run, kettle, ledgers_unchanged, amount, message):
    with ledgers_unchanged():
        r = pay(run, kettle, amount)
    assert (r.exit_code, r.stderr) == (2, f"error: --amount: {message}\n")


def test_more_than_the_order_amount_is_refused_even_with_approval(run, kettle, ledgers_unchanged):
    with ledgers_unchanged():
        r = pay(run, kettle, "309.01", by="d01", approved_by="gm")
    assert r.exit_code == 2 and "more than the order amount ¥309.00" in r.stderr


def test_the_same_payment_twice_needs_again(run, shop, kettle):
    pay(run, kettle, "5.00", now=at("10:00"))
    r = pay(run, kettle, "5.00", by="l01", now=at("10:05"))
    assert r.exit_code == 2
    assert r.stderr == (f"error: ¥5.00 was already paid on ticket {kettle[:7]} within 10 min\n"
                        "hint: if this is a second payment, add --again\n")
    assert pay(run, kettle, "5.00", by="l01", now=at("10:05"), again=True).exit_code == 0
    assert pay(run, kettle, "5.00", by="l01", now=at("10:30")).exit_code == 0  # outside the window
    assert len(payments(shop)) == 3


def test_a_discouraged_method_needs_a_reason(run, kettle):
    r = pay(run, kettle, "5.00", method="transfer")
    assert r.exit_code == 2 and "method 'transfer' (支付宝转账) is discouraged by the policy; give --reason" in r.stderr
    assert pay(run, kettle, "5.00", method="transfer", reason="客户要求原路退回失败").exit_code == 0


def test_unknown_method_liability_and_ticket(run, kettle):
    assert "--method cash: unknown" in pay(run, kettle, "5.00", method="cash").stderr
    assert "--liability courierr: unknown; did you mean 'courier'?" in pay(run, kettle, "5.00", liability="courierr").stderr
    assert "unknown ticket 'ZZZZ'" in pay(run, "ZZZZ", "5.00").stderr


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2))
def test_amounts_round_trip_exactly(d):
    assert parse_amount(str(d)) == d and str(parse_amount(str(d))) == f"{d:.2f}"


# ------------------------------------------------------------------ registers


def register_rows(shop, name):
    with open(shop / "ledgers" / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_intercept_flow_refund_only_after_a_successful_intercept(run, shop, ledgers_unchanged):
    r = run("intercept", "new", "--order", "TB9", "--waybill", "YT555", "--courier", "yto", "--reason", "客户拒收",
            now=at("10:00"))
    iid = r.stdout.split()[1].rstrip(":")
    with ledgers_unchanged():
        r = run("intercept", "update", iid, "--status", "refunded", now=at("10:10"))
    assert r.stderr == (f"error: intercept {iid} is requested; cannot become refunded: a refund is recorded only after "
                        "a successful intercept\nhint: next allowed: intercepted, failed, out_for_delivery\n")
    assert run("intercept", "update", iid, "--status", "intercepted", now=at("12:00")).exit_code == 0
    assert run("intercept", "update", iid, "--status", "refunded", now=at("12:05")).exit_code == 0
    assert [r["status"] for r in register_rows(shop, "intercepts")] == ["requested", "intercepted", "refunded"]
    listed = json.loads(run("intercept", "list", "--all", "--format", "json").stdout)
    assert [(x["id"], x["status"], x["updates"]) for x in listed] == [(iid, "refunded", 2)]
    assert json.loads(run("intercept", "list", "--format", "json").stdout) == []  # refunded is final


def test_a_parcel_out_for_delivery_cannot_be_refunded(run):
    iid = run("intercept", "new", "--order", "TB9", "--waybill", "YT6", "--courier", "yto", now=at("10:00")).stdout.split()[1].rstrip(":")
    run("intercept", "update", iid, "--status", "out_for_delivery", now=at("10:30"))
    r = run("intercept", "update", iid, "--status", "refunded", now=at("10:40"))
    assert r.exit_code == 2 and "a parcel out for delivery cannot be refunded" in r.stderr


def test_lost_parcel_reported_claimed_settled(run, shop):
    lid = run("lost", "new", "--order", "TB7", "--waybill", "SF999", "--courier", "sf", now=at("10:00")).stdout.split()[1].rstrip(":")
    r = run("lost", "update", lid, "--status", "settled", "--amount", "50", now=at("11:00"))
    assert r.exit_code == 2 and "cannot become settled" in r.stderr
    r = run("lost", "update", lid, "--status", "claimed", now=at("11:00"))
    assert (r.exit_code, r.stderr) == (2, "error: status claimed needs --amount\n")
    run("lost", "update", lid, "--status", "claimed", "--amount", "59.00", now=at("11:00"))
    run("lost", "update", lid, "--status", "settled", "--amount", "50.00", now=at("11:00", day=25))
    assert [(r["status"], r["amount"]) for r in register_rows(shop, "lost_parcels")] == [
        ("reported", ""), ("claimed", "59.00"), ("settled", "50.00")]
    assert run("check").exit_code == 0


def test_reshipment_prints_the_new_waybill_script_and_links_the_ticket(run, shop):
    tid = run.new(category="transit_damage", model=None, courier="sf", waybill="SF111", summary="碗碎了")
    r = run("reship", "new", "--ticket", tid[:7], "--new-waybill", "SF222", "--courier", "sf", "--reason", "破损补发",
            "--responsible", "快递", now=at("10:00"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["send to the customer (补发单号告知):",
                                         "  小主,您的订单TB20261123001已为您补发,补发单号:SF222,请注意查收~"]
    [row] = register_rows(shop, "reshipments")
    assert (row["ticket"], row["order"], row["new_waybill"], row["status"]) == (tid, "TB20261123001", "SF222", "shipped")


def test_short_shipment_needs_its_fields(run, ledgers_unchanged):
    with ledgers_unchanged():
        r = run("short", "new", "--order", "PDD1", "--kind", "short", now=at("10:00"))
    assert (r.exit_code, r.stderr) == (2, "error: a new short record needs: --items, --responsible\n")
    r = run("short", "new", "--order", "PDD1", "--kind", "short", "--items", "少发1个杯盖", "--responsible", "w01",
            now=at("10:00"))
    assert r.exit_code == 0
    assert json.loads(run("short", "list", "--format", "json").stdout)[0]["items"] == "少发1个杯盖"


# ------------------------------------------------------------------ courier claims


def test_monthly_claims_statement_per_courier(run, shop):
    k = run.new(item_amount="299.00", order_amount="309.00", courier="sf", now=at("09:00", day=3))
    pay(run, k, "8.00", liability="courier", now=at("10:00", day=3), reason="外箱破损")
    pay(run, k, "6.00", liability="shop", now=at("10:00", day=4), approved_by="l01")  # the shop's own fault: not claimed
    lid = run("lost", "new", "--order", "TB7", "--waybill", "SF999", "--courier", "sf", now=at("10:00", day=5)).stdout.split()[1].rstrip(":")
    run("lost", "update", lid, "--status", "claimed", "--amount", "59.00", now=at("10:00", day=6))
    run("lost", "update", lid, "--status", "settled", "--amount", "50.00", now=at("10:00", day=20))
    iid = run("intercept", "new", "--order", "ZT1", "--waybill", "ZT88", "--courier", "zto", "--reason", "地址错误",
              now=at("10:00", day=7)).stdout.split()[1].rstrip(":")
    run("intercept", "update", iid, "--status", "failed", now=at("10:00", day=8))
    pay(run, k, "1.00", liability="courier", now=at("10:00", day=1).replace("11-01", "10-31"), again=True)  # October: not in November

    rows = {x["courier"]: x for x in json.loads(run("report", "claims", "--month", "2026-11", "--format", "json").stdout)}
    assert set(rows) == {"sf", "zto"}
    assert (rows["sf"]["compensations"], rows["sf"]["lost_parcels"], rows["sf"]["claimed"], rows["sf"]["settled"]) == (
        1, 1, "67.00", "50.00")
    assert (rows["zto"]["failed_intercepts"], rows["zto"]["claimed"]) == (1, "0.00")
    text = run("report", "claims", "--month", "2026-11", "--courier", "sf", "--statement").stdout
    assert text.splitlines()[0] == "示例小店 致 顺丰速运: 2026-11 理赔对账单"
    assert "  2026-11-03  订单 TB20261123001  ¥8.00  外箱破损" in text
    assert "  运单 SF999  订单 TB7  settled  ¥50.00" in text
    assert text.rstrip().endswith("本期索赔合计 ¥67.00, 本期已结算 ¥50.00")
    doc = json.loads(run("report", "claims", "--month", "2026-11", "--statement", "--format", "json").stdout)
    assert [x["courier"] for x in doc] == ["sf", "zto"] and doc[0]["statement"] == text.rstrip("\n")


def test_a_share_cap_of_a_hand_edited_amount_that_is_not_text_is_no_cap():
    """A data cell edited by hand to hold a list: no cap, no crash (`as check` names the cell)."""
    from types import SimpleNamespace

    from aftersales.compensation import cap_amount
    from aftersales.policy.values import Cap

    cap = Cap.from_toml("10% item_amount")
    assert cap_amount(cap, SimpleNamespace(fields={"item_amount": "299.00"})) == Decimal("29.90")
    assert cap_amount(cap, SimpleNamespace(fields={"item_amount": ["299.00"]})) is None
    assert cap_amount(cap, SimpleNamespace(fields={"item_amount": 299})) is None
