"""The derived cache of open tickets (aftersales/cache.py): warm answers equal cold ones,
and the cache is rebuilt, never trusted, when the ledger's bytes or corrections change."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import cache, ids, ledger, tickets
from aftersales.policy import load_policy

from test_open_scan import T0, ev, opened, write

NOW = "2026-11-23T12:00:00+08:00"


def state(shop, closed_after=None, warm=True):
    """What load_open_tickets gives, as plain values, with the cache on or off."""
    was = cache.enabled
    cache.enabled = warm
    try:
        got = tickets.load_open_tickets(shop, closed_after)
    finally:
        cache.enabled = was
    return [(t.id, t.status, t.priority, t.assignee, t.closed_at, [(e.at, e.type, e.text) for e in t.events])
            for t in got.values()]


def cached(shop):
    return cache.load(shop)


def tickets_csv(shop):
    return ledger.ledger_path(shop, "tickets")


def test_cold_run_writes_the_cache_and_a_warm_run_reads_only_the_tail(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b, 1), ev(b, 5, "close")])
    assert state(shop) == state(shop, warm=False)
    rec = cached(shop)
    assert rec is not None and rec.size == tickets_csv(shop).stat().st_size
    assert set(rec.rows) == {a} and set(rec.closed) == {b}
    assert (shop / ".aftersales/cache/.gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    c = ids.new_id()
    write(shop, [opened(c, 10), ev(a, 11, "close")])
    assert [x[0] for x in state(shop)] == [c]
    assert state(shop) == state(shop, warm=False)


def test_a_union_merge_that_inserts_rows_mid_file_rebuilds_the_cache(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b, 1), ev(a, 2, "message", "在吗")])
    assert [x[0] for x in state(shop)] == [a, b]
    path = tickets_csv(shop)
    lines = path.read_bytes().splitlines(keepends=True)
    close_b = f"{b},2026-11-20T09:03:00+08:00,a02,close,,,\n".encode()
    path.write_bytes(b"".join(lines[:3] + [close_b] + lines[3:]))  # what a union merge of another clone does
    assert [x[0] for x in state(shop)] == [a]  # a blind cache would still list b
    assert cache.last == "rebuilt: the cached part of the ledger changed"
    assert state(shop) == state(shop, warm=False)
    state(shop)
    assert cache.last == "warm"


def test_an_edited_byte_rebuilds_the_cache(shop):
    a = ids.new_id()
    write(shop, [opened(a), tickets.Event(a, T0, "a01", "priority", "P2", "default")])
    assert state(shop)[0][2] == "P2"
    path = tickets_csv(shop)
    data = path.read_bytes()
    path.write_bytes(data.replace(b",priority,P2,", b",priority,P1,"))  # same size, one byte changed
    assert state(shop)[0][2] == "P1"
    assert cache.last == "rebuilt: the cached part of the ledger changed"
    assert state(shop) == state(shop, warm=False)


def test_a_policy_change_rebuilds_the_cache_and_is_decided_again(shop, run):
    tid = run.new()
    before = run("--format", "csv", "sla-check", now="2026-11-23T09:20:00+08:00")
    state(shop)
    assert cache.last == "warm"
    timers = shop / "policies" / "timers.toml"
    text = timers.read_text(encoding="utf-8")
    assert 'target = "30m"' in text
    timers.write_text(text.replace('target = "30m"', 'target = "10m"', 1), encoding="utf-8")
    after = run("--format", "csv", "sla-check", now="2026-11-23T09:20:00+08:00")
    assert cache.last == "rebuilt: the policies changed"
    cold = run("--no-cache", "--format", "csv", "sla-check", now="2026-11-23T09:20:00+08:00")
    assert after.output == cold.output and after.exit_code == cold.exit_code
    assert after.output != before.output and tid in after.output


def test_a_torn_tail_is_reported_as_without_a_cache_and_never_cached(shop, run):
    a = ids.new_id()
    write(shop, [opened(a)])
    state(shop)
    size = cached(shop).size
    path = tickets_csv(shop)
    with open(path, "ab") as f:
        f.write(f"{a},2026-11-20T09:30:00+08:00,a01,mess".encode())  # a write cut off by a crash
    warm = run("ticket", "list")
    cold = run("--no-cache", "ticket", "list")
    assert warm.exit_code == cold.exit_code == 2 and warm.output == cold.output
    assert cached(shop).size == size
    assert run("repair").exit_code == 0  # cut back to the last whole record: the cached bytes are intact
    write(shop, [ev(a, 40, "message", "还在吗")])
    assert state(shop) == state(shop, warm=False)
    assert len(state(shop)[0][5]) == 2 and cache.last == "warm"


def test_a_tail_cut_back_into_the_cached_part_rebuilds_the_cache(shop):
    a = ids.new_id()
    write(shop, [opened(a), ev(a, 5, "message", "在吗")])
    state(shop)
    path = tickets_csv(shop)
    data = path.read_bytes()
    path.write_bytes(data[:data.rindex(b"\n", 0, len(data) - 1) + 1])  # the last record gone (a checkout, a repair)
    write(shop, [ev(a, 6, "note", "已回电"), ev(a, 7, "note", "再跟进")])  # longer than before
    assert [x[5][-1][2] for x in state(shop)] == ["再跟进"]
    assert cache.last == "rebuilt: the cached part of the ledger changed"
    assert state(shop) == state(shop, warm=False)


def test_a_changed_correction_rebuilds_the_cache(shop, run):
    a = ids.new_id()
    write(shop, [opened(a), ev(a, 5, "close")])
    assert state(shop) == []
    assert set(cached(shop).closed) == {a}
    shown = run("ticket", "show", a)
    ref = next(line.split()[2] for line in shown.output.splitlines() if " close " in line)
    fix = run("correct", "void", f"{ids.short(a)}.{ref}", "--reason", "误关单", now="2026-11-20T10:00:00+08:00")
    assert fix.exit_code == 0, fix.output
    assert [x[0] for x in state(shop)] == [a]
    assert cache.last == "rebuilt: corrections.csv changed"
    assert state(shop) == state(shop, warm=False)


def test_an_earlier_cut_than_the_cached_one_is_read_cold(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b), ev(a, 10, "close"), ev(b, 3000, "close")])
    late = T0 + dt.timedelta(days=1)
    assert [x[0] for x in state(shop, closed_after=late)] == [b]
    assert sorted(x[0] for x in state(shop, closed_after=T0)) == sorted([a, b])
    assert cache.last == "rebuilt: an earlier --now"
    assert state(shop, closed_after=T0) == state(shop, closed_after=T0, warm=False)


def test_no_cache_neither_reads_nor_writes_it(shop, run):
    write(shop, [opened(ids.new_id())])
    assert run("--no-cache", "ticket", "list").exit_code == 0
    assert not (shop / ".aftersales/cache").exists()
    assert run("ticket", "list").exit_code == 0
    assert cache.path(shop).exists()


def test_a_damaged_cache_file_is_rebuilt(shop):
    a = ids.new_id()
    write(shop, [opened(a)])
    state(shop)
    cache.path(shop).write_bytes(b"not a pickle")
    assert [x[0] for x in state(shop)] == [a]
    assert cached(shop) is not None


# one step of a shop's day: (ticket index, minutes after the last step, what happens)
STEP = st.tuples(st.integers(0, 7), st.integers(1, 600),
                 st.sampled_from(["open", "message", "note", "close", "reopen", "priority"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(STEP, min_size=1, max_size=12), min_size=1, max_size=6),
       cut_hours=st.one_of(st.none(), st.integers(0, 72)))
def test_warm_equals_cold_after_random_appends(shop, batches, cut_hours):
    """Whatever is appended between runs, the cached answer is the cold one."""
    path = tickets_csv(shop)
    path.write_bytes(ledger.schema_of("tickets").header.encode())
    cache.path(shop).unlink(missing_ok=True)
    save_after, cache.SAVE_AFTER = cache.SAVE_AFTER, 0  # every warm run writes the cache it extended
    try:
        _appends(shop, batches, cut_hours)
    finally:
        cache.SAVE_AFTER = save_after


def _appends(shop, batches, cut_hours):
    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(8)]
    opened_ = set()
    minutes = 0
    for batch in batches:
        rows = []
        for i, gap, what in batch:
            minutes += gap
            tid = tids[i]
            if tid not in opened_ or what == "open":
                if tid in opened_:
                    continue
                opened_.add(tid)
                rows.append(opened(tid, minutes, "屏幕碎了\n还能修吗, \"急\""))
            elif what == "priority":
                rows.append(tickets.Event(tid, T0 + dt.timedelta(minutes=minutes), "a01", "priority", "P1", "x"))
            else:
                rows.append(ev(tid, minutes, what, "好的" if what in ("message", "note", "reopen") else ""))
        if rows:
            tickets.append_events(shop, rows, policy)
        cut = None if cut_hours is None else T0 + dt.timedelta(hours=cut_hours)
        assert state(shop, cut) == state(shop, cut, warm=False)


def test_a_cache_cut_short_is_rebuilt(shop):
    a = ids.new_id()
    write(shop, [opened(a), ev(a, 3, "message", "你好")])
    state(shop)
    data = cache.path(shop).read_bytes()
    cache.path(shop).write_bytes(data[:-5])
    assert cache.load(shop) is None
    assert [x[0] for x in state(shop)] == [a]
    assert cache.path(shop).read_bytes() == data


def test_blank_lines_in_the_ledger_do_not_defeat_the_cache(shop):
    a = ids.new_id()
    write(shop, [opened(a)])
    with open(tickets_csv(shop), "ab") as f:
        f.write(b"\n")
    write(shop, [ev(a, 3, "message", "你好")])
    assert state(shop) == state(shop, warm=False)
    assert cache.load(shop) is not None and set(cache.load(shop).rows) == {a}


def test_a_resolve_after_a_close_makes_the_ticket_open_again_warm_and_cold(shop):
    """Two clones merged: one closed the ticket, the other (not knowing) resolved it later.
    The fold says resolved; the scan, the cache and its tail agree, whatever cut was cached."""
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b, 1), ev(a, 5, "close")])
    cut = T0 + dt.timedelta(minutes=2)
    assert [x[0] for x in state(shop, cut)] == [a, b]  # cached with a cut: the recent close kept
    write(shop, [ev(a, 9, "resolve")])
    assert [(x[0], x[1]) for x in state(shop)] == [(a, "resolved"), (b, "open")] == \
        [(x[0], x[1]) for x in state(shop, warm=False)]
    assert state(shop, cut) == state(shop, cut, warm=False)
    cache.path(shop).unlink()
    assert [x[0] for x in state(shop)] == [a, b]  # the cold scan: the resolve is the last status row


def test_a_merge_that_writes_a_resolve_before_an_earlier_close_keeps_the_ticket_open(shop, monkeypatch):
    """The clone that resolved at 11:00 pulls the close the other made at 10:00: in the
    file the resolve comes first, in time the close. The fold applies the resolve last
    (resolved); the cold scan, at any chunk size, and the cache's tail say the same."""
    from aftersales.tickets import scan

    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b, 1), ev(a, 120, "resolve"), ev(b, 121, "message", "在吗")])  # 11:00
    assert [x[0] for x in state(shop)] == [a, b]  # cached: both open
    path = tickets_csv(shop)
    with open(path, "ab") as f:  # the other clone's close at 10:00, appended by the merge
        f.write(f"{a},2026-11-20T10:00:00+08:00,a02,close,,,\n".encode())
    assert {t: x.status for t, x in tickets.load_tickets(shop).items()} == {a: "resolved", b: "open"}
    assert [(x[0], x[1]) for x in state(shop)] == [(a, "resolved"), (b, "open")]  # the tail
    for chunk in (64, 200, 1 << 17):
        monkeypatch.setattr(scan, "_CHUNK", chunk)
        assert [(x[0], x[1]) for x in state(shop, warm=False)] == [(a, "resolved"), (b, "open")], chunk
    cache.path(shop).unlink()
    assert [x[0] for x in state(shop)] == [a, b]


def test_a_close_later_in_time_than_a_resolve_written_after_it_still_closes(shop):
    """The other way round: the resolve (10:00) written after the close (11:00). The close
    is the last in time: the ticket is closed, cold and warm."""
    a = ids.new_id()
    write(shop, [opened(a), ev(a, 120, "close")])
    with open(tickets_csv(shop), "ab") as f:
        f.write(f"{a},2026-11-20T10:00:00+08:00,a02,resolve,,,\n".encode())
    assert tickets.load_tickets(shop)[a].status == "closed"
    assert state(shop) == state(shop, warm=False) == []


def test_a_merge_that_leaves_half_a_record_after_the_cached_part_rebuilds_the_cache(shop):
    """A merge that inserts rows mid-file moves the bytes after the cached part: what is
    read there as appended may begin inside a quoted text and not read as CSV at all. That
    is the cache's part having changed, not a bad ledger: rebuilt, no error."""
    import csv
    import io

    a = ids.new_id()
    write(shop, [opened(a), ev(a, 2, "message", '他说"屏幕碎了"，要换新')])
    state(shop)
    path = tickets_csv(shop)
    size = path.stat().st_size
    head, *lines = path.read_bytes().splitlines(keepends=True)
    for pad in range(1, 400):  # a row from another clone, long enough to leave a tail that is not CSV
        b = ids.new_id()
        row = f"{b},2026-11-20T09:03:00+08:00,a02,note,,{'x' * pad},\n".encode()
        merged = head + row + b"".join(lines)
        try:
            list(csv.reader(io.StringIO(merged[size:].decode("utf-8", "replace"), newline=""), strict=True))
        except csv.Error:
            break
    else:
        raise AssertionError("no such tail")
    path.write_bytes(merged)
    assert state(shop) == state(shop, warm=False)
    assert cache.last == "rebuilt: the cached part of the ledger changed"


def test_a_bare_quote_appended_is_named_warm_as_cold(shop, run):
    """A quote inside a field that is not in quotes: csv reads it as text, the quick cold
    scan takes it for the start of a quoted text. Appended after the cache was written,
    a warm run stops with the same error as a cold one, naming the line."""
    a = run.new(now="2026-11-23T09:00:00+08:00", category="usage", summary="第一单")
    assert run("ticket", "list", now=NOW).exit_code == 0  # the cache written
    path = tickets_csv(shop)
    with open(path, "ab") as f:
        f.write(f'{a},2026-11-23T11:00:00+08:00,a01,reply,,ab"c,\n'.encode())
    line = len(path.read_bytes().splitlines())
    warm = run("ticket", "list", now=NOW)
    cold = run("ticket", "list", now=NOW, env={"AFTERSALES_NO_CACHE": "1"})
    assert (warm.exit_code, warm.stderr) == (cold.exit_code, cold.stderr)
    assert warm.exit_code == 2 and f"ledgers/tickets.csv:{line}: a quote inside a field" in warm.stderr


def test_a_warm_ticket_list_loads_no_policy_yet_any_policy_change_is_checked(shop, run, monkeypatch):
    """What `ticket list` kept of the open tickets was made under these policy files and
    this code, which were loaded and checked then: a warm run lists without loading them
    again. A changed (here broken) policy file, a --now in local time, --no-cache, or a
    filter that needs the policy: the policy is loaded and checked as ever."""
    from aftersales import workspace

    tid = run.new()
    first = run("ticket", "list", now=NOW)
    assert first.exit_code == 0 and ids.short(tid) in first.stdout
    loads = []
    real = workspace.Workspace.policy

    def counted(self):
        loads.append(1)
        return real.fget(self)

    monkeypatch.setattr(workspace.Workspace, "policy", property(counted))
    warm = run("ticket", "list", now=NOW)
    assert warm.stdout == first.stdout and loads == []
    for args, now in ((("ticket", "list"), "2026-11-23T12:00:00"), (("--no-cache", "ticket", "list"), NOW),
                      (("ticket", "list", "--category", "quality"), NOW)):
        r = run(*args, now=now)
        assert r.exit_code == 0 and r.stdout == first.stdout and loads, args
        loads.clear()
    timers = shop / "policies" / "timers.toml"
    timers.write_text(timers.read_text(encoding="utf-8").replace('target = "30m"', 'target = "soon"', 1), encoding="utf-8")
    broken = run("ticket", "list", now=NOW)
    assert broken.exit_code == 2 and "timers.toml" in broken.stderr and loads
