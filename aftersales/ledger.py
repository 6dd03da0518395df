"""Append-only CSV ledgers: one schema per ledger, declared once here.

Writing: `append(root, ledger, rows)` takes the workspace lock, refuses to write after a
torn last line, encodes every row first, then writes them in one `write`, flushes and
fsyncs. Nothing is ever rewritten.

Reading: `records(root, ledger)` streams (line, row) pairs from a UTF-8 file with or
without BOM, LF or CRLF, and raises InputError naming the file and line of the first bad
record (a torn last line included). `scan(root, ledger, policy)` returns every problem as
data. `as check` reads with `LedgerReader.blocks` and `BlockCheck` (at the end of this file),
which judge a block of records column by column and leave every message to the careful
reader.
"""

from __future__ import annotations

import csv
import bisect
import datetime as dt
import errno
import functools
import io
import itertools
import json
import operator
import os
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Optional

from .errors import InputError, Problem

# Any field the writer accepts (MAX_FIELD characters, up to 4 bytes each) must read back;
# csv's default limit is 131072 characters.
csv.field_size_limit(max(csv.field_size_limit(), (1 << 31) - 1))

LEDGER_DIR = "ledgers"
LOCK_NAME = ".lock"
SYSTEM_ACTORS = ("system",)


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"  # text | id | time | date | money | int | json | staff | ticket | enum
    required: bool = False
    enum: str = ""  # for type "enum": the policy mapping that holds the allowed values, e.g. "channels"
    choices: tuple = ()  # for type "enum": fixed allowed values
    doc: str = ""


@dataclass(frozen=True)
class Schema:
    name: str
    columns: tuple
    doc: str
    order: tuple = ()  # (earlier, later) time columns: when both are given, earlier may not come after later

    @property
    def file(self) -> str:
        return f"{LEDGER_DIR}/{self.name}.csv"

    @property
    def column_names(self) -> tuple:
        return tuple(c.name for c in self.columns)

    @property
    def header(self) -> str:
        return ",".join(self.column_names) + "\n"


def _c(name, type="text", required=False, **kw) -> Column:
    return Column(name, type, required, **kw)


from .events import NAMES as TICKET_EVENTS  # noqa: E402  (the event types, defined in one place)

LEDGERS = {
    s.name: s
    for s in (
        Schema("tickets", (
            _c("ticket", "ticket", True),
            _c("at", "time", True),
            _c("by", "staff", True),
            _c("type", "enum", True, choices=TICKET_EVENTS),
            _c("ref", doc="what the event points at: a staff id, department, field, evidence kind"),
            _c("text", doc="free text: the reply, message, note, reason"),
            _c("data", "json", doc="structured details as a JSON object"),
        ), "ticket events (工单): the state of a ticket is the fold of its events"),
        Schema("compensations", (
            _c("id", "id", True), _c("ticket", "ticket", True), _c("at", "time", True), _c("by", "staff", True),
            _c("order"), _c("amount", "money", True), _c("method", "enum", True, enum="compensation.methods"),
            _c("liability", "enum", True, enum="compensation.liabilities"), _c("reason"),
            _c("approved_by", "staff"), _c("note"),
        ), "compensation payments (赔付打款登记)"),
        Schema("intercepts", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True), _c("ticket", "ticket"),
            _c("order", required=True), _c("waybill", required=True), _c("courier", "enum", True, enum="logistics.couriers"),
            _c("status", "enum", True, choices=("requested", "intercepted", "failed", "out_for_delivery", "refunded")),
            _c("reason"), _c("note"),
        ), "intercepts (拦截登记): each status change is a new row with the same id"),
        Schema("lost_parcels", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True), _c("ticket", "ticket"),
            _c("order", required=True), _c("waybill", required=True), _c("courier", "enum", True, enum="logistics.couriers"),
            _c("status", "enum", True, choices=("reported", "claimed", "settled", "rejected")),
            _c("amount", "money"), _c("note"),
        ), "lost parcels (快递丢件): reported, claimed from the courier, settled"),
        Schema("reshipments", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True), _c("ticket", "ticket"),
            _c("order", required=True), _c("new_waybill"), _c("courier", "enum", enum="logistics.couriers"),
            _c("reason", required=True), _c("responsible", required=True),
            _c("status", "enum", True, choices=("requested", "shipped", "delivered", "cancelled")), _c("note"),
        ), "reshipments (补发): the new waybill is always sent to the customer"),
        Schema("short_shipments", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True), _c("ticket", "ticket"),
            _c("order", required=True), _c("kind", "enum", True, choices=("short", "wrong")),
            _c("items", required=True), _c("responsible", required=True),
            _c("status", "enum", True, choices=("reported", "resolved")), _c("note"),
        ), "short and wrong shipments (少发/错发登记)"),
        Schema("shipments", (
            _c("waybill", required=True), _c("at", "time", True), _c("order", required=True),
            _c("courier", "enum", enum="logistics.couriers"), _c("destination"),
            _c("shipped_at", "time"), _c("collected_at", "time"), _c("last_update_at", "time"),
            _c("signed_at", "time"), _c("signed_by"), _c("source"),
        ), "shipments (发货/物流): a later row for the same waybill updates it",
            (("shipped_at", "collected_at"), ("collected_at", "signed_at"), ("shipped_at", "signed_at"))),
        Schema("reviews", (
            _c("review", "id", True), _c("at", "time", True), _c("order"), _c("product"),
            _c("score", "int", True), _c("comment"), _c("created_at", "time"), _c("contacted_at", "time"),
            _c("by", "staff"), _c("ticket", "ticket"), _c("source"),
        ), "reviews (评价): a later row for the same review updates it", (("created_at", "contacted_at"),)),
        Schema("surveys", (
            _c("ticket", "ticket", True), _c("at", "time", True), _c("by", "staff", True),
            _c("speed", "int", True), _c("result", "int", True), _c("attitude", "int", True), _c("comment"),
        ), "satisfaction surveys (满意度回访), scores 1-5"),
        Schema("incidents", (
            _c("incident", "id", True), _c("at", "time", True), _c("by", "staff", True),
            _c("type", "enum", True, choices=("open", "join", "flag", "grade", "note", "resolve", "close", "respond", "cause",
                                              "approve", "confirm", "review", "improve")),
            _c("ref"), _c("text"), _c("data", "json"),
        ), "incidents (应急事件) as events, like tickets"),
        # issue 15 (corrections): one ledger of corrections for every other ledger; see aftersales/corrections.py
        Schema("corrections", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True),
            _c("ledger", "enum", True, choices=("compensations", "tickets", "corrections")),
            _c("target", required=True, doc="the corrected record's reference: a payment id, TICKET.EVENT, a correction id"),
            _c("action", "enum", True, choices=("void", "supersede")),
            _c("ticket", "ticket"), _c("reason", required=True), _c("approved_by", "staff"),
            _c("data", "json", doc="for supersede: the replacing values"),
        ), "corrections (更正): a void or a superseding of an earlier record, with who, when and why"),
        Schema("inspections", (
            _c("id", "id", True), _c("at", "time", True), _c("by", "staff", True),
            _c("type", "enum", True, choices=("volume", "inspect", "review")),
            _c("agent", "staff", True), _c("day", "date", True),
            _c("ref", doc="inspect: the conversation; review: the inspection reviewed"),
            _c("score", "int"), _c("count", "int", doc="volume: the agent's conversations that day"), _c("text"),
        ), "quality inspections (质检, seed 001): conversations per agent and day, scores, one-to-one reviews"),
    )
}


def schema_of(name: str) -> Schema:
    if name not in LEDGERS:
        from .schema import closest

        raise InputError(f"unknown ledger '{name}'; {closest(name, LEDGERS)}")
    return LEDGERS[name]


def ledger_path(root: Path, name: str) -> Path:
    return Path(root) / LEDGER_DIR / f"{name}.csv"


# ------------------------------------------------------------------ values


from .clock import parse_time  # noqa: E402,F401  (the one parser of ledger times)


def format_time(t: dt.datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("refusing to write a time without a UTC offset")
    return t.isoformat(timespec="seconds")


def format_value(v) -> str:
    if type(v) is str:  # most values, first
        return v
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return format_time(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return f"{v.quantize(Decimal('0.01'))}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if v else ""
    return str(v)


def _enum_values(policy, dotted: str) -> Optional[set]:
    obj = policy
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return set(obj) if obj is not None else None


def check_value(col: Column, value: str, policy=None) -> Optional[str]:
    """None if `value` is valid for `col`, else what is wrong and how to fix it."""
    if value == "":
        return f"'{col.name}' is empty; it is required" if col.required else None
    t = col.type
    try:
        if t == "time":
            parse_time(value)
        elif t == "date":
            dt.date.fromisoformat(value)
        elif t == "money":
            from .money import parse_amount

            parse_amount(value, allow_zero=True)
        elif t == "int":
            int(value)
        elif t == "json":
            if not isinstance(json.loads(value), dict):
                return f"'{col.name}' must be a JSON object"
        elif t in ("id", "ticket"):
            if not value.replace("-", "").replace("_", "").isalnum():
                return f"'{col.name}' value '{value}' is not an id (letters, digits, - and _ only)"
        elif t == "enum":
            allowed = set(col.choices) if col.choices else (_enum_values(policy, col.enum) if policy else None)
            if allowed is not None and value not in allowed:
                from .schema import closest

                where = f" (from policies: {col.enum})" if col.enum else ""
                return f"'{col.name}' value '{value}' is not allowed{where}; {closest(value, allowed)}"
        elif t == "staff":
            if policy is not None and value not in SYSTEM_ACTORS and policy.staff_member(value) is None:
                from .schema import closest

                return f"'{col.name}' names unknown staff '{value}'; {closest(value, [s.id for s in policy.staff])}"
    except ValueError as e:
        return f"'{col.name}' value '{value}' is not valid: {e}"
    return None


def check_row(schema: Schema, row: list, policy=None) -> list:
    """Every problem of one record (as a list of column values), as messages."""
    if len(row) != len(schema.columns):
        return [f"has {len(row)} fields, the ledger has {len(schema.columns)} ({','.join(schema.column_names)})"]
    out = []
    for col, value in zip(schema.columns, row):
        if "\x00" in value:
            out.append(f"'{col.name}' holds a NUL byte, which makes git treat the ledger as binary; remove it")
    if out:
        return out
    for col, value in zip(schema.columns, row):
        msg = check_value(col, value, policy)
        if msg:
            out.append(msg)
    if schema.order and not out:
        names = schema.column_names
        for early, late in schema.order:
            a, b = row[names.index(early)], row[names.index(late)]
            if a and b and parse_time(a) > parse_time(b):
                out.append(f"'{late}' ({b}) comes before '{early}' ({a}); one of them is wrong")
    return out


# ------------------------------------------------------------------ reading


class LedgerReader:
    """Streams the records of one ledger file, remembering problems on the way.

    `strict=True` raises InputError at the first problem; otherwise problems are
    collected in `.problems` and the bad records are skipped.
    """

    def __init__(self, root: Path, name: str, strict: bool = True, policy=None, check_values: bool = False):
        self.schema = schema_of(name)
        self.path = ledger_path(root, name)
        self.rel = self.schema.file
        self.strict = strict
        self.policy = policy
        self.check_values = check_values
        self.problems: list = []

    def _problem(self, line: int, message: str, record: str = "", unreadable: bool = False) -> None:
        p = Problem(self.rel, line, message, record, unreadable)
        if self.strict:
            raise InputError(f"{p.where()}: {message}", [p])
        self.problems.append(p)

    def _open(self):
        """(the open file, whether it ends torn), or None when there is nothing to read (no file,
        or a problem recorded: not a plain file, empty, unreadable)."""
        settle(self.path.parent.parent)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            self._problem(0, f"cannot read: {e.strerror}", unreadable=True)
            return None
        if not stat.S_ISREG(st.st_mode):
            self._problem(0, _not_a_file(st, self.rel), unreadable=True)
            return None
        if st.st_size == 0:
            if not self.strict:  # the next append writes the header; `as check` says it is missing
                self._problem(1, "empty file: the header row is missing; restore the ledger (`git checkout -- "
                              f"{self.rel}`) or run `aftersales repair` to write the header")
            return None
        torn = ends_torn(self.path)
        try:
            f = open(self.path, encoding="utf-8-sig", newline="")
        except OSError as e:
            self._problem(0, f"cannot read: {e.strerror}", unreadable=True)
            return None
        return f, torn

    def __iter__(self) -> Iterator[tuple]:
        opened = self._open()
        if opened is None:
            return
        f, torn = opened
        with f:
            reader = csv.reader(f, strict=True)
            header_names = self.schema.column_names
            prev_end = 0
            pending = None  # one record of look-ahead, to hold back a torn last line
            try:
                for row in reader:
                    start = prev_end + 1
                    prev_end = reader.line_num
                    if start == 1:
                        if tuple(row) != header_names:
                            self._problem(1, f"header does not match the ledger's columns; expected: {','.join(header_names)}", ",".join(row))
                            return
                        continue
                    if not row:
                        continue
                    if pending is not None:
                        yield from self._emit(*pending)
                    pending = (start, row)
            except UnicodeDecodeError:
                line = _bad_utf8_line(self.path)
                if torn and line >= prev_end + 1 and _only_last_line_bad(self.path):
                    self._problem(prev_end + 1, TORN, _tail(self.path, prev_end + 1))
                else:
                    self._problem(line, "not UTF-8 text; re-save the file as UTF-8 (a GBK export comes in with `aftersales import`)", unreadable=True)
                return
            except csv.Error as e:
                line = prev_end + 1
                if torn or "unexpected end of data" in str(e):
                    self._problem(line, TORN, _tail(self.path, line))
                else:
                    self._problem(line, f"malformed CSV: {e}; fix the quoting on that line", _line_text(self.path, line))
                return
            if pending is not None:
                if torn:
                    self._problem(pending[0], TORN, _tail(self.path, pending[0]))
                    return
                yield from self._emit(*pending)
            elif torn:  # only a header, cut off before its newline
                self._problem(1, TORN, _tail(self.path, 1))

    def _emit(self, line: int, row: list):
        if len(row) != len(self.schema.columns) or self.check_values:
            msgs = check_row(self.schema, row, self.policy)
            if msgs:
                for m in msgs:
                    self._problem(line, m, _csv_line(row))
                return
        yield line, row

    def blocks(self, size: int = 500) -> Iterator[tuple]:
        """The records as __iter__ reads them, `size` at a time and unchecked: (lines, rows), where
        rows are csv.reader's lists (blank ones included) and lines their line numbers (a range
        when each record of the block is one line). For `as check`, which checks a block's values
        column by column (BlockCheck) and gives the rows of a block that fails to `_emit`, one
        by one. The same problems as __iter__ are recorded for the file, its header and a torn
        last record; a record that csv.reader or UTF-8 refuses raises Irregular, after which the
        ledger must be read again with __iter__, which words it."""
        from itertools import islice

        opened = self._open()
        if opened is None:
            return
        f, torn = opened
        held = None  # the last block, held back until the next one is read: its last record may be torn
        with f:
            reader = csv.reader(f, strict=True)
            try:
                header = next(reader)
                if tuple(header) != self.schema.column_names:
                    self._problem(1, "header does not match the ledger's columns; expected: "
                                  f"{','.join(self.schema.column_names)}", ",".join(header))
                    return
                prev = reader.line_num
                while True:
                    rows = list(islice(reader, size))
                    if not rows:
                        break
                    end = reader.line_num
                    lines = range(prev + 1, end + 1) if end - prev == len(rows) else _record_lines(prev, end, rows)
                    if held is not None:
                        yield held
                    held, prev = (lines, rows), end
            except (UnicodeDecodeError, csv.Error):
                raise Irregular from None
        if torn:
            if held is None:  # only a header, cut off before its newline
                self._problem(1, TORN, _tail(self.path, 1))
                return
            lines, rows = held
            if not rows[-1]:
                raise Irregular  # the torn record is an earlier one: __iter__ finds it
            self._problem(lines[-1], TORN, _tail(self.path, lines[-1]))
            held = lines[:-1], rows[:-1]
        if held is not None:
            yield held


def records(root: Path, name: str, policy=None, check_values: bool = False) -> Iterator[tuple]:
    """(line, list of values) for each record; InputError at the first bad one."""
    return iter(LedgerReader(root, name, strict=True, policy=policy, check_values=check_values))


def raise_first_problem(root: Path, name: str, check_values: bool = False) -> None:
    """Read a ledger carefully and raise the InputError of its first problem."""
    for _ in records(root, name, check_values=check_values):
        pass
    rel = schema_of(name).file
    with open(ledger_path(root, name), encoding="utf-8", newline="") as f:
        line = bare_quote_line(f)
    if line:
        raise InputError(f"{rel}:{line}: a quote inside a field that is not in quotes",
                         hint='put the field in quotes and double the quote in it ("ab""c"), or remove it')
    raise InputError(f"{rel}: a record could not be read; run `aftersales check`")


def bare_quote_line(lines) -> int:
    """The number of the first of these lines (as io reads them with newline="", read as
    they come) where a quote stands inside a field that is not in quotes (csv reads it as
    text; aftersales never writes one, and its quick readers take it for the start of a
    quoted text), or 0."""
    last = [""]

    def remembered():
        for line in lines:
            last[0] = line
            yield line

    reader = csv.reader(remembered(), strict=True)
    try:
        while True:
            before = reader.line_num
            next(reader)
            if reader.line_num - before == 1 and last[0].count('"') % 2:
                return reader.line_num
    except (StopIteration, csv.Error):
        return 0


def latest(root: Path, name: str, key, until=None) -> dict:
    """key -> the record's state, a later row filling in what an earlier one left empty.

    `key` is a column or a tuple of columns. With `until`, update rows written after it are
    left out: the state as it was known then (replays). A record's first row always counts:
    its own time columns (shipped_at, created_at ...) say when things happened, and an
    import may record them long after."""
    names = schema_of(name).column_names
    cols = (key,) if isinstance(key, str) else tuple(key)
    out: dict = {}
    for _line, row in records(root, name):
        rec = dict(zip(names, row))
        k = rec[cols[0]] if len(cols) == 1 else tuple(rec[c] for c in cols)
        cur = out.get(k)
        if cur is not None and until is not None and parse_time(rec["at"]) > until:
            continue
        if cur is None:
            out[k] = rec
        else:
            cur.update({c: v for c, v in rec.items() if v})
    return out


def latest_each(root: Path, name: str, key, until=None) -> Iterator[tuple]:
    """(position of its first row, key, state) for each record, the state as `latest` gives
    it, without holding every record's state at once.

    A first pass notes (by hash) the keys that have more than one row. In the second, a
    record of one row is yielded as soon as it is read; the others are held and yielded
    after the last row, in the order of their first rows. Memory follows the records that
    have several rows, not the length of the ledger. Rows appended between the two passes
    are left out, as if the ledger had been read before them."""
    names = schema_of(name).column_names
    cols = (key,) if isinstance(key, str) else tuple(key)
    where = [names.index(c) for c in cols]
    at = names.index("at")

    def key_of(row):
        return row[where[0]] if len(where) == 1 else tuple(row[i] for i in where)

    counted = _first_field_counts(root, name) if where == [0] else None
    if counted is None:
        once: set = set()
        more: set = set()  # hash collisions only put a one-row record among the held ones
        n = 0
        for row in fast_records(root, name):
            h = hash(key_of(row))
            if h in once:
                more.add(h)
            else:
                once.add(h)
            n += 1
        del once
    else:
        more, n = counted
    held: dict = {}
    for i, row in enumerate(itertools.islice(fast_records(root, name), n)):
        k = key_of(row)
        if hash(k) not in more:
            yield i, k, dict(zip(names, row))
            continue
        cur = held.get(k)
        if cur is None:
            held[k] = (i, dict(zip(names, row)))
        elif until is None or parse_time(row[at]) <= until:
            cur[1].update({c: v for c, v in zip(names, row) if v})
    for k, (i, rec) in held.items():
        yield i, k, rec


def _first_field_counts(root: Path, name: str) -> Optional[tuple]:
    """(hashes of the first fields that more than one record has, number of records) from the
    raw bytes, when no line holds a quote or a lone CR (each line is then one record and its
    first comma ends the first field); None otherwise, or when the file needs the careful
    reader. Faster than csv.reader; the second pass checks every record."""
    path = ledger_path(root, name)
    if not path.is_file() or ends_torn(path):
        return None
    once: set = set()
    more: set = set()
    n = 0
    try:
        with open(path, "rb") as f:
            f.readline()  # the header
            carry = b""
            while chunk := f.read(1 << 20):
                buf = carry + chunk
                cut = buf.rfind(b"\n") + 1
                body, carry = buf[:cut], buf[cut:]  # carry: not a whole line yet (at the end: being appended)
                if b'"' in body or b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
                    return None
                for line in body.split(b"\n"):
                    if line and line != b"\r":
                        h = hash(line[:line.find(b",")].decode("utf-8"))
                        if h in once:
                            more.add(h)
                        else:
                            once.add(h)
                        n += 1
    except (OSError, UnicodeDecodeError):
        return None
    return more, n


def fast_records(root: Path, name: str) -> Iterator[list]:
    """The records of one ledger (lists of values) as `records` gives them, without their line
    numbers, read by a bare csv.reader; at a problem, the careful reader names it."""
    schema = schema_of(name)
    path = ledger_path(root, name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size == 0 or ends_torn(path):
        for _line, row in records(root, name):  # what the careful reader says of it
            yield row
        return
    width = len(schema.columns)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            if tuple(next(reader, ())) != schema.column_names:
                raise ValueError("header")
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise ValueError("width")
                yield row
    except (OSError, UnicodeDecodeError, csv.Error, ValueError):
        raise_first_problem(root, name)
        raise


def scan(root: Path, name: str, policy=None) -> tuple:
    """All records and every problem of one ledger, for `as check`."""
    r = LedgerReader(root, name, strict=False, policy=policy, check_values=True)
    rows = list(r)
    return rows, r.problems


def ends_torn(path: Path) -> bool:
    """True when the file does not end with a line break, or is not a plain file (read it
    with LedgerReader then, for the message). An unfinished batch is settled first."""
    settle(Path(path).parent.parent)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        return True
    size = st.st_size
    if size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) != b"\n"


def _bad_utf8_line(path: Path) -> int:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
        return 0
    except UnicodeDecodeError as e:
        return raw[: e.start].count(b"\n") + 1


TORN = ("torn last line: this record was cut off and is incomplete; the records above it are complete. "
        "Run `aftersales repair` to see and remove it (nothing else changes)")


def _tail(path: Path, line: int) -> str:
    """The file's text from physical line `line` to the end (the torn record)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    parts = raw.split(b"\n")
    return b"\n".join(parts[line - 1:]).decode("utf-8", "replace").rstrip("\r\n")[:300]


def _only_last_line_bad(path: Path) -> bool:
    """True when every line but the last decodes: a crash cut a character in half."""
    raw = path.read_bytes()
    head, _, _last = raw.rpartition(b"\n")
    try:
        head.decode("utf-8-sig")
        return True
    except UnicodeDecodeError:
        return False


def _line_text(path: Path, line: int) -> str:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        for i, text in enumerate(f, 1):
            if i == line:
                return text.rstrip("\r\n")[:200]
    return ""


def _csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()[:300]


# ------------------------------------------------------------------ writing
#
# Every write goes through `append`, and every append runs inside `locked`. The first
# append of a locked section to a ledger records, in the journal ledgers/.journal, that
# ledger's size, inode and last bytes before the section; then the rows are written. When
# the outermost `locked` block ends normally the journal is deleted: that is the commit.
# A block that raises, a full disk (ENOSPC) or a file-size limit (EFBIG) truncates every
# ledger the section touched back to its recorded size before the one-line error. A
# process killed in between leaves the journal behind, and the next command that takes the
# lock (a reader takes it when it sees a journal: one stat on the normal path) rolls the
# whole section back before anything else reads or writes. So a batch of rows, over one
# ledger or several, is all or nothing.

JOURNAL_NAME = ".journal"
MAX_FIELD = 32_768  # characters in one field; a longer text belongs in evidence/
_SIG_BYTES = 4096  # the bytes before a ledger's recorded size whose hash the journal keeps

_locks: dict = {}
_sections: dict = {}  # lock path -> _Section, while this process holds the lock


class _Section:
    """The ledgers one outermost `locked` block has appended to, and their sizes before."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.before: dict = {}  # ledger name -> journal entry (size, ino, created, sig)
        self.journal = False


def journal_path(root: Path) -> Path:
    return Path(root) / LEDGER_DIR / JOURNAL_NAME


def _key(root: Path) -> str:
    return str((Path(root) / LEDGER_DIR / LOCK_NAME).resolve())


def _is_exit(e: BaseException) -> bool:
    """SystemExit or click's Exit: the command ends normally (a checked exit status)."""
    return isinstance(e, SystemExit) or (type(e).__name__ == "Exit" and type(e).__module__.startswith("click"))


@contextmanager
def locked(root: Path, timeout: float = 30.0, quiet: bool = False):
    """The workspace's write lock: hold it across read-check-append sequences. Re-entrant.

    The outermost block is one batch: what it appends is committed when it ends, and
    rolled back if it raises (or the process dies before the end)."""
    from filelock import FileLock, Timeout

    d = Path(root) / LEDGER_DIR
    lock_rel = f"{LEDGER_DIR}/{LOCK_NAME}"
    try:
        d.mkdir(parents=True, exist_ok=True)
        key = _key(root)
        lock = _locks.get((os.getpid(), key))  # a forked process needs locks of its own
        if lock is None:
            lock = _locks[(os.getpid(), key)] = FileLock(key, timeout=timeout)
        lock.acquire(timeout=timeout)
    except Timeout:
        raise InputError(f"{lock_rel}: another aftersales command has held the ledger lock for {timeout:.0f} s; try again") from None
    except OSError as e:
        raise InputError(_os_message(lock_rel, e, "cannot take the write lock")) from None
    sec = _sections.get(key)
    outer = sec is None
    try:
        if outer:
            _recover(root, quiet)  # a batch a killed command left half-written goes first
            sec = _sections[key] = _Section(root)
        try:
            yield
        except BaseException as e:
            if outer and not _is_exit(e):
                assert sec is not None
                try:
                    _rollback(sec)
                except OSError:
                    pass  # the journal stays: the next command rolls the batch back
            raise
        if outer:
            assert sec is not None
            _commit(sec)
    finally:
        if outer:
            _sections.pop(key, None)
        lock.release()


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _write_journal(sec: _Section) -> None:
    j = journal_path(sec.root)
    tmp = j.with_name(JOURNAL_NAME + ".tmp")
    info = {"version": 1, "pid": os.getpid(), "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["aftersales"] + sys.argv[1:])[:300], "ledgers": sec.before}
    data = json.dumps(info, ensure_ascii=False, sort_keys=True).encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, j)
        _fsync_dir(j.parent)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(_os_message(f"{LEDGER_DIR}/{JOURNAL_NAME}", e)) from None
    sec.journal = True


def _commit(sec: _Section) -> None:
    if not sec.journal:
        return
    _remember_tails(sec)
    j = journal_path(sec.root)
    try:
        os.unlink(j)
    except FileNotFoundError:
        pass
    except OSError as e:
        try:
            _rollback(sec)
        except OSError:
            pass
        raise InputError(_os_message(f"{LEDGER_DIR}/{JOURNAL_NAME}", e)) from None
    _fsync_dir(j.parent)
    sec.journal = False
    sec.before = {}


def _rollback(sec: _Section) -> None:
    """Truncate what this section wrote; the journal stays if that fails (the next command retries)."""
    for name, ent in sec.before.items():
        _truncate_back(sec.root, name, ent)
    sec.before = {}
    if sec.journal:
        try:
            os.unlink(journal_path(sec.root))
            _fsync_dir(journal_path(sec.root).parent)
        except OSError:
            pass
        sec.journal = False


def _truncate_back(root: Path, name: str, ent: dict) -> int:
    """Cut a ledger back to its size in the journal entry; returns the bytes removed."""
    path = ledger_path(root, name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    removed = st.st_size - ent["size"]
    if ent.get("created") and ent["size"] == 0:
        os.unlink(path)
        return st.st_size
    if removed > 0:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.ftruncate(fd, ent["size"])
            os.fsync(fd)
        finally:
            os.close(fd)
    return max(removed, 0)


def read_journal(root: Path) -> Optional[dict]:
    """The journal of a batch that did not finish, or None; InputError if it cannot be used."""
    j = journal_path(root)
    rel = f"{LEDGER_DIR}/{JOURNAL_NAME}"
    try:
        text = j.read_bytes().decode("utf-8")
        info = json.loads(text)
        entries = info["ledgers"]
        for name, ent in entries.items():
            schema_of(name)
            int(ent["size"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InputError):
        raise InputError(f"{rel}: the journal of an unfinished write cannot be read; check the last records of each "
                         f"ledger by hand (`git diff ledgers/`), then delete {rel}") from None
    return info


def recovery_plan(root: Path) -> list:
    """What rolling back the unfinished batch would remove: (file, size now, size before, lines removed, tail text).

    InputError when a ledger was changed since (replaced, e.g. by git, or shorter): then
    nobody can tell what the batch wrote, and a person must look."""
    info = read_journal(root)
    if info is None:
        return []
    out = []
    cmd = info.get("command", "")
    for name, ent in sorted(info["ledgers"].items()):
        path = ledger_path(root, name)
        rel = schema_of(name).file
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        changed = ""
        if not stat.S_ISREG(st.st_mode):
            changed = "is no longer a plain file"
        elif st.st_size < ent["size"]:
            changed = f"is shorter ({st.st_size} bytes) than before that write ({ent['size']} bytes)"
        elif ent.get("ino") and st.st_ino != ent["ino"]:
            changed = "was replaced by another file since (a git checkout or merge?)"
        elif ent.get("sig") and _sig(path, ent["size"]) != ent["sig"]:
            changed = "was rewritten before the point where that write began"
        if changed:
            raise InputError(f"{rel}: {changed}; the unfinished write `{cmd}` cannot be rolled back safely. Check the "
                             f"ledger's last records by hand (`git diff {rel}`), then delete {LEDGER_DIR}/{JOURNAL_NAME}")
        with open(path, "rb") as f:
            f.seek(ent["size"])
            tail = f.read()
        out.append((rel, st.st_size, ent["size"], tail.count(b"\n") + (1 if tail and not tail.endswith(b"\n") else 0),
                    tail.decode("utf-8", "replace")))
    return out


def _recover(root: Path, quiet: bool = False) -> list:
    """Roll back a batch a killed command left half-written; the lock must be held."""
    tmp = journal_path(root).with_name(JOURNAL_NAME + ".tmp")
    if os.path.lexists(tmp):  # killed while writing the journal: no ledger was touched yet
        try:
            os.unlink(tmp)
        except OSError:
            pass
    if not os.path.lexists(journal_path(root)):
        return []
    plan = recovery_plan(root)
    info = read_journal(root) or {}
    for name, ent in info.get("ledgers", {}).items():
        try:
            _truncate_back(root, name, ent)
        except OSError as e:
            raise InputError(_os_message(schema_of(name).file, e, "cannot roll back an unfinished write")) from None
    try:
        os.unlink(journal_path(root))
    except FileNotFoundError:
        pass
    _fsync_dir(journal_path(root).parent)
    if not quiet:
        where = ", ".join(f"{p[3]} line{'s' if p[3] != 1 else ''} from {p[0]}" for p in plan if p[3]) or "nothing"
        sys.stderr.write(f"note: rolled back the unfinished write `{info.get('command', '?')}` of {info.get('started', '?')}: "
                         f"removed {where}; nothing of it is kept, so run it again if it is still wanted\n")
    return plan


def settle(root: Path) -> None:
    """Before reading: if a batch is unfinished, wait for its writer or roll it back (one stat when none is)."""
    if not os.path.lexists(journal_path(root)):
        return
    if _key(root) in _sections:  # our own batch, inside our own lock
        return
    with locked(root):
        pass


def _os_message(rel: str, e: OSError, what: str = "") -> str:
    code = e.errno
    fixes = {
        errno.ENOSPC: "the disk is full; free some space",
        errno.EFBIG: "the file is over the size this process may write (`ulimit -f`); raise the limit",
        errno.EDQUOT: "the disk quota is used up; free some space or ask for a larger quota",
        errno.EROFS: "the file system is read-only; remount it read-write or work in a writable copy",
        errno.EACCES: "permission denied; make the ledgers folder and its files writable (chmod u+w)",
        errno.EPERM: f"the file or its folder may not be changed (immutable? `lsattr -d {LEDGER_DIR} {rel}`; `chattr -i` lifts it)",
        errno.EISDIR: f"it is a folder, not a file; move it away and restore the ledger (`git checkout -- {rel}`)",
        errno.ELOOP: "it is a symbolic link; ledgers must be plain files: put the file itself there",
        errno.ENXIO: "it is a FIFO or device, not a file; move it away and restore the ledger",
    }
    fix = (fixes.get(code) if code is not None else None) or f"{e.strerror or e}; fix that"
    head = f"{what}: " if what else ""
    return f"{rel}: {head}{fix}, then run the command again (nothing was written)"


def _lstat_ledger(path: Path, rel: str):
    """The ledger's stat, None if it does not exist; InputError if it is not a plain file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(_os_message(rel, e)) from None
    if stat.S_ISREG(st.st_mode):
        return st
    raise InputError(f"{rel}: {_not_a_file(st, rel)}; nothing was written or read")


def _not_a_file(st, rel: str) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link; a ledger must be a plain file inside the workspace: put the file itself there"
    if stat.S_ISDIR(st.st_mode):
        return f"is a folder, not a file; move it away and restore the ledger (`git checkout -- {rel}`)"
    return f"is not a plain file (a FIFO, socket or device); move it away and restore the ledger (`git checkout -- {rel}`)"


def _sig(path: Path, size: int) -> str:
    import hashlib

    with open(path, "rb") as f:
        f.seek(max(0, size - _SIG_BYTES))
        return hashlib.sha256(f.read(min(size, _SIG_BYTES))).hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]


def tail_state(path: Path) -> tuple:
    """('ok'|'torn'|'not-utf8', line) for an existing ledger: does it end with a complete record in UTF-8?

    A complete record ends with a line break outside quotes: the writer quotes every field
    holding a quote, so an odd number of quote characters means an open quoted field. One
    pass in 1 MB chunks: UTF-8 is decoded and the quotes are counted."""
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")("strict")
    quotes = 0
    last = b""
    with open(path, "rb") as f:
        chunk = f.read(1 << 20)
        if chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        while chunk:
            try:
                dec.decode(chunk)
            except UnicodeDecodeError:
                return "not-utf8", _bad_utf8_line(path)
            quotes += chunk.count(b'"')
            last = chunk[-1:]
            chunk = f.read(1 << 20)
    if last != b"\n" or quotes % 2:
        return "torn", 0
    return "ok", 0


def _tails_path(root: Path) -> Path:
    """The tail cache of a workspace: in the user's cache folder, never in the workspace (git)."""
    import hashlib

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aftersales"
    key = hashlib.sha256(str((Path(root) / LEDGER_DIR).resolve()).encode()).hexdigest()[:20]
    return base / f"tails-{key}.json"


def _tails(root: Path) -> dict:
    try:
        return json.loads(_tails_path(root).read_bytes())
    except (OSError, ValueError, RuntimeError):
        return {}


def _remember_tails(sec: _Section) -> None:
    """After a batch: each ledger it wrote ends with a complete UTF-8 record, at this size,
    inode and last bytes. The next append trusts that instead of reading the whole file
    again while all three still match (a cache: losing it costs one full read)."""
    d = _tails(sec.root)
    for name in sec.before:
        path = ledger_path(sec.root, name)
        try:
            st = os.lstat(path)
            d[name] = {"size": st.st_size, "ino": st.st_ino, "sig": _sig(path, st.st_size)}
        except OSError:
            d.pop(name, None)
    try:
        target = _tails_path(sec.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(d, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)
    except (OSError, RuntimeError):  # no home, a read-only cache: the next append reads the file
        pass


def _tail_known(root: Path, name: str, st) -> bool:
    e = _tails(root).get(name)
    try:
        return (e is not None and e["size"] == st.st_size and e["ino"] == st.st_ino
                and e["sig"] == _sig(ledger_path(root, name), st.st_size))
    except (KeyError, TypeError, OSError):
        return False


def _check_tail(root: Path, name: str, path: Path) -> None:
    rel = schema_of(name).file
    state, line = tail_state(path)
    if state == "not-utf8":
        raise InputError(f"{rel}:{line}: not UTF-8 text (a GBK file?); nothing was written, as UTF-8 appended to it "
                         "would mix two encodings. Convert it (`iconv -f GB18030 -t UTF-8`), check it with "
                         "`aftersales check`, then run the command again")
    if state == "torn":
        reader = LedgerReader(root, name, strict=False)
        for _ in reader:
            pass
        torn = [p for p in reader.problems if "torn" in p.message]
        other = [p for p in reader.problems if p.unreadable or "malformed" in p.message]
        if other and not torn:
            raise InputError(f"{other[0].where()}: {other[0].message}; nothing was written")
        line = torn[0].line if torn else path.read_bytes().count(b"\n") + 1
        raise InputError(f"{rel}:{line}: torn last line (a record there was cut off); nothing was written. "
                         "Run `aftersales repair` to see and remove the incomplete record, then run the command again")


def _field(value: str) -> str:
    # csv.writer leaves a lone CR unquoted when the line terminator is LF, and a reader then
    # splits the record there; quote every field that holds a delimiter, quote, CR or LF.
    if "," in value or '"' in value or "\r" in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def encode_rows(schema: Schema, rows: list, policy=None) -> bytes:
    """Validate and encode rows (dicts by column name) as CSV bytes; InputError if invalid."""
    out = []
    names = schema.column_names
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise InputError(f"{schema.file}: no column {', '.join(sorted(unknown))} in this ledger")
        try:
            values = [format_value(row.get(n)) for n in names]
        except ValueError as e:
            raise InputError(f"{schema.file}: refusing to write an invalid record: {e}") from None
        for n, v in zip(names, values):
            if len(v) > MAX_FIELD:
                raise InputError(f"{schema.file}: refusing to write a record whose '{n}' has {len(v)} characters; "
                                 f"the limit is {MAX_FIELD}: shorten it (a long text can go in as an evidence file)")
        msgs = check_row(schema, values, policy)
        if msgs:
            raise InputError(f"{schema.file}: refusing to write an invalid record: {msgs[0]}")
        out.append(",".join(_field(v) for v in values) + "\n")
    return "".join(out).encode("utf-8")


def append(root: Path, name: str, rows: list, policy=None) -> None:
    """Append records to a ledger, inside the lock's batch: all of a batch or none of it.
    Every row is encoded and checked before the first byte is written."""
    data = encode_rows(schema_of(name), rows, policy)
    with appending(root, name) as write:
        write(data)


def complete_prefix(path: Path) -> int:
    """The length in bytes of the file up to the end of its last complete record."""
    parity = off = good = 0
    with open(path, "rb") as f:
        for line in f:
            off += len(line)
            parity ^= line.count(b'"') & 1
            if not parity and line.endswith(b"\n"):
                good = off
    return good


def repair_plan(root: Path) -> list:
    """What `aftersales repair` does per ledger: (name, action, keep bytes, removed text, message).

    action is "header" (a 0-byte ledger gets its header row), "truncate" (a torn tail is cut
    back to the end of the last complete record) or "refuse" (a person must look)."""
    out = []
    for name, schema in LEDGERS.items():
        path = ledger_path(root, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append((name, "refuse", 0, "", _not_a_file(st, schema.file)))
            continue
        if st.st_size == 0:
            out.append((name, "header", 0, "", "empty file: write the header row"))
            continue
        state, line = tail_state(path)
        if state == "not-utf8":
            out.append((name, "refuse", 0, "", f"line {line} is not UTF-8 text; convert the file (`iconv -f GB18030 -t UTF-8`)"))
        elif state == "torn":
            keep = complete_prefix(path)
            with open(path, "rb") as f:
                f.seek(keep)
                tail = f.read()
            head_lines = 0
            with open(path, "rb") as f:
                head_lines = f.read(keep).count(b"\n")
            text = tail.decode("utf-8", "replace")
            out.append((name, "truncate", keep, text,
                        f"line {head_lines + 1}: remove the incomplete record after the last complete one "
                        f"({len(tail)} bytes)"))
    return out


def repair(root: Path, plan: list) -> None:
    """Carry out `repair_plan`'s header and truncate actions, under the lock."""
    with locked(root, quiet=True):
        for name, action, keep, _text, _msg in plan:
            path = ledger_path(root, name)
            rel = schema_of(name).file
            try:
                if action == "header":
                    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
                    try:
                        if os.fstat(fd).st_size == 0:
                            _write_all(fd, LEDGERS[name].header.encode("utf-8"))
                            os.fsync(fd)
                    finally:
                        os.close(fd)
                elif action == "truncate":
                    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
                    try:
                        os.ftruncate(fd, keep)
                        if keep == 0:
                            _write_all(fd, LEDGERS[name].header.encode("utf-8"))
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as e:
                raise InputError(_os_message(rel, e, "cannot repair")) from None


def create(root: Path, name: str) -> None:
    """Create an empty ledger with its header row; an existing file is left alone."""
    path = ledger_path(root, name)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8", newline="") as f:
        f.write(LEDGERS[name].header)


@contextmanager
def appending(root: Path, name: str):
    """A streaming append: yields `write(data)`, which appends bytes of records already
    checked and encoded (as `encode_rows` makes them) as they come, inside the lock's batch.

    Everything written in the block is one batch with the rest of the outermost `locked`
    block: if the block raises, or the process dies before it ends, the journal rolls it
    all back. The ledger is checked (its tail), journalled and opened at the first write:
    nothing is touched when nothing is written. One fsync at the end."""
    schema = schema_of(name)
    path = ledger_path(root, name)
    with locked(root):
        sec = _sections[_key(root)]
        fd = None

        def fail(e: OSError):
            try:
                _rollback(sec)
            except OSError:
                pass  # the journal stays; the next command rolls back
            return InputError(_os_message(schema.file, e))

        def write(data: bytes) -> None:
            nonlocal fd
            try:
                if fd is None:
                    st = _lstat_ledger(path, schema.file)
                    size = st.st_size if st else 0
                    if name not in sec.before:
                        if size and not _tail_known(root, name, st):
                            _check_tail(root, name, path)
                        sec.before[name] = {"size": size, "created": st is None, "ino": st.st_ino if st else 0,
                                            "sig": _sig(path, size) if size else ""}
                        _write_journal(sec)
                    if size == 0:
                        data = schema.header.encode("utf-8") + data
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
                                 | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), 0o644)
                _write_all(fd, data)
            except OSError as e:
                raise fail(e) from None

        try:
            yield write
            if fd is not None:
                try:
                    os.fsync(fd)
                except OSError as e:
                    raise fail(e) from None
        finally:
            if fd is not None:
                os.close(fd)


# ------------------------------------------------------------------ checking a block of records at once
#
# `as check` reads every value of every ledger. Calling check_value once per value costs more
# than reading the file, so LedgerReader.blocks hands over 500 records at a time and BlockCheck
# tries the block column by column with what runs in C: set differences against the values a
# column already found valid (staff, enums, amounts), bytes methods over a column joined into
# one string (IDs, times), one regular expression over a column's JSON objects joined. It may
# only say yes when check_row would find nothing in any row; on any doubt it says no, and each
# row of the block goes to check_row, which words every problem as before.


class Irregular(Exception):
    """LedgerReader.blocks met a record that only LedgerReader.__iter__ words exactly (csv.reader or
    UTF-8 refused it, or its line numbers are not what they seem): read the ledger that way."""


def _record_lines(prev: int, end: int, rows: list) -> list:
    """The first line of each record of a block that spans lines prev+1..end, when some record
    holds a line break inside quotes; Irregular if they do not add up to csv.reader's count."""
    out, line = [], prev + 1
    for row in rows:
        out.append(line)
        line += 1 + sum(v.count("\n") + v.count("\r") - v.count("\r\n") for v in row)
    if line != end + 1:
        raise Irregular
    return out


_REMEMBER = 4096  # valid values a column remembers at most: the memory of a check does not grow with the ledger
_STAMPS = {s[19:20]: s for s in (b"0000-00-00T00:00:00+00:00\n", b"0000-00-00T00:00:00-00:00\n")}
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_TENS_2 = bytes.maketrans(b"0123456789", bytes([0, 0, 1, 0, 0, 0, 0, 0, 0, 0]))
_ONES_OVER_3 = bytes.maketrans(b"0123456789", bytes([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]))
_NOT_CONTROL = bytes(range(32, 256))
_DAY = operator.itemgetter(slice(0, 10))
_valid_days: set = set()
_valid_offsets: set = set()


@functools.lru_cache(maxsize=8)
def _stamps(sign: bytes, n: int) -> bytes:
    """n times written like 0000-00-00T00:00:00+00:00 (with the sign given), a line break between two."""
    return (_STAMPS.get(sign, b"") * n)[:-1]


def remember(known: set, new) -> None:
    """Add `new` to a set of values found valid, which forgets them all past _REMEMBER."""
    if len(known) > _REMEMBER:
        known.clear()
    known.update(new)


def time_offset(values, ordered: bool = False) -> Optional[str]:
    """The UTC offset that all `values` share when each is a valid time written like
    2026-11-23T09:30:00+08:00 (then their order as text is their order in time); "" when there
    are no values; None otherwise, which says nothing about their validity. Checked on the
    values joined as bytes: the digits' places, the tens of hours, minutes and seconds, one
    offset, and each distinct day once. `ordered`: the values are known to be in order."""
    n = len(values)
    if not n:
        return ""
    try:
        b = "\n".join(values).encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(b) != 26 * n - 1 or b.translate(_ZEROS) != _stamps(b[19:20], n):
        return None
    for k in (20, 21, 23, 24):  # the digits of the offset are the first one's
        if b[k::26] != b[k:k + 1] * n:
            return None
    hours = b[11::26]
    if hours.translate(None, b"012") or b[14::26].translate(None, b"012345") or b[17::26].translate(None, b"012345"):
        return None
    if b"2" in hours and (int.from_bytes(hours.translate(_TENS_2), "big")
                          & int.from_bytes(b[12::26].translate(_ONES_OVER_3), "big")):
        return None  # 24:00 to 29:59
    if ordered:  # each day's first time, found by bisection
        days, i = set(), 0
        while i < n:
            day = values[i][:10]
            days.add(day)
            i = bisect.bisect_right(values, day + "~", i)  # "~" sorts after "T..."
    else:
        low, high = min(values), max(values)
        days = {low[:10]} if low[:10] == high[:10] else set(map(_DAY, values))
    if not days <= _valid_days:
        try:
            for d in days:
                dt.date.fromisoformat(d)
        except ValueError:
            return None
        remember(_valid_days, days)
    offset = values[0][19:]
    if offset not in _valid_offsets:
        try:
            parse_time(values[0])
        except ValueError:
            return None
        _valid_offsets.add(offset)
    return offset


def _object_patterns() -> tuple:
    """Regular expressions over JSON objects joined into one UTF-8 text, each followed by the
    bytes " US " (US: the control character 0x1f), known to hold no backslash and no control
    character but those: each matches only when every piece between them is a JSON object (as
    json.loads reads it) of strings, numbers, true, false, null and arrays of those. There a
    string is a quote, anything but a quote, a quote: it cannot hold the quotes around a US, and
    a US cannot follow a string in an object, so the pieces are the objects. The first, faster,
    takes objects of strings only. (Possessive repeats, from Python 3.11, match the same texts,
    faster.)"""
    import re

    p = "+" if sys.version_info >= (3, 11) else ""
    string = f'"[^"]*{p}"'
    flat = rf'\{{{string}:{string}(?:,{string}:{string})*{p}\}}'
    scalar = rf'(?:{string}|-?(?:0|[1-9][0-9]*{p})(?:\.[0-9]+{p})?(?:[eE][-+]?[0-9]+{p})?|true|false|null)'
    value = rf'(?:{scalar}|\[(?:{scalar}(?:,{scalar})*{p})?\])'
    anything = rf'\{{(?:{string}:{value}(?:,{string}:{value})*{p})?\}}'
    return tuple(re.compile(f'(?:{obj}"\x1f")*{p}'.encode()) for obj in (flat, anything))


class BlockCheck:
    """check_row over a block of records at once. `columns(rows)` gives the block's columns when
    check_row finds nothing in any of its rows, else None (then give each row to check_row).
    After a block that passed, `offsets[i]` is time_offset of the time column i and
    `ordered[i]` whether its values are in order (as text)."""

    def __init__(self, schema: Schema, policy=None):
        self.schema, self.policy = schema, policy
        self.width = len(schema.columns)
        self.offsets: list = [None] * self.width
        self.ordered: list = [False] * self.width
        self._known: list = [set() for _ in schema.columns]  # per column: values found valid
        names = schema.column_names
        self._order = [(names.index(a), names.index(b)) for a, b in schema.order]
        self._json: Any = None
        self.joined = b""  # the values of the last JSON check that _object_patterns passed, joined as they saw them

    def columns(self, rows: list, skip=()) -> Optional[list]:
        """The columns of the block (tuples); None unless each holds what check_value accepts, but
        for the columns in `skip` (indexes), which the caller checks (see `valid`)."""
        try:
            cols = list(zip(*rows, strict=True))
        except ValueError:  # rows of different lengths
            return None
        if len(cols) != self.width:
            return None
        for i, (col, values) in enumerate(zip(self.schema.columns, cols)):
            if i not in skip and not self.valid(i, values):
                return None
        for a, b in self._order:
            if not self._in_order(cols[a], cols[b], self.offsets[a], self.offsets[b]):
                return None
        return cols

    def _each(self, col: Column, values) -> bool:
        policy = self.policy
        return all(check_value(col, v, policy) is None for v in values)

    def valid(self, i: int, values) -> bool:
        """Whether check_value accepts each of `values` (a column's, or some of them, or the distinct
        ones; in the column's order for a time column, whose `offsets` and `ordered` it sets) in
        column i."""
        col = self.schema.columns[i]
        t = col.type
        if t == "text":  # free text: not empty if required, no NUL byte (the other types' checks refuse one)
            return (not col.required or all(values)) and "\x00" not in "".join(values)
        if t in ("id", "ticket"):
            try:
                if "".join(values).encode("ascii").isalnum() and (not col.required or all(values)):
                    return True
            except UnicodeEncodeError:
                pass
            return self._each(col, values)
        if t == "time":
            present = tuple(values) if col.required else tuple(filter(None, values))
            self.ordered[i] = ordered = sorted(present) == list(present)
            self.offsets[i] = offset = time_offset(present, ordered)
            return offset is not None or self._each(col, values)
        if t == "json":
            return self._objects(i, col, values)
        known = self._known[i]
        new = set(values).difference(known)  # "" among them when it is
        if not new:
            return True
        if not self._each(col, new):
            return False
        remember(known, new)
        return True

    def _objects(self, i: int, col: Column, values) -> bool:
        """Whether each value is empty (unless required) or a JSON object as json.loads reads it.
        Most blocks pass _object_patterns at once; otherwise each new value is parsed."""
        cells = list(filter(None, values))
        if col.required and len(cells) != len(values):
            return False
        self.joined = b""
        if self._json is None:
            self._json = _object_patterns()
        raw = '"\x1f"'.join(cells).encode("utf-8", "surrogatepass") + b'"\x1f"'
        if b"\\" not in raw and raw.translate(None, _NOT_CONTROL) == b"\x1f" * len(cells):
            if any(p.fullmatch(raw) for p in self._json):
                self.joined = raw
                return True
        known = self._known[i]
        new = set(cells).difference(known)
        if not self._each(col, new):
            return False
        remember(known, new)
        return True

    @staticmethod
    def _in_order(early: tuple, late: tuple, offset_early, offset_late) -> bool:
        """check_row's order of two time columns, where both are given."""
        from itertools import compress
        from operator import gt

        if "" in (offset_early, offset_late):
            return True  # one of them is empty in every row
        if offset_early is None or offset_early != offset_late:
            return False  # not comparable as text: check_row compares them
        both = list(map(all, zip(early, late)))
        return not any(map(gt, compress(early, both), compress(late, both)))


# ------------------------------------------------------------------ a data cell as the ledger writes it

#: A JSON object of strings as format_value writes one: compact, no backslash, no control character.
_PLAIN_OBJECT: Any = None  # compiled on first use


def plain_object(text: str) -> bool:
    """Whether `text` is a JSON object of strings as the ledger writes one (compact, no
    backslash or control character): json.loads reads it, without an error, as the dict
    whose keys are the quoted texts before a colon. Found by one regular expression, at a
    fraction of json.loads' cost, for a reader that needs one key of many intake forms."""
    global _PLAIN_OBJECT
    if _PLAIN_OBJECT is None:
        import re

        string = r'"[^"\\\x00-\x1f]*"'
        _PLAIN_OBJECT = re.compile(rf'\{{{string}:{string}(?:,{string}:{string})*\}}')
    return _PLAIN_OBJECT.fullmatch(text) is not None
