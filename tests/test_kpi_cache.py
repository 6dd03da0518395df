"""The derived cache of `report kpi` (aftersales/kpicache.py): a warm answer equals the
cold one (`--no-cache`) whatever is appended, and the cache is rebuilt, never trusted,
when the ledger's cached bytes, corrections or policies change."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import cache, ids, kpicache, ledger, tickets
from aftersales.clock import period
from aftersales.policy import load_policy

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
NOW = T0 + dt.timedelta(days=40)


def month(shop, label="2026-11"):
    policy = load_policy(shop)
    start, end, _ = period(label, None, None, None, policy.tz(), NOW)
    return policy, start, end


def counts(shop, warm=True, now=NOW, label="2026-11"):
    policy, start, end = month(shop, label)
    was = cache.enabled
    cache.enabled = warm
    try:
        return kpicache.counts(policy, shop, start, end, now)
    finally:
        cache.enabled = was


def at(minutes):
    return T0 + dt.timedelta(minutes=minutes)


def opened(tid, minutes, kind="consultation"):
    return tickets.Event(tid, at(minutes), "a01", "open", "usage", "水壶漏水", {"channel": "jd", "kind": kind})


def ev(tid, minutes, typ, text="", ref="", data=None):
    return tickets.Event(tid, at(minutes), "a01", typ, ref, text, data or {})


def write(shop, events):
    tickets.append_events(shop, events, load_policy(shop))


def tickets_csv(shop):
    return ledger.ledger_path(shop, "tickets")


def test_cold_writes_the_cache_and_warm_folds_only_the_tail(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a, 0, "complaint"), ev(a, 30, "reply", "您好"), ev(a, 60, "resolve", "换新"),
                 opened(b, 10), ev(b, 20, "close")])
    cold = counts(shop)
    assert kpicache.last == "cold: no cache"
    assert counts(shop) == cold and kpicache.last == "warm"
    write(shop, [ev(a, 90, "reopen", "又坏了"), ev(a, 120, "resolve", "退款"), ev(a, 125, "escalated", "投诉到平台")])
    warm = counts(shop)
    assert kpicache.last == "warm"
    assert warm == counts(shop, warm=False)
    assert warm["reopened"] == warm["again"] == warm["escalated"] == 1 and warm["fcr"] == 0


def test_a_row_for_a_ticket_quiet_since_before_the_month_rebuilds(shop):
    old, new = ids.new_id(), ids.new_id()
    write(shop, [tickets.Event(old, T0 - dt.timedelta(days=10), "a01", "open", "usage", "x", {"kind": "consultation"}),
                 opened(new, 5)])
    counts(shop)
    write(shop, [ev(old, 60, "resolve", "好了")])
    got = counts(shop)
    assert kpicache.last == "rebuilt: a row was appended for a ticket quiet since before the month"
    assert got == counts(shop, warm=False)
    assert counts(shop)["first_res"] == 1 and kpicache.last == "warm"


def test_a_union_merge_that_inserts_rows_mid_file_rebuilds(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a, 0), opened(b, 1), ev(a, 2, "reply", "在")])
    counts(shop)
    path = tickets_csv(shop)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3] + [f"{b},{at(3).isoformat()},a02,resolve,,好了,\n".encode()] + lines[3:]))
    got = counts(shop)
    assert kpicache.last == "rebuilt: the cached part of the ledger changed"
    assert got == counts(shop, warm=False) and got["first_res"] == 1


def test_an_edited_byte_rebuilds(shop):
    a = ids.new_id()
    write(shop, [opened(a, 0), ev(a, 5, "reply", "在"), ev(a, 9, "reply", "好")])
    counts(shop)
    path = tickets_csv(shop)
    path.write_bytes(path.read_bytes().replace(b",reply,,\xe5\xa5\xbd,", b",resolve,,\xe5\xa5\xbd,"))  # same size
    got = counts(shop)
    assert kpicache.last == "rebuilt: the cached part of the ledger changed"
    assert got == counts(shop, warm=False) and got["fcr"] == 1


def test_a_policy_change_rebuilds(shop):
    a = ids.new_id()
    write(shop, [opened(a, 0, "complaint"), ev(a, 100, "reply", "您好")])
    before = counts(shop)
    assert before["answered"] == 1  # within 2 h
    kpi_toml = shop / "policies" / "reports.toml"
    text = kpi_toml.read_text(encoding="utf-8")
    assert 'complaint_first_feedback = "2h"' in text
    kpi_toml.write_text(text.replace('complaint_first_feedback = "2h"', 'complaint_first_feedback = "1h"'), encoding="utf-8")
    after = counts(shop)
    assert kpicache.last == "rebuilt: the policies changed"
    assert after == counts(shop, warm=False) and after["answered"] == 0


def test_a_changed_correction_rebuilds(shop, run):
    a = ids.new_id()
    write(shop, [opened(a, 0), ev(a, 5, "resolve", "好了")])
    assert counts(shop)["first_res"] == 1
    shown = run("ticket", "show", a)
    ref = next(line.split()[2] for line in shown.output.splitlines() if " resolve " in line)
    fix = run("correct", "void", f"{ids.short(a)}.{ref}", "--reason", "误操作", now=at(60).isoformat())
    assert fix.exit_code == 0, fix.output
    assert counts(shop)["first_res"] == 0
    assert kpicache.last == "rebuilt: corrections.csv changed"


def test_a_torn_tail_is_reported_as_without_a_cache_and_never_cached(shop, run):
    a = ids.new_id()
    write(shop, [opened(a, 0)])
    counts(shop)
    p = kpicache.path(shop, *month(shop)[1:])
    cached = p.read_bytes()
    with open(tickets_csv(shop), "ab") as f:
        f.write(f"{a},{at(30).isoformat()},a01,repl".encode())  # a write cut off by a crash
    now = NOW.isoformat()
    warm = run("report", "kpi", "--month", "2026-11", now=now)
    cold = run("--no-cache", "report", "kpi", "--month", "2026-11", now=now)
    assert warm.exit_code == cold.exit_code == 2 and warm.output == cold.output
    assert p.read_bytes() == cached
    assert run("repair").exit_code == 0
    write(shop, [ev(a, 40, "reply", "您好")])
    got = counts(shop)
    assert kpicache.last == "warm"
    assert got == counts(shop, warm=False)


def test_no_cache_neither_reads_nor_writes_it_and_an_earlier_now_is_read_cold(shop, run):
    a = ids.new_id()
    write(shop, [opened(a, 0), ev(a, 60 * 30, "close")])
    assert run("--no-cache", "report", "kpi", "--month", "2026-11", now=NOW.isoformat()).exit_code == 0
    assert not (shop / ".aftersales/cache").exists()
    warm = run("report", "kpi", "--month", "2026-11", now=NOW.isoformat())
    assert kpicache.path(shop, *month(shop)[1:]).exists()
    assert warm.output == run("--no-cache", "report", "kpi", "--month", "2026-11", now=NOW.isoformat()).output
    early = at(60 * 26)  # before the close: a day old, not closed yet
    got = counts(shop, now=early)
    assert kpicache.last.startswith("bypassed: an earlier --now")
    assert got == counts(shop, warm=False, now=early) and (got["due"], got["finished"]) == (1, 0)


def test_a_damaged_cache_file_is_rebuilt(shop):
    write(shop, [opened(ids.new_id(), 0)])
    cold = counts(shop)
    p = kpicache.path(shop, *month(shop)[1:])
    data = p.read_bytes()
    p.write_bytes(data[:-3])
    assert counts(shop) == cold and kpicache.last == "cold: no cache"
    assert p.read_bytes() == data


# one step of a desk's day: (ticket, minutes after the last step (negative: a late write), what happens)
STEP = st.tuples(st.integers(0, 7), st.integers(-300, 900),
                 st.sampled_from(["open", "reply", "message", "resolve", "reopen", "close", "escalated", "set_kind"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.integers(0, 3), batches=st.lists(st.lists(STEP, min_size=1, max_size=12), min_size=1, max_size=6),
       save_after=st.sampled_from([0, 1 << 30]), now_days=st.sampled_from([3, 40]))
def test_warm_equals_cold_after_random_appends(shop, before, batches, save_after, now_days):
    """Whatever is appended between runs, the warm answer is the cold one."""
    tickets_csv(shop).write_bytes(ledger.schema_of("tickets").header.encode())
    for p in (shop / ".aftersales" / "cache").glob("kpi-*"):
        p.unlink()
    was, cache.SAVE_AFTER = cache.SAVE_AFTER, save_after
    try:
        _appends(shop, before, batches, T0 + dt.timedelta(days=now_days))
    finally:
        cache.SAVE_AFTER = was


def _appends(shop, before, batches, now):
    policy = load_policy(shop)
    tids = [ids.new_id() for _ in range(8)]
    # tickets opened before the month, some of them with rows in it
    first = [tickets.Event(tids[i], T0 - dt.timedelta(days=3, minutes=i), "a01", "open", "usage", "旧", {"kind": "complaint"})
             for i in range(before)]
    if first:
        tickets.append_events(shop, first, policy)
    opened_ = set(tids[:before])
    minutes = -60
    for batch in batches:
        rows = []
        for i, gap, what in batch:
            minutes += gap
            tid = tids[i]
            if tid not in opened_:
                opened_.add(tid)
                rows.append(opened(tid, minutes, ["consultation", "complaint"][i % 2]))
            elif what == "set_kind":
                rows.append(ev(tid, minutes, "set", "complaint" if gap % 2 else "", "kind"))
            elif what == "escalated":
                rows.append(ev(tid, minutes, "escalated", "投诉到平台", data={"service_failure": bool(gap % 3)}))
            elif what != "open":
                rows.append(ev(tid, minutes, what, "好的" if what in ("reply", "message", "reopen", "resolve") else ""))
        if rows:
            tickets.append_events(shop, rows, policy)
        for label in ("2026-11", "2026-10"):
            assert counts(shop, now=now, label=label) == counts(shop, warm=False, now=now, label=label), kpicache.last


@given(st.lists(st.sampled_from([("kind", "complaint"), ("kind", "consultation"), ("kind", "complaints"),
                                 ("kind", ""), ("channel", "taobao"), ("kind ", "complaint"), ("x", "kind"),
                                 ("order", '"kind":"complaint"'), ("k", "a\\b"), ("k", "\x01")]), max_size=4),
       st.sampled_from(["compact", "spaced", "number"]), st.booleans())
def test_whether_a_ticket_is_a_complaint_is_what_its_kind_says(pairs, style, set_row):
    # kpi._complaint reads the kind off the intake JSON as the ledger writes it, without parsing it
    import json

    from aftersales import kpi

    data = json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":") if style == "compact" else None)
    if style == "number":
        data = data.replace('"taobao"', "1")
    if style == "compact" and len(pairs) > 1:  # keys twice, as a hand edit may leave them: the last one counts
        data = "{" + ",".join(json.dumps(k) + ":" + json.dumps(v, ensure_ascii=False) for k, v in pairs) + "}"
    t = tickets.Ticket("AAAAAAAAAAAA")
    t.apply(tickets._event(2, ["AAAAAAAAAAAA", "2026-11-01T09:00:00+08:00", "a01", "open", "usage", "x", data], "t"))
    if set_row:
        t.apply(tickets._event(3, ["AAAAAAAAAAAA", "2026-11-01T09:10:00+08:00", "a01", "set", "kind", "complaint", ""], "t"))
    opens = [e for e in t.events if e.type in ("open", "set")]
    assert kpi._complaint(t, opens) == (t.kind == "complaint")
