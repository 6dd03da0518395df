"""Corrections (issue 15): append-only voids and supersedes, honoured by folds, reports and authority."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from decimal import Decimal

import pytest

from aftersales import compensation, corrections, tickets

from conftest import installed_command


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


def rows(shop, name):
    with open(shop / "ledgers" / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def pay(run, tid, amount, by="a01", now=None, liability="shop", **opts):
    # the shop at fault: the agent's plain cap (a courier at fault lets an agent pay more, seed 001)
    args = ["compensate", tid, "--amount", amount, "--method", "balance", "--liability", liability, "--format", "json"]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", v] if v is not True else [f"--{k}"]
    r = run(*args, by=by, now=now or at("10:00"))
    return r, (json.loads(r.stdout)[0]["id"] if r.exit_code == 0 else None)


@pytest.fixture
def kettle(run):
    """A ¥299 kettle in a ¥309 order: agent cap ¥10, lead ¥29.90, director ¥309."""
    return run.new(item_amount="299.00", order_amount="309.00", shipping_fee="10.00", now=at("09:00"))


def test_void_a_payment_then_pay_again_within_the_cap(run, shop, kettle):
    r, first = pay(run, kettle, "8.00")
    assert r.exit_code == 0
    r = run("correct", "void", first, "--reason", "录错工单", by="a01", now=at("10:02"))
    assert r.exit_code == 0, r.stderr
    assert f"{first} voided (total paid on {kettle[:7]} ¥8.00 -> ¥0.00)" in r.stdout
    assert compensation.paid_by_ticket(shop).get(kettle, Decimal(0)) == Decimal("0.00")
    # the same ¥8 again within 10 minutes is no duplicate: the first one is void
    r, second = pay(run, kettle, "8.00", now=at("10:05"))
    assert r.exit_code == 0, r.stderr
    r, _ = pay(run, kettle, "2.00", now=at("10:06"))  # ¥10 in force: exactly the agent's cap
    assert r.exit_code == 0, r.stderr
    r, _ = pay(run, kettle, "0.50", now=at("10:07"))  # counts what is in force, not what was written
    assert r.exit_code == 2 and "a total of ¥10.50" in r.stderr
    # history keeps both rows: three payments written, one void
    assert [p["amount"] for p in rows(shop, "compensations")] == ["8.00", "8.00", "2.00"]
    [c] = rows(shop, "corrections")
    assert (c["ledger"], c["target"], c["action"], c["by"], c["reason"], c["ticket"]) == (
        "compensations", first, "void", "a01", "录错工单", kettle)
    doc = json.loads(run("ticket", "show", kettle, "--format", "json", now=at("10:10")).stdout)
    assert [(p["payment"], p["in_force"]) for p in doc["payments"]] == [(first, False), (second, True),
                                                                          (doc["payments"][2]["payment"], True)]
    assert doc["corrections"][0]["id"] == c["id"]
    shown = run("ticket", "show", kettle, now=at("10:10")).stdout
    assert f"[voided by {c['id']}]" in shown and f"void {first}" in shown


def test_voiding_money_needs_the_authority_paying_it_needed(run, shop, kettle, ledgers_unchanged):
    pay(run, kettle, "8.00")
    r, big = pay(run, kettle, "20.00", now=at("10:30"), approved_by="l01")  # ¥28: a lead's authority
    assert r.exit_code == 0, r.stderr
    with ledgers_unchanged():
        r = run("correct", "void", big, "--reason", "重复", by="a01", now=at("11:00"))
        assert r.exit_code == 2
        assert r.stderr == (f"error: correcting payment {big} concerns a total of ¥28.00 on ticket {kettle[:7]}, "
                            "over a01's authority (agent: ¥10.00); it needs the approval of a lead (客服组长, "
                            "lead: 10% item_amount): add --approved-by STAFF\n")
        r = run("correct", "void", big, "--reason", "重复", "--approved-by", "a02", by="a01", now=at("11:00"))
        assert r.exit_code == 2 and "needs a lead (客服组长) or higher" in r.stderr
        r = run("correct", "void", big, "--reason", "", by="a01", now=at("11:00"))
        assert r.exit_code == 2 and "--reason is required" in r.stderr
        r = run("correct", "void", big, "--reason", "x", by="a01", now=at("10:00"))
        assert r.exit_code == 2 and "before the record it corrects" in r.stderr
    r = run("correct", "void", big, "--reason", "重复", "--approved-by", "l01", by="a01", now=at("11:00"))
    assert r.exit_code == 0, r.stderr
    assert rows(shop, "corrections")[0]["approved_by"] == "l01"
    assert compensation.paid_by_ticket(shop)[kettle] == Decimal("8.00")
    r = run("correct", "void", big, "--reason", "again", by="l01", now=at("11:05"))
    assert r.exit_code == 2 and "already voided" in r.stderr


def test_supersede_an_amount_and_void_the_correction_to_restore_it(run, shop, kettle):
    _, pid = pay(run, kettle, "9.00")
    r = run("correct", "payment", pid, "--amount", "6.00", "--reason", "应为6元", by="a01", now=at("10:10"))
    assert r.exit_code == 0, r.stderr
    assert compensation.payments_of(shop, kettle)[0][1] == Decimal("6.00")
    r = run("correct", "payment", pid, "--amount", "12.00", "--reason", "x", by="a01", now=at("10:11"))
    assert r.exit_code == 2 and "a total of ¥12.00" in r.stderr  # raising it needs the authority for ¥12
    r = run("correct", "payment", pid, "--amount", "0", "--reason", "x", by="a01", now=at("10:11"))
    assert r.exit_code == 2 and "to cancel a payment, void it" in r.stderr
    cid = rows(shop, "corrections")[0]["id"]
    r = run("correct", "void", cid, "--reason", "改错了", by="a01", now=at("10:12"))
    assert r.exit_code == 0, r.stderr
    assert compensation.paid_by_ticket(shop)[kettle] == Decimal("9.00")
    listed = json.loads(run("correct", "list", "--format", "json").stdout)
    assert [(c["action"], c["in_force"]) for c in listed] == [("supersede", False), ("void", True)]


def test_reports_count_payments_as_corrected(run, shop, kettle):
    _, pid = pay(run, kettle, "8.00", liability="courier")
    run("correct", "void", pid, "--reason", "错付", by="a01", now=at("10:05"))
    pay(run, kettle, "5.00", now=at("10:06"), liability="courier")
    doc = json.loads(run("report", "kpi", "--month", "2026-11", "--format", "json", now=at("12:00")).stdout)
    by_kpi = {r["kpi"]: r["value"] for r in doc}
    assert Decimal(str(by_kpi["compensation by liability: courier"])) == Decimal("5.00")
    claims = json.loads(run("report", "claims", "--month", "2026-11", "--format", "json", now=at("12:00")).stdout)
    assert [(c["compensations"], c["claimed"]) for c in claims] == [(1, "5.00")]
    assert [p["id"] for c in claims for p in c["details"]["compensations"]] != [pid]


def test_void_a_ticket_event_and_a_close(run, shop):
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "您好, 已收到", now=at("09:10"))
    run("ticket", "close", tid, "--force", "误操作", by="l01", now=at("09:20"))
    assert tid not in tickets.load_open_tickets(shop)
    doc = json.loads(run("ticket", "show", tid, "--format", "json", now=at("09:30")).stdout)
    close_ref = next(e["record"] for e in doc["timeline"] if e["type"] == "close")
    reply_ref = next(e["record"] for e in doc["timeline"] if e["type"] == "reply")
    short_close = f"{tid[:7]}.{close_ref.split('.')[1][:4]}"  # a prefix of the ticket and of the hash
    r = run("correct", "void", short_close, "--reason", "关错了工单", by="a01", now=at("09:31"))
    assert r.exit_code == 2 and "recorded by l01" in r.stderr  # someone else's record needs a lead
    r = run("correct", "void", short_close, "--reason", "关错了工单", by="l01", now=at("09:31"))
    assert r.exit_code == 0, r.stderr
    assert tickets.load_open_tickets(shop)[tid].status == "open"  # the fast open scan honours it
    assert tickets.load_tickets(shop)[tid].status == "open"
    r = run("correct", "event", reply_ref, "--text", "您好, 已收到您的反馈", "--reason", "错字", now=at("09:32"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(run("ticket", "show", tid, "--format", "json", now=at("09:40")).stdout)
    [reply] = [e for e in doc["timeline"] if e["type"] == "reply"]
    assert (reply["text"], reply["corrected"], reply["corrected_text"]) == ("您好, 已收到", "superseded", "您好, 已收到您的反馈")
    assert doc["status"] == "open"
    assert [e["type"] for e in doc["timeline"]].count("close") == 1  # history keeps the voided close
    r = run("correct", "void", f"{tid}.{doc['timeline'][0]['record'].split('.')[1]}", "--reason", "x", by="l01",
            now=at("09:41"))
    assert r.exit_code == 2 and "opening cannot be voided" in r.stderr
    assert run("check").exit_code == 0


def test_unknown_references_are_one_line_errors(run, kettle, ledgers_unchanged):
    with ledgers_unchanged():
        for ref, msg in (("ZZZZZZZZ", "unknown reference 'ZZZZZZZZ'"), ("ab", "is not a reference"),
                         (f"{kettle[:7]}.QQQQ", "no event of that ticket has it")):
            r = run("correct", "void", ref, "--reason", "x")
            assert r.exit_code == 2 and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_check_reports_a_correction_whose_record_is_gone(run, shop, kettle):
    _, pid = pay(run, kettle, "8.00")
    run("correct", "void", pid, "--reason", "x", now=at("10:01"))
    path = shop / "ledgers" / "compensations.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(pid, "GONE0000"), encoding="utf-8")
    r = run("check")
    assert r.exit_code == 1 and f"names compensations record '{pid}', which is not there" in r.stdout


def test_event_references_do_not_depend_on_row_order(run, shop):
    tid = run.new(now=at("09:00"))
    run("ticket", "note", tid, "备注", now=at("09:05"))
    before = [corrections.event_hash(e) for e in corrections.raw_events(shop, tid)]
    path = shop / "ledgers" / "tickets.csv"
    head, *body = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(head + "".join(reversed(body)), encoding="utf-8")  # what a union merge may do
    after = [corrections.event_hash(e) for e in corrections.raw_events(shop, tid)]
    assert sorted(before) == sorted(after) and len(set(before)) == len(before)


pytestmark_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytestmark_git
def test_two_clones_each_pay_8_then_a_lead_voids_one_after_the_merge(tmp_path):
    from test_git import git

    def cmd(ws, *args, by="a01", now, code=0):
        r = subprocess.run([installed_command(), "--workspace", str(ws), "--by", by, "--now", now, *args],
                           capture_output=True, text=True)
        assert r.returncode == code, r.stdout + r.stderr
        return r.stdout

    seed, origin = tmp_path / "seed", tmp_path / "origin.git"
    subprocess.run([installed_command(), "init", str(seed)], check=True, capture_output=True)
    git(seed, "init")
    out = cmd(seed, "ticket", "new", "--format", "json", "--channel", "taobao", "--category", "quality",
              "--order", "TB1", "--summary", "裂纹", "--model", "K-200", "--item-amount", "299", "--order-amount", "309",
              now=at("09:00"))
    tid = json.loads(out)[0]["ticket"]
    git(seed, "add", "-A")
    git(seed, "commit", "-m", "shop")
    git(tmp_path, "clone", "--bare", str(seed), str(origin))
    a, b = tmp_path / "a", tmp_path / "b"
    for c in (a, b):
        git(tmp_path, "clone", str(origin), str(c))
    pa = json.loads(cmd(a, "compensate", tid, "--amount", "8.00", "--method", "balance", "--liability", "shop",
                        "--format", "json", by="a01", now=at("10:00")))[0]["id"]
    cmd(b, "compensate", tid, "--amount", "8.00", "--method", "balance", "--liability", "shop",
        by="a02", now=at("10:03"))
    git(a, "commit", "-am", "a pays")
    git(a, "push")
    git(b, "commit", "-am", "b pays")
    git(b, "pull", "--no-edit")
    assert compensation.paid_by_ticket(b)[tid] == Decimal("16.00")  # over the agent's ¥10, no approval
    # the lead voids a01's payment: it needed a total of ¥8 then, now the later one is the only one
    cmd(b, "correct", "void", pa, "--reason", "两人重复打款", by="l01", now=at("10:30"))
    assert compensation.paid_by_ticket(b)[tid] == Decimal("8.00")
    cmd(b, "compensate", tid, "--amount", "2.00", "--method", "balance", "--liability", "shop",
        by="a02", now=at("10:31"))
    git(b, "commit", "-am", "correct")
    git(b, "push")
    git(a, "pull", "--no-edit")
    assert compensation.paid_by_ticket(a)[tid] == Decimal("10.00")
    assert len(rows(a, "compensations")) == 3 and len(rows(a, "corrections")) == 1


def test_a_correction_must_fit_its_record(run, shop, kettle, ledgers_unchanged):
    _, pid = pay(run, kettle, "5.00")
    doc = json.loads(run("ticket", "show", kettle, "--format", "json", now=at("10:05")).stdout)
    ref = doc["timeline"][1]["record"]
    with ledgers_unchanged():
        for args, msg in (
            (["event", pid, "--text", "x"], f"{pid} is a payment; correct it with `aftersales correct payment"),
            (["payment", ref, "--amount", "1.00"], "is a ticket event; correct its text with"),
            (["void", pid, "--approved-by", "zz"], "--approved-by zz: unknown staff member"),
            (["payment", pid, "--method", "nosuch"], "--method nosuch: unknown"),
            (["payment", pid], "say what replaces the record's value"),
        ):
            r = run("correct", *args, "--reason", "x", now=at("10:10"))
            assert r.exit_code == 2 and msg in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
