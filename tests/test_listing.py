"""`ticket list --status closed|all` folds only what a listing shows (tickets/listing.py):
its rows must be those the whole fold gives, byte for byte, whatever the ledger holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from aftersales import events, ids, ledger, render, tickets
from aftersales.cli.ticket import LIST_COLUMNS, _row
from aftersales.tickets import listing, scan

TZ = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
TABLE = ["ticket", "opened_at", "age", "status", "priority", "category", "department", "assignee", "customer", "phone",
         "summary"]
TIDS = ["7HCXFNH6T0DY", "SCBRW3KSZG9Y", "A1B2C3D4E5F6", "ZZZZZZZZZZZ1"]


def careful_rows(root, status, cols, short, now, full_phone=False, filters=None, older=None, newer=None, source=None):
    """What `list_` made of every ticket before issue 18's listing fold: `_row` of the whole fold."""
    filters = filters or {}
    out = []
    for t in scan.iter_tickets(root) if source is None else source:
        if status not in ("open", "all") and t.status != status:
            continue
        r = _row(t, None, now, full_phone, short=short)
        if any(vals and r[k] not in vals for k, vals in filters.items()):
            continue
        if older is not None and not older(t.opened_at) or newer is not None and newer(t.opened_at):
            continue
        if short:
            r["opened_at"] = r["opened_at"].strftime("%m-%d %H:%M")
        out.append((t.opened_at.timestamp(), t.id, tuple(r[c] for c in cols)))
    return sorted(out)


def fast_rows(root, status, cols, short, now, full_phone=False, filters=None, older=None, newer=None):
    made = listing.rows(root, status, cols, short, now, full_phone, filters, older, newer)
    if made is None:
        return None
    rows, rest = made
    return sorted(rows + careful_rows(root, status, cols, short, now, full_phone, filters, older, newer, rest))


def outcome(f, *args, **kw):
    try:
        return f(*args, **kw)
    except Exception as e:  # noqa: BLE001
        return ("raised", type(e).__name__, str(e))


def write_raw(root, rows, tail=b""):
    path = ledger.ledger_path(root, "tickets")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow(r)
    path.write_bytes(ledger.schema_of("tickets").header.encode() + buf.getvalue().encode("utf-8") + tail)


TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\n中\u3000=-\t\x1b')), max_size=5)
VALUE = st.one_of(*[st.sampled_from(["", "jd", "taobao", "13812345678", "138-1234 5678", "王女士", "=1+2", " x "])] * 8,
                  st.integers(-3, 99), st.none(), st.booleans())
DATA = st.dictionaries(st.sampled_from(["channel", "customer", "phone", "order", "kind", "summary", "category", "x"]),
                       VALUE, max_size=6)
ZONES = ["+08:00"] * 12 + ["+00:00", "Z", ".5+08:00", "", "-00:00"]


@st.composite
def event_rows(draw, zone=None, typ=None):
    tid = draw(st.sampled_from(TIDS))
    typ = typ or draw(st.sampled_from(list(events.TYPES) + ["open"] * 3 + ["set"] * 2 + ["bogus", "Open"]))
    minute = draw(st.one_of(st.integers(0, 40), st.integers(0, 6000)))
    zone = zone or draw(st.sampled_from(ZONES))
    at = (T0 + dt.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S")
    at = at + zone if zone not in ("+00:00", "-00:00") else (T0 + dt.timedelta(minutes=minute)).astimezone(
        dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + zone
    if typ == "set":
        ref = draw(st.sampled_from(["channel", "customer", "phone", "order", "kind", "summary", "category", "model"]))
    else:
        ref = draw(st.sampled_from(["", "P1", "P2", "a01", "usage", "after_sales", "yes", "quality"]))
    text = draw(st.one_of(TEXT, st.sampled_from(["jd", "13812345678", "王", ""])))
    data = json.dumps(draw(DATA), ensure_ascii=False) if typ == "open" else draw(st.sampled_from(["", "", '{"rule": "r1"}']))
    if typ == "open" and draw(st.integers(0, 30)) == 0:
        data = draw(st.sampled_from(["[1]", "{bad", ' {"channel": "jd"} ', "", "null"]))
    return [tid, at, draw(st.sampled_from(["a01", "system"])), typ, ref, text, data]


SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


@SETTINGS
@given(rows=st.one_of(st.lists(event_rows(), max_size=25),  # any zones: mostly the careful path
                     st.tuples(st.lists(event_rows("+08:00", "open"), min_size=1, max_size=4),  # times in one zone
                               st.lists(event_rows("+08:00"), max_size=25)).map(lambda x: x[0] + x[1]),
                     st.tuples(st.lists(event_rows("+08:00", "open"), min_size=1, max_size=4),  # ... in file order
                               st.lists(event_rows("+08:00"), max_size=25)).map(lambda x: sorted(x[0] + x[1],
                                                                                           key=lambda r: r[1]))), status=st.sampled_from(["all", "all", "closed"]), short=st.booleans(),
       full_phone=st.booleans(), late=st.sampled_from([-60, 30, 3 * 24 * 60, 400 * 24 * 60]),
       filters=st.sampled_from([{}, {}, {}, {"priority": ("P1",)}, {"channel": ("jd",), "kind": ()},
                                {"assignee": ("a01", "yes"), "department": ("after_sales",)}]),
       ages=st.sampled_from([(None, None)] * 3 + [(1, None), (None, 3)]), chunk=st.sampled_from([1024, 1024, 1, 3]))
def test_the_listing_fold_gives_the_rows_of_the_whole_fold(shop, rows, status, short, full_phone, late, filters, ages,
                                                           chunk):
    write_raw(shop, rows)
    listing._CHUNK, chunk = chunk, listing._CHUNK  # rows are folded a chunk at a time: its edges too
    try:
        check_listing(shop, status, short, full_phone, late, filters, ages)
    finally:
        listing._CHUNK = chunk


def check_listing(shop, status, short, full_phone, late, filters, ages):
    now = T0 + dt.timedelta(minutes=late)
    older = (lambda o: now - o > dt.timedelta(hours=ages[0])) if ages[0] else None
    newer = (lambda o: now - o > dt.timedelta(days=ages[1])) if ages[1] else None
    cols = TABLE if short else LIST_COLUMNS + ["abnormal"]
    want = outcome(careful_rows, shop, status, cols, short, now, full_phone, filters, older, newer)
    got = outcome(fast_rows, shop, status, cols, short, now, full_phone, filters, older, newer)
    event("careful path" if got is None else "fast fold, raised" if not isinstance(want, list) else
          "fast fold, no rows" if not want else "fast fold, rows")
    if got is None:  # the careful path: the command reads the ledger as before
        return
    assert plain(got) == plain(want)  # a time may come as its text: it prints the same
    # ... and they print the same
    for fmt in ("table", "csv", "json"):
        if isinstance(want, list):
            assert printed(got, cols, fmt) == printed(want, cols, fmt)


def plain(rows):
    if not isinstance(rows, list):
        return rows
    return [(float(ts), tid, tuple(render._plain(v) for v in r)) for ts, tid, r in rows]


def printed(rows, cols, fmt):
    out = io.StringIO()
    render.write_listing([r[2] for r in rows], cols, fmt, out)
    return out.getvalue()


def test_plain_ledgers_take_the_fast_fold(shop):
    """A ledger as the desk writes it (times in one zone, IDs of twelve characters, customers'
    texts with commas, quotes and line breaks) is folded here, not read the careful way."""
    a, b, c = ids.new_id(), ids.new_id(), ids.new_id()
    T = [T0 + dt.timedelta(minutes=m) for m in range(20)]
    evs = [tickets.Event(a, T[0], "a01", "open", "usage", "水壶,\"漏水\"\n第二行",
                         {"channel": "jd", "customer": "王女士", "phone": "13812345678", "kind": "consultation"}),
           tickets.Event(b, T[1], "a01", "open", "quality", "坏了", {"channel": "taobao", "order": "TB1"}),
           tickets.Event(c, T[2], "a01", "open", "usage", "问", {}),
           tickets.Event(a, T[3], "a01", "priority", "P1", "rule x", {"rule": "x"}),
           tickets.Event(b, T[4], "a01", "message", "", "第一行\n\"第二行\",", {}),
           tickets.Event(b, T[5], "a01", "wait", "", "photo", {}),
           tickets.Event(a, T[6], "a01", "set", "phone", "13900000000", {}),
           tickets.Event(c, T[7], "a01", "resolve", "", "done", {}),
           tickets.Event(c, T[8], "a01", "close", "", "", {}),
           tickets.Event(a, T[9], "a01", "assign", "a02", "", {})]
    tickets.append_events(shop, evs, None)
    now = T0 + dt.timedelta(days=2)
    for status in ("all", "closed"):
        for short, cols in ((True, TABLE), (False, LIST_COLUMNS + ["abnormal"])):
            made = listing.rows(shop, status, cols, short, now)
            assert made is not None and made[1] == []
            assert plain(fast_rows(shop, status, cols, short, now)) == plain(careful_rows(shop, status, cols, short, now))
    assert len(listing.rows(shop, "all", TABLE, True, now)[0]) == 3


def test_a_corrected_ticket_is_folded_whole(run, shop):
    a = run.new(summary="水壶漏水")
    b = run.new(summary="另一个")
    assert run("ticket", "assign", a, "--to", "a02").exit_code == 0
    [e] = [e for e in tickets.iter_events(shop) if e.ticket == a and e.type == "assign"]
    from aftersales import corrections

    r = run("correct", "void", corrections.event_ref(e), "--reason", "录错工单")
    assert r.exit_code == 0, r.output
    now = T0 + dt.timedelta(days=10)
    rows, rest = listing.rows(shop, "all", TABLE, True, now)
    assert [t.id for t in rest] == [a] and [r[1] for r in rows] == [b]
    assert plain(fast_rows(shop, "all", TABLE, True, now)) == plain(careful_rows(shop, "all", TABLE, True, now))
    assert rest[0].assignee != "a02"


def test_rows_out_of_time_order_fold_the_ticket_whole(shop):
    a, b = TIDS[0], TIDS[1]
    at = lambda m: (T0 + dt.timedelta(minutes=m)).isoformat()  # noqa: E731
    write_raw(shop, [[a, at(0), "a01", "open", "usage", "x", "{}"], [b, at(0), "a01", "open", "usage", "y", "{}"],
                     [a, at(9), "a01", "close", "", "", ""], [a, at(5), "a01", "reopen", "", "why", ""],
                     [b, at(9), "a01", "note", "", "n", ""], [b, at(3), "a01", "priority", "P1", "", ""]])
    now = T0 + dt.timedelta(days=1)
    rows, rest = listing.rows(shop, "all", TABLE, True, now)
    assert [t.id for t in rest] == [a] and rest[0].status == "closed"
    assert plain(fast_rows(shop, "all", TABLE, True, now)) == plain(careful_rows(shop, "all", TABLE, True, now))


@pytest.mark.parametrize("tail,edit", [
    (b"", lambda raw: raw.replace(b"+08:00,a01,close", b"+08:00,a01,close,extra", 1)),
    (b"", lambda raw: raw.replace(b"2026-11-20T09:09:00", b"2026-11-20T09:69:00", 1)),
    (b"", lambda raw: raw.replace(b"2026-11-20T09:09:00", b"2026-02-30T09:09:00", 1)),
    (b"", lambda raw: raw.replace(b"2026-11-20T09:09:00+08:00", b"2026-11-20T09:09:00", 1)),
    (b"", lambda raw: raw.replace(b",usage,x,", b',usage,"x"y,', 1)),
    (b"", lambda raw: raw.replace(b"{}", b"{bad", 1)),
    (b"", lambda raw: raw.replace(b"\xe4", b"\xff", 1)),
    (b"", lambda raw: raw.replace(b"ticket,at", b"tickets,at", 1)),
    (b'7HCXFNH6T0DY,2026-11-20T09:00:00+08:00,a01,note,,"open', lambda raw: raw),
])
def test_a_bad_ledger_is_read_the_careful_way(run, shop, tail, edit):
    a, b = TIDS[0], TIDS[1]
    at = lambda m: (T0 + dt.timedelta(minutes=m)).isoformat()  # noqa: E731
    write_raw(shop, [[a, at(0), "a01", "open", "usage", "x", "{}"], [b, at(0), "a01", "open", "usage", "中", "{}"],
                     [a, at(9), "a01", "close", "", "", ""]], tail)
    path = ledger.ledger_path(shop, "tickets")
    path.write_bytes(edit(path.read_bytes()))
    assert listing.rows(shop, "all", TABLE, True, T0 + dt.timedelta(days=1)) is None
    r = run("ticket", "list", "--status", "all")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("status", ["all", "closed"])
def test_the_command_prints_what_the_careful_path_prints(run, shop, monkeypatch, fmt, status):
    tids = [run.new(summary=s, phone="13812345678") for s in ("水壶漏水", "=SUM(A1)", "a,b \"c\"")]
    run("ticket", "close", tids[0], "--force", "test")
    run("ticket", "wait", tids[1], "--text", "photo")
    for args in ((), ("--full-phone",), ("--priority", "P3"), ("--older-than", "1h")):
        fast = run("ticket", "list", "--status", status, "--format", fmt, *args)
        with monkeypatch.context() as m:
            m.setattr(listing, "rows", lambda *a, **k: None)
            careful = run("ticket", "list", "--status", status, "--format", fmt, *args)
        assert (fast.exit_code, fast.stdout) == (careful.exit_code, careful.stdout)


# ------------------------------------------------------------------ render.write_listing


def old_write_listing(rows, columns, fmt, out):
    """write_listing as it was before issue 18's fast paths (the oracle)."""
    n = 0
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([render._csv_cell(v) for v in r])
            n += 1
        return n
    if fmt == "json":
        out.write("[")
        for r in rows:
            text = json.dumps({c: render._plain(v) for c, v in zip(columns, r)}, ensure_ascii=False, indent=2)
            out.write(("\n  " if not n else ",\n  ") + text.replace("\n", "\n  "))
            n += 1
        out.write("\n]\n" if n else "]\n")
        return n
    cells = [[render.printable(render._cell(v)) for v in r] for r in rows]
    if cells:
        dw = render.display_width
        for r in cells:
            for i, c in enumerate(r):
                if c[:1].isspace() or c[-1:].isspace():
                    r[i] = c.strip()
        widths = []
        for i, h in enumerate(columns):
            col = [r[i] for r in cells]
            w = max(len(c) if c.isascii() else dw(c) for c in col) if col else 0
            widths.append(max(w, dw(h) + 2))

        def line(values):
            return "  ".join([v + " " * (w - (len(v) if v.isascii() else dw(v))) for v, w in zip(values, widths)]).rstrip()

        out.write(line(columns) + "\n")
        out.write("  ".join("-" * w for w in widths).rstrip() + "\n")
        for r in cells:
            out.write(line(r) + "\n")
    return len(cells)


CELLS = st.one_of(st.text(alphabet=st.sampled_from(list("ab -=+@x,\"中\u3000\t\n\r\x1b\u200e\u00a0é0:")), max_size=6),
                  st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([Decimal("1.50"), T0, ["a", 1]]),
                  st.dictionaries(st.sampled_from(["k", "é"]), st.integers(0, 2), max_size=2))


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["ticket", "age", "客户", "a b", "ticket"]), min_size=n, max_size=n),
    st.lists(st.lists(CELLS, min_size=n, max_size=n).map(tuple), max_size=6))), st.sampled_from(["table", "csv", "json"]))
def test_write_listing_prints_what_it_printed(table, fmt):
    columns, rows = table
    old, new = io.StringIO(), io.StringIO()
    assert old_write_listing(list(rows), columns, fmt, old) == render.write_listing(iter(rows), columns, fmt, new)
    assert new.getvalue() == old.getvalue()


# ------------------------------------------------------------------ listing's fast readers


JSON_VALUES = st.recursive(st.one_of(st.text(alphabet=st.sampled_from(list('a"\\\n中 :,{}é\x1f')), max_size=4),
                                     st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.none(),
                                     st.booleans()),
                           lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["phone", "x"]),
                                                                                       inner, max_size=2), max_leaves=4)


@st.composite
def data_cells(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(list(listing.FIELDS) + ["x", "kind ", "é", 'a"b']), JSON_VALUES),
                          max_size=5))
    body = ",".join(json.dumps(k, ensure_ascii=draw(st.booleans())) + ":" + json.dumps(v, ensure_ascii=draw(st.booleans()))
                    for k, v in pairs)
    return draw(st.sampled_from(["{" + body + "}", "{" + body + "}", " {" + body + "}", "[" + body + "]", "",
                                 "{" + body.replace(":", ": ") + "}", "{" + body + ",}", "{" + body + "}x", "1"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(data_cells(), max_size=6))
def test_the_intake_fields_are_those_json_reads(cells):
    """`listing._fields` reads a batch of data cells with one pattern: what json gives, or Unusual
    when one is not an object (the careful path then words the error)."""
    def careful(cell):
        obj = json.loads(cell) if cell else {}
        if not isinstance(obj, dict):
            raise ValueError(cell)
        return tuple(obj.get(k, "") for k in listing.FIELDS)

    try:
        want = [careful(c) for c in cells]
    except ValueError:
        with pytest.raises(Exception):  # noqa: B017 -- Unusual or json's own error: the careful path words it
            listing._fields(cells)
        return
    assert listing._fields(cells) == want


PHONE = st.one_of(st.text(alphabet=st.sampled_from(list("0123456789 -x١\n")), max_size=14),
                  st.from_regex(r"[0-9]{11,13}(\n[0-9]{11})?", fullmatch=True), st.just(""))


@given(st.one_of(st.lists(PHONE, max_size=8), st.lists(st.from_regex(r"[0-9]{10,12}", fullmatch=True) | st.just(""))))
@example(["12345678901", "\n", ""])  # (lines of eleven digits or none, but not one phone each)
def test_phones_are_masked_as_mask_phone_masks_them(phones):
    assert listing._masks(phones) == [tickets.mask_phone(p) if p else "" for p in phones]


@given(st.lists(st.one_of(st.integers(-10 ** 6, 10 ** 8), st.integers(-90000, 90000)), max_size=8))
def test_ages_are_what_span_shows(seconds):
    from aftersales.clock import span, spans

    assert listing._ages(seconds, spans()) == [span(dt.timedelta(seconds=s)) for s in seconds]


# ------------------------------------------------------------------ two processes (listing.written)


@pytest.fixture
def split(monkeypatch):
    """`ticket list --status closed|all` read by two processes however small the ledger, and
    what `listing.written` returned each time (None: it declined, one process read it)."""
    from aftersales import cache

    monkeypatch.setattr(listing, "SPLIT_MIN", 0)
    monkeypatch.setattr(cache, "jobs", lambda: 2)
    results: list = []
    real = listing.written

    def spy(*a, **k):
        n = real(*a, **k)
        if cache.jobs() > 1:  # (not the one-process runs the tests compare with)
            results.append(n)
        return n

    monkeypatch.setattr(listing, "written", spy)
    return results


def one_process(run, monkeypatch, *args, now):
    from aftersales import cache

    with monkeypatch.context() as m:
        m.setattr(cache, "jobs", lambda: 1)
        return run(*args, now=now)


def varied_ledger(root, n=40, text=lambda i: f"第{i}个,\"问题\"\n第二行"):
    """Tickets opened one after another, each with later rows of every listed kind, in time order."""
    at = lambda m: (T0 + dt.timedelta(minutes=m)).isoformat()  # noqa: E731
    rows = []
    for i in range(n):
        tid = f"T{i:011d}"
        data = json.dumps({"channel": "jd" if i % 3 else "taobao", "customer": "王女士" if i % 2 else "Li",
                           "phone": "13812345678", "order": f"TB{i}", "kind": "consultation"}, ensure_ascii=False)
        rows.append([tid, at(10 * i), "a01", "open", "usage", text(i), data])
        rows.append([tid, at(10 * i), "a01", "priority", "P3", "default", ""])
        for k, (typ, ref) in enumerate([("wait", ""), ("resume", ""), ("assign", "a02"), ("set", "customer"),
                                        ("resolve", ""), ("close", ""), ("reopen", ""), ("wait", ""),
                                        ("priority", "P1"), ("abnormal", "yes")][:i % 11]):
            rows.append([tid, at(10 * i + 13 * k + 5), "a01", typ, ref, "新名字" if typ == "set" else "", ""])
    rows.sort(key=lambda r: r[1])
    write_raw(root, rows)
    return rows


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("status", ["all", "closed"])
@pytest.mark.parametrize("share", [0.05, 0.3, 0.5, 0.7, 0.97])
def test_two_processes_print_what_one_prints(run, shop, monkeypatch, split, fmt, status, share):
    varied_ledger(shop)
    monkeypatch.setattr(listing, "SPLIT", share)
    now = (T0 + dt.timedelta(days=3)).isoformat()
    for args in ((), ("--priority", "P1"), ("--full-phone",)):
        got = run("--format", fmt, "ticket", "list", "--status", status, *args, now=now)
        want = one_process(run, monkeypatch, "--format", fmt, "ticket", "list", "--status", status, *args, now=now)
        assert (got.exit_code, got.stdout) == (want.exit_code, want.stdout)
    # a table or CSV in a pipe went the two-process way (unless a ticket's rows lie across the split)
    assert all((n is None) == (fmt == "json") for n in split) or share not in (0.3, 0.5, 0.7)


def test_a_text_with_line_breaks_across_the_split_point(run, shop, monkeypatch, split):
    """A quoted summary holds a line that looks like a record where the split falls: the
    earlier part does not end cleanly there, so one process reads the ledger."""
    fake = "ZZZZZZZZZZZ9,2026-11-20T09:00:00+08:00,a01,close,,,"
    varied_ledger(shop, 20, text=lambda i: f"第{i}行\n{fake}\n\"尾\"" if i == 10 else f"问题{i}")
    raw = ledger.ledger_path(shop, "tickets").read_bytes()
    monkeypatch.setattr(listing, "SPLIT", (raw.index(fake.encode()) - 8) / len(raw))
    assert listing._split_point(ledger.ledger_path(shop, "tickets"), len(raw)) == raw.index(fake.encode())
    now = (T0 + dt.timedelta(days=3)).isoformat()
    for fmt in ("table", "csv"):
        got = run("--format", fmt, "ticket", "list", "--status", "all", now=now)
        want = one_process(run, monkeypatch, "--format", fmt, "ticket", "list", "--status", "all", now=now)
        assert got.exit_code == 0 and got.stdout == want.stdout and "ZZZZZZZZZZZ9" in got.stdout
    assert split == [None, None]


@pytest.mark.parametrize("how", ["raises", "dies", "dies with its text", "waits"])
def test_a_child_that_fails_leaves_the_work_to_the_parent(run, shop, monkeypatch, split, how):
    import os
    import signal

    varied_ledger(shop)
    parent = os.getpid()
    real_send, real_later = listing._send, listing._later

    def later(*a):
        if how == "raises":
            raise RuntimeError("child")
        if how == "dies":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_later(*a)

    def send(f, obj):
        if os.getpid() != parent and isinstance(obj, bytes):  # its text
            if how == "dies with its text":
                os._exit(0)
            if how == "waits":  # sends nothing more; the parent sees the pipe close
                raise SystemExit
        return real_send(f, obj)

    monkeypatch.setattr(listing, "_later", later)
    monkeypatch.setattr(listing, "_send", send)
    now = (T0 + dt.timedelta(days=3)).isoformat()
    got = run("ticket", "list", "--status", "all", now=now)
    want = one_process(run, monkeypatch, "ticket", "list", "--status", "all", now=now)
    assert got.exit_code == 0 and got.stdout == want.stdout and "第39个" in got.stdout
    assert split == [None]


def test_the_policy_is_loaded_while_the_child_reads(run, shop, monkeypatch, split):
    """Every ticket, unfiltered: the child is forked first, then this process loads and checks
    the policy (`written`'s check); what is printed is what one process prints."""
    from aftersales import cache, workspace

    varied_ledger(shop)
    now = (T0 + dt.timedelta(days=3)).isoformat()
    want = one_process(run, monkeypatch, "ticket", "list", "--status", "all", now=now)
    seen = []
    real_fork, real_policy = cache.fork, workspace.Workspace.policy

    def fork(child):
        seen.append("fork")
        return real_fork(child)

    def policy(self):
        seen.append("policy")
        return real_policy.fget(self)

    monkeypatch.setattr(cache, "fork", fork)
    monkeypatch.setattr(workspace.Workspace, "policy", property(policy))
    got = run("ticket", "list", "--status", "all", now=now)
    assert (got.exit_code, got.stdout) == (want.exit_code, want.stdout) and split == [40]  # (two processes wrote it)
    assert seen[:2] == ["fork", "policy"]


def test_a_broken_policy_stops_the_child_and_is_worded_as_ever(run, shop, monkeypatch, split):
    varied_ledger(shop)
    timers = shop / "policies" / "timers.toml"
    timers.write_text(timers.read_text(encoding="utf-8").replace('target = "30m"', 'target = "soon"', 1), encoding="utf-8")
    now = (T0 + dt.timedelta(days=3)).isoformat()
    for args in ((), ("--format", "csv")):
        got = run(*args, "ticket", "list", "--status", "all", now=now)
        want = one_process(run, monkeypatch, *args, "ticket", "list", "--status", "all", now=now)
        assert got.exit_code == want.exit_code == 2 and "timers.toml" in got.stderr
        assert (got.stdout, got.stderr) == (want.stdout, want.stderr) == ("", want.stderr)
    assert split == [None, None]  # (forked, then declined: the policy did not load)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.tuples(st.lists(event_rows("+08:00", "open"), min_size=1, max_size=4),
                      st.lists(event_rows("+08:00"), max_size=30)).map(lambda x: sorted(x[0] + x[1], key=lambda r: r[1])),
       share=st.floats(0.0, 1.0), fmt=st.sampled_from(["table", "csv"]), status=st.sampled_from(["all", "closed"]))
def test_any_ledger_split_anywhere_prints_what_one_process_prints(shop, run, monkeypatch, rows, share, fmt, status):
    from aftersales import cache

    write_raw(shop, rows)
    now = (T0 + dt.timedelta(days=2)).isoformat()
    with monkeypatch.context() as m:
        m.setattr(listing, "SPLIT_MIN", 0)
        m.setattr(listing, "SPLIT", share)
        m.setattr(cache, "jobs", lambda: 2)
        got = outcome(run, "--format", fmt, "ticket", "list", "--status", status, now=now)
    want = outcome(one_process, run, monkeypatch, "--format", fmt, "ticket", "list", "--status", status, now=now)
    if isinstance(want, tuple):  # (a cell the careful path does not expect: it raises the same)
        assert got == want
    else:
        assert (got.exit_code, got.stdout, got.stderr) == (want.exit_code, want.stdout, want.stderr)


def test_the_times_taken_without_a_date_check_have_valid_dates():
    import re

    common = re.compile(listing._COMMON_TIME.replace("{zone}", re.escape("+08:00")))
    for y in (2024, 2026):
        for m in range(0, 14):
            for d in range(0, 33):
                try:
                    valid = bool(dt.date(y, m, d))
                except ValueError:
                    valid = False
                if common.fullmatch(f"{y}-{m:02d}-{d:02d}T10:00:00+08:00"):
                    assert valid
                elif valid:  # checked the careful way (`_RARE_DAYS`)
                    assert (m, d) == (2, 29)
