"""`as check` reads a ledger a block at a time and judges each block column by column
(ledger.LedgerReader.blocks, ledger.BlockCheck, tickets.checks.TicketPass.block), and it
reads record by record (LedgerReader.__iter__ and TicketPass.see) where that fast path
declines. These tests hold the fast path to exactly what the careful path reports: every
problem, line, record and hint, on ledgers with bad values in random columns, rows out of
order, torn and malformed records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from aftersales import cache, checks, ids, ledger
from aftersales.clock import parse_time
from aftersales.events import NAMES
from aftersales.ledger import BlockCheck, Column, check_value, time_offset
from aftersales.policy import load_policy
from aftersales.scaffold import init_workspace
from aftersales.tickets import checks as ticket_checks
from aftersales.tickets.evidence import evidence_path

SHA = hashlib.sha256(b"photo").hexdigest()
TID = st.text(alphabet=ids.ALPHABET, min_size=ids.LENGTH, max_size=ids.LENGTH)
TEXTS = st.sampled_from(["", "", "您好", "收到, 谢谢", 'say "hi"', "两行\n文字", "tab\there", "\r", "回复"])
AMOUNTS = st.one_of(st.sampled_from(["299.00", "8", "0", "0.5", ""]),
                    st.sampled_from(["1.234", "-1", "abc", "¥12.00", "1e3", "12345678901234", "299.00"]))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("blocks") / "shop"
    init_workspace(root)
    path = root / evidence_path(SHA)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"photo")
    return root


def _intake(draw, odd: bool = False) -> str:
    """Intake data of an open: usually compact JSON like the commands write, with good and bad
    amounts; odd amounts (a list, an object) only when `odd` (a payment on such a ticket makes
    compensation.cap_amount raise, with or without blocks)."""
    fields = {"channel": draw(st.sampled_from(["taobao", "jd"])), "customer": "王女士"}
    odd_values = [299, 0, None, True] + ([[1], {"a": 1}] if odd else [])
    for f in draw(st.lists(st.sampled_from(["item_amount", "order_amount", "shipping_fee"]), max_size=3)):
        fields[f] = draw(st.one_of(AMOUNTS, AMOUNTS, AMOUNTS, st.sampled_from(odd_values)))
    if draw(st.booleans()):
        fields["missing"] = ["identity", "cause"]
    style = draw(st.sampled_from(["compact"] * 6 + ["spaced", "ascii", "nested", "raw"]))
    if style == "nested":
        fields["nested"] = {"a": [1, {"b": "}"}]}
    if style == "raw":
        return draw(st.sampled_from(['{"item_amount":"299.00"', "[1,2]", "{}", '{"a":"b\\"c"}', ' {"a":1} ',
                                     '{"item_amount" : "x"}', '{"item_amount":"1","item_amount":"2"}',
                                     '{"item\\u005famount":"x"}', '{"x":"a\tb"}', '{"x":1e999}', '"str"']))
    if style == "spaced":
        return json.dumps(fields, ensure_ascii=False)
    return json.dumps(fields, ensure_ascii=style == "ascii", sort_keys=True, separators=(",", ":"))


intakes = st.composite(lambda draw: _intake(draw, odd=True))


@st.composite
def ticket_rows(draw) -> list:
    """Rows of a few tickets, each opened and then given events, in time order."""
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    events = []
    for _ in range(draw(st.integers(1, 5))):
        tid = draw(TID)
        at = start + dt.timedelta(minutes=draw(st.integers(0, 3000)))
        events.append((at, [tid, "", "a01", "open", draw(st.sampled_from(["usage", "quality", "tech_fault"])),
                             draw(TEXTS), _intake(draw)]))
        for _ in range(draw(st.integers(0, 6))):
            at = at + dt.timedelta(minutes=draw(st.integers(0, 2000)))
            typ = draw(st.sampled_from(["priority", "reply", "evidence", "assign", "department", "group", "set",
                                        "close", "close", "visit", "reopen", "message", "resolve", "note"]))
            ref, text, data = "", draw(TEXTS), ""
            if typ == "priority":
                ref, data = draw(st.sampled_from(["P1", "P3"])), draw(st.sampled_from(["", '{"rule":"r"}']))
            elif typ == "evidence":
                ref = draw(st.sampled_from(["item", "box"]))
                data = draw(st.sampled_from([json.dumps({"path": evidence_path(SHA), "sha256": SHA}),
                                             json.dumps({"sha256": SHA}), json.dumps({"sha256": SHA}),
                                             json.dumps({"sha256": "ab" * 32}), json.dumps({"size": 1}), ""]))
            elif typ == "assign":
                ref = draw(st.sampled_from(["a02", "e01"]))
            elif typ in ("department", "group"):
                ref = draw(st.sampled_from(["qc", "experts"]))
            elif typ == "set":
                ref, text = draw(st.sampled_from(["item_amount", "order_amount", "model"])), draw(AMOUNTS)
            elif typ == "close":
                data = draw(st.sampled_from(["", '{"forced":true,"missing":["identity"]}']))
            events.append((at, [tid, "", draw(st.sampled_from(["a01", "l01", "system"])), typ, ref, text, data]))
    events.sort(key=lambda e: e[0])
    for at, row in events:
        row[1] = at.isoformat(timespec="seconds")
    return [row for _at, row in events]


BAD = {  # column -> values check_value or the ticket checks refuse, or that only the careful path takes
    0: ["", "abc", "0123456789ab", "0123456789AB-", "0123456789ABC", "0123456789A!", "０123456789AB", "O123456789AB"],
    1: ["", "2026-11-23", "2026-11-23T09:00:00", "2026-11-23T09:00:00Z", "2026-11-23 09:00:00+08:00",
        "2026-11-23T09:00:00+09:00", "2026-11-23T09:00:00-05:00", "2026-11-23T09:00:00.5+08:00", "2026-02-30T09:00:00+08:00",
        "2026-11-23T24:00:00+08:00", "2026-11-23T09:60:00+08:00", "2026-11-23T23:59:59+08:00", "2025-01-01T00:00:00+08:00",
        "2026-11-23T09:00:00+24:00", "0000-11-23T09:00:00+08:00", "2026-13-01T09:00:00+08:00", "2026-11-23T09:00:00+08:0a"],
    2: ["", "zz9", "system", "gm", "A01"],
    3: ["", "bogus", "open", "close", "reopen", "visit", "escalate", "set"],
    4: ["", "nosuch", "P9", "qc", "cs", "item", "a02", "usage", "P0"],
    5: ["", "x\x00y", "多\n行", "\x01"],
    6: ["", "{", "[]", "{}", '{"a":"b"}', '{"item_amount":"bad"}', '{"sha256":""}', "null", '{"a":"\x01"}'],
}


@st.composite
def ledgers(draw) -> bytes:
    """tickets.csv as bytes: good rows with mutations drawn on top (bad values in random columns,
    rows moved, repeated, dropped, blank lines, wrong widths), now and then torn or malformed."""
    rows = draw(ticket_rows())
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["value", "value", "value", "move", "repeat", "drop", "width"]))
        if not rows:
            break
        i = draw(st.integers(0, len(rows) - 1))
        if kind == "value":
            col = draw(st.integers(0, 6))
            rows[i] = rows[i][:col] + [draw(st.sampled_from(BAD[col]))] + rows[i][col + 1:]
        elif kind == "move":
            rows.insert(draw(st.integers(0, len(rows) - 1)), rows.pop(i))
        elif kind == "repeat":
            rows.insert(draw(st.integers(0, len(rows))), list(rows[i]))
        elif kind == "drop":
            rows.pop(i)
        else:
            rows[i] = rows[i] + ["extra"] if draw(st.booleans()) else rows[i][:-1]
    lines = [",".join(map(ledger._field, r)) + "\n" for r in rows]
    for _ in range(draw(st.integers(0, 1))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["\n", "\r\n", '"broken\n', 'a,b"c\n'])))
    text = ledger.LEDGERS["tickets"].header + "".join(lines)
    if draw(st.integers(0, 9)) == 0:
        text = text.rstrip("\n")  # torn
    raw = text.encode("utf-8")
    if draw(st.integers(0, 19)) == 0:
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.integers(0, 29)) == 0:
        raw = raw.replace("您".encode(), b"\xc4", 1)  # not UTF-8
    return raw


def _problems(root: Path, monkeypatch, careful: bool, size: int, vouched: bool = False) -> list:
    with monkeypatch.context() as m:
        if vouched:  # a second process checks the values of two blocks of three (checks._Voucher)
            m.setattr(checks, "VOUCH_MIN", 0)
            m.setattr(cache, "jobs", lambda: 2)
        if careful:
            def irregular(reader, observer, vouch=None):
                raise ledger.Irregular

            m.setattr(checks, "_read_in_blocks", irregular)
        else:
            m.setattr(ledger.LedgerReader.blocks, "__defaults__", (size,))
        return [p.render() for p in checks.run_checks(root)]


def _payments(tids: list) -> str:
    out = ledger.LEDGERS["compensations"].header
    for n, tid in enumerate(tids):
        out += ledger._csv_line([f"P{n:07d}", tid, "2026-11-25T10:00:00+08:00", "a01", "TB1", "20.00", "balance",
                                 "courier", "", "", ""]) + "\n"
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=ledgers(), size=st.integers(1, 7), paid=st.integers(0, 2))
@example(raw=ledger.LEDGERS["tickets"].header.encode(), size=1, paid=0)
def test_the_blocks_report_exactly_what_the_careful_reading_reports(workspace, monkeypatch, raw, size, paid):
    (workspace / "ledgers" / "tickets.csv").write_bytes(raw)
    tids = sorted({t for line in raw.splitlines()[1:] if ids.is_valid(t := line[:ids.LENGTH].decode("ascii", "replace"))})
    (workspace / "ledgers" / "compensations.csv").write_text(_payments(tids[:paid]), encoding="utf-8")
    fast = _problems(workspace, monkeypatch, careful=False, size=size)
    assert fast == _problems(workspace, monkeypatch, careful=True, size=size)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=ledgers(), size=st.integers(1, 4), paid=st.integers(0, 2))
def test_blocks_vouched_for_by_a_second_process_report_what_one_process_reports(workspace, monkeypatch, raw, size, paid):
    """A big ledger's values are checked by two processes side by side (checks._Voucher);
    what they report is what the careful reading reports."""
    (workspace / "ledgers" / "tickets.csv").write_bytes(raw)
    tids = sorted({t for line in raw.splitlines()[1:] if ids.is_valid(t := line[:ids.LENGTH].decode("ascii", "replace"))})
    (workspace / "ledgers" / "compensations.csv").write_text(_payments(tids[:paid]), encoding="utf-8")
    vouched = _problems(workspace, monkeypatch, careful=False, size=size, vouched=True)
    assert vouched == _problems(workspace, monkeypatch, careful=True, size=size)


# ------------------------------------------------------------------ the column checks alone

SCHEMA = ledger.LEDGERS["tickets"]
VALUES = {
    "ticket": st.one_of(TID, st.sampled_from(BAD[0])),
    "time": st.one_of(st.sampled_from(BAD[1]), st.builds(
        lambda d, s, o: (dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(minutes=o))) + dt.timedelta(days=d, seconds=s)
                         ).isoformat(timespec="seconds"),
        st.integers(0, 900), st.integers(0, 86399), st.sampled_from([480, 480, 0, -300, 330])),
        st.text(alphabet=string.digits + "-T:+Z ", max_size=26)),
    "staff": st.sampled_from(["a01", "l01", "system", "", "zz9", "gm"]),
    "enum": st.sampled_from(list(NAMES[:6]) + ["", "bogus"]),
    "json": st.one_of(st.sampled_from(BAD[6] + ['{"a":[1,2.5e3,true,null,"x"]}', '{"a":-0}', '{"a":01}', '{"a":1.}',
                                                '{"a":"\\n"}', '{"a":{}}', '{"":""}', '{"a":1,}', '{"a" :1}', '{"a":NaN}']),
                      st.text(alphabet='{}[]":,ab0 -.e\\tnul', max_size=20)),
    "text": TEXTS,
}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), col=st.sampled_from([0, 1, 2, 3, 6]), required=st.booleans())
def test_a_column_passes_only_when_check_value_takes_each_value(workspace, data, col, required):
    column = SCHEMA.columns[col]
    column = Column(column.name, column.type, required or column.required, column.enum, column.choices)
    schema = ledger.Schema("t", SCHEMA.columns[:col] + (column,) + SCHEMA.columns[col + 1:], "")
    values = tuple(data.draw(st.lists(VALUES[column.type], min_size=1, max_size=8)))
    policy = load_policy(workspace)
    check = BlockCheck(schema, policy)
    if check.valid(col, values):
        assert all(check_value(column, v, policy) is None for v in values)


@settings(max_examples=500, deadline=None)
@given(values=st.lists(VALUES["time"], min_size=1, max_size=8))
def test_a_time_offset_means_valid_times_in_text_order_as_in_time(values):
    offset = time_offset(tuple(values))
    if offset is not None:
        times = [parse_time(v) for v in values]
        assert {v[19:] for v in values} == {offset}
        assert sorted(range(len(values)), key=values.__getitem__) == sorted(range(len(values)), key=lambda i: (times[i], values[i]))


@given(tids=st.lists(VALUES["ticket"], min_size=1, max_size=6))
def test_ticket_ids_are_checked_joined_as_one_by_one(tids):
    assert ticket_checks._ids_valid(tuple(tids)) == all(ids.is_valid(t) and len(t) == ids.LENGTH for t in tids)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(intakes(), min_size=1, max_size=5))
def test_amounts_pass_only_when_no_open_has_a_bad_one(workspace, cells):
    cells = [c for c in cells if check_value(Column("data", "json"), c) is None]
    assume(cells)
    if ticket_checks.TicketPass(workspace, None)._amounts_right(cells):
        assert not any(ticket_checks._amount_problems("open", "", "", c) for c in cells)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=ledgers(), size=st.integers(1, 7))
def test_blocks_give_the_records_and_problems_of_the_careful_reading(workspace, raw, size):
    """LedgerReader.blocks, each row through _emit: the records, lines and problems of __iter__
    (or Irregular, when __iter__ alone words what is wrong)."""
    (workspace / "ledgers" / "tickets.csv").write_bytes(raw)
    careful = ledger.LedgerReader(workspace, "tickets", strict=False)
    records = list(careful)
    blocks = ledger.LedgerReader(workspace, "tickets", strict=False)
    try:
        got = [record for lines, rows in blocks.blocks(size) for line, row in zip(lines, rows) if row
               for record in blocks._emit(line, row)]
    except ledger.Irregular:
        assert any(p.unreadable or p.message.startswith("malformed CSV") or p.message == ledger.TORN
                   for p in careful.problems)
        return
    assert got == records
    assert sorted(blocks.problems, key=lambda p: p.sort_key()) == sorted(careful.problems, key=lambda p: p.sort_key())


@pytest.mark.parametrize("fail", ["raises", "dies"])
def test_a_voucher_that_fails_leaves_the_blocks_to_the_command(workspace, monkeypatch, fail):
    """The second process raising or dying part way: the blocks it did not answer for are
    checked by the command itself, which reports what one process reports."""
    import os

    rows = [ledger.LEDGERS["tickets"].header.rstrip("\n")]
    for n in range(30):
        tid = f"{n:012d}"
        rows.append(f"{tid},2026-11-2{n // 10}T09:{n:02d}:00+08:00,a01,open,quality,坏了,{{}}")
        rows.append(f"{tid},2026-11-2{n // 10}T10:{n:02d}:00+08:00,{'zz9' if n % 7 == 3 else 'a01'},reply,,您好,")
    (workspace / "ledgers" / "tickets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (workspace / "ledgers" / "compensations.csv").write_text(_payments([]), encoding="utf-8")
    careful = _problems(workspace, monkeypatch, careful=True, size=3)
    assert len(careful) == 4  # the staff member zz9 is unknown
    parent, real, calls = os.getpid(), ticket_checks.TicketPass.values_ok, []

    def values_ok(self, cols, check):
        if os.getpid() != parent:
            calls.append(1)
            if len(calls) > 4:
                if fail == "dies":
                    os._exit(3)
                raise RuntimeError("child")
        return real(self, cols, check)

    monkeypatch.setattr(ticket_checks.TicketPass, "values_ok", values_ok)
    assert _problems(workspace, monkeypatch, careful=False, size=3, vouched=True) == careful
