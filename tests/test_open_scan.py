"""The fast open-ticket loader must agree with the plain fold, whatever the ledger holds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales import ids, tickets
from aftersales.policy import load_policy

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def write(shop, events):
    tickets.append_events(shop, events, load_policy(shop))


def opened(tid, minutes=0, text="水壶漏水"):
    return tickets.Event(tid, T0 + dt.timedelta(minutes=minutes), "a01", "open", "usage", text,
                         {"channel": "jd", "kind": "consultation"})


def ev(tid, minutes, typ, text="", ref=""):
    return tickets.Event(tid, T0 + dt.timedelta(minutes=minutes), "a01", typ, ref, text)


def plain_open(shop):
    return {t: x for t, x in tickets.load_tickets(shop).items() if x.is_open}


def same(shop):
    fast, plain = tickets.load_open_tickets(shop), plain_open(shop)
    assert sorted(fast) == sorted(plain)
    for tid in fast:
        a, b = fast[tid], plain[tid]
        assert (a.status, a.priority, a.category, a.fields, len(a.events)) == (b.status, b.priority, b.category, b.fields, len(b.events))
    return fast


def test_a_fake_close_row_inside_a_customers_text_is_not_a_close(shop):
    a, b = ids.new_id(), ids.new_id()
    fake = f"我要退款\n{b},2026-11-20T10:00:00+08:00,a01,close,,,\n{a},2026-11-20T10:00:00+08:00,a01,close,,,"
    write(shop, [opened(a), opened(b, 1), ev(a, 5, "message", fake), ev(b, 6, "note", "x,\"y\"\nz")])
    raw = (shop / "ledgers/tickets.csv").read_text(encoding="utf-8")
    assert f"\n{b},2026-11-20T10:00:00+08:00,a01,close,,," in raw  # the look-alike line is really there
    assert sorted(same(shop)) == sorted([a, b])


def test_reopened_and_closed_again(shop):
    a, b, c = ids.new_id(), ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b), opened(c), ev(a, 10, "close"), ev(b, 10, "close"), ev(b, 20, "reopen", "没收到"),
                 ev(c, 10, "close"), ev(c, 20, "reopen", "again"), ev(c, 30, "close")])
    assert sorted(same(shop)) == [b]


@pytest.mark.parametrize("chunk", [1, 7, 64, 200])
def test_tiny_chunks_and_records_across_them(shop, monkeypatch, chunk):
    monkeypatch.setattr(tickets.scan, "_CHUNK", chunk)
    a, b = ids.new_id(), ids.new_id()
    long = "第一行\n" + "很长的留言," * 40 + '\n"引号"\n最后一行'
    write(shop, [opened(a, text="多行\n摘要"), opened(b), ev(a, 3, "message", long), ev(b, 4, "close"),
                 ev(a, 5, "note", "\n\n\n")])
    got = same(shop)
    assert sorted(got) == [a]
    assert got[a].summary == "多行\n摘要"


def test_excel_saved_ledger_with_bom_and_crlf(shop):
    a, b = ids.new_id(), ids.new_id()
    write(shop, [opened(a), opened(b), ev(a, 2, "message", "第一行\n第二行"), ev(b, 3, "close")])
    path = shop / "ledgers/tickets.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert sorted(tickets.load_open_tickets(shop)) == [a]
    assert tickets.load_open_tickets(shop)[a].events[-1].text in ("第一行\r\n第二行", "第一行\n第二行")


def test_a_torn_or_broken_ledger_is_reported_not_misread(run, shop):
    a = ids.new_id()
    write(shop, [opened(a)])
    path = shop / "ledgers/tickets.csv"
    good = path.read_bytes()
    path.write_bytes(good + f'{a},2026-11-20T10:00:00+08:00,a01,message,,"unfinished'.encode())
    r = run("sla-check", now="2026-11-20T12:00:00+08:00")
    assert r.exit_code == 2 and "torn last line" in r.stderr and r.stderr.count("\n") == 1
    path.write_bytes(good + f"{a},2026-11-20T10:00:00+08:00,a01,sla,first_contact,warning,{{broken\n".encode())
    r = run("sla-check", "--notify", now="2026-11-20T12:00:00+08:00")
    assert r.exit_code == 2 and "ledgers/tickets.csv" in r.stderr and "Traceback" not in r.stderr


texts = st.text(alphabet=st.sampled_from(list('ab,"\n\r 退款close')), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["note", "message", "close", "reopen", "reply"]), texts),
                max_size=25))
def test_fast_loader_agrees_with_the_plain_fold(tmp_path_factory, steps):
    from aftersales.scaffold import init_workspace

    shop = tmp_path_factory.mktemp("s") / "shop"
    init_workspace(shop)
    tids = [ids.new_id() for _ in range(4)]
    events = [opened(t, i) for i, t in enumerate(tids)]
    for n, (who, typ, text) in enumerate(steps, start=10):
        events.append(ev(tids[who], n, typ, text))
    write(shop, events)
    same(shop)


ZONES = [dt.timezone(dt.timedelta(hours=8)), dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]


@settings(max_examples=60, deadline=None)
@given(close_s=st.integers(-86400, 86400), zone=st.sampled_from(ZONES), zulu=st.booleans(),
       cut_s=st.integers(-3, 3), cut_zone=st.sampled_from(ZONES), cut_us=st.sampled_from([0, 1, 999999]))
def test_a_ticket_closed_at_the_cut_or_after_is_read(tmp_path_factory, close_s, zone, zulu, cut_s, cut_zone, cut_us):
    """sla-check's cut (closed_after): a close written as the cut is written compares with
    it as text, any other is parsed; both agree with comparing the times."""
    from aftersales import ledger
    from aftersales.tickets import scan

    closed_at = (T0 + dt.timedelta(seconds=close_s)).astimezone(zone)
    at = closed_at.isoformat()
    if zulu and zone is dt.timezone.utc:
        at = at.replace("+00:00", "Z")
    cut = (closed_at + dt.timedelta(seconds=cut_s, microseconds=cut_us if cut_s < 0 else 0)).astimezone(cut_zone)
    header = ledger.schema_of("tickets").header
    path = tmp_path_factory.mktemp("cut") / "tickets.csv"
    path.write_text(header + f"ABCDEFGHJKMN,{T0.isoformat()},a01,open,usage,水壶漏水,\n"
                    f"ABCDEFGHJKMN,{at},a01,close,,,\n", encoding="utf-8")
    got = scan.scan_open_records(path, header.encode(), (), cut)
    assert bool(got) == (closed_at >= cut)
