"""tickets.scan.load_span (the weekly brief): the tickets with a row at or after `since`
exactly as load_since gives them; those with rows only between `early` and `since` as
they were opened (opening time, category, intake fields)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import ids, ledger, tickets
from aftersales.tickets import scan
from aftersales.policy import load_policy

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ZONES = [dt.timezone(dt.timedelta(hours=8)), dt.timezone.utc, dt.timezone(dt.timedelta(hours=-3))]


def summary(got):
    return sorted((t.id, t.status, [(e.at, e.type, e.text) for e in t.events]) for t in got.values())


def opening(got):
    return sorted((t.id, t.opened_at, t.opened_by, t.category, sorted(t.fields.items())) for t in got.values())


ROW = st.tuples(st.integers(0, 5), st.integers(0, 30 * 24 * 60), st.sampled_from(["message", "set", "close", "reopen"]),
                st.sampled_from(ZONES))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opens=st.lists(st.integers(0, 30 * 24 * 60), min_size=6, max_size=6), rows=st.lists(ROW, max_size=40),
       days=st.tuples(st.integers(0, 31), st.integers(0, 31)), chunk=st.sampled_from([64, 300, 1 << 17]),
       zone=st.sampled_from(ZONES))
def test_load_span_is_load_since_and_the_openings_before(shop, monkeypatch, opens, rows, days, chunk, zone):
    monkeypatch.setattr(scan, "_CHUNK", chunk)
    path = ledger.ledger_path(shop, "tickets")
    path.write_bytes(ledger.schema_of("tickets").header.encode())
    tids = [ids.new_id() for _ in range(6)]
    events = [tickets.Event(tid, T0 + dt.timedelta(minutes=m), "a01", "open", ["usage", "quality"][i % 2], "屏幕\n碎了",
                            {"channel": "jd", "kind": "consultation", "model": "K-1"}) for i, (tid, m) in enumerate(zip(tids, opens))]
    for i, minutes, typ, z in rows:  # written in any order: a merge, a late write
        at = (T0 + dt.timedelta(minutes=minutes)).astimezone(z)
        if typ == "set":
            events.append(tickets.Event(tids[i], at, "a01", "set", "model", f"M-{minutes}"))
        else:
            events.append(tickets.Event(tids[i], at, "a01", typ, "", "好的" if typ != "close" else ""))
    tickets.append_events(shop, events, load_policy(shop))
    early, since = sorted(T0 + dt.timedelta(days=d) for d in days)
    since = since.astimezone(zone)
    whole, opened = scan.load_span(shop, since, early)
    every = tickets.load_tickets(shop)
    assert summary(whole) == summary(tickets.load_since(shop, since))
    assert opening(opened) == opening({tid: t for tid, t in every.items() if tid not in whole and
                                       any(e.at >= early for e in t.events)})
