"""Decisions kept per ticket (tickets.decided): a warm `sla-check`, `ticket list` or
`route --all` prints,
byte for byte, what a cold one (--no-cache) prints, whatever was appended and however far
--now moved on; and `sla.steady_until` never claims a ticket stays as it is past the
moment its timers, states or red-header level change."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import cache, ids, ledger, sla, tickets
from aftersales.policy import load_policy
from aftersales.tickets import scan

from test_open_scan import T0

#: categories with different timers: a wall clock, a business calendar (consultation
#: answer), complaints (routing, solution), a daily report (repair progress), the visit
#: owed after a close
CATEGORIES = ["usage", "quality", "attitude", "tech_fault", "return_request", "out_of_stock"]
CHANNELS = ["jd", "taobao", "phone"]

#: (what happens, its ref): the events that start, stop, pause and supervise timers
ACTS = [("message", ""), ("reply", ""), ("note", ""), ("wait", ""), ("resume", ""), ("assign", "a02"),
        ("department", "qc"), ("priority", "P1"), ("abnormal", "unresolved_48h"), ("resolve", ""), ("visit", ""),
        ("close", ""), ("reopen", "")]

# one step: (ticket index, minutes since the last step, what happens: an index into ACTS, or -1 to open)
STEP = st.tuples(st.integers(0, 5), st.integers(0, 900), st.integers(-1, len(ACTS) - 1))


def _event(tid, at, i, category, channel):
    if i < 0:
        return tickets.Event(tid, at, "a01", "open", category, "屏幕碎了, \"急\"",
                             {"channel": channel, "customer": "张女士", "phone": "13800001111"})
    typ, ref = ACTS[i]
    return tickets.Event(tid, at, "a01", typ, ref, "好的" if typ in ("message", "reply", "note") else "")


def _one_ticket(steps, at_minutes: int, kind) -> tuple:
    """(ticket, now): one ticket opened at T0 of `kind`, then the steps' events (their
    ticket index ignored), and a moment `at_minutes` after T0."""
    tid = ids.new_id()
    events = [_event(tid, T0, -1, *kind)]
    at = T0
    for _k, gap, i in steps:
        if i >= 0:
            at += dt.timedelta(minutes=gap)
            events.append(_event(tid, at, i, *kind))
    return tickets.fold(events)[tid], T0 + dt.timedelta(minutes=at_minutes)


def _outputs(run, now, warm, one_process=False):
    env = {} if warm else {"AFTERSALES_NO_CACHE": "1"}
    if one_process:
        env["AFTERSALES_JOBS"] = "1"
    out = []
    for argv in (["--format", "csv", "sla-check"], ["--format", "json", "sla-check"], ["sla-check"],
                 ["--format", "csv", "sla-check", "--state", "warning"], ["--format", "csv", "ticket", "list"],
                 ["ticket", "list", "--status", "waiting"], ["route", "--all", "--dry-run"],
                 ["--format", "json", "route", "--all", "--dry-run"]):
        r = run(*argv, now=now.isoformat(), env=env)
        out.append((argv, r.exit_code, r.stdout, r.stderr))
    return out


def _forks(monkeypatch):
    monkeypatch.setattr(scan, "PARALLEL_MIN", 1)
    monkeypatch.setattr(scan, "CRC_BESIDE_MIN", 0)
    monkeypatch.setattr(scan, "SHARE_MIN", 0)
    monkeypatch.setattr(scan, "SHARE_BATCH", 1)  # a batch per ticket
    monkeypatch.setattr(cache, "BACKGROUND_MIN", 1)
    monkeypatch.setattr(cache, "jobs", lambda: 2)


@pytest.fixture(params=["one process", "forked"])
def forked(request, monkeypatch):
    """Run each command in one process, or with every fork the big-shop paths make (the
    tickets decided in two halves, cache writes beside the command), however small the
    shop and however many processors there are."""
    if request.param == "forked":
        _forks(monkeypatch)
    return request.param == "forked"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(st.lists(STEP, min_size=0, max_size=8), st.integers(0, 3000)),
                        min_size=1, max_size=5),
       kinds=st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(CHANNELS)), min_size=6, max_size=6))
def test_warm_decisions_print_what_a_cold_run_prints(shop, run, forked, batches, kinds):
    """Appends and a --now that moves on between runs (minutes to days): states turn from
    ok to warning to breached, red-header levels rise, daily cycles roll over, visits fall
    due after closes. Every warm run prints what the cold one prints; forked, what a cold
    run in one process prints."""
    for f in (shop / ".aftersales" / "cache").glob("*"):
        f.unlink()
    path = ledger.ledger_path(shop, "tickets")
    path.write_bytes(ledger.schema_of("tickets").header.encode())
    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(6)]
    opened: set = set()
    at = T0
    now = T0
    save, scan.DECIDE_SAVE = scan.DECIDE_SAVE, 0  # every run writes the decisions it made
    try:
        for steps, later in batches:
            rows = []
            for k, gap, i in steps:
                at = max(at, now) + dt.timedelta(minutes=gap)
                tid = tids[k]
                if (tid in opened) == (i < 0):
                    continue  # open each ticket once, and first
                opened.add(tid)
                rows.append(_event(tid, at, i, *kinds[k]))
            if rows:
                tickets.append_events(shop, rows, policy)
            now = max(now, at) + dt.timedelta(minutes=later)
            warm = _outputs(run, now, warm=True)
            assert warm == _outputs(run, now, warm=False, one_process=forked)
            assert warm == _outputs(run, now, warm=True)  # and again, from what the last run kept
    finally:
        scan.DECIDE_SAVE = save


def test_a_warm_notify_run_records_what_a_cold_one_records(shop, run):
    """sla-check --notify and route --all, warm: the notices still owed and the routing
    changes are recorded once, as cold."""
    policy = load_policy(shop)
    a, b = ids.new_id(), ids.new_id()
    tickets.append_events(shop, [_event(a, T0, -1, "attitude", "jd"), _event(b, T0, -1, "usage", "jd")], policy)
    later = (T0 + dt.timedelta(hours=30)).isoformat()
    run("sla-check", now=T0.isoformat())  # decisions kept, nothing owed yet
    copy = shop.parent / "copy"
    import shutil

    from conftest import Runner

    shutil.copytree(shop, copy)
    warm = run("sla-check", "--notify", now=later)
    cold = Runner(copy)("sla-check", "--notify", now=later, env={"AFTERSALES_NO_CACHE": "1"})
    assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout) and "breached" in warm.stdout
    assert path_bytes(shop) == path_bytes(copy)
    again = run("sla-check", "--notify", now=later)
    assert again.stdout.strip() == ""  # each notice recorded once
    later = (T0 + dt.timedelta(hours=50)).isoformat()  # unresolved for 48 hours: abnormal
    run("route", "--all", "--dry-run", now=later)  # the change it would make, kept for this --now
    warm = run("route", "--all", now=later)
    cold = Runner(copy)("route", "--all", now=later, env={"AFTERSALES_NO_CACHE": "1"})
    assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout) and "set abnormal" in warm.stdout
    assert path_bytes(shop) == path_bytes(copy)


def path_bytes(root):
    return ledger.ledger_path(root, "tickets").read_bytes()


def test_a_decision_is_kept_only_while_it_holds(shop):
    """A first-contact limit of 30 minutes on the wall clock, warned at 75 %: the rows of
    an untouched ticket are kept until the warning could come, and not a moment longer."""
    policy = load_policy(shop)
    a = ids.new_id()
    tickets.append_events(shop, [_event(a, T0, -1, "usage", "jd")], policy)
    t = tickets.load_open_tickets(shop)[a]
    clocks: dict = {}
    now = T0 + dt.timedelta(minutes=1)
    assert sla.steady_until(policy, t, [], 0, None, T0, clocks) is None  # a row at now: decided again
    cycles = [c for c in sla.evaluate(policy, t, now, clocks) if c.running]
    until = sla.steady_until(policy, t, cycles, 0, None, now, clocks)
    first = next(c for c in cycles if c.timer_id == "first_contact")
    assert first.state == "ok" and until is not None
    assert until <= first.start + dt.timedelta(minutes=30 * first.timer.warn_at)
    later = [c for c in sla.evaluate(policy, t, until + dt.timedelta(minutes=1), {}) if c.running]
    assert [c.state for c in later if c.timer_id == "first_contact"] == ["warning"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=14), at_minutes=st.integers(0, 6000),
       probes=st.lists(st.floats(0, 1), min_size=1, max_size=6),
       kind=st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(CHANNELS)))
def test_steady_until_is_never_too_late(shop, steps, at_minutes, probes, kind):
    """Between now and steady_until the running cycles keep their deadlines, states and
    pauses, and the red-header level stays: checked at random moments in between."""
    policy = load_policy(shop)
    t, now = _one_ticket(steps, at_minutes, kind)

    def seen(moment):
        cycles = [c for c in sla.evaluate(policy, t, moment, {}) if c.running]
        level = sla.escalation_level(policy, t, cycles, moment) if cycles else (0, None)
        return [(c.timer_id, c.start, c.deadline, c.state, c.paused) for c in cycles], tuple(level), cycles

    first, level, cycles = seen(now)
    until = sla.steady_until(policy, t, cycles, level[0], level[1], now, {})
    if until is None:
        return
    assert until > now
    end = min(until, now + dt.timedelta(days=400))
    for p in probes:
        moment = now + (end - now) * p
        if moment >= until:
            continue
        assert seen(moment)[:2] == (first, level), moment


@settings(max_examples=400, deadline=None)
@given(deadline=st.integers(-10**14, 10**14), later=st.integers(0, 10**12))
def test_the_time_left_is_kept_only_while_it_is_written_the_same(deadline, later):
    """sla-check --format csv keeps its lines with the times left as written at the
    decision; left_holds says how long that text stays what span() writes."""
    import aftersales.cli.sla as cmd
    from aftersales.clock import span

    now_us = 1795406400000000  # 2026-11-23T00:00:00Z

    def text(at):
        return span(dt.timedelta(microseconds=deadline - at))

    assert cmd._lefts(now_us)(str(now_us + deadline)) == span(dt.timedelta(microseconds=deadline))
    deadline += now_us
    holds = cmd.left_holds(deadline, now_us)
    assert holds > 0
    if later < holds:
        assert text(now_us + later) == text(now_us)
    assert text(now_us + holds - 1) == text(now_us)  # the last moment it claims
    assert text(now_us + holds) != text(now_us) or text(now_us + holds + 1) != text(now_us)


def test_kept_decisions_are_not_trusted_after_a_merge_or_an_edit(shop, run, forked):
    """A union merge that puts a close in the middle of tickets.csv, then a same-size byte
    edit of a priority: the kept decisions describe bytes that are gone, and each run
    prints what a cold run prints."""
    now = "2026-11-23T12:00:00+08:00"
    a = run.new(now="2026-11-23T09:00:00+08:00", category="usage", summary="第一单")
    b = run.new(now="2026-11-23T09:05:00+08:00", category="usage", summary="第二单")
    assert run("--format", "csv", "sla-check", now=now).exit_code == 1  # decisions kept
    assert run("ticket", "list", now=now).exit_code == 0
    path = ledger.ledger_path(shop, "tickets")
    lines = path.read_bytes().splitlines(keepends=True)
    close_a = f"{a},2026-11-23T09:30:00+08:00,a02,close,,,\n".encode()
    path.write_bytes(b"".join(lines[:3] + [close_a] + lines[3:]))  # what a union merge of another clone does

    def both(*argv):
        warm = run(*argv, now=now)
        cold = run(*argv, now=now, env={"AFTERSALES_NO_CACHE": "1"})
        assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout)
        return warm.stdout

    assert a not in both("--format", "csv", "sla-check") and b in both("--format", "csv", "ticket", "list")
    assert a not in both("--format", "csv", "ticket", "list")
    data = path.read_bytes()
    i = data.rindex(b",priority,P")  # b's priority row: P3 becomes P1, same size
    path.write_bytes(data[:i + 11] + b"1" + data[i + 12:])
    assert f"{b},first_contact" in both("--format", "csv", "sla-check")
    assert ",P1," in both("--format", "csv", "ticket", "list").split("\n")[1]


@pytest.mark.parametrize("cold", [True, False])
def test_what_a_failed_child_had_is_decided_here(shop, monkeypatch, cold):
    """Cold, the scan hands each ticket it completes to a forked process; with the open
    tickets' records cached, the tickets are decided in two halves, one in a forked
    process. When that process fails, this one decides its part too: the same answer."""
    import os

    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(6)]
    tickets.append_events(shop, [_event(t, T0 + dt.timedelta(minutes=i), -1, "usage", "jd")
                                 for i, t in enumerate(tids)], policy)
    here = os.getpid()

    def decide(t, fail):
        if fail == "raises" and os.getpid() != here:
            raise RuntimeError("the child fails")
        if fail == "dies" and os.getpid() != here:
            os._exit(3)  # killed: its pipe breaks under the parent's next write
        return scan.FOREVER, [t.id, str(os.getpid() == here)]

    now = T0 + dt.timedelta(hours=1)
    monkeypatch.setattr(cache, "enabled", True)
    serial = scan.decided(shop, "test-serial", now, lambda t: decide(t, ""))  # the records cached
    assert [p[0] for p in serial] == tids and {p[1] for p in serial} == {"True"}
    monkeypatch.setattr(cache, "enabled", not cold)
    _forks(monkeypatch)
    split = scan.decided(shop, "test-split", now, lambda t: decide(t, ""), pure=True)
    assert cold or cache.last == "warm"
    assert [p[0] for p in split] == tids
    # cold: every ticket decided by the child as the scan completed it; warm: every other one
    assert sorted(p[1] for p in split) == (["False"] * 6 if cold else ["False"] * 3 + ["True"] * 3)
    for fail in ("raises", "dies"):
        assert scan.decided(shop, "test-" + fail, now, lambda t: decide(t, fail), pure=True) == serial
    assert scan.decided(shop, "test-impure", now, lambda t: decide(t, "dies")) == serial  # not pure: one process


def test_a_cache_written_beside_the_command_is_there_when_it_ends(shop, run, monkeypatch):
    """A big shop's cache files are written by a forked process while the command goes on;
    the command waits for it before it ends, so the next run finds them."""
    policy = load_policy(shop)
    tickets.append_events(shop, [_event(ids.new_id(), T0, -1, "usage", "jd")], policy)
    _forks(monkeypatch)
    for f in (shop / ".aftersales" / "cache").glob("*"):
        f.unlink()
    first = run("--format", "csv", "sla-check", now=T0.isoformat())
    assert cache._writers == []  # waited for
    assert (shop / cache.DIR / "open-tickets").exists() and (shop / cache.DIR / "sla-check-csv").exists()
    again = run("--format", "csv", "sla-check", now=T0.isoformat())
    assert cache.last == "warm" and again.stdout == first.stdout


def test_a_ticket_with_records_before_its_open_one_is_decided_whole(shop, monkeypatch):
    """A merge can leave a ticket's rows before its `open` row. The cold scan hands a
    ticket over at its `open` row; one met again is decided here, from all its rows."""
    policy = load_policy(shop)
    a, b = ids.new_id(), ids.new_id()
    tickets.append_events(shop, [_event(a, T0, -1, "usage", "jd"), _event(b, T0, -1, "usage", "jd"),
                                 _event(a, T0 + dt.timedelta(minutes=5), 0, "usage", "jd")], policy)
    path = ledger.ledger_path(shop, "tickets")
    head, *lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(head + lines[2] + lines[0] + lines[1])  # a's message first: before its open row
    monkeypatch.setattr(cache, "enabled", False)

    def decide(t):
        return scan.FOREVER, [t.id, str(len(t.events))]

    now = T0 + dt.timedelta(hours=1)
    serial = scan.decided(shop, "test", now, decide)
    assert sorted(serial) == sorted([[a, "2"], [b, "1"]])
    _forks(monkeypatch)
    assert scan.decided(shop, "test", now, decide, pure=True) == serial



def test_decisions_written_after_a_cold_run_hold_for_the_next_one(shop, monkeypatch):
    """A cold run leaves the ledger's CRC to its cache writers: the decisions file takes
    the one the open-tickets writer worked out. The next run finds every decision kept
    and decides nothing again; a wrong CRC would have it decide them all."""
    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(5)]
    tickets.append_events(shop, [_event(t, T0 + dt.timedelta(minutes=i), -1, "usage", "jd")
                                 for i, t in enumerate(tids)], policy)
    for f in (shop / cache.DIR).glob("*"):
        f.unlink()
    monkeypatch.setattr(cache, "enabled", True)
    _forks(monkeypatch)
    monkeypatch.setattr(scan, "DECIDE_SAVE", 0)
    seen: list = []

    def decide(t):
        seen.append(t.id)
        return scan.FOREVER, [t.id]

    now = T0 + dt.timedelta(hours=1)
    first = scan.decided(shop, "test-crc", now, decide, pure=True)
    cache.settle()
    assert [p[0] for p in first] == tids
    seen.clear()
    assert scan.decided(shop, "test-crc", now, decide, pure=True) == first
    assert cache.last == "warm" and seen == []


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=14), at_minutes=st.integers(0, 6000),
       kind=st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(CHANNELS)))
def test_only_the_running_cycles_are_the_running_ones_of_all(shop, steps, at_minutes, kind):
    """evaluate(running=True), which never works out a cycle stopped by now, gives the
    running cycles of the whole evaluation: same timers, starts, deadlines, states, pauses."""
    policy = load_policy(shop)
    t, now = _one_ticket(steps, at_minutes, kind)

    def fields(cycles):
        return [(c.timer_id, c.start, c.deadline, c.state, c.paused, c.used) for c in cycles]

    assert fields(sla.evaluate(policy, t, now, {}, running=True)) == \
        fields([c for c in sla.evaluate(policy, t, now, {}) if c.running])


@pytest.mark.parametrize("batches", [0, 1, 3])
def test_at_the_end_of_the_scan_the_batches_left_are_shared_out(shop, monkeypatch, batches):
    """The scan sends a batch only when the child's pipe has room: those left at its end
    are decided here, newest first, the oldest sent while the child has less in hand than
    is left here. However many the pipe holds, the answer is the one-process one, and
    with room for any batch at all the child decides some and this process others."""
    import os
    import pickle

    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(12)]
    tickets.append_events(shop, [_event(t, T0 + dt.timedelta(minutes=i), -1, "usage", "jd")
                                 for i, t in enumerate(tids)], policy)
    monkeypatch.setattr(cache, "enabled", False)
    here = os.getpid()

    def decide(t):
        return scan.FOREVER, [t.id, str(os.getpid() == here)]

    now = T0 + dt.timedelta(hours=1)
    serial = scan.decided(shop, "test", now, decide)
    _forks(monkeypatch)
    made = scan._Sharer.__init__
    frame = len(pickle.dumps([(tids[0], [b"x" * 200])], protocol=pickle.HIGHEST_PROTOCOL)) + 4

    def small(self, work):
        made(self, work)
        self.room = max(4, batches * frame)  # room for so many batches of a ticket each (and the end)

    monkeypatch.setattr(scan._Sharer, "__init__", small)
    split = scan.decided(shop, "test", now, decide, pure=True)
    assert [p[0] for p in split] == [p[0] for p in serial]
    by = {p[1] for p in split}
    assert by == ({"True"} if not batches else {"True", "False"})


def test_a_daily_report_met_today_is_owed_again_from_the_days_time(shop, run, monkeypatch):
    """Repair progress is reported every day before 16:00 (seed 004). A report in the
    morning meets the day's deadline: at 15:44 nothing runs. At 16:00 the next day's cycle
    begins, with no new row: a warm run at 17:40 lists it, as a cold one does."""
    policy = load_policy(shop)
    tid = ids.new_id()
    tickets.append_events(shop, [_event(tid, dt.datetime.fromisoformat("2026-11-21T03:17:00+08:00"), -1,
                                        "tech_fault", "jd"),
                                 _event(tid, dt.datetime.fromisoformat("2026-11-25T06:05:00+08:00"), 1,
                                        "tech_fault", "jd")], policy)
    monkeypatch.setattr(scan, "DECIDE_SAVE", 0)
    first = run("--format", "csv", "sla-check", now="2026-11-25T15:44:00+08:00")
    assert "repair_progress" not in first.stdout
    warm = run("--format", "csv", "sla-check", now="2026-11-25T17:40:00+08:00")
    assert cache.last == "warm"
    cold = run("--format", "csv", "sla-check", now="2026-11-25T17:40:00+08:00", env={"AFTERSALES_NO_CACHE": "1"})
    assert f"{tid},repair_progress,维修进度反馈,ok,2026-11-26T16:00:00+08:00," in cold.stdout
    assert warm.stdout == cold.stdout
