"""Bad input is refused in one line, exit 2, with every ledger byte unchanged (found by review)."""

from __future__ import annotations

import json

import pytest

from aftersales.cli import is_ours

T0 = "2026-11-23T09:00:00+08:00"


def one_line_refusal(r, text=""):
    """One `error: ...` line, and at most one `hint: ...` line with the fix under it."""
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert r.stderr.endswith("\n") and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    assert len(lines) == 1 or len(lines) == 2 and lines[1].startswith("hint: "), r.stderr
    assert text in r.stderr, r.stderr


def test_export_never_writes_into_the_ledgers(run, shop, ledgers_unchanged):
    run.new(now=T0)
    with ledgers_unchanged():
        r = run("export", "tickets", "-o", shop / "ledgers" / "tickets.csv", "--force")
    one_line_refusal(r, "inside the workspace's ledgers/, which only aftersales writes")


def test_a_hand_edited_amount_is_reported_and_never_half_written(run, shop, ledgers_unchanged):
    tid = run.new(item_amount="59.00", order_amount="118.00", now=T0)
    with open(shop / "ledgers/tickets.csv", "a", encoding="utf-8") as f:
        f.write(f"{tid},2026-11-23T09:30:00+08:00,a01,set,item_amount,abc,\n")
    r = run("check")
    assert r.exit_code == 1 and 'item_amount: "abc" is not an amount' in r.stdout
    with ledgers_unchanged():
        r = run("compensate", tid, "--amount", "20", "--method", "balance", "--liability", "shop", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 2 and "Traceback" not in r.stderr  # over the agent's ¥10 now that the cap is unknown


@pytest.mark.parametrize("args, text", [
    (["compensate", "{t}", "--amount", "1e400", "--method", "balance", "--liability", "shop"], "is too large"),
    (["ticket", "set", "{t}", "order_amount", "1e400"], "is too large"),
    (["ticket", "set", "{t}", "purchased_at", "2026-13-01"], "--purchased '2026-13-01' is not a date"),
    (["ticket", "set", "{t}", "channel", "nosuch"], "--channel nosuch: unknown"),
    (["ticket", "set", "{t}", "item_amount", "999"], "--item-amount 999.00 is more than --order-amount 309.00"),
    (["ticket", "close", "{t}", "--force", "   "], "--force needs the reason"),
    (["ticket", "list", "--older-than", "99999999999d"], "longer than ten years"),
    (["ticket", "list", "--priority", "P9"], "--priority P9: unknown"),
    (["report", "sla", "--month", "9999-12"], "give a year between 1900 and 9998"),
    (["--format", "xml", "ticket", "list"], "Invalid value for '--format'"),
    (["ticket", "new", "--summary", "\udcff\udcfe", "--channel", "jd", "--category", "usage"], "not valid UTF-8"),
])
def test_refused_in_one_line(run, shop, ledgers_unchanged, args, text):
    tid = run.new(item_amount="299.00", order_amount="309.00", now=T0)
    with ledgers_unchanged():
        r = run(*[a.replace("{t}", tid) for a in args], by="l01", now="2026-11-23T10:00:00+08:00"
                if "--now" not in args else None)
    one_line_refusal(r, text)


def test_a_now_out_of_range_is_refused(run):
    run.new(now=T0)
    for now in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+00:00"):
        one_line_refusal(run("sla-check", now=now), "give a year between 1900 and 9998")


def test_events_cannot_be_backdated_before_the_last_one(run, shop, ledgers_unchanged):
    tid = run.new(now=T0)
    run("ticket", "close", tid, "--force", "重复", by="l01", now="2026-11-23T11:00:00+08:00")
    with ledgers_unchanged():
        r = run("ticket", "reopen", tid, "again", by="l01", now="2026-11-23T10:30:00+08:00")
    one_line_refusal(r, "is before its last event")


def test_incidents_count_each_ticket_once_and_refuse_bad_input(run, ledgers_unchanged):
    tid = run.new(now=T0)
    r = run("incident", "open", "--type", "quality", "--title", "异味", *[tid] * 11, now=T0)
    assert r.stdout.endswith("level L3  1 ticket\n")
    iid = r.stdout.split()[1]
    with ledgers_unchanged():
        one_line_refusal(run("incident", "open", "--type", "quality", "--title", " ", tid, now=T0), "--title is empty")
        one_line_refusal(run("incident", "flag", iid, "--media", now="2020-01-01T00:00:00+08:00"), "before its last event")
    day = "2026-11-24T09:00:00+08:00"
    for verb, args in (("resolve", ["召回"]), ("cause", ["来料"]), ("approve", []), ("confirm", ["已确认"]),
                       ("review", [x for k in ("what", "why", "who", "when", "where", "how") for x in (f"--{k}", k)]),
                       ("improve", ["来料检验"]), ("close", [])):
        assert run("incident", verb, iid, *args, by="m01", now=day).exit_code == 0, verb
    one_line_refusal(run("incident", "join", iid, tid, now="2026-11-24T10:00:00+08:00"), "is closed")


def test_a_settlement_above_the_claim_is_refused(run, ledgers_unchanged):
    lid = run("lost", "new", "--order", "O1", "--waybill", "SF1", "--courier", "sf", now=T0).stdout.split()[1].rstrip(":")
    run("lost", "update", lid, "--status", "claimed", "--amount", "59.00", now="2026-11-24T09:00:00+08:00")
    with ledgers_unchanged():
        r = run("lost", "update", lid, "--status", "settled", "--amount", "500.00", now="2026-11-25T09:00:00+08:00")
    one_line_refusal(r, "settled ¥500.00 is more than the ¥59.00 claimed")


def test_a_courier_payment_takes_the_courier_from_the_tickets_registers(run):
    tid = run.new(item_amount="299.00", order_amount="309.00", now=T0)  # no courier on the ticket
    run("reship", "new", "--ticket", tid, "--new-waybill", "SF2", "--courier", "sf", "--reason", "破损",
        "--responsible", "快递", now="2026-11-23T09:10:00+08:00")
    run("compensate", tid, "--amount", "8", "--method", "balance", "--liability", "courier", now="2026-11-23T09:20:00+08:00")
    rows = json.loads(run("report", "claims", "--month", "2026-11", "--format", "json").stdout)
    assert [(x["courier"], x["claimed"]) for x in rows] == [("sf", "8.00")]


def test_check_warns_of_a_silent_cron_job_and_rejects_bad_rules(run, shop):
    (shop / "policies/timers.toml").unlink()
    r = run("check")
    assert r.exit_code == 1 and "no [timers]: `sla-check` has nothing to check" in r.stdout
    assert run("ticket", "list").exit_code == 0  # commands still run
    text = (shop / "policies/routing.toml").read_text(encoding="utf-8").replace('words = ["曝光"', 'words = ["", "曝光"')
    (shop / "policies/routing.toml").write_text(text, encoding="utf-8")
    assert "an empty word matches every text\n" in run("check").stdout
    assert "\nhint: remove it\n" in run("check").stdout
    (shop / "policies/imports.toml").write_text('[imports.x]\nledger = "tickets"\ncolumns = { ticket = "id" }\n',
                                                encoding="utf-8")
    assert "'tickets' is written only by its commands" in run("check").stdout


def test_sla_check_warns_when_the_calendar_lacks_the_year(run):
    run.new(category="usage", model=None, order=None, summary="怎么用", now="2027-01-05T09:00:00+08:00")
    r = run("sla-check", now="2027-01-05T10:00:00+08:00")
    assert "warning: calendar 'cn' lists no holidays for 2027" in r.stderr


def test_older_than_in_working_days(run):
    fri = run.new(now="2026-11-20T17:00:00+08:00")
    mon = run.new(now="2026-11-23T09:00:00+08:00")
    listed = json.loads(run("ticket", "list", "--older-than", "1wd", "--format", "json", now="2026-11-23T17:30:00+08:00").stdout)
    assert [x["ticket"] for x in listed] == [fri] and mon


def test_init_refuses_an_empty_or_impossible_path(run):
    one_line_refusal(run("init", ""), "give the folder for the new shop")
    one_line_refusal(run("init", "/proc/nope/shop"), "cannot create the workspace")


def test_a_joined_short_workspace_option_is_ours():
    assert is_ours(["-w/tmp/shop", "check"]) is True
