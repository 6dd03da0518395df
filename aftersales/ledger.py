"""Append-only CSV ledgers: one schema per ledger, declared once here.

Writing: `append(root, ledger, rows)` takes the workspace lock, refuses to write after a
torn last line, encodes every row first, then writes them in one `write`, flushes and
fsyncs. Nothing is ever rewritten.

Reading: `records(root, ledger)` streams (line, row) pairs from a UTF-8 file with or
without BOM, LF or CRLF, and raises InputError naming the file and line of the first bad
record (a torn last line included). `scan(root, ledger, policy)` returns every problem as
data for `as check`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator, Optional

from .errors import InputError, Problem

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

    def __iter__(self) -> Iterator[tuple]:
        if not self.path.exists():
            return
        torn = ends_torn(self.path)
        try:
            f = open(self.path, encoding="utf-8-sig", newline="")
        except OSError as e:
            self._problem(0, f"cannot read: {e.strerror}", unreadable=True)
            return
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


def records(root: Path, name: str, policy=None, check_values: bool = False) -> Iterator[tuple]:
    """(line, list of values) for each record; InputError at the first bad one."""
    return iter(LedgerReader(root, name, strict=True, policy=policy, check_values=check_values))


def raise_first_problem(root: Path, name: str, check_values: bool = False) -> None:
    """Read a ledger carefully and raise the InputError of its first problem."""
    for _ in records(root, name, check_values=check_values):
        pass
    raise InputError(f"{schema_of(name).file}: a record could not be read; run `aftersales check`")


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


def scan(root: Path, name: str, policy=None) -> tuple:
    """All records and every problem of one ledger, for `as check`."""
    r = LedgerReader(root, name, strict=False, policy=policy, check_values=True)
    rows = list(r)
    return rows, r.problems


def ends_torn(path: Path) -> bool:
    size = path.stat().st_size
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


TORN = ("torn last line: a write was cut off; nothing after it was written. "
        "Delete that incomplete record (it was never complete) and enter it again")


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

_locks: dict = {}


@contextmanager
def locked(root: Path, timeout: float = 30.0):
    """The workspace's write lock: hold it across read-check-append sequences. Re-entrant."""
    from filelock import FileLock, Timeout

    d = Path(root) / LEDGER_DIR
    d.mkdir(parents=True, exist_ok=True)
    key = str((d / LOCK_NAME).resolve())
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = FileLock(key, timeout=timeout)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise InputError(f"{LEDGER_DIR}/{LOCK_NAME}: another aftersales command has held the ledger lock for {timeout:.0f} s; try again") from None
    try:
        yield
    finally:
        lock.release()


def _field(value: str) -> str:
    # csv.writer leaves a lone CR unquoted when the line terminator is LF, and a reader then
    # splits the record there; quote every field that holds a delimiter, quote, CR or LF.
    if any(c in value for c in ',"\r\n'):
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
        msgs = check_row(schema, values, policy)
        if msgs:
            raise InputError(f"{schema.file}: refusing to write an invalid record: {msgs[0]}")
        out.append(",".join(_field(v) for v in values) + "\n")
    return "".join(out).encode("utf-8")


def append(root: Path, name: str, rows: list, policy=None) -> None:
    """Append records to a ledger in one locked, flushed, fsynced write."""
    schema = schema_of(name)
    data = encode_rows(schema, rows, policy)
    path = ledger_path(root, name)
    with locked(root):
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                data = schema.header.encode("utf-8") + data
            elif ends_torn(path):
                reader = LedgerReader(root, name, strict=False)
                for _ in reader:
                    pass
                torn = [p for p in reader.problems if "torn" in p.message]
                line = torn[0].line if torn else path.read_bytes().count(b"\n") + 1
                raise InputError(
                    f"{schema.file}:{line}: torn last line (a write was cut off); nothing was written. "
                    "Delete that incomplete record, then run the command again"
                )
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)


def create(root: Path, name: str) -> None:
    """Create an empty ledger with its header row; an existing file is left alone."""
    path = ledger_path(root, name)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8", newline="") as f:
        f.write(LEDGERS[name].header)
