"""Append-only CSV ledgers: encoding, reading, torn lines, bad records, locking.

Most tests work on ledgers/tickets.csv of a fresh shop; a few use compensations.csv for
money and policy-defined enums. Files are written byte by byte where the test is about
what a crash, Excel or a GBK export leaves on disk.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aftersales import ids, ledger
from aftersales.errors import InputError
from conftest import snapshot

CST = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=CST)
AT_TEXT = "2026-11-23T09:00:00+08:00"
HEADER = b"ticket,at,by,type,ref,text,data\n"
COMP_HEADER = b"id,ticket,at,by,order,amount,method,liability,reason,approved_by,note\n"
TICKETS = "ledgers/tickets.csv"

TORN_READ = ("torn last line: this record was cut off and is incomplete; the records above it are complete. "
             "Run `aftersales repair` to see and remove it (nothing else changes)")
TORN_WRITE = ("torn last line (a record there was cut off); nothing was written. "
              "Run `aftersales repair` to see and remove the incomplete record, then run the command again")
NOT_UTF8 = "not UTF-8 text; re-save the file as UTF-8 (a GBK export comes in with `aftersales import`)"


# ------------------------------------------------------------------ helpers


def event(text="收到的电水壶底部有裂纹", type="open", ref="quality", ticket=None, data=None, at=AT, by="a01") -> dict:
    """A tickets row as aftersales.tickets.Event.row() gives it."""
    return {"ticket": ticket or ids.new_id(), "at": at, "by": by, "type": type, "ref": ref,
            "text": text, "data": {"channel": "taobao"} if data is None else data}


def csv_bytes(*rows: list, terminator="\n") -> bytes:
    """Rows of strings encoded by the csv module alone (independent of the code under test)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=terminator).writerows(rows)
    return buf.getvalue().encode("utf-8")


def values(row: dict) -> list:
    """The cells of a tickets row as they should be stored."""
    data = json.dumps(row["data"], ensure_ascii=False, sort_keys=True, separators=(",", ":")) if row["data"] else ""
    return [row["ticket"], row["at"].isoformat(), row["by"], row["type"], row["ref"], row["text"], data]


def tickets_file(root: Path) -> Path:
    return ledger.ledger_path(root, "tickets")


def write_tickets(root: Path, body: bytes, header: bytes = HEADER) -> Path:
    path = tickets_file(root)
    path.write_bytes(header + body)
    return path


def open_row(tid=None, text="收到的电水壶底部有裂纹") -> list:
    """Cells of a valid opening row (as strings)."""
    return [tid or ids.new_id(), AT_TEXT, "a01", "open", "quality", text, '{"channel":"taobao"}']


def comp_row(**cells) -> list:
    row = dict(id="C0001", ticket=ids.new_id(), at=AT_TEXT, by="a01", order="TB20261123001", amount="10.00",
               method="coupon", liability="shop", reason="物流破损", approved_by="", note="")
    row.update(cells)
    return list(row.values())


def problem_lines(result) -> list:
    """The `FILE:LINE: message; fix` of each problem `as check` printed: the message line with
    its `hint: fix` line joined by "; " (records and markers under a message are indented)."""
    out: list = []
    for ln in result.stdout.splitlines():
        if ln.startswith("hint: ") and out:
            out[-1] += "; " + ln[len("hint: "):]
        elif ln and not ln.startswith("    "):
            out.append(ln)
    return out


def read_all(root: Path, name: str = "tickets") -> list:
    return list(ledger.records(root, name))


def expect_input_error(fn, *args) -> str:
    with pytest.raises(InputError) as e:
        fn(*args)
    return e.value.message


def run_python(code: str, *args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], **kw)


# ------------------------------------------------------------------ 1. round trip

TRICKY = [
    "王女士说：\"壶底有裂纹\"，要换货",
    'comma, "quoted", and more',
    "two\nlines",
    "windows\r\nline break",
    "",
    "  leading and trailing spaces  ",
]


def test_round_trip_keeps_every_value(shop):
    rows = [event(text=t, ref=f"r{i},\"{t}\"") for i, t in enumerate(TRICKY)]
    for row in rows:
        ledger.append(shop, "tickets", [row])

    got = [r for _, r in read_all(shop)]

    assert got == [values(r) for r in rows]
    assert [json.loads(r[6]) for r in got] == [{"channel": "taobao"}] * len(rows)


def test_round_trip_keeps_a_lone_carriage_return(shop):
    # Text pasted from old Mac or Excel-for-Mac cells can hold a bare CR; csv readers end a
    # line there unless the field is quoted.
    row = event(text="第一行\r第二行", ref="\r")

    ledger.append(shop, "tickets", [row])

    assert [r for _, r in read_all(shop)] == [values(row)]


def test_round_trip_file_has_one_header_and_lf_record_ends(shop):
    rows = [event(text=t) for t in TRICKY]
    ledger.append(shop, "tickets", rows)

    raw = tickets_file(shop).read_bytes()

    assert raw == HEADER + csv_bytes(*[values(r) for r in rows])
    assert raw.count(HEADER) == 1
    assert raw.endswith(b"\n") and not raw.endswith(b"\r\n")


def test_each_append_adds_exactly_the_bytes_of_its_rows(shop):
    path = tickets_file(shop)
    batches = [[event(text="第一条")], [event(text='a,"b"\nc'), event(text="x\r\ny")], [event(text="末条")]]
    for batch in batches:
        before = path.read_bytes()
        ledger.append(shop, "tickets", batch)
        after = path.read_bytes()
        assert after == before + csv_bytes(*[values(r) for r in batch])


def test_records_report_the_line_each_record_starts_on(shop):
    ledger.append(shop, "tickets", [event(text="one"), event(text="two\nlines"), event(text="three")])

    assert [line for line, _ in read_all(shop)] == [2, 3, 5]


# ------------------------------------------------------------------ 2. BOM and CRLF (Excel)


def excel_tickets(root: Path) -> list:
    """Write tickets.csv as Excel saves it: UTF-8 with BOM, CRLF line ends. Returns its rows."""
    tid = ids.new_id()
    rows = [open_row(tid, '王女士："壶底裂了", 要换'),
            [tid, "2026-11-23T09:05:00+08:00", "a01", "note", "", "客户\n很着急", ""]]
    write_tickets(root, csv_bytes(*rows, terminator="\r\n"), header=b"\xef\xbb\xbf" + HEADER[:-1] + b"\r\n")
    return rows


def test_bom_and_crlf_ledger_reads_back(shop):
    rows = excel_tickets(shop)

    assert read_all(shop) == [(2, rows[0]), (3, rows[1])]


def test_bom_and_crlf_ledger_passes_check(run, shop):
    excel_tickets(shop)

    r = run("check")

    assert r.exit_code == 0, r.stdout
    assert r.stdout == f"ok: {shop} has no problems\n"


def test_append_to_an_excel_saved_ledger_keeps_it_readable(run, shop):
    rows = excel_tickets(shop)
    new = event(text="追加")

    ledger.append(shop, "tickets", [new])

    assert [r for _, r in read_all(shop)] == rows + [values(new)]
    assert run("check").exit_code == 0


# ------------------------------------------------------------------ 3. torn last line


def tear(root: Path, inside_chinese: bool = False) -> int:
    """Append part of a valid row, as a crash mid-write leaves it; returns its line number.

    The cut falls in the ASCII part of the row, or else between the bytes of a Chinese character.
    """
    path = tickets_file(root)
    raw = path.read_bytes()
    whole = csv_bytes(open_row(text="收到的电水壶底部有裂纹"))
    cut = whole.index("收".encode()) + (1 if inside_chinese else -10)
    path.write_bytes(raw + whole[:cut])
    return raw.count(b"\n") + 1


@pytest.fixture
def torn(shop) -> int:
    ledger.append(shop, "tickets", [event(text="one"), event(text="two")])
    return tear(shop)


def test_check_reports_torn_last_line_with_its_line(run, torn):
    r = run("check")

    assert r.exit_code == 1
    assert torn == 4
    assert problem_lines(r) == [f"{TICKETS}:4: {TORN_READ}"]
    assert r.stderr == "1 problem found\n"


def test_records_raise_on_torn_last_line(shop, torn):
    msg = expect_input_error(read_all, shop)

    assert msg == f"{TICKETS}:4: {TORN_READ}"


def test_records_before_a_torn_line_are_read_first(shop, torn):
    seen = []
    with pytest.raises(InputError):
        for line, row in ledger.records(shop, "tickets"):
            seen.append(row[5])
    assert seen == ["one", "two"]


def test_append_refuses_after_torn_last_line_and_writes_nothing(shop, torn):
    before = snapshot(shop)

    msg = expect_input_error(ledger.append, shop, "tickets", [event()])

    assert msg == f"{TICKETS}:4: {TORN_WRITE}"
    assert snapshot(shop) == before


def test_ticket_new_after_torn_line_exits_2_with_one_line_error(run, shop):
    run.new()
    line = tear(shop)
    before = snapshot(shop)

    r = run("ticket", "new", "--channel", "taobao", "--category", "quality", "--order", "TB1",
            "--model", "K-200", "--summary", "壶坏了")

    assert r.exit_code == 2
    assert r.stderr == f"error: {TICKETS}:{line}: {TORN_WRITE}\n"
    assert "Traceback" not in r.stdout + r.stderr
    assert snapshot(shop) == before


def test_ticket_note_after_torn_line_exits_2_with_one_line_error(run, shop):
    tid = run.new()
    line = tear(shop)
    before = snapshot(shop)

    r = run("ticket", "note", tid, "x")

    assert r.exit_code == 2
    assert r.stderr == f"error: {TICKETS}:{line}: {TORN_READ}\n"
    assert "Traceback" not in r.stdout + r.stderr
    assert snapshot(shop) == before


def test_torn_line_cut_inside_a_chinese_character_is_reported_as_torn(run, shop):
    # A crash can cut a multi-byte character in half: that is a torn line, not a GBK file.
    ledger.append(shop, "tickets", [event(text="one"), event(text="two")])
    line = tear(shop, inside_chinese=True)

    r = run("check")

    assert problem_lines(r) == [f"{TICKETS}:{line}: {TORN_READ}"]
    assert r.exit_code == 1
    assert expect_input_error(read_all, shop) == f"{TICKETS}:{line}: {TORN_READ}"


def test_torn_line_inside_open_quoted_field(run, shop):
    write_tickets(shop, csv_bytes(open_row()) + f'{ids.new_id()},{AT_TEXT},a01,note,,"半截'.encode())
    before = snapshot(shop)

    r = run("check")
    assert r.exit_code == 1
    assert problem_lines(r) == [f"{TICKETS}:3: {TORN_READ}"]
    assert expect_input_error(read_all, shop) == f"{TICKETS}:3: {TORN_READ}"
    assert expect_input_error(ledger.append, shop, "tickets", [event()]) == f"{TICKETS}:3: {TORN_WRITE}"
    assert snapshot(shop) == before


def test_torn_multiline_field_is_named_by_the_same_line_everywhere(run, shop):
    # The cut record starts on line 3 and was cut on line 4 inside its quoted text.
    write_tickets(shop, csv_bytes(open_row()) + f'{ids.new_id()},{AT_TEXT},a01,note,,"第一行\n第二'.encode())

    r = run("check")
    assert problem_lines(r) == [f"{TICKETS}:3: {TORN_READ}"]
    assert expect_input_error(read_all, shop) == f"{TICKETS}:3: {TORN_READ}"
    assert expect_input_error(ledger.append, shop, "tickets", [event()]) == f"{TICKETS}:3: {TORN_WRITE}"


def test_header_without_newline_is_reported_by_check_when_append_refuses_it(run, shop):
    # A header whose newline is missing: append refuses the file as torn, so `as check`
    # must not call the workspace clean.
    tickets_file(shop).write_bytes(HEADER[:-1])

    refused = expect_input_error(ledger.append, shop, "tickets", [event()])
    r = run("check")

    assert refused == f"{TICKETS}:1: {TORN_WRITE}"
    assert r.exit_code == 1, r.stdout


# ------------------------------------------------------------------ 4. not UTF-8


def test_gbk_ledger_exits_2_naming_the_line_of_the_first_bad_byte(run, shop):
    body = csv_bytes(open_row()) + ",".join(open_row(text="收到的电水壶底部有裂纹")).encode("gbk") + b"\n"
    write_tickets(shop, body)

    r = run("check")

    assert r.exit_code == 2
    assert problem_lines(r) == [f"{TICKETS}:3: {NOT_UTF8}"]


def test_gbk_ledger_with_bom_and_crlf_names_the_right_line(run, shop):
    body = (",".join(open_row(text="ok")) + "\r\n").encode() * 2 + ",".join(open_row(text="王女士")).encode("gbk") + b"\r\n"
    write_tickets(shop, body, header=b"\xef\xbb\xbf" + HEADER[:-1] + b"\r\n")

    r = run("check")

    assert r.exit_code == 2
    assert problem_lines(r) == [f"{TICKETS}:4: {NOT_UTF8}"]


def test_records_raise_on_gbk_ledger(shop):
    write_tickets(shop, ",".join(open_row(text="王女士")).encode("gbk") + b"\n")

    assert expect_input_error(read_all, shop) == f"{TICKETS}:2: {NOT_UTF8}"


# ------------------------------------------------------------------ 5. bad records seen by `as check`


def check_problems(run) -> list:
    r = run("check")
    assert r.exit_code == 1, r.stdout
    return problem_lines(r)


def test_check_reports_header_mismatch(run, shop):
    write_tickets(shop, csv_bytes(open_row()), header=b"ticket,time,by,type,ref,text,data\n")

    assert check_problems(run) == [
        f"{TICKETS}:1: header does not match the ledger's columns; expected: ticket,at,by,type,ref,text,data"]


@pytest.mark.parametrize("cells, count", [(open_row()[:6], 6), (open_row() + ["extra"], 8)])
def test_check_reports_wrong_field_count(run, shop, cells, count):
    write_tickets(shop, csv_bytes(open_row(), cells))

    assert check_problems(run) == [
        f"{TICKETS}:3: has {count} fields, the ledger has 7 (ticket,at,by,type,ref,text,data)"]


def test_check_reports_time_without_offset(run, shop):
    row = open_row()
    row[1] = "2026-11-23T09:00:00"
    write_tickets(shop, csv_bytes(open_row(), row))

    assert check_problems(run) == [
        f"{TICKETS}:3: 'at' value '2026-11-23T09:00:00' is not valid: '2026-11-23T09:00:00' has no UTC offset; "
        "write it like 2026-11-23T09:30:00+08:00"]


def test_check_reports_unknown_event_type(run, shop):
    row = open_row()
    row[3] = "opne"
    write_tickets(shop, csv_bytes(row))

    assert check_problems(run) == [f"{TICKETS}:2: 'type' value 'opne' is not allowed; did you mean 'open'?"]


def write_compensations(root: Path, *rows) -> None:
    """The payments, and an opening row for each ticket they name (a payment on a ticket
    that was never opened is a problem of its own, tested in test_checks.py)."""
    ledger.ledger_path(root, "compensations").write_bytes(COMP_HEADER + csv_bytes(*rows))
    write_tickets(root, csv_bytes(*[open_row(t) for t in dict.fromkeys(r[1] for r in rows)]))


def test_valid_compensation_passes_check(run, shop):
    write_compensations(shop, comp_row())

    assert run("check").exit_code == 0


@pytest.mark.parametrize("amount, why", [
    ("10.005", '"10.005" has more than two decimal places (fen are the smallest unit)'),
    ("-5.00", '"-5.00" is negative; amounts are in yuan and above zero'),
    ("十元", '"十元" is not an amount; write it like 8.00'),
])
def test_check_reports_bad_compensation_amount(run, shop, amount, why):
    write_compensations(shop, comp_row(), comp_row(id="C0002", amount=amount))

    assert check_problems(run) == [f"ledgers/compensations.csv:3: 'amount' value '{amount}' is not valid: {why}"]


def test_check_reports_compensation_method_not_in_policy(run, shop):
    write_compensations(shop, comp_row(method="paypal"))

    (line,) = check_problems(run)
    assert line.startswith("ledgers/compensations.csv:2: 'method' value 'paypal' is not allowed "
                           "(from policies: compensation.methods); ")


def test_check_lists_every_bad_record_in_line_order(run, shop):
    late = open_row()
    late[1] = "yesterday"
    write_tickets(shop, csv_bytes(open_row(), open_row()[:3], late))

    lines = check_problems(run)

    assert [ln.split(": ", 1)[0] for ln in lines] == [f"{TICKETS}:3", f"{TICKETS}:4"]


# ------------------------------------------------------------------ 6. writes refuse invalid rows


def test_append_refuses_missing_required_column_and_writes_nothing(shop):
    before = snapshot(shop)
    row = event()
    del row["by"]

    msg = expect_input_error(ledger.append, shop, "tickets", [event(), row])

    assert msg == f"{TICKETS}: refusing to write an invalid record: 'by' is empty; it is required"
    assert snapshot(shop) == before


def test_append_refuses_time_text_without_offset_and_writes_nothing(shop):
    before = snapshot(shop)

    msg = expect_input_error(ledger.append, shop, "tickets", [event(at="2026-11-23T09:00:00")])

    assert msg.startswith(f"{TICKETS}: refusing to write an invalid record: 'at' value '2026-11-23T09:00:00' "
                          "is not valid: ")
    assert snapshot(shop) == before


def test_append_refuses_naive_datetime_with_input_error(shop):
    before = snapshot(shop)

    with pytest.raises(InputError):
        ledger.append(shop, "tickets", [event(at=dt.datetime(2026, 11, 23, 9, 0))])

    assert snapshot(shop) == before


def test_encode_rows_refuses_unknown_column(shop):
    schema = ledger.schema_of("tickets")

    msg = expect_input_error(ledger.encode_rows, schema, [dict(event(), colour="red")])

    assert msg == f"{TICKETS}: no column colour in this ledger"


def test_encode_rows_refuses_invalid_enum_with_policy_values(shop):
    from aftersales.policy import load_policy

    schema = ledger.schema_of("compensations")
    row = dict(zip(schema.column_names, comp_row(method="paypal")))

    msg = expect_input_error(ledger.encode_rows, schema, [row], load_policy(shop))

    assert msg.startswith("ledgers/compensations.csv: refusing to write an invalid record: 'method' value 'paypal'")


# ------------------------------------------------------------------ 7. concurrent writers

WRITER = r"""
import datetime as dt, sys, time
from pathlib import Path
from aftersales import ids, ledger

root, worker, go, count = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
at = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
for i in range(count):
    ledger.append(root, "tickets", [{"ticket": ids.new_id(), "at": at, "by": "a01", "type": "open",
                                     "ref": "quality", "text": f"writer {worker} row {i}, 中文 \"q\"\nline two",
                                     "data": {"channel": "taobao"}}])
"""


def test_concurrent_writers_lose_and_tear_nothing(run, shop, tmp_path):
    writers, each = 20, 25
    go = tmp_path / "go"
    procs = [run_python(WRITER, shop, w, go, each, stderr=subprocess.PIPE, text=True) for w in range(writers)]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err

    texts = [row[5] for _, row in read_all(shop)]
    expected = {f"writer {w} row {i}, 中文 \"q\"\nline two" for w in range(writers) for i in range(each)}
    assert len(texts) == writers * each
    assert set(texts) == expected
    raw = tickets_file(shop).read_bytes()
    assert raw.startswith(HEADER) and raw.count(HEADER) == 1 and raw.endswith(b"\n")
    r = run("check")
    assert r.exit_code == 0, r.stdout


# ------------------------------------------------------------------ 8. a writer that dies holding the lock

HOLDER = r"""
import os, sys, time
from pathlib import Path
from aftersales import ledger

with ledger.locked(Path(sys.argv[1])):
    print("locked", flush=True)
    if sys.argv[2] == "exit":
        os._exit(3)
    time.sleep(120)
"""


def hold_lock(root: Path, how: str) -> subprocess.Popen:
    """A process that takes the workspace lock; returns once it holds it."""
    p = run_python(HOLDER, root, how, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "locked\n"
    return p


def take_lock(root: Path, timeout: float) -> None:
    with ledger.locked(root, timeout=timeout):
        pass


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_lock_of_a_dead_writer_does_not_block_the_next(shop, how):
    holder = hold_lock(shop, how)
    if how == "kill":
        holder.kill()
    holder.wait(timeout=10)
    row = event(text="after the crash")

    started = time.monotonic()
    ledger.append(shop, "tickets", [row])

    assert time.monotonic() - started < 5
    assert [r for _, r in read_all(shop)] == [values(row)]


def test_live_lock_holder_makes_a_writer_give_up_after_the_timeout(shop):
    holder = hold_lock(shop, "sleep")
    try:
        msg = expect_input_error(take_lock, shop, 1)
    finally:
        holder.kill()
        holder.wait()

    assert msg == "ledgers/.lock: another aftersales command has held the ledger lock for 1 s; try again"


def test_lock_timeout_is_honoured_after_an_earlier_write(shop):
    ledger.append(shop, "tickets", [event()])  # the workspace lock now exists with the default timeout
    outcome = {}

    def attempt():
        try:
            take_lock(shop, 1)
            outcome["acquired"] = True
        except InputError as e:
            outcome["error"] = e.message

    holder = hold_lock(shop, "sleep")
    try:
        waiter = threading.Thread(target=attempt, daemon=True)
        waiter.start()
        waiter.join(6)
        gave_up_in_time = not waiter.is_alive()
    finally:
        holder.kill()
        holder.wait()
        waiter.join(40)

    assert gave_up_in_time, f"locked(timeout=1) still waiting after 6 s; then: {outcome}"
    assert "error" in outcome


# ------------------------------------------------------------------ 9. missing ledger


def test_missing_ledger_reads_as_empty(run, shop):
    tickets_file(shop).unlink()

    assert read_all(shop) == []
    assert ledger.scan(shop, "tickets") == ([], [])
    assert run("check").exit_code == 0


def test_append_creates_missing_ledger_with_header(shop):
    tickets_file(shop).unlink()
    row = event()

    ledger.append(shop, "tickets", [row])

    assert tickets_file(shop).read_bytes() == HEADER + csv_bytes(values(row))


def test_append_creates_ledger_folder_when_missing(tmp_path):
    root = tmp_path / "bare"
    root.mkdir()
    row = event()

    ledger.append(root, "tickets", [row])

    assert tickets_file(root).read_bytes() == HEADER + csv_bytes(values(row))


# ------------------------------------------------------------------ 10. property: any text round-trips

any_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(any_text, any_text, st.dictionaries(any_text, any_text, max_size=3)),
                min_size=1, max_size=5))
@example(cells=[("", "\r", {})])  # a lone CR, which random draws find only now and then
def test_any_text_round_trips(cells):
    rows = [event(ref=ref, text=text, data=data) for ref, text, data in cells]
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        ledger.append(root, "tickets", rows[:1])
        ledger.append(root, "tickets", rows[1:])
        got = [r for _, r in read_all(root)]

    assert [(r[4], r[5]) for r in got] == [(ref, text) for ref, text, _ in cells]
    assert [json.loads(r[6]) if r[6] else {} for r in got] == [data for _, _, data in cells]
