"""Spreadsheets as clients: a formula-safe export of a ledger, and import of CSV exports.

Export (`export_csv`, `table_csv`) writes what Excel and WPS open cleanly: UTF-8 with a
BOM, CRLF line ends, the ledger's header. A text cell that a spreadsheet would run as a
formula (it starts with = + - @, tab or CR) gets a leading single quote (OWASP CSV
injection). Cells of numeric and time columns (money, int, time, date) are left exactly
as they are, so amounts stay numbers; the rule is by column type, not by value. Long
digit strings in text columns are written as ="…" so a spreadsheet keeps every digit.
`table_xlsx` writes the same tables as .xlsx (openpyxl, optional). `ticket_table` is
`export tickets`: one row per ticket. The ledger is only read.

Import (`Import`) reads a CSV file from a spreadsheet or a platform export (UTF-8
with or without BOM, or GBK/GB18030; LF or CRLF) as a stream, maps each row to a ledger
record by a policy `[imports.NAME]` entry (ImportMap), normalises times and amounts, and
validates every record with the ledger schema, once. It yields the good records encoded
for the ledger and keeps one Problem per bad row, by physical line in the source file;
the caller decides what to append. Rows in the common plain form take a fast path that
gives the same bytes (`_fast_lines`); any other row, and every bad one, the careful check.
A big file whose every record is one line (no quote) is converted in two processes where
there are two processors: a forked child takes the records after a line break past the
middle, into a spool file the command appends after its own; a child that fails in any
way leaves its records to the command (`Import.chunks`).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import chain, compress, repeat
from operator import add, eq, gt, is_not, itemgetter, methodcaller, ne, not_
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .errors import InputError, Problem

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Column types whose cells a spreadsheet must see as numbers or times: never prefixed
#: while they hold a well-formed value of their type.
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_INT = re.compile(r"^[+-]?\d+$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.+\-Z]*)?$")
_KEEP = {
    "money": _NUMBER,
    "signed_money": _NUMBER,
    "int": _INT,
    "time": _ISO,
    "date": _ISO,
}

EXCEL_ENCODING = "utf-8-sig"  # UTF-8 with a BOM: Excel and WPS then read Chinese right


# ------------------------------------------------------------------ export


def neutralise(value: str) -> str:
    """`value` made inert for a spreadsheet: a leading ' when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def safe_cell(col_type: str, value: str) -> str:
    """One ledger cell as a spreadsheet should get it.

    Money, int, time and date cells that hold a well-formed value of their type are
    kept as they are ("-12.50" stays a number); every other cell, and a malformed
    numeric cell such as "=1+1" in a money column, is neutralised like text.
    """
    keep = _KEEP.get(col_type)
    if keep is not None and keep.match(value):
        return value
    return neutralise(value)


#: Digit strings a spreadsheet would damage when it opens a CSV: a leading zero is
#: dropped, 12 digits or more are shown as 4.56789E+18 and rounded after 15.
LONG_DIGITS = re.compile(r"^(?:0\d+|\d{12,})$")


def keep_digits(value: str) -> str:
    """`value` wrapped as ="…" when a spreadsheet opening the CSV would turn it into a number.

    Excel, WPS and LibreOffice all show ="003456789012345678" as the text 003456789012345678
    (the Taobao exports use the same wrapper); `aftersales import` unwraps it again."""
    return f'="{value}"' if LONG_DIGITS.match(value) else value


def parse_day(text: str, option: str) -> dt.date:
    """A --from/--to date, YYYY-MM-DD; InputError naming the option otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text}: not a date; write it like 2026-11-23") from None


def _mask_ticket_row(row: list) -> list:
    """A tickets row with its phone number masked (the opening row's data, a `set … phone` row)."""
    import json

    from .tickets import mask_phone

    row = list(row)
    if row[3] == "set" and row[4] == "phone" and row[5]:
        row[5] = mask_phone(row[5])
    elif row[6] and '"phone"' in row[6]:
        try:
            data = json.loads(row[6])
        except ValueError:
            return row
        if isinstance(data, dict) and data.get("phone"):
            data["phone"] = mask_phone(str(data["phone"]))
            row[6] = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return row


def export_csv(root: Path, name: str, tz, start: Optional[dt.date] = None, end: Optional[dt.date] = None,
               full_phone: bool = True) -> tuple:
    """(bytes, rows) of ledger `name` as a spreadsheet-safe CSV.

    `start`/`end` keep only rows whose `at` falls on those days in zone `tz`, both
    inclusive. InputError for an unknown ledger, an unreadable one, or a row whose `at`
    cannot be read while filtering.
    """
    return table_csv(*ledger_table(root, name, tz, start, end, full_phone))


# ------------------------------------------------------------------ export: tables and .xlsx (issue 14)

#: The columns of `export tickets`: one row per ticket, its current state.
TICKET_COLUMNS = (
    ("ticket", "id"), ("opened_at", "time"), ("status", "text"), ("priority", "text"), ("kind", "text"),
    ("category", "text"), ("channel", "text"), ("order", "id"), ("customer", "text"), ("phone", "phone"),
    ("waybill", "id"), ("courier", "text"), ("department", "text"), ("assignee", "text"), ("abnormal", "text"),
    ("summary", "text"), ("order_amount", "money"), ("first_reply_at", "time"), ("resolved_at", "time"),
    ("closed_at", "time"), ("last_event_at", "time"), ("platform_status", "text"), ("platform_deadline", "time"),
)


def _in_days(t: Optional[dt.datetime], tz, start, end) -> bool:
    if not (start or end):
        return True
    if t is None:
        return False
    day = t.astimezone(tz).date()
    return not ((start and day < start) or (end and day > end))


def ticket_table(root: Path, tz, start: Optional[dt.date] = None, end: Optional[dt.date] = None,
                 full_phone: bool = False) -> tuple:
    """(columns, rows) of `export tickets`: one row per ticket with its current state, by
    opening time; phones masked unless `full_phone`; --from/--to match the opening day."""
    from .ledger import format_time
    from .tickets import load_tickets, mask_phone

    if start and end and start > end:
        raise InputError(f"--from {start} is after --to {end}; swap them")
    rows = []
    for t in sorted(load_tickets(root).values(), key=lambda t: (t.opened_at or dt.datetime.min, t.id)):
        if not _in_days(t.opened_at, tz, start, end):
            continue
        f = t.fields
        phone = f.get("phone", "")
        last = t.events[-1].at if t.events else None
        values = {
            "ticket": t.id, "opened_at": t.opened_at, "status": t.status, "priority": t.priority, "kind": t.kind,
            "category": t.category, "channel": f.get("channel", ""), "order": f.get("order", ""),
            "customer": f.get("customer", ""), "phone": phone if full_phone or not phone else mask_phone(phone),
            "waybill": f.get("waybill", ""), "courier": f.get("courier", ""), "department": t.department or t.group,
            "assignee": t.assignee, "abnormal": t.abnormal, "summary": t.summary,
            "order_amount": f.get("order_amount", ""), "first_reply_at": t.first_reply_at,
            "resolved_at": t.resolved_at, "closed_at": t.closed_at, "last_event_at": last,
            "platform_status": f.get("platform_status", ""), "platform_deadline": f.get("platform_deadline", ""),
        }
        rows.append([format_time(v) if isinstance(v, dt.datetime) else ("" if v is None else str(v))
                     for v in (values[c] for c, _t in TICKET_COLUMNS)])
    return TICKET_COLUMNS, rows


def ledger_table(root: Path, name: str, tz, start: Optional[dt.date] = None, end: Optional[dt.date] = None,
                 full_phone: bool = False) -> tuple:
    """(columns as (name, type), iterator of rows) of ledger `name`, filtered by `at` day."""
    from .ledger import parse_time, records, schema_of
    from .tickets import mask_phone

    schema = schema_of(name)
    if start and end and start > end:
        raise InputError(f"--from {start} is after --to {end}; swap them")
    cols = tuple((c.name, "phone" if c.name == "phone" else c.type) for c in schema.columns)
    at = schema.column_names.index("at") if "at" in schema.column_names else None
    phone = schema.column_names.index("phone") if "phone" in schema.column_names and not full_phone else None

    def rows():
        for line, row in records(root, name):
            if (start or end) and at is not None:
                try:
                    t = parse_time(row[at])
                except ValueError as e:
                    raise InputError(f"{schema.file}:{line}: 'at' value '{row[at]}' is not a time ({e}); "
                                     "fix the row (`aftersales check` lists every problem)") from None
                if not _in_days(t, tz, start, end):
                    continue
            if phone is not None and row[phone]:
                row = list(row)
                row[phone] = mask_phone(row[phone])
            if name == "tickets" and not full_phone:  # the opening row's data, a `set … phone` row
                row = _mask_ticket_row(row)
            yield row

    return cols, rows()


def table_csv(columns, rows) -> tuple:
    """(bytes, rows) of a table as a spreadsheet-safe CSV: UTF-8 with BOM, CRLF, formulas
    neutralised, long digit strings kept as text."""
    types = [("text" if t in ("phone", "id") else t) for _n, t in columns]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([n for n, _t in columns])
    n = 0
    for row in rows:
        w.writerow([safe_cell(t, v) if t in _KEEP else keep_digits(safe_cell(t, v)) for t, v in zip(types, row)])
        n += 1
    return buf.getvalue().encode(EXCEL_ENCODING), n


XLSX_MISSING = "writing .xlsx needs openpyxl: pip install 'aftersales[xlsx]' (or write a .csv)"
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def table_xlsx(columns, rows, target, tz, sheet: str = "Sheet1") -> int:
    """Write a table as .xlsx, streaming (openpyxl's write-only mode); the number of rows.

    IDs, waybills, phones and every other text are text cells (never a formula, even when
    they start with =); times are times in the shop's zone; amounts are numbers shown
    with two decimals; counts are whole numbers."""
    try:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
    except ImportError:
        raise InputError(XLSX_MISSING) from None
    from decimal import Decimal

    from .ledger import parse_time

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    widths = {"time": 20, "date": 12, "money": 12, "int": 8, "id": 22, "phone": 16}
    from openpyxl.utils import get_column_letter

    for i, (name, typ) in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(i)].width = widths.get(typ, 16)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for name, _t in columns:
        c = WriteOnlyCell(ws, value=name)
        c.font = bold
        head.append(c)
    ws.append(head)

    def cell(typ, v):
        if v != "":
            try:
                if typ == "time":
                    c = WriteOnlyCell(ws, value=parse_time(v).astimezone(tz).replace(tzinfo=None))
                    c.number_format = "yyyy-mm-dd hh:mm:ss"
                    return c
                if typ == "date":
                    c = WriteOnlyCell(ws, value=dt.date.fromisoformat(v))
                    c.number_format = "yyyy-mm-dd"
                    return c
                if typ in ("money", "signed_money"):
                    c = WriteOnlyCell(ws, value=Decimal(v))
                    c.number_format = "0.00"
                    return c
                if typ == "int":
                    return WriteOnlyCell(ws, value=int(v))
            except (ValueError, ArithmeticError):
                pass  # not a well-formed value of its type: kept as text below
        c = WriteOnlyCell(ws, value=_ILLEGAL.sub("", v))
        c.data_type = "s"  # text, even "=SUM(A1)" or "003456789012345678"
        c.number_format = "@"
        return c

    n = 0
    for row in rows:
        ws.append([cell(t, v) for (_n, t), v in zip(columns, row)])
        n += 1
    try:
        wb.save(str(target))
    except OSError as e:
        raise InputError(f"{target}: cannot write: {e.strerror}") from None
    return n


# ------------------------------------------------------------------ import: reading the file


def _canonical(encoding: str) -> str:
    return codecs.lookup(encoding).name


def decode(raw: bytes, file: str, encoding: Optional[str] = None, where: str = "--encoding") -> tuple:
    """(text, encoding used) of a source file's bytes.

    With `encoding`, only that one is tried. Without it, UTF-8 (a BOM is dropped), then
    GB18030 (which contains GBK and GB2312). InputError names the line of the first bad
    byte and the option that fixes it.
    """
    if encoding:
        try:
            enc = _canonical(encoding)
        except LookupError:
            raise InputError(f"{where} {encoding}: unknown encoding; use utf-8, gbk or gb18030") from None
        if enc == "utf-8":
            enc = "utf-8-sig"
        try:
            return raw.decode(enc).lstrip("\ufeff"), enc
        except UnicodeDecodeError as e:
            line = _line_at(raw, e.start)
            raise InputError(
                f"{file}:{line}: not {encoding} text (byte 0x{raw[e.start]:02x}); "
                f"pass --encoding with the file's real encoding (utf-8 or gb18030)"
            ) from None
    failures = []
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc).lstrip("\ufeff"), enc
        except UnicodeDecodeError as e:
            failures.append(e.start)
    pos = max(failures)  # the encoding that got further is the likelier one
    line = _line_at(raw, pos)
    raise InputError(
        f"{file}:{line}: neither UTF-8 nor GBK/GB18030 text (byte 0x{raw[pos]:02x}); "
        "re-save it as UTF-8, or pass --encoding with its encoding (e.g. --encoding big5)"
    )


def _line_at(raw: bytes, pos: int) -> int:
    return raw[:pos].count(b"\n") + 1


class _Survey:
    """What the pass of `_encoding_of` learns for a split of the file in two (`Import.chunks`):
    whether it is plain (no quote, NUL or CR but in CRLF: every record is one physical line,
    and a record boundary a line break, in the encodings of `_SPLITS`), and the first line
    break at or after `SPLIT_AT`: `split` = (the byte after it, the physical line there)."""

    def __init__(self, size: int):
        self.middle = size * SPLIT_AT // 100
        self.start()

    def start(self) -> None:
        self.seen = self.lines = 0  # bytes, and line breaks before `split` in them
        self.plain = True
        self.split: Optional[tuple] = None

    def feed(self, chunk: bytes) -> None:
        if not self.plain:
            return
        if b'"' in chunk or b"\x00" in chunk or b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n"):
            self.plain = False
            return
        if self.split is None and self.seen + len(chunk) > self.middle:
            k = chunk.find(b"\n", max(0, self.middle - self.seen))
            if k >= 0:
                self.split = (self.seen + k + 1, self.lines + chunk.count(b"\n", 0, k) + 2)
        if self.split is None:
            self.lines += chunk.count(b"\n")
        self.seen += len(chunk)


#: Where the split is, in percent of the file's bytes: the child's part a little smaller, as it
#: writes a spool that this process then appends.
SPLIT_AT = 52

#: Encodings in which a line break or a quote is never part of a longer character.
_SPLITS = frozenset(("utf-8-sig", "utf-8", "gb18030", "gbk", "gb2312", "ascii"))


def _encoding_of(path, file: str, encoding: Optional[str], where: str, survey: Optional[_Survey] = None) -> str:
    """The encoding `decode` takes for the file, found by decoding it in 1 MB chunks (the
    file is never held whole); `decode`'s own error, naming the line and byte, if none fits.
    `survey` is fed the chunks of the encoding that fits."""
    if encoding:
        try:
            enc = _canonical(encoding)
        except LookupError:
            decode(b"", file, encoding, where)  # names the unknown encoding
            raise
        tries = ["utf-8-sig" if enc == "utf-8" else enc]
    else:
        tries = ["utf-8-sig", "gb18030"]
    try:
        with open(path, "rb") as f:
            for enc in tries:
                f.seek(0)
                dec = codecs.getincrementaldecoder(enc)()
                if survey is not None:
                    survey.start()
                ascii_ok = enc in _SPLITS  # ASCII bytes are text in it, whatever came before them
                try:
                    while chunk := f.read(1 << 20):
                        if not (ascii_ok and chunk.isascii() and not dec.getstate()[0]):
                            dec.decode(chunk)
                        if survey is not None:
                            survey.feed(chunk)
                    dec.decode(b"", final=True)
                    return enc
                except UnicodeDecodeError:
                    pass
            f.seek(0)
            raw = f.read()  # only to name the bad byte
    except OSError as e:
        raise InputError(f"{file}: cannot read: {e.strerror}") from None
    return decode(raw, file, encoding, where)[1]


@dataclass(frozen=True)
class Source:
    """A CSV file as read for import: its header, and its records by physical line as they are read."""

    file: str  # the path as given
    encoding: str  # the encoding it is decoded with
    header_line: int
    header: tuple
    blocks: Iterator  # (lines, rows) as `_blocks` reads them. Read once, as it goes
    split: Optional[tuple] = None  # (byte offset, physical line) where a second process may start
    plain: bool = False  # surveyed (`_Survey`): every record is one physical line, in an encoding of `_SPLITS`

    @property
    def rows(self) -> Iterator:
        """(line, list of values) of each record; line is where the record starts."""
        for lines, rows in self.blocks:
            yield from zip(lines, rows)


def read_source(path, encoding: Optional[str] = None, where: str = "--encoding", split_min: Optional[int] = None) -> Source:
    """A CSV file's header, and a stream of its records; InputError when it cannot be read or
    decoded, or (while its rows are read) when a record is malformed.

    The header is the first row that is not blank; header names are stripped of spaces.
    Rows that are entirely empty are skipped. With `split_min`, a plain file of at least
    that many bytes gets its `split` (see `_Survey`) when it falls after the header.
    """
    file = str(path)
    survey = None
    if split_min is not None:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        survey = _Survey(size) if size >= max(split_min, 1) else None
    enc = _encoding_of(path, file, encoding, where, survey)
    try:
        f = open(path, encoding=enc, newline="")
    except OSError as e:
        raise InputError(f"{file}: cannot read: {e.strerror}") from None
    blocks = _blocks(f, file)
    for lines, rows in blocks:
        if rows:
            rest = chain([(lines[1:], rows[1:])], blocks)
            plain = survey is not None and survey.plain and enc in _SPLITS
            split = survey.split if plain else None  # type: ignore[union-attr]
            if split is not None and (split[1] <= lines[0] or split[0] >= survey.seen):  # type: ignore[union-attr]
                split = None  # the header is in the later half, or the later half is empty
            return Source(file, enc, lines[0], tuple(c.strip() for c in rows[0]), rest, split, plain)
    raise InputError(f"{file}: empty file; it needs a header row naming its columns")


def _records(f, file: str) -> Iterator:
    """(line, row) of each record of an open CSV file that is not blank, as `_blocks` reads them."""
    for lines, rows in _blocks(f, file):
        yield from zip(lines, rows)


#: What str.strip() strips (every character that isspace()), and the comma: a line of only
#: these is a blank record.
_BLANK = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
          "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000,")
_SPLIT = methodcaller("split", ",")


def _blocks(f, file: str, size: int = 1 << 16, end: int = 0) -> Iterator:
    """(lines, rows) of the records of an open CSV file that are not blank, about `size`
    characters at a time, exactly as csv.reader(strict=True) reads them (`lines`: where
    each record starts); closes the file. `end`: the physical lines before where `f` is
    (then a BOM is a character like any other).

    A block of whole lines without a quote, NUL or lone CR is split at its line breaks and
    commas, at a fraction of csv.reader's cost. From the first block that has one, the
    rest of the file goes line by line: a line without a quote (or NUL) is split as such,
    csv.reader reads every other line, and the lines a quoted field runs on to."""
    with f:
        head = f.read(size)
        if not end:
            head = head.lstrip("\ufeff")  # any BOM the codec left, as `decode` drops them
            while not head and (more := f.read(size)):
                head = more.lstrip("\ufeff")
        # end: the physical lines read so far
        while True:
            cut = head.rfind("\n") + 1
            text = head[:cut]
            crlf = "\r" in text
            if not cut or '"' in text or "\x00" in text or crlf and text.count("\r") != text.count("\r\n"):
                break
            head = head[cut:]
            found = (text.replace("\r\n", "\n") if crlf else text).split("\n")
            found.pop()  # "" after the last line break
            lines: Sequence[int] = range(end + 1, end + 1 + len(found))
            end += len(found)
            if not all(map(str.strip, found, repeat(_BLANK))):
                keep = list(map(str.strip, found, repeat(_BLANK)))
                found, lines = list(compress(found, keep)), list(compress(lines, keep))
            yield lines, list(map(_SPLIT, found))
            more = f.read(size)
            if not more:
                break
            head += more
        if head:
            head += f.readline()  # to the end of the line the block stopped in
        batch: list = []
        try:
            for line, row in _lines(chain(io.StringIO(head, newline=""), f), file, end):
                batch.append((line, row))
                if len(batch) == 4096:
                    yield _unzip(batch)
                    batch = []
        except InputError:  # the records before a malformed one first
            if batch:
                yield _unzip(batch)
            raise
        if batch:
            yield _unzip(batch)


def _unzip(batch: list) -> tuple:
    lines, rows = zip(*batch)
    return lines, list(rows)


def _lines(lines: Iterator, file: str, end: int) -> Iterator:
    """(line, row) of each record that is not blank, read line by line after physical line `end`."""
    lines = iter(lines)
    pending: list = []  # the line csv.reader is to read next

    def feed():  # the pending line, then the lines a quoted field runs on to
        while True:
            if not pending:
                line = next(lines, None)
                if line is None:
                    return
                pending.append(line)
            yield pending.pop()

    reader = csv.reader(feed(), strict=True)
    for text in lines:
        start = end + 1
        if '"' not in text and "\x00" not in text:
            end = start
            row = text.rstrip("\r\n").split(",")
        else:
            pending.append(text)
            read = reader.line_num
            try:
                row = next(reader)
            except csv.Error as e:
                raise InputError(f"{file}:{start}: malformed CSV: {e}; fix the quoting on that line") from None
            end += reader.line_num - read
        if any(map(str.strip, row)):
            yield start, row


# ------------------------------------------------------------------ import: values

_STAMP = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?)?$"
)


def parse_source_time(text: str, tz) -> dt.datetime:
    """A timestamp from a spreadsheet or platform export; ValueError says what is wrong.

    An ISO-8601 time with an offset is kept; "2017-10-02 10:56:33", "2017/10/2 10:56",
    "2017年10月2日 10:56" without an offset are taken in `tz`; a date alone is midnight.
    """
    s = text.strip()
    iso = s[:-1] + "+00:00" if s.endswith("Z") else s
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        m = _STAMP.match(s)
        if not m:
            raise ValueError("write it like 2017-10-02 10:56:33, or with an offset, 2017-10-02T10:56:33+08:00") from None
        y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        t = dt.datetime(y, mo, d, h, mi, sec)
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t.replace(microsecond=0)


def parse_source_amount(text: str, signed: bool = False) -> Decimal:
    """"¥12.50", "￥1,234.00", "12.5元" -> Decimal('12.50'); ValueError says what is wrong."""
    from .money import CENT, parse_amount

    s = text.strip().replace("，", ",")
    if "," in s:  # thousands separators only: "10,5" is a decimal comma, never 105
        import re

        if not re.fullmatch(r"[-¥￥]*\s*\d{1,3}(,\d{3})+(\.\d*)?\s*元?", s):
            raise ValueError(f'"{text}" has a comma that is not a thousands separator; write it like 10.50')
        s = s.replace(",", "")
    if s.endswith("元"):
        s = s[:-1].strip()
    if signed:
        neg = s.startswith("-")
        body = s[1:].strip() if neg else s
        try:
            d = parse_amount(body, allow_zero=True)
        except ValueError:
            raise ValueError(f'"{text}" is not an amount; write it like 8.00 or -8.00') from None
        return (-d if neg else d).quantize(CENT)
    return parse_amount(s, allow_zero=True)


def _normalise(col, value: str, tz) -> tuple:
    """(ledger value, error or None) for one mapped source value."""
    from .ledger import format_time

    if value == "":
        return value, None
    try:
        if col.type == "time":
            return format_time(parse_source_time(value, tz)), None
        if col.type == "date":
            return parse_source_time(value, tz).date().isoformat(), None
        if col.type in ("money", "signed_money"):
            return f"{parse_source_amount(value, col.type == 'signed_money')}", None
        if col.type == "int":
            try:
                d = Decimal(value)
            except InvalidOperation:
                return value, None  # the schema check says what is wrong
            if d == d.to_integral_value():
                return str(int(d)), None  # a spreadsheet writes 5 as 5.0
    except ValueError as e:
        kind = {"time": "a time", "date": "a date"}.get(col.type, "an amount")
        return value, f"'{col.name}' value '{value}' is not {kind}: {e}"
    return value, None


# ------------------------------------------------------------------ import: mapping


def import_map(policy, name: str):
    """The policy's ImportMap `name`; InputError with the known names otherwise."""
    from .schema import closest

    imports = policy.imports or {}
    if name not in imports:
        if not imports:
            raise InputError(f"no import mapping '{name}': the policies define none; add an [imports.{name}] "
                             "section naming the ledger and its columns")
        raise InputError(f"unknown import mapping '{name}'; {closest(name, imports)}")
    return imports[name]


def needs_actor(policy, name: str) -> bool:
    """True when mapping `name` fills the ledger's `by` column with the acting staff."""
    from .ledger import schema_of

    m = import_map(policy, name)
    return "by" in schema_of(m.ledger).column_names and "by" not in m.columns


def _zone(policy, name: str, m):
    if not m.timezone:
        return policy.tz()
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(m.timezone)
    except Exception:
        raise InputError(f"imports.{name}.timezone: unknown time zone '{m.timezone}'; "
                         "use an IANA name such as 'Asia/Shanghai'") from None


def _with_lookups(source: Source, m, name: str, folder: Path) -> tuple:
    """(the header with each lookup's columns after the source's, the joins `Import.rows` makes).

    Each lookup file is read once, into a table of its key -> its columns (the first row
    with that key); the source rows are joined as they are read."""
    header = list(source.header)
    joins = []  # (index of the key in a source row, table, the values when nothing matches)
    for lname, lk in m.lookups.items():
        if all(c in header for c in lk.columns):  # joined already (a rejects file): keep its values
            continue
        other = read_source(folder / lk.file, lk.encoding or None, f"imports.{name}.lookups.{lname}.encoding", 0)
        missing = [col for col in (lk.key, *lk.columns.values()) if col not in other.header]
        if missing or lk.on not in header:
            for _ in other.rows:  # a malformed record of that file is named first
                pass
        if missing:
            raise InputError(f"{other.file}:{other.header_line}: no column '{missing[0]}', which imports.{name}.lookups.{lname} needs")
        if lk.on not in header:
            raise InputError(f"{source.file}:{source.header_line}: no column '{lk.on}', which imports.{name}.lookups.{lname} joins on")
        joins.append((header.index(lk.on), _table(other, other.header.index(lk.key),
                                                  [other.header.index(c) for c in lk.columns.values()]),
                      ("",) * len(lk.columns)))
        header.extend(lk.columns)
    return tuple(header), joins


def _table(other: Source, ki: int, wanted: list) -> dict:
    """key -> the wanted columns of the first row with that key; equal values are one tuple."""
    keys: list = []  # of every row, in order
    values: list = []
    shared: dict = {}
    single: dict = {}  # a value -> its tuple in `shared`, when one column is wanted
    need = max(ki, *wanted) + 1
    for rows, width in _plain_rows(other, need) if other.plain else zip(map(itemgetter(1), other.blocks), repeat(0)):
        if width:  # `rows` is the fields of rows of `width` fields, one after the other
            keys += map(str.strip, rows[ki::width])
            if len(wanted) == 1:  # by each value met: few, and one tuple each
                column = rows[wanted[0]::width]
                for v in set(column).difference(single):
                    single[v] = shared.setdefault((v,), (v,))
                values += map(single.__getitem__, column)
                continue
            found = list(zip(*(rows[i::width] for i in wanted)))
            values += map(shared.setdefault, found, found)
            continue
        if min(map(len, rows), default=need) < need:  # short rows: no key, or values padded with ""
            rows = [row if len(row) >= need else row + [""] * (need - len(row)) for row in rows if ki < len(row)]
        keys += map(str.strip, map(itemgetter(ki), rows))
        found = list(map(itemgetter(*wanted), rows) if len(wanted) > 1 else zip(map(itemgetter(wanted[0]), rows)))
        values += map(shared.setdefault, found, found)
    table = dict(zip(keys, values))  # in the file's order, as the rows to join most likely come
    if len(table) < len(keys):  # a key twice: the first row's values
        table.update(zip(reversed(keys), reversed(values)))
    return table


def _plain_rows(source: Source, need: int, size: int = 1 << 16) -> Iterator:
    """The records of a plain source (`Source.plain`) after its header, read afresh, as
    (rows, 0) or, for a block whose lines all have one number of fields, at least `need`,
    and none is blank, as (the fields one after the other, that number): what `_blocks`
    reads, without a list per row."""
    with open(source.file, encoding=source.encoding, newline="") as f:
        for _ in range(source.header_line):
            f.readline()
        head = ""
        while more := f.read(size):
            head += more
            cut = head.rfind("\n") + 1
            if not cut:
                continue
            text, head = head[:cut], head[cut:]
            found = (text.replace("\r\n", "\n") if "\r" in text else text).split("\n")
            found.pop()  # "" after the last line break
            commas = set(map(str.count, found, repeat(",")))
            if len(commas) == 1 and min(commas) + 1 >= need and all(map(str.strip, found, repeat(_BLANK))):
                yield ",".join(found).split(","), min(commas) + 1
            else:
                yield list(map(_SPLIT, filter(methodcaller("strip", _BLANK), found))), 0
        if head.strip(_BLANK):  # a last line without its line break
            yield [head.removesuffix("\r").split(",")], 0


def _source_columns(header: tuple, source: Source, m, name: str) -> dict:
    """ledger column -> index in the row (`header`: the source's columns and the looked-up
    ones); InputError for a missing source column."""
    from .schema import closest

    file = source.file
    index: dict = {}
    for i, h in enumerate(header):
        index.setdefault(h, i)
    missing = [src for src in m.columns.values() if src not in index]
    if missing:
        hints = []
        for src in missing:
            hint = closest(src, header)
            hints.append(f"'{src}'" + (f" ({hint})" if hint.startswith("did you") else ""))
        raise InputError(
            f"{file}:{source.header_line}: the header has no column {', '.join(hints)}, which imports.{name} needs; "
            f"the file's columns: {', '.join(h for h in header if h) or 'none'}"
        )
    twice = sorted({src for src in m.columns.values() if header.count(src) > 1})
    if twice:
        raise InputError(f"{file}:{source.header_line}: the header names column '{twice[0]}' more than once; rename one of them")
    return {col: index[src] for col, src in m.columns.items()}


class Import:
    """A CSV file being imported by the policy's `[imports.NAME]` mapping, one pass over its rows.

    Opening it reads the header and any lookup files, and raises InputError when the file
    as a whole cannot be used: unknown mapping, unreadable or undecodable file, missing
    columns. `chunks()` then reads the rows once: each is checked (`check`: every problem
    of the row) and the good ones come out encoded for the ledger; bad rows are kept as
    `problems` (file = `path` as given, line = the physical line where the row starts,
    record = the source row as CSV) and, with their source values, in `rejected`.

    Encoding: `encoding`, else the mapping's if it is not the default "utf-8", else
    UTF-8 (with or without BOM) and then GB18030. Unmapped `at` is `now`; unmapped
    `by` (where the ledger has one) is `actor`; other unmapped columns stay empty.
    """

    def __init__(self, policy, mapping_name: str, path, encoding: Optional[str] = None,
                 now: Optional[dt.datetime] = None, actor: Optional[str] = None):
        from .ledger import format_time, schema_of

        m = self.mapping = import_map(policy, mapping_name)
        self.policy = policy
        schema = self.schema = schema_of(m.ledger)
        self.tz = tz = _zone(policy, mapping_name, m)
        file = self.file = str(path)
        where = "--encoding"
        if not encoding and m.encoding and _safe_canonical(m.encoding) != "utf-8":
            encoding, where = m.encoding, f"imports.{mapping_name}.encoding"
        from . import cache

        source = self.source = read_source(path, encoding, where, SPLIT_MIN if cache.jobs() > 1 else None)
        with _collector_off():
            header, self.joins = _with_lookups(source, m, mapping_name, Path(path).parent)
        self.header = header  # the source's columns, then the looked-up ones
        self.index = _source_columns(header, source, m, mapping_name)  # ledger column -> index in the row
        self.width = len(header)
        self.conditions = []  # (source column, its index, value -> ledger columns it requires)
        for src_col, by_value in m.require_when.items():
            if src_col not in header:
                raise InputError(f"{file}:{source.header_line}: the header has no column '{src_col}', which "
                                 f"imports.{mapping_name}.require_when names")
            self.conditions.append((src_col, header.index(src_col), by_value))
        self.filters = []  # (index in the row, values a row must have to be imported)
        for src_col, allowed in m.only_when.items():
            if src_col not in header:
                raise InputError(f"{file}:{source.header_line}: the header has no column '{src_col}', which "
                                 f"imports.{mapping_name}.only_when names")
            self.filters.append((header.index(src_col), set(allowed)))

        fixed: dict = {}
        self.fixed = fixed
        if "at" in schema.column_names and "at" not in m.columns:
            if now is None:
                from .clock import system_now

                now = system_now(tz)
            fixed["at"] = format_time(now)
        if "source" in schema.column_names and "source" not in m.columns:
            fixed["source"] = mapping_name  # where the row came from
        if "by" in schema.column_names and "by" not in m.columns:
            if not actor:
                raise InputError(f"importing into {schema.file} needs the acting staff for its 'by' column; "
                                 "pass --by STAFF_ID or set AS_USER")
            fixed["by"] = actor
        self.index_names = {col: header[i] for col, i in self.index.items()}
        self.skipped = 0  # rows that only_when leaves out
        self.good = 0
        self.problems: list = []
        self.rejected: list = []  # (line, row, message) of each bad row
        self.too_long: Optional[InputError] = None  # a good row the ledger refuses to hold (MAX_FIELD)

    def rows(self) -> Iterator:
        """(line, row with the looked-up columns) of each row the mapping's only_when keeps;
        counts the others."""
        for lines, rows in self.blocks():
            yield from zip(lines, rows)

    def blocks(self, source: Optional[Iterator] = None) -> Iterator:
        """`rows` a block at a time: (lines, rows), each block joined and filtered column by
        column when every row has the columns it needs (else row by row, as `_join`).
        `source`: the blocks of the source's records to take (default: all of them)."""
        joins, filters = self.joins, self.filters
        need, added = 0, 0  # the fewest fields a row must have for every join and filter to find its column
        for on, _table, blank in joins:
            need, added = max(need, on + 1 - added), added + len(blank)
        need = max([need] + [i + 1 - added for i, _allowed in filters])
        for lines, rows in self.source.blocks if source is None else source:
            if min(map(len, rows), default=need) < need:
                lines, rows = self._join(lines, rows)
                yield lines, rows
                continue
            for on, table, blank in joins:
                list(map(list.extend, rows, map(table.get, map(str.strip, map(itemgetter(on), rows)), repeat(blank))))
            for i, allowed in filters:
                keep = list(map(allowed.__contains__, map(str.strip, map(itemgetter(i), rows))))
                if not all(keep):
                    self.skipped += keep.count(False)
                    lines, rows = list(compress(lines, keep)), list(compress(rows, keep))
            yield lines, rows

    def _join(self, lines, rows) -> tuple:
        """The rows of a block that only_when keeps, with their looked-up columns, one by one."""
        kept_lines, kept = [], []
        for line, src in zip(lines, rows):
            for on, table, blank in self.joins:
                src.extend(table.get(src[on].strip() if on < len(src) else "", blank))
            for i, allowed in self.filters:
                if (src[i].strip() if i < len(src) else "") not in allowed:
                    self.skipped += 1
                    break
            else:
                kept_lines.append(line)
                kept.append(src)
        return kept_lines, kept

    def check(self, src: list) -> tuple:
        """(ledger values, messages) of one row: every problem it has, by the schema."""
        from .ledger import check_row

        schema, index, tz, m = self.schema, self.index, self.tz, self.mapping
        width = self.width
        messages = []
        if len(src) > width and any(c.strip() for c in src[width:]):
            messages.append(f"has {len(src)} fields, the header has {width}")
        record = dict.fromkeys(schema.column_names, "")
        record.update(self.fixed)
        bad_columns = set()
        for col in schema.columns:
            if col.name not in index:
                continue
            i = index[col.name]
            value = src[i].strip() if i < len(src) else ""
            value = _unwrap(value)  # ="003456789012345678", as our exports and Taobao's write it
            if col.name in _ID_COLUMNS and col.type not in _KEEP:
                from .platforms import id_problem

                bad = id_problem(self.index_names[col.name], value)
                if bad:
                    messages.append(bad)
                    bad_columns.add(col.name)
            value = m.values.get(col.name, {}).get(value, value)
            value, err = _normalise(col, value, tz)
            record[col.name] = value
            if err:
                messages.append(err)
                bad_columns.add(col.name)
        for src_col, i, by_value in self.conditions:
            value = src[i].strip() if i < len(src) else ""
            lacking = [c for c in by_value.get(value, ()) if not record.get(c)]
            if lacking:
                messages.append(f"{src_col} is '{value}' but {', '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} empty")
        values = [record[c] for c in schema.column_names]
        checked = check_row(schema, values, self.policy)
        messages += [msg for msg in checked if not any(msg.startswith(f"'{c}' ") for c in bad_columns)]
        return values, messages

    def _encode(self, values: list) -> Optional[str]:
        """A checked record as a ledger line without its line break (as `ledger.encode_rows`
        writes it); None, and `too_long` set, when a field is over the ledger's limit."""
        from .ledger import MAX_FIELD, _field

        for n, v in zip(self.schema.column_names, values):
            if len(v) > MAX_FIELD:
                if self.too_long is None:
                    self.too_long = InputError(
                        f"{self.schema.file}: refusing to write a record whose '{n}' has {len(v)} characters; "
                        f"the limit is {MAX_FIELD}: shorten it (a long text can go in as an evidence file)")
                return None
        return ",".join(_field(v) for v in values)

    def _careful(self, line: int, src: list) -> Optional[str]:
        """A row the fast path left: its ledger line, or None (a bad row, kept as a problem;
        or one too long for the ledger, which stops the import)."""
        values, messages = self.check(src)
        if messages:
            msg = "; ".join(messages)
            self.problems.append(Problem(self.file, line, msg, _csv_text(src)))
            self.rejected.append((line, src, msg))
            return None
        self.good += 1
        return self._encode(values)

    def chunks(self, keep_going: bool = False) -> Iterator:
        """The good rows as ledger bytes, a block of the file at a time, in the file's order.

        Every row is checked; after the first bad row (unless `keep_going`), or a row the
        ledger refuses, nothing more is yielded: the import will not be written.

        A big plain file (`Source.split`) is done in two processes: a forked one converts
        the records from its split on into a spool file while this one does those before;
        then this one yields the spool's bytes and takes the child's counts and problems.
        When the child fails in any way, this one converts those records itself."""
        fast = _fast_lines(self)
        with _collector_off():
            if fast is None or self.source.split is None:
                yield from self._convert(self.blocks(), fast, keep_going)
                return
            yield from self._in_two(fast, keep_going)

    def _in_two(self, fast, keep_going: bool) -> Iterator:
        import tempfile

        from . import cache

        offset, first = self.source.split or (0, 0)
        spool = tempfile.TemporaryFile()

        def later() -> tuple:  # in the child: the records from line `first` on
            self.good = self.skipped = 0
            self.problems, self.rejected, self.too_long = [], [], None
            with os.fdopen(os.dup(spool.fileno()), "wb") as out:
                for data in self._convert(self.blocks(_later_blocks(self.source, offset, first)), fast, keep_going):
                    out.write(data)
            return self.good, self.skipped, self.problems, self.rejected, self.too_long

        answer = cache.beside(later)
        rest: list = []  # the records from line `first` on that this process read already
        asked = False
        try:
            yield from self._convert(self.blocks(_before(self.source.blocks, first, rest)), fast, keep_going)
            asked = True
            got = answer()
        except BaseException:
            if not asked:
                answer(abandon=True)
            spool.close()
            raise
        with spool:
            if got is None:  # the child failed: the rest here, errors named as ever
                yield from self._convert(self.blocks(chain(rest, self.source.blocks)), fast, keep_going)
                return
            wanted = self.too_long is None and (keep_going or not self.problems)
            good, skipped, problems, rejected, too_long = got
            self.good += good
            self.skipped += skipped
            self.problems += problems
            self.rejected += rejected
            if self.too_long is None:
                self.too_long = too_long
            if wanted:
                spool.seek(0)
                while data := spool.read(1 << 20):
                    yield data

    def _convert(self, blocks: Iterator, fast, keep_going: bool) -> Iterator:
        """The ledger bytes of `blocks` (as `chunks` yields them), counting good rows and keeping problems."""
        for numbers, batch in blocks:
            if not batch:
                continue
            got = fast(batch, True) if fast is not None else [None] * len(batch)
            if isinstance(got, str):  # every row, plain
                self.good += len(batch)
                if self.too_long is None and (keep_going or not self.problems):
                    yield (got + "\n").encode("utf-8")
                continue
            lines: list = got
            plain = len(lines) - lines.count(None)
            self.good += plain
            if plain < len(lines):
                lines = [self._careful(line, src) if text is None else text
                         for line, src, text in zip(numbers, batch, lines)]
                lines = [text for text in lines if text is not None]
            if lines and self.too_long is None and (keep_going or not self.problems):
                yield ("\n".join(lines) + "\n").encode("utf-8")


#: The fewest bytes of a source file that `Import.chunks` splits between two processes.
SPLIT_MIN = 8 << 20


def _before(blocks: Iterator, first: int, rest: list) -> Iterator:
    """The blocks of records that start before physical line `first`; the part of the block
    that crosses it goes into `rest`, and `blocks` is left at the block after it."""
    from bisect import bisect_left

    for lines, rows in blocks:
        if not lines or lines[-1] < first:
            yield lines, rows
            continue
        k = bisect_left(lines, first)
        if k:
            yield lines[:k], rows[:k]
        rest.append((lines[k:], rows[k:]))
        return


def _later_blocks(source: Source, offset: int, first: int) -> Iterator:
    """The blocks of a source's records from byte `offset` on, the start of physical line `first`."""
    f = open(source.file, "rb")
    f.seek(offset)
    text = io.TextIOWrapper(f, encoding="utf-8" if source.encoding == "utf-8-sig" else source.encoding, newline="")
    return _blocks(text, source.file, end=first - 1)


@contextmanager
def _collector_off():
    """The cyclic garbage collector off: an import makes many short-lived rows and no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _csv_text(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()[:300]


# ------------------------------------------------------------------ import: the fast path

#: ":MM:SS" of every minute and second: the end of a source time the fast path takes as it is.
_MINUTE_SECOND = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_REST_OK = _MINUTE_SECOND | {""}  # "" for no time (and for a value without the seconds: its length tells)
_HOUR = re.compile(r"\d{4}-\d\d-\d\d[ T](?:[01]\d|2[0-3])", re.ASCII)
_HOUR_OF, _REST_OF, _SECONDS_OF = itemgetter(slice(0, 13)), itemgetter(slice(13, None)), itemgetter(slice(13, 19))
_PREFIX, _OFFSET, _UTC = itemgetter(0), itemgetter(1), itemgetter(2)
_WRAPPED = methodcaller("startswith", '="')
_TENS, _DIGITS = re.compile("[0-5]*"), re.compile("[0-9]*")  # of minutes and seconds
_NUMBER_CHARS = "0123456789+-.eE"  # all an ID that a spreadsheet made a number can hold (ASCII)


_ONE_HOUR, _NO_TIME = dt.timedelta(hours=1), dt.timedelta(0)
#: Each hour's first and last second, either side of a fold (the times `_Hours._hour` looks at).
_HOUR_TIMES = [(dt.time(h), dt.time(h, fold=1), dt.time(h, 59, 59), dt.time(h, 59, 59, fold=1)) for h in range(24)]
_OFFSET_TEXT: dict = {}  # a whole number of hours from UTC -> "+08:00"


class _Hours(dict):
    """The hours of source times in a zone, for the fast path: "2017-10-02 10" -> (its ledger
    prefix "2017-10-02T10", the zone's offset "+08:00", the same hour in UTC "2017-10-02T02"),
    when the hour is plain: a valid time, one offset all hour long, a whole number of hours
    from UTC; () otherwise. "" (no time) -> ("", "", "")."""

    def __init__(self, tz):
        super().__init__({"": ("", "", "")})
        self.tz = tz
        self.offsets = {"": ""}  # the plain hours met so far (and "") -> their offset

    def __missing__(self, key: str) -> tuple:
        if _HOUR.fullmatch(key):  # every hour of its day at once (as `_hour` makes each): the others will come
            self._day(key[:11])
            return dict.__getitem__(self, key)
        value = self[key] = ()
        return value

    def _day(self, day: str) -> None:
        """Each hour of `day` ("2017-10-02 " or "2017-10-02T") as `_hour` makes it, into
        the table, at a fraction of the cost: the day's date made once, its hours' times
        from prepared times of day."""
        try:
            date: Optional[dt.date] = dt.date(int(day[:4]), int(day[5:7]), int(day[8:10]))
        except ValueError:
            date = None
        utcoffset, combine, signs = self.tz.utcoffset, dt.datetime.combine, _OFFSET_TEXT
        for hour, times in enumerate(_HOUR_TIMES):
            key = f"{day}{hour:02d}"
            value: tuple = ()
            if date is not None:
                try:
                    t = combine(date, times[0])
                    offsets = {utcoffset(t), *map(utcoffset, map(combine, repeat(date, 3), times[1:]))}
                    offset = offsets.pop()
                    if not offsets and offset is not None and not offset % _ONE_HOUR:
                        text = signs.get(offset) or signs.setdefault(
                            offset, f"{'-' if offset < _NO_TIME else '+'}{abs(offset) // _ONE_HOUR:02d}:00")
                        value = f"{day[:10]}T{key[11:13]}", text, (t - offset).isoformat()[:13]
                except (ValueError, OverflowError):
                    value = ()
            self[key] = value
            if value:
                self.offsets[key] = value[1]

    def _hour(self, key: str) -> tuple:
        """The value of an hour (see the class), worked out on the hour's naive times: the
        zone's offset at its first and last second (either side of a fold) is the offset of
        `parse_source_time`'s times in it, and `format_time` writes the hour's prefix and
        that offset."""
        if not _HOUR.fullmatch(key):
            return ()
        try:
            t = dt.datetime(int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]))
            end = t.replace(minute=59, second=59)
            offsets = set(map(self.tz.utcoffset, (t, t.replace(fold=1), end, end.replace(fold=1))))
            if len(offsets) != 1:
                return ()  # the offset changes within this hour
            offset = offsets.pop()
            if offset is None or offset % _ONE_HOUR:
                return ()
            utc = (t - offset).isoformat()[:13]
        except (ValueError, OverflowError):
            return ()
        hours = abs(offset) // _ONE_HOUR
        return f"{key[:10]}T{key[11:13]}", f"{'-' if offset < _NO_TIME else '+'}{hours:02d}:00", utc

    def column(self, values: list, care: set) -> tuple:
        """(ledger times without their offsets, the offsets, spaces) of a column of source times
        ("" for none): each time + its offset is `format_time(parse_source_time(value, tz))`
        once its " " (if `spaces` is not None: every time that is not "" has one, between
        date and hour, and no other) is a "T"; the rows whose value is not a plain
        "2017-10-02 10:56:33" in a plain hour go into `care` (their values become "")."""
        offsets = list(map(self.offsets.get, map(_HOUR_OF, values)))
        info: Optional[list] = None
        if None in offsets:  # an hour not met yet, or not a plain hour (or not a time)
            info = list(map(self.__getitem__, map(_HOUR_OF, values)))
            if () in info:  # not a plain hour: the careful check's
                odd = list(compress(range(len(values)), map(not_, info)))
                values = list(values)
                for r in odd:
                    values[r], info[r] = "", self[""]
                care.update(odd)
            offsets = list(map(_OFFSET, info))
        whole = all(values)
        given = values if whole else list(filter(None, values))
        joined, m = "\n".join(given), len(given)
        if not m or len(joined) == 20 * m - 1 and joined.count("\n") == m - 1 and joined[19::20] == "\n" * (m - 1):
            # Every value is "" or 19 characters (the line breaks between them 20 apart) whose
            # first 13 are a plain hour ("2017-10-02 10" or "2017-10-02T10"); the rest must be
            # ":MM:SS". Checked a position at a time, striding over the values joined.
            if (joined[13::20] == joined[16::20] == ":" * m and _TENS.fullmatch(joined[14::20] + joined[17::20])
                    and _DIGITS.fullmatch(joined[15::20] + joined[18::20])):
                if "T" not in joined:  # the " " are made "T" in the lines (`_fast_lines`)
                    return values, offsets, m
                return (joined if whole else "\n".join(values)).replace(" ", "T").split("\n"), offsets, None
        if info is None:
            info = list(map(self.__getitem__, map(_HOUR_OF, values)))
        rest = list(map(_REST_OF, values))
        lengths = set(map(len, values))
        if () in info or not lengths <= {0, 19} or not all(map(_REST_OK.__contains__, rest)):
            every = range(len(values))
            bad = set(compress(every, map(not_, info)))
            bad.update(compress(every, map(not_, map(_REST_OK.__contains__, rest))))
            if not lengths <= {0, 19}:
                bad.update(r for r in every if len(values[r]) not in (0, 19))  # e.g. "2017-10-02 10"
            for r in bad:
                info[r], rest[r] = self[""], ""
            care.update(bad)
        return list(map(add, map(_PREFIX, info), rest)), list(map(_OFFSET, info)), None

    def later(self, early: list, late: list, rows) -> Iterator:
        """Those of `rows` where time early[r] is after time late[r] in UTC (times as `column`
        gives them, without their offsets; "" for none, which is never after)."""
        rows = list(compress(rows, map(late.__getitem__, rows)))
        utc = [list(map(add, map(_UTC, map(self.__getitem__, map(_HOUR_OF, times))), map(_SECONDS_OF, times)))
               for times in (list(map(col.__getitem__, rows)) for col in (early, late))]
        return compress(rows, map(gt, *utc))


def _runs(parts: list, n: int) -> list:
    """`parts` (columns of n values, and strings that every row has there) with each run of
    strings joined, as columns: the fewer to zip."""
    out: list = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        else:
            out.append(part)
    return [repeat(x, n) if isinstance(x, str) else x for x in out]


def _fast_lines(imp: Import):
    """A function of a batch of rows -> their ledger lines (without the line break), exactly
    as `check` and `_encode` make them, for the rows where that is plain (with `whole`, the
    lines joined, a str, when every row is); None for each row
    that has or may have a problem, or needs quoting, unwrapping or a careful time parse
    (`check` decides those). The batch goes column by column, mostly through map and zip.
    None instead of the function when the mapping's fixed or unmapped columns already need
    the careful path."""
    from .ledger import MAX_FIELD, check_value
    from .platforms import id_problem

    schema, policy, tz = imp.schema, imp.policy, imp.tz
    names = schema.column_names
    position = {n: k for k, n in enumerate(names)}
    base = []  # each ledger column's value before the row's: fixed, else ""
    for col in schema.columns:
        v = imp.fixed.get(col.name, "")
        if col.name not in imp.index and (check_value(col, v, policy) or any(c in v for c in ',"\r\n\x00')):
            return None
        base.append(v)
    hours = _Hours(tz)
    targets = []  # (ledger position, index in the row, header name if an ID column, translation, type, required)
    for k, col in enumerate(schema.columns):
        if col.name in imp.index:
            targets.append((k, imp.index[col.name],
                            imp.index_names[col.name] if col.name in _ID_COLUMNS and col.type not in _KEEP else None,
                            imp.mapping.values.get(col.name) or None, col, col.required))
    conditions = []  # (index in the row, value -> the ledger positions it requires, None for an unknown column)
    for _src_col, i, by_value in imp.conditions:
        conditions.append((i, {value: (None if any(c not in position for c in cols) else [position[c] for c in cols])
                               for value, cols in by_value.items() if cols}))
    for pair in schema.order:  # compared in `lines` when both are mapped times; else one must stay empty
        for c in pair:
            if (schema.columns[position[c]].type != "time") if c in imp.index else base[position[c]]:
                return None
    width, commas = imp.width, len(names) - 1
    order = [(position[a], position[b]) for a, b in schema.order]
    # (a, b) -> m when (a, m) and (m, b) are pairs too: a row whose time m is given is in order
    # a <= b once it is in order a <= m <= b (checked as those pairs)
    via = {(a, b): m for a, b in order for m in range(len(names)) if (a, m) in order and (m, b) in order}

    def convert(col, values: list, care: set) -> list:
        out = []
        for r, v in enumerate(values):
            if v:
                v, err = _normalise(col, v, tz)
                if err or check_value(col, v, policy):
                    care.add(r)
                    v = ""
            out.append(v)
        return out

    def lines(rows: list, whole: bool = False):
        n = len(rows)
        every = range(n)
        care: set = set()
        if set(map(len, rows)) != {width}:
            care.update(compress(every, map(ne, map(len, rows), repeat(width))))
            blank = [""] * width
            rows = [blank if r in care else src for r, src in enumerate(rows)]
        out: list = list(base)  # each ledger column: its values, or the one value of every row (a str)
        offsets: dict = {}  # ledger position of a time column -> each row's offset
        stripped: dict = {}  # index in the row -> the column's values stripped
        unwrapped: dict = {}  # ... and unwrapped (taken by two ledger columns, made once)
        ids = set()  # indexes in the row checked for IDs a spreadsheet made numbers
        spaces: dict = {}  # ledger position of a time column -> the " " its times hold (None: none)
        clean = True  # no value holds , " CR LF or NUL, or is over MAX_FIELD (times never do): no line to check
        spaceless = not any(" " in v for v in base)  # no value holds a " " but the times' (of `spaces`)
        for k, i, id_name, translation, col, required in targets:
            v = unwrapped.get(i)
            if v is None:
                raw = list(map(itemgetter(i), rows))
                v = stripped[i] = list(map(str.strip, raw))
                if '="' in "".join(raw):
                    v = list(map(_unwrap, v))
                unwrapped[i] = v
            if id_name is not None and i not in ids:
                ids.add(i)
                if not ("".join(v).isascii() and all(map(str.strip, filter(None, v), repeat(_NUMBER_CHARS)))):
                    care.update(r for r in every if id_problem(id_name, v[r]))
            if translation is not None:
                v = list(map(translation.get, v, v))
            if required and not all(v):
                care.update(compress(every, map(not_, v)))
            if col.type == "time":
                v, offsets[k], spaces[k] = hours.column(v, care)
            else:
                if col.type != "text":
                    v = convert(col, v, care)
                if clean:
                    joined = "".join(v)
                    if (any(c in joined for c in ',"\r\n\x00')
                            or len(joined) > MAX_FIELD and max(map(len, v)) > MAX_FIELD):
                        clean = False
                    elif " " in joined:
                        spaceless = False
            out[k] = v
        for i, need in conditions:
            keys = stripped.get(i)  # the column's values stripped, made only when every row's is needed
            for value, ks in need.items():
                for c in (None,) if ks is None else ks:
                    if c is not None and isinstance(out[c], list):  # the rows with value and c empty
                        if not all(out[c]):
                            care.update(r for r in compress(every, map(not_, out[c]))
                                        if (rows[r][i].strip() if keys is None else keys[r]) == value)
                    elif c is None or not base[c]:  # an unknown column, or one always empty: every row with value
                        if keys is None:
                            keys = list(map(str.strip, map(itemgetter(i), rows)))
                        care.update(compress(every, map(eq, keys, repeat(value))))
        if None in spaces.values() and any(spaces.values()):  # times both ways: all with a "T"
            for k, m in spaces.items():
                if m:
                    out[k], spaces[k] = list(map(methodcaller("replace", " ", "T"), out[k])), None
        for a, b in order:
            if a in offsets and b in offsets:
                # At one offset the ledger times compare as text; the other rows (one empty,
                # or a DST change between the two) compare in UTC.
                ta, tb, oa, ob = out[a], out[b], offsets[a], offsets[b]
                mid = via.get((a, b), -1)
                if mid in offsets:  # only the rows without time mid
                    late = {r for r in compress(every, map(not_, out[mid])) if ta[r] > tb[r] or oa[r] is not ob[r]}
                else:
                    late = set(compress(every, map(gt, ta, tb)))
                    late.update(compress(every, map(is_not, oa, ob)))  # (equal offsets are one object, or "")
                care.update(hours.later(ta, tb, sorted(late)))
        text, joined = _assemble(out, offsets, n)
        spaced = sum(filter(None, spaces.values()))  # the times' " " that become "T" in `joined`
        if spaced and not (spaceless if clean else joined.count(" ") == spaced and joined.count("\n") == n - 1):
            for k, m in spaces.items():  # another value holds a " " (or a line break)
                if m:
                    out[k] = list(map(methodcaller("replace", " ", "T"), out[k]))
            text, joined = _assemble(out, offsets, n)
            spaced = 0
        if not clean and ('"' in joined or "\r" in joined or "\x00" in joined or joined.count(",") != commas * n
                          or joined.count("\n") != n - 1 or max(map(len, text), default=0) > MAX_FIELD):
            care.update(r for r, x in enumerate(text) if x.count(",") != commas or len(x) > MAX_FIELD
                        or any(c in x for c in '"\r\n\x00'))
        if spaced:
            joined = joined.replace(" ", "T")
        if whole and not care:
            return joined  # every line, joined
        if spaced:
            text = joined.split("\n")
        for r in care:
            text[r] = None
        return text

    return lines


def _assemble(out: list, offsets: dict, n: int) -> tuple:
    """(the lines, joined) of `_fast_lines`'s columns `out` (a list of values, or a str every row
    has) with each time column's `offsets` after it."""
    parts: list = []  # the columns, a comma between two, each time column followed by its offsets
    for k, v in enumerate(out):
        parts += (v, offsets[k], ",") if k in offsets else (v, ",")
    parts.pop()
    text: list = list(map("".join, zip(*_runs(parts, n))))
    return text, "\n".join(text)


def read_import(policy, mapping_name: str, path, encoding: Optional[str] = None, now: Optional[dt.datetime] = None,
                actor: Optional[str] = None) -> tuple:
    """Read and check a CSV file for import by the policy's `[imports.NAME]` mapping, whole.

    Returns (rows, problems): `rows` are the good records as dicts by ledger column,
    ready for `ledger.append(root, mapping.ledger, rows, policy)`; `problems` as in
    `Import`, which `aftersales import` uses to stream a file of any size."""
    imp = Import(policy, mapping_name, path, encoding, now, actor)
    names = imp.schema.column_names
    rows = []
    for line, src in imp.rows():
        values, messages = imp.check(src)
        if messages:
            imp.problems.append(Problem(imp.file, line, "; ".join(messages), _csv_text(src)))
        else:
            rows.append(dict(zip(names, values)))
    return rows, imp.problems


#: Ledger columns that hold IDs: refused when a spreadsheet turned them into numbers.
_ID_COLUMNS = frozenset(("order", "waybill", "new_waybill", "review", "id", "ticket", "phone", "product"))


def _unwrap(value: str) -> str:
    if value.startswith('="') and value.endswith('"') and len(value) >= 3:
        return value[2:-1].strip()
    return value


def _safe_canonical(encoding: str) -> str:
    try:
        return _canonical(encoding)
    except LookupError:
        return encoding


def write_rejects(rejects_path, header, rejected: list) -> None:
    """The rejected rows, in the source's own columns (with any looked-up ones) plus
    'error', UTF-8 with BOM: fix them in a spreadsheet and import the file again with the
    same mapping, from anywhere. `rejected` holds (line, source row, message)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(list(header) + ["error"])
    for _line, row, message in rejected:
        w.writerow(list(row) + [message])
    target = Path(rejects_path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    tmp.replace(target)
