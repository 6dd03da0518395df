"""`as check` re-applies each ledger's rules to the history as it is now: references to
tickets, events after a close, register transitions, and the money rules after two clones
merged. Each problem is FILE:LINE: message, the record, and `hint: fix`; exit status 1."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import pytest

from conftest import installed_command, snapshot
from aftersales import ids

T = "2026-11-23T{}:00+08:00"


def at(hhmm: str) -> str:
    return T.format(hhmm)


def csv_line(*cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def append(shop, ledger: str, *rows) -> int:
    """Append rows by hand (as a merge or an editor would); the line number of the first."""
    path = shop / "ledgers" / f"{ledger}.csv"
    first = path.read_text(encoding="utf-8").count("\n") + 1
    with open(path, "a", encoding="utf-8", newline="") as f:
        for r in rows:
            f.write(csv_line(*r))
    return first


def problems(run) -> list:
    """The problems of `as check --format json`, as (file, line, message, hint)."""
    r = run("check", "--format", "json")
    assert r.exit_code == 1, r.stdout
    return [(p["file"], p["line"], p["message"], p["hint"]) for p in json.loads(r.stdout)]


@pytest.fixture
def kettle(run):
    """A damaged ¥299 kettle: an agent may pay ¥10 on it, a lead ¥29.90."""
    return run.new(item_amount="299.00", order_amount="309.00", shipping_fee="10.00", now=at("09:00"))


def pay_row(tid, when, by="a01", amount="8.00", approved_by="", note="", pid=None):
    return [pid or ids.new_id(8), tid, when, by, "TB20261123001", amount, "balance", "courier", "", approved_by, note]


# ------------------------------------------------------------------ references


def test_a_clean_demo_shop_and_a_paid_ticket_have_no_problems(run, kettle):
    assert run("compensate", kettle, "--amount", "8.00", "--method", "balance", "--liability", "courier",
               now=at("10:00")).exit_code == 0
    r = run("check")
    assert r.exit_code == 0, r.stdout


@pytest.mark.parametrize("ledger, row, column", [
    ("compensations", lambda tid: pay_row(tid, at("10:00")), "ticket"),
    ("intercepts", lambda tid: ["I0000001", at("10:00"), "a01", tid, "TB1", "SF1", "sf", "requested", "", ""], "ticket"),
    ("lost_parcels", lambda tid: ["L0000001", at("10:00"), "a01", tid, "TB1", "SF1", "sf", "reported", "", ""], "ticket"),
    ("reshipments", lambda tid: ["R0000001", at("10:00"), "a01", tid, "TB1", "SF2", "sf", "破损", "仓库", "shipped", ""], "ticket"),
    ("short_shipments", lambda tid: ["S0000001", at("10:00"), "a01", tid, "TB1", "short", "杯盖", "w01", "reported", ""], "ticket"),
    ("surveys", lambda tid: [tid, at("10:00"), "a01", "5", "5", "5", ""], "ticket"),
    ("reviews", lambda tid: ["RV001", at("10:00"), "TB1", "K-200", "1", "差", "", "", "", tid, ""], "ticket"),
])
def test_every_ledger_that_names_a_ticket_names_one_that_exists(run, shop, ledger, row, column):
    ghost = ids.new_id()
    line = append(shop, ledger, row(ghost))
    what = "payment" if ledger == "compensations" else "record"
    assert problems(run) == [(f"ledgers/{ledger}.csv", line, f"{what} for ticket {ghost}, which is not in "
                              "ledgers/tickets.csv", "correct the ticket ID in the ticket column, or pull the clone "
                              "that opened it")]


def test_an_incident_joins_only_known_tickets(run, shop, kettle):
    line = append(shop, "incidents", ["INC00001", at("10:00"), "l01", "open", "quality", "电水壶裂纹", ""],
                  ["INC00001", at("10:01"), "l01", "join", kettle, "", ""],
                  ["INC00001", at("10:02"), "l01", "join", "ZZZZZZZZZZZZ", "", ""])
    assert problems(run) == [("ledgers/incidents.csv", line + 2, "incident INC00001 joins ticket ZZZZZZZZZZZZ, "
                              "which is not in ledgers/tickets.csv", "correct the ticket ID in the ref column")]


# ------------------------------------------------------------------ events after a close


def close(run, tid, now):
    r = run("ticket", "close", tid, "--force", "客户失联", by="l01", now=now)
    assert r.exit_code == 0, r.stderr


def test_an_event_after_a_close_is_named_with_the_close_and_the_fix(run, shop, kettle):
    close(run, kettle, at("10:00"))
    close_line = (shop / "ledgers/tickets.csv").read_text(encoding="utf-8").count("\n")
    line = append(shop, "tickets", [kettle, at("10:30"), "a02", "reply", "", "您好", ""])
    r = run("check")
    assert r.exit_code == 1
    assert r.stdout == (f"ledgers/tickets.csv:{line}: reply on ticket {kettle} after its close (line {close_line})\n"
                        f"hint: reopen the ticket before this event (`aftersales ticket reopen {ids.short(kettle)}`), "
                        "or remove the event if the close was right\n")
    assert r.stderr == "1 problem found\n"


def test_a_reopen_and_a_visit_may_follow_a_close(run, shop, kettle):
    close(run, kettle, at("10:00"))
    assert run("ticket", "reopen", kettle, "客户又来了", now=at("11:00")).exit_code == 0
    assert run("ticket", "reply", kettle, "您好", now=at("11:05")).exit_code == 0
    assert run("check").exit_code == 0


def test_rows_out_of_time_order_are_judged_in_time_order(run, shop, kettle):
    """A merge puts one clone's rows after the other's: a reply written at 09:30 on one side
    comes after a close at 10:00 in the file, and is no problem; one written at 10:30 is."""
    close(run, kettle, at("10:00"))
    early = append(shop, "tickets", [kettle, at("09:30"), "a02", "reply", "", "您好", ""],
                   [kettle, at("10:30"), "a02", "reply", "", "还在吗", ""])
    assert [p[:3] for p in problems(run)] == [
        ("ledgers/tickets.csv", early + 1, f"reply on ticket {kettle} after its close (line {early - 1})")]


# ------------------------------------------------------------------ registers


def test_an_intercept_that_starts_refunded_is_a_problem(run, shop):
    line = append(shop, "intercepts", ["I0000001", at("10:00"), "a01", "", "TB1", "SF1", "sf", "refunded", "", ""])
    assert problems(run) == [("ledgers/intercepts.csv", line, "intercept I0000001 starts as refunded; a new record "
                              "is requested", "record it as requested first (`aftersales intercept new`), then each "
                              "change with `aftersales intercept update`")]


def test_a_register_transition_the_spec_forbids_is_a_problem(run, shop):
    rec = ["I0000001", at("10:00"), "a01", "", "TB1", "SF1", "sf", "requested", "", ""]
    line = append(shop, "intercepts", rec, rec[:1] + [at("11:00")] + rec[2:7] + ["refunded", "", ""])
    assert problems(run) == [("ledgers/intercepts.csv", line + 1, "intercept I0000001 goes from requested to refunded: "
                              "a refund is recorded only after a successful intercept",
                              "after requested comes intercepted, failed, out_for_delivery; remove this row or "
                              "record the missing step")]


def test_register_rows_made_by_the_commands_pass(run, shop):
    r = run("intercept", "new", "--order", "TB1", "--waybill", "SF1", "--courier", "sf", now=at("10:00"))
    rid = r.stdout.split()[1].rstrip(":")
    assert run("intercept", "update", rid, "--status", "intercepted", now=at("11:00")).exit_code == 0
    assert run("intercept", "update", rid, "--status", "refunded", now=at("12:00")).exit_code == 0
    assert run("check").exit_code == 0


def test_a_settled_lost_parcel_needs_an_amount(run, shop):
    rec = ["L0000001", at("10:00"), "a01", "", "TB1", "SF1", "sf", "reported", "", ""]
    line = append(shop, "lost_parcels", rec, rec[:1] + [at("11:00")] + rec[2:7] + ["claimed", "", ""])
    assert problems(run) == [("ledgers/lost_parcels.csv", line + 1, "lost L0000001 is claimed without an amount",
                              "give the amount the courier accepted in the amount column")]


# ------------------------------------------------------------------ money


def test_a_payment_over_authority_without_approval_names_both_lines(run, shop, kettle):
    first = append(shop, "compensations", pay_row(kettle, at("10:00"), "a01"), pay_row(kettle, at("11:00"), "a02"))
    assert problems(run) == [(
        "ledgers/compensations.csv", first + 1,
        f"payments on ticket {kettle} (lines {first}, {first + 1}) total ¥16.00, over a02's authority "
        "(agent: ¥10.00) without an approval",
        "void one of the two payments or record the approval of a lead (客服组长, lead: 10% item_amount)")]


def test_an_approval_by_a_lead_makes_it_right_and_one_by_an_agent_does_not(run, shop, kettle):
    line = append(shop, "compensations", pay_row(kettle, at("10:00"), "a01"),
                  pay_row(kettle, at("11:00"), "a02", approved_by="l01"),
                  pay_row(kettle, at("12:00"), "a02", amount="3.00", approved_by="a03"))
    assert [p[1:3] for p in problems(run)] == [(line + 2, f"payments on ticket {kettle} (lines {line}, {line + 1}, "
                                                f"{line + 2}) total ¥19.00, approved by a03 (agent), who may not approve it")]


def test_the_same_amount_twice_within_the_window_is_a_duplicate_unless_marked_again(run, shop, kettle):
    line = append(shop, "compensations", pay_row(kettle, at("10:00"), "a01", amount="2.00"),
                  pay_row(kettle, at("10:05"), "a02", amount="2.00"),
                  pay_row(kettle, at("10:08"), "a02", amount="2.00", note="[again] 客户要求"),
                  pay_row(kettle, at("10:30"), "a02", amount="2.00"))
    assert problems(run) == [("ledgers/compensations.csv", line + 1, f"¥2.00 paid on ticket {kettle} again within "
                              f"10 min of line {line}", "void one of the two payments, or note a second payment that "
                              "was meant with '[again]' (what `aftersales compensate --again` writes)")]


def test_compensate_again_writes_the_marker_that_check_reads(run, shop, kettle):
    for now, again in ((at("10:00"), []), (at("10:05"), ["--again"])):
        r = run("compensate", kettle, "--amount", "2.00", "--method", "balance", "--liability", "courier", *again,
                now=now)
        assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((shop / "ledgers/compensations.csv").read_text(encoding="utf-8"))))
    assert [r["note"] for r in rows] == ["", "[again]"]
    assert run("check").exit_code == 0


def test_a_payment_while_the_ticket_was_closed(run, shop, kettle):
    close(run, kettle, at("10:00"))
    line = append(shop, "compensations", pay_row(kettle, at("10:30")))
    close_line = (shop / "ledgers/tickets.csv").read_text(encoding="utf-8").count("\n")
    assert problems(run) == [("ledgers/compensations.csv", line, f"¥8.00 paid on ticket {kettle} while it was closed "
                              f"(ledgers/tickets.csv:{close_line})", "void the payment, or reopen the ticket if it was meant")]


# ------------------------------------------------------------------ surveys, incidents; the output


def test_scores_are_one_to_five(run, shop, kettle):
    line = append(shop, "surveys", [kettle, at("12:00"), "a01", "5", "0", "9", ""])
    assert [p[1:3] for p in problems(run)] == [(line, "'attitude' is 9; scores are 1 to 5"),
                                               (line, "'result' is 0; scores are 1 to 5")]


def test_incident_events_before_their_opening(run, shop):
    line = append(shop, "incidents", ["INC00002", at("10:05"), "l01", "note", "", "先记一笔", ""],
                  ["INC00002", at("10:10"), "l01", "open", "quality", "批量裂纹", ""],
                  ["INC00003", at("10:00"), "l01", "close", "", "", ""])
    assert [p[1:3] for p in problems(run)] == [(line, "note on incident INC00002 before it was opened (line "
                                                f"{line + 1})"), (line + 2, "close for incident INC00003, which was never opened")]


def test_problems_are_sorted_by_file_and_line_and_render_their_record_and_hint(run, shop, kettle):
    append(shop, "surveys", [kettle, at("12:00"), "a01", "5", "5", "7", ""])
    append(shop, "compensations", pay_row("ZZZZZZZZZZZZ", at("10:00"), pid="P0000001"))
    r = run("check")
    assert r.exit_code == 1
    assert r.stdout == (
        "ledgers/compensations.csv:2: payment for ticket ZZZZZZZZZZZZ, which is not in ledgers/tickets.csv\n"
        f"    P0000001,ZZZZZZZZZZZZ,{at('10:00')},a01,TB20261123001,8.00,balance,courier,,,\n"
        "hint: correct the ticket ID in the ticket column, or pull the clone that opened it\n"
        "ledgers/surveys.csv:2: 'attitude' is 7; scores are 1 to 5\n"
        f"    {kettle},{at('12:00')},a01,5,5,7,\n"
        "hint: correct the score\n")
    assert r.stderr == "2 problems found\n"
    r = run("check", "--format", "csv")
    assert r.stdout.splitlines()[0] == "file,line,message,hint,record"


def test_check_changes_no_ledger(run, shop, kettle):
    append(shop, "compensations", pay_row(kettle, at("10:00")), pay_row(kettle, at("11:00"), "a02"))
    before = snapshot(shop)
    assert run("check").exit_code == 1
    assert snapshot(shop) == before


# ------------------------------------------------------------------ two clones, one merge

from test_git import git  # noqa: E402  (real git, with a fixed author and no system config)


def aftersales(ws, *args, by="a01", now=None, code=0):
    argv = [installed_command(), "--workspace", str(ws), "--by", by] + (["--now", now] if now else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == code, r.stdout + r.stderr
    return r


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_two_agents_pay_8_yuan_each_in_their_own_clones_then_merge(tmp_path):
    """Each clone allowed its ¥8 (an agent may pay ¥10 on a quality problem); the merged
    history holds ¥16 without a lead's approval. `as check` names both payments and the fix."""
    seed, origin, a, b = tmp_path / "seed", tmp_path / "origin.git", tmp_path / "a", tmp_path / "b"
    subprocess.run([installed_command(), "init", str(seed)], check=True, capture_output=True)
    git(seed, "init")
    r = aftersales(seed, "ticket", "new", "--format", "csv", "--channel", "taobao", "--category", "quality",
                   "--order", "TB20261123001", "--model", "K-200", "--item-amount", "299.00", "--order-amount", "309.00",
                   "--summary", "电水壶底部有裂纹", now=at("09:00"))
    tid = r.stdout.splitlines()[1].split(",")[0]
    git(seed, "add", "-A")
    git(seed, "commit", "-m", "new shop")
    git(tmp_path, "clone", "--bare", str(seed), str(origin))
    git(tmp_path, "clone", str(origin), str(a))
    git(tmp_path, "clone", str(origin), str(b))

    pay = ["compensate", tid, "--amount", "8.00", "--method", "balance", "--liability", "courier"]
    aftersales(a, *pay, by="a01", now=at("10:00"))
    aftersales(b, *pay, by="a02", now=at("11:00"))
    for clone, who in ((a, "a01"), (b, "a02")):
        assert aftersales(clone, "check").returncode == 0  # each side alone is right
        git(clone, "commit", "-am", f"{who} paid ¥8")
    git(a, "push", "origin", "HEAD")
    git(b, "pull", "origin", "main")
    assert "Merge" in git(b, "log", "-1", "--format=%s")

    rows = (b / "ledgers/compensations.csv").read_text(encoding="utf-8").splitlines()
    lines = sorted(n for n, row in enumerate(rows, 1) if f",{tid}," in row)
    assert len(lines) == 2
    payers = {n: rows[n - 1].split(",")[3] for n in lines}
    r = aftersales(b, "check", code=1)
    last = lines[-1]  # the later line in the file; by time, a02's 11:00 payment crosses the cap
    crossing = next(n for n in lines if payers[n] == "a02")
    assert r.stdout == (
        f"ledgers/compensations.csv:{crossing}: payments on ticket {tid} (lines {lines[0] if crossing == last else last}, "
        f"{crossing}) total ¥16.00, over a02's authority (agent: ¥10.00) without an approval\n"
        f"    {rows[crossing - 1]}\n"
        "hint: void one of the two payments or record the approval of a lead (客服组长, lead: 10% item_amount)\n")
    assert r.stderr == "1 problem found\n"
    assert json.loads(aftersales(b, "check", "--format", "json", code=1).stdout)[0]["hint"].startswith(
        "void one of the two payments")


# ------------------------------------------------------------------ message and hint


@pytest.mark.parametrize("text, message, hint", [
    ("unknown department 'warehous'; did you mean 'warehouse'?", "unknown department 'warehous'", "did you mean 'warehouse'?"),
    ("a total of ¥13.00 is over a01's authority (agent: ¥10.00); it needs a lead", "a total of ¥13.00 is over a01's "
     "authority (agent: ¥10.00)", "it needs a lead"),
    ("unknown ticket field(s): a; b", "unknown ticket field(s): a", "b"),
    ("value 'a; b' is wrong; write c", "value 'a; b' is wrong", "write c"),
    ("x (and 3 more; run it); fix y", "x (and 3 more; run it)", "fix y"),
    ("no fix here", "no fix here", ""),
])
def test_a_message_splits_into_what_is_wrong_and_the_fix(text, message, hint):
    from aftersales.errors import split_hint

    assert split_hint(text) == (message, hint)


def test_a_problem_renders_its_record_marker_and_hint_and_has_them_as_fields():
    from aftersales.errors import InputError, Problem

    p = Problem("policies/routing.toml", 14, "unknown department 'warehous'", 'department = "warehous"',
                hint="did you mean 'warehouse'?")
    assert p.render() == ("policies/routing.toml:14: unknown department 'warehous'\n"
                          '    department = "warehous"\n'
                          "    ^^^^^^^^^^^^^^^^^^^^^^^\n"
                          "hint: did you mean 'warehouse'?")
    assert p.as_dict() == {"file": "policies/routing.toml", "line": 14, "message": "unknown department 'warehous'",
                           "hint": "did you mean 'warehouse'?", "record": 'department = "warehous"'}
    ledger_problem = Problem("ledgers/surveys.csv", 2, "bad", "a,b", hint="fix it")
    assert ledger_problem.render() == "ledgers/surveys.csv:2: bad\n    a,b\nhint: fix it"  # no marker under a record
    assert InputError("--by a09: unknown staff member", hint="did you mean 'a03'?").render() == (
        "error: --by a09: unknown staff member\nhint: did you mean 'a03'?")
    assert InputError("give the reply as text").render() == "error: give the reply as text"


def test_a_payment_compensation_no_longer_counts_is_left_out(run, shop, kettle, monkeypatch):
    """Voids are compensation.py's business: the check counts the payments that
    paid_by_ticket and payments_of still count, so a voided payment is no problem."""
    from decimal import Decimal

    from aftersales import compensation

    line = append(shop, "compensations", pay_row(kettle, at("10:00"), "a01"), pay_row(kettle, at("11:00"), "a02"))
    assert [p[1] for p in problems(run)] == [line + 1]
    real = compensation.payments_of
    monkeypatch.setattr(compensation, "paid_by_ticket", lambda root: {kettle: Decimal("8.00")})
    monkeypatch.setattr(compensation, "payments_of", lambda root, tid: [p for p in real(root, tid) if p[0].hour != 10])
    assert run("check").exit_code == 0


def test_a_ticket_ledger_that_stops_early_names_no_missing_ticket(run, shop, kettle):
    """A malformed record stops the reading of tickets.csv; tickets after it are not called unknown."""
    append(shop, "surveys", [kettle, at("12:00"), "a01", "5", "5", "5", ""])
    with open(shop / "ledgers/tickets.csv", "r+", encoding="utf-8", newline="") as f:
        rows = f.read()
        f.seek(0)
        head, first, rest = rows.split("\n", 2)
        f.write(head + '\n"broken\n' + first + "\n" + rest)
    r = run("check")
    assert r.exit_code == 1
    assert "not in ledgers/tickets.csv" not in r.stdout and "ledgers/tickets.csv:2" in r.stdout


def test_a_reshipment_without_its_new_waybill(run, shop):
    line = append(shop, "reshipments", ["R0000001", at("10:00"), "a01", "", "TB1", "", "sf", "破损", "仓库", "shipped", ""])
    assert problems(run) == [("ledgers/reshipments.csv", line, "reship R0000001 has no new_waybill",
                              "fill in what `aftersales reship new` asks for")]
