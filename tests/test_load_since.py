"""tickets.load_since: exactly the tickets with a row at or after the start, folded whole."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import ids, ledger, tickets
from aftersales.tickets import scan
from aftersales.policy import load_policy

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ZONES = [dt.timezone(dt.timedelta(hours=8)), dt.timezone.utc, dt.timezone(dt.timedelta(hours=-3))]


def plain(shop, since):
    return {tid: t for tid, t in tickets.load_tickets(shop).items() if any(e.at >= since for e in t.events)}


def summary(got):
    return sorted((t.id, t.status, [(e.at, e.type, e.text) for e in t.events]) for t in got.values())


ROW = st.tuples(st.integers(0, 5), st.integers(0, 30 * 24 * 60), st.sampled_from(["message", "note", "close", "reopen"]),
                st.sampled_from(ZONES))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, max_size=40), start_days=st.integers(0, 31), chunk=st.sampled_from([64, 300, 1 << 17]))
def test_load_since_is_the_plain_fold_of_the_tickets_with_a_later_row(shop, monkeypatch, rows, start_days, chunk):
    monkeypatch.setattr(scan, "_CHUNK", chunk)
    path = ledger.ledger_path(shop, "tickets")
    path.write_bytes(ledger.schema_of("tickets").header.encode())
    tids = [ids.new_id() for _ in range(6)]
    events = [tickets.Event(tid, T0 + dt.timedelta(minutes=i), "a01", "open", "usage", "屏幕\n碎了, \"急\"",
                            {"channel": "jd", "kind": "consultation"}) for i, tid in enumerate(tids)]
    for i, minutes, typ, zone in rows:  # written in any order: a merge, a late write
        events.append(tickets.Event(tids[i], (T0 + dt.timedelta(minutes=minutes)).astimezone(zone), "a01", typ, "",
                                    "好的" if typ != "close" else ""))
    tickets.append_events(shop, events, load_policy(shop))
    since = T0 + dt.timedelta(days=start_days)
    assert summary(tickets.load_since(shop, since)) == summary(plain(shop, since))


@pytest.mark.parametrize("zone", ZONES)
def test_a_start_in_another_zone(shop, zone):
    a, b = ids.new_id(), ids.new_id()
    tickets.append_events(shop, [tickets.Event(a, T0, "a01", "open", "usage", "x", {"kind": "consultation"}),
                                 tickets.Event(b, T0 + dt.timedelta(days=3), "a01", "open", "usage", "y",
                                               {"kind": "consultation"})], load_policy(shop))
    since = (T0 + dt.timedelta(days=1)).astimezone(zone)
    assert list(tickets.load_since(shop, since)) == [b]
