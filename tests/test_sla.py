"""Time limits as the seeds set them: warnings, breaches, pauses, cron notifications, attainment."""

from __future__ import annotations

import csv
import io
import json
import subprocess

from aftersales import ids

from conftest import installed_command


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


def check(run, now, *extra):
    r = run("sla-check", "--format", "json", *extra, now=now)
    return r.exit_code, {(x["ticket"], x["timer"]): x for x in json.loads(r.stdout)}


def sla_events(shop, types=("sla", "escalate")):
    with open(shop / "ledgers" / "tickets.csv", encoding="utf-8", newline="") as f:
        return [r for r in csv.DictReader(f) if r["type"] in types]


def test_first_contact_goes_ok_warning_breached(run):
    """Seed 000: first contact within 30 min of creation; warn at 75 % (22.5 min)."""
    tid = run.new(now=at("09:00"))
    code, rows = check(run, at("09:20"))
    assert code == 0 and rows[(tid, "first_contact")]["state"] == "ok"
    assert rows[(tid, "first_contact")]["deadline"] == at("09:30") and rows[(tid, "first_contact")]["left"] == "10m"
    code, rows = check(run, at("09:23"))
    assert code == 0 and rows[(tid, "first_contact")]["state"] == "warning"
    assert rows[(tid, "first_contact")]["tell"] == ["a01"]
    code, rows = check(run, at("09:31"))
    assert code == 1 and rows[(tid, "first_contact")]["state"] == "breached" and rows[(tid, "first_contact")]["left"] == "-1m"
    assert rows[(tid, "close")]["state"] == "ok"  # the 24 h close is far off
    run("ticket", "reply", tid, "您好", now=at("09:32"))
    code, rows = check(run, at("09:33"))
    assert code == 0 and (tid, "first_contact") not in rows  # a met timer is no longer listed


def test_waiting_on_the_customer_pauses_the_close_timer_by_exactly_its_length(run):
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "请拍照", now=at("09:10"))
    run("ticket", "wait", tid, "等照片", now=at("10:00"))
    code, rows = check(run, at("11:00"))
    assert rows[(tid, "close")]["paused"] is True
    run("ticket", "resume", tid, now=at("12:00"))
    code, rows = check(run, at("12:30"))
    assert rows[(tid, "close")]["deadline"] == at("11:00", day=24)  # 09:00 + 24 h + 2 h waited
    assert rows[(tid, "close")]["paused"] is False


def test_abnormal_ticket_gets_4h_reply_and_12h_solution_and_no_24h_close(run):
    tid = run.new(summary="我要曝光你们", now=at("09:00"))
    code, rows = check(run, at("09:05"))
    timers = {k[1] for k in rows if k[0] == tid}
    assert {"abnormal_reply", "abnormal_solution"} <= timers and "close" not in timers
    assert rows[(tid, "abnormal_reply")]["deadline"] == at("13:00")
    assert rows[(tid, "abnormal_solution")]["deadline"] == at("21:00")


def test_complaint_has_15_minute_response_and_2_hour_routing(run):
    tid = run.new(category="attitude", model=None, summary="客服态度差", channel="email")
    code, rows = check(run, at("09:16"))
    assert rows[(tid, "complaint_response")]["state"] == "breached" and code == 1
    assert rows[(tid, "complaint_routing")]["deadline"] == at("11:00")
    run("ticket", "assign", tid, "--to", "l01", now=at("09:30"))
    code, rows = check(run, at("09:31"))
    assert (tid, "complaint_routing") not in rows


def test_consultation_is_answered_within_one_working_day(run):
    """Seed 004: a consultation opened on Friday 17:00 is due on Monday 17:00 (business calendar)."""
    tid = run.new(category="usage", model=None, order=None, summary="怎么除垢", now=at("17:00", day=20))
    code, rows = check(run, at("09:00", day=23))
    assert rows[(tid, "consultation_answer")]["deadline"] == at("17:00", day=23)


def test_table_output_and_state_filter(run):
    tid = run.new(now=at("09:00"))
    r = run("sla-check", "--state", "breached", now=at("09:31"))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["ticket", "timer", "name", "state"]
    assert len(lines) == 3 and ids.short(tid) in lines[2] and "首次联系" in lines[2] and "breached" in lines[2]
    out = run("sla-check", "--format", "csv", now=at("09:31")).stdout
    got = list(csv.DictReader(io.StringIO(out)))
    assert {r["timer"] for r in got} == {"first_contact", "close"}


def test_notify_records_each_warning_and_breach_once(run, shop):
    tid = run.new(now=at("09:00"))
    r = run("sla-check", "--notify", now=at("09:23"))
    assert r.exit_code == 0 and "warning" in r.stdout and ids.short(tid) in r.stdout
    assert [(e["ref"], e["text"], e["by"]) for e in sla_events(shop)] == [("first_contact", "warning", "system")]
    r = run("sla-check", "--notify", now=at("09:28"))  # nothing new
    assert (r.exit_code, r.stdout) == (0, "")
    r = run("sla-check", "--notify", now=at("09:35"))
    assert r.exit_code == 1 and "breached" in r.stdout
    r = run("sla-check", "--notify", now=at("09:40"))
    assert (r.exit_code, r.stdout) == (1, "")  # still breached, nothing new to say
    assert [(e["ref"], e["text"]) for e in sla_events(shop)] == [("first_contact", "warning"), ("first_contact", "breached")]
    assert json.loads(sla_events(shop)[1]["data"])["deadline"] == at("09:30")


def test_a_skipped_run_loses_nothing(run, shop):
    """The 09:20 and 09:25 runs never happened: the 09:35 run records the warning and the breach."""
    run.new(now=at("09:00"))
    r = run("sla-check", "--notify", "--format", "json", now=at("09:35"))
    assert r.exit_code == 1
    assert [(e["ref"], e["text"]) for e in sla_events(shop)] == [("first_contact", "warning"), ("first_contact", "breached")]


def test_notify_records_each_new_escalation_level_once(run, shop):
    tid = run.new(summary="我要投诉到12315", now=at("09:00"))
    run("ticket", "assign", tid, "--to", "a02", now=at("09:01"))
    run("ticket", "reply", tid, "马上处理", by="a02", now=at("09:10"))
    r = run("sla-check", "--notify", now=at("23:05"))  # abnormal_solution due 21:00, 2h05m late
    assert f"{ids.short(tid)}: red header level 1: copy a02, l01" in r.stdout
    r = run("sla-check", "--notify", now=at("03:10", day=24))  # 6h10m late: levels 2 and 3 at once
    assert f"{ids.short(tid)}: red header level 2: copy a02, l01, d01" in r.stdout
    assert f"{ids.short(tid)}: red header level 3: copy a02, l01, d01, gm" in r.stdout
    levels = [e["ref"] for e in sla_events(shop, ("escalate",))]
    assert levels == ["1", "2", "3"]
    assert run("sla-check", "--notify", now=at("04:00", day=24)).stdout == ""


def test_a_reopened_ticket_needs_first_contact_and_a_close_again(run):
    tid = run.new(category="usage", model=None, order=None, summary="怎么除垢", now=at("09:00", day=16))
    run("ticket", "reply", tid, "用柠檬酸", now=at("09:05", day=16))
    run("ticket", "close", tid, "--force", "已解答", by="l01", now=at("09:10", day=16))
    run("ticket", "reopen", tid, "还是有水垢", now=at("10:00"))
    code, rows = check(run, at("10:31"))
    assert rows[(tid, "first_contact")]["state"] == "breached" and code == 1
    assert rows[(tid, "close")]["deadline"] == at("10:00", day=24)


def test_closed_tickets_have_no_running_timers(run):
    tid = run.new(now=at("09:00"))
    run("ticket", "close", tid, "--force", "重复工单", by="l01", now=at("09:05"))
    code, rows = check(run, at("12:00"))
    assert code == 0 and not rows


def test_sla_check_under_crons_bare_environment(run, shop):
    run.new(now=at("09:00"))
    r = subprocess.run([installed_command(), "--workspace", str(shop), "--now", at("09:40"), "sla-check", "--notify"],
                       capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    assert "首次联系" in r.stdout.decode("utf-8")


def test_bad_now_and_bad_state_exit_2(run):
    assert run("sla-check", now="soon").exit_code == 2
    assert run("sla-check", "--state", "late").exit_code == 2


# ------------------------------------------------------------------ attainment


def test_report_sla_hand_computed(run):
    """Four tickets in week 47: first contact after 5, 10, 20 and 40 minutes."""
    firsts = []
    for day, minutes in ((16, 5), (17, 10), (18, 20), (19, 40)):
        tid = run.new(now=at("09:00", day=day))
        run("ticket", "reply", tid, "您好", now=at(f"09:{minutes:02d}", day=day))
        firsts.append(tid)
    r = run("report", "sla", "--week", "2026-W47", "--format", "json", now=at("12:00", day=23))
    rows = {x["timer"]: x for x in json.loads(r.stdout)}
    fc = rows["first_contact"]
    assert (fc["cycles"], fc["met"], fc["missed"], fc["share_met"]) == (4, 3, 1, 0.75)
    assert (fc["median_s"], fc["p90_s"]) == (600, 2400)  # nearest rank: 10 min, 40 min
    close = rows["close"]  # nobody closed: all four are past 24 h -> missed
    assert (close["met"], close["missed"], close["share_met"], close["goal"], close["goal_met"]) == (0, 4, 0.0, 0.95, False)
    table = run("report", "sla", "--week", "2026-W47", now=at("12:00", day=23)).stdout
    assert "75.0%" in table and "BELOW" in table and " 10m " in table and " 40m\n" in table  # one duration format


def test_report_sla_by_agent_and_bad_periods(run):
    a = run.new(now=at("09:00", day=16))
    run("ticket", "reply", a, "您好", by="a02", now=at("09:05", day=16))
    rows = json.loads(run("report", "sla", "--month", "2026-11", "--by", "agent", "--format", "json",
                          now=at("12:00", day=23)).stdout)
    assert [(x["group"], x["met"]) for x in rows if x["timer"] == "first_contact"] == [("a02", 1)]
    for args, message in ((["--month", "2026-13"], "--month '2026-13': write it like 2026-11"),
                          (["--week", "2026-47"], "--week '2026-47': write it like 2026-W47 (weeks 01 to 52 or 53)"),
                          (["--from", "2026-11-30", "--to", "2026-11-01"], "--to 2026-11-01 is before --from 2026-11-30")):
        r = run("report", "sla", *args)
        assert (r.exit_code, r.stderr) == (2, f"error: {message}\n")
