"""The rows of `ticket list --status closed|all`, from one forward pass over the ledger (issue 18).

A listing needs few things of a ticket: when it was opened, its status, priority,
department, assignee, abnormal flag, category, summary and five intake fields. The file
is read by csv.reader (every record, so that a record the careful reader refuses is
noticed), `_CHUNK` rows at a time; each chunk is checked as a whole (seven cells, IDs of
twelve characters, times as the ledger writes them, in time order) and folded into one
dictionary per listed column (`_State`): a ticket's last row of each kind wins, the status
follows the fold's rules. The intake fields of open rows are read by one pattern a batch
at a time (json when a data cell is more than a flat object of plain strings), and the
rows are made a column at a time (`_rows`), oldest first.

Anything unusual goes the careful way, through the whole fold (`Ticket`): a ticket with
a correction in force, opened twice, or whose listed rows are out of time order, is
folded whole here and handed back for the caller's own rows; anything odd about the file
(a record that does not read, a time not written as the ledger writes them, an ID that is
not twelve characters, a data cell that is not a JSON object) makes `rows` return None,
and the caller reads the ledger with `scan.iter_tickets` as before, so an error is worded
as it always was. tests/test_listing.py checks the rows against the whole fold's.

With a second processor and a big ledger, a table in a pipe or CSV is made by two processes
(`written`): a forked child folds the later half of the file (from a record near its middle)
and lays out the rows of the tickets opened there, while this one does the earlier half;
anything out of the ordinary there, or a child that fails, and nothing is written: the
one-process path above runs, as it always did.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sys
from collections import Counter
from itertools import compress, filterfalse, islice
from operator import add, and_, eq, floordiv, gt, itemgetter, le, lt, ne, not_, sub
from itertools import repeat
from pathlib import Path
from typing import Any, Optional

from .. import events as _types
from .. import ledger
from .model import LEDGER, _event, fold
from .scan import odd_quote_lines

#: the event types whose `apply` changes what a listing shows, folded here
LISTED = ("open", "set", "priority", "department", "assign", "abnormal", "wait", "resume", "resolve", "close",
          "reopen")
#: the event types whose `apply` changes nothing a listing shows
UNLISTED = ("verify", "reply", "message", "evidence", "group", "accept", "cause", "alert")
#: the intake fields a listing shows (`cli.ticket._row`)
FIELDS = ("channel", "customer", "phone", "order", "kind")

# an event type not known here that changes a ticket: the careful path, until it is
_SAFE = not ({n for n, d in _types.TYPES.items() if d.apply is not None} - set(LISTED) - set(UNLISTED))

_BLOCK = 1 << 20
_NOT_QUOTE_OR_NL = bytes(range(256)).translate(None, b'"\n')
_ZONE = re.compile(r"[+-][0-9]{2}:[0-9]{2}")
#: times as the ledger writes them, one after another, without their zone
_TIME = (r"(?:(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
         r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]{zone})*")
#: ... with a day that every year has in its month (no 29 February, no 31 April ...)
_COMMON_TIME = (r"(?:(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
                r"|(?:0[13578]|1[02])-31)T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]{zone})*")
_RARE_DAYS = re.compile("-02-29T|-02-30T|-02-31T|-04-31T|-06-31T|-09-31T|-11-31T")


class Unusual(Exception):
    """The fast fold cannot vouch for this ledger: read it the careful way."""


def _records(path: Path):
    """The records of the ledger, decoded, in file order, one list per block of about
    1 MiB; records that span lines (a quoted text with line breaks) joined as
    `scan._chunks` joins them. Unusual when the header is not the ledger's."""
    header = ledger.schema_of(LEDGER).header.encode()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise Unusual("empty")
        head = f.readline()
        if head.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n") != header.rstrip(b"\n") or not head.endswith(b"\n"):
            raise Unusual("header")
        pos, carry = len(head), b""
        while pos < size:
            buf = carry + os.pread(f.fileno(), min(_BLOCK, size - pos), pos)
            pos += len(buf) - len(carry)
            end = buf.rfind(b"\n") + 1
            body, carry = buf[:end], buf[end:]
            odd = []
            if b'"' in body:
                q = body.translate(None, _NOT_QUOTE_OR_NL).replace(b'""', b"")
                odd = odd_quote_lines(q) if b'"' in q else []
                if len(odd) & 1:  # the block ends inside a record: its lines wait for the next block
                    k = odd.pop()
                    cut = len(body)
                    for _ in range(body.count(b"\n") - k + 1 if k else 0):
                        cut = body.rindex(b"\n", 0, cut)
                    cut = cut + 1 if k else 0
                    body, carry = body[:cut], body[cut:] + carry
            lines = body.decode("utf-8").split("\n")
            lines.pop()
            for a, b in reversed(list(zip(odd[0::2], odd[1::2]))):
                lines[a:b + 1] = ["\n".join(lines[a:b + 1])]
            if (body[:1] == b'"' or b'\n"' in body) and any(rec[:1] == '"' for rec in lines):
                raise Unusual("a quoted ID")  # the careful path groups records by their first 12 bytes
            yield lines
        if carry:
            raise Unusual("unterminated")


def _rows_of(path: Path, start: int = 0, end: Optional[int] = None):
    """The records of the ledger as csv.reader reads the file, `_CHUNK` at a time. Unusual
    when the header is not the ledger's; _QuoteFirst when a line begins with a quote (the
    careful path groups records by their first 12 bytes: a quoted ID is grouped apart).
    From byte `start` (the start of a line) up to byte `end`: a csv.Error when `end` is
    inside a record."""
    header = ledger.schema_of(LEDGER).header.encode()
    with open(path, "rb", buffering=0) as f:
        head = os.pread(f.fileno(), len(header), 0)
        if head != header or not header.endswith(b"\n"):
            raise Unusual("header")
        f.seek(start)
        text = io.TextIOWrapper(io.BufferedReader(_Checked(f, end), 1 << 16), encoding="utf-8", newline="")
        text._CHUNK_SIZE = 1 << 16  # type: ignore[attr-defined]  # (8 KiB by default: a call per 8 KiB)
        reader = csv.reader(text, strict=True)
        if not start:
            next(reader)
        while True:
            rows = list(islice(reader, _CHUNK))
            if not rows:
                return
            yield rows


class _Checked(io.RawIOBase):
    """The bytes of a file, refusing (Unusual) a line that begins with a quote."""

    def __init__(self, f, end: Optional[int] = None):
        super().__init__()
        self.f, self.last = f, 10  # the byte before: a line break at the start
        self.left = None if end is None else end - f.tell()  # bytes to read before `end`

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.left is not None:
            b = memoryview(b)[:max(self.left, 0)]
            if not len(b):
                return 0
        n = self.f.readinto(b)
        if self.left is not None:
            self.left -= n or 0
        if n:
            view = memoryview(b)[:n]
            if view[0] == 34 and self.last == 10 or _QUOTE_FIRST.search(view):
                raise _QuoteFirst
            self.last = view[n - 1]
        return n or 0



_QUOTE_FIRST = re.compile(rb'\n"')


class _QuoteFirst(Unusual):
    """A line begins with a quote: a record with a quoted ID, or a line inside a quoted text."""


def _rows_of_records(path: Path):
    """As `_rows_of`, from the ledger's records (`_records` joins the lines of a record
    first, and refuses a record that begins with a quote)."""
    for lines in _records(path):
        reader = csv.reader(lines, strict=True)
        while True:
            rows = list(islice(reader, _CHUNK))
            if not rows:
                break
            yield rows


#: the listed types whose rows `_State.fold` takes (open and set go their own ways)
_ATTRS = {"priority": "priority", "department": "department", "assign": "assignee", "abnormal": "abnormal"}
_BASE = {"close": "closed", "resolve": "resolved", "reopen": "open"}
_FOLD = frozenset(_ATTRS) | frozenset(_BASE) | {"wait", "resume"}
_FOLD_EACH = _FOLD - {"priority"}
_ATTRS_EACH = frozenset(_ATTRS) - {"priority"}
_CHUNK = 1024  # rows taken from csv.reader at a time: few enough to stay in the processor's cache


intern = sys.intern


class _State:
    """What the rows of the ledger made of each ticket's listed columns so far: one
    dictionary per column, keyed by ticket ID (a ticket's last row of each kind wins; the
    status follows the fold's rules). Tickets whose listed rows are not in time order, that
    are opened twice or have a field set are left to the whole fold (`again`)."""

    def __init__(self, fields=FIELDS):
        self.opened: dict = {}  # ID -> the place of its open row's values in `opening`
        self.fields = tuple(f for f in FIELDS if f in fields)  # the intake fields the listing needs
        #: the values of the open rows, a list per column: time, category, summary, *fields
        self.opening: list = [[] for _ in range(3 + len(self.fields))]
        self.status: dict = {}  # ID -> status, once it has a status row
        self.attrs: dict = {t: {} for t in _ATTRS}  # type -> ID -> ref of its last row of that type
        self.sets: dict = {}  # ID -> (ref, text) of its set rows since its open row
        self.again: set = set()
        self.last: Optional[dict] = None  # once rows are out of time order: ID -> time of its latest listed row
        self.bound = ""  # ... and the latest time before, which no earlier row of a ticket is after
        #: the status of a ticket before its first row here: "?" when these rows are the later
        #: part of the ledger (`written`): "?open" then means "open if it was open or waiting"
        self.start = "open"
        self.unsure: set = set()  # the tickets whose status starts with "?"

    def fold(self, ids, types, refs) -> None:
        """Rows of the types in `_FOLD`, in time order."""
        attrs, status = self.attrs, self.status
        get = status.get
        if "priority" in types:  # the most frequent: a row per ticket or more, taken a chunk at a time
            pick = _picker(list(compress(range(len(types)), map("priority".__eq__, types))))
            attrs["priority"].update(zip(pick(ids), map(intern, pick(refs))))
        each = _FOLD_EACH
        if "wait" not in types and "resume" not in types:  # then a ticket's last close, resolve or reopen says
            sel = list(map(_BASE.__contains__, types))
            status.update(zip(compress(ids, sel), map(_BASE.__getitem__, compress(types, sel))))
            each = _ATTRS_EACH
        pick = _picker(list(compress(range(len(types)), map(each.__contains__, types))))
        for tid, typ, ref in zip(pick(ids), pick(types), pick(refs)):
            d = attrs.get(typ)
            if d is not None:
                d[tid] = intern(ref)
            elif typ in _BASE:
                status[tid] = _BASE[typ]
            else:  # wait (open -> waiting) or resume (waiting -> open): each row is recorded
                s = get(tid, self.start)
                if s in ("open", "waiting"):
                    status[tid] = "waiting" if typ == "wait" else "open"
                elif s[0] == "?":  # (a later part of the ledger: as it says, if open or waiting before)
                    status[tid] = "?waiting" if typ == "wait" else "?open"
                    self.unsure.add(tid)

    def open(self, ids, ats, refs, texts, datas) -> None:
        """Open rows: a ticket opened twice is folded whole."""
        opened = self.opened
        once = set(ids)
        twice = opened.keys() & once
        if len(once) != len(ids):
            twice.update(tid for tid, n in Counter(ids).items() if n > 1)
        values = dict(zip(FIELDS, zip(*_fields(datas)) if ids else ((),) * 5))
        at = len(self.opening[0])
        opened.update(zip(ids, range(at, at + len(ids))))
        for c, these in zip(self.opening, (ats, map(intern, refs), texts, *(
                map(intern, values[f]) if f in ("channel", "kind") else values[f] for f in self.fields))):
            c.extend(these)
        self.again.update(twice)
        if self.sets:
            for tid in ids:
                self.sets.pop(tid, None)

    def opens_and_sets(self, rows) -> None:
        """Open and set rows (all seven cells), in time order."""
        sets = self.sets
        for row in rows:
            if row[3] == "open":
                self.open([row[0]], [row[1]], [row[4]], [row[5]], [row[6]])
            else:
                sets.setdefault(row[0], []).append((row[4], row[5]))

    def out_of_order(self, bound: str) -> None:
        """From here on, rows are checked ticket by ticket (`checked`)."""
        self.last, self.bound = {}, bound
        self.seen = set(self.opened).union(self.status, *self.attrs.values())

    def checked(self, rows) -> None:
        """Rows (all seven cells) of listed types, once the ledger is out of time order: a
        ticket with a row earlier than one before it is folded whole."""
        last, seen, again = self.last, self.seen, self.again
        assert last is not None
        for row in rows:
            tid, at = row[0], row[1]
            prev = last.get(tid)
            if prev is None and tid in seen:
                prev = self.bound
            if prev is not None and at < prev:
                again.add(tid)
            else:
                last[tid] = at
            typ = row[3]
            if typ == "open":
                self.open([tid], [at], [row[4]], [row[5]], [row[6]])
            elif typ == "set":
                self.opens_and_sets([row])
            else:
                self.fold([tid], [typ], [row[4]])


def _picker(places: list):
    """A function giving the items at `places` of a sequence, as a tuple."""
    if len(places) == 1:
        at = places[0]
        return lambda seq: (seq[at],)
    return itemgetter(*places) if places else lambda seq: ()


def _tickets(root: Path, path: Path, chunks=None, fields=FIELDS) -> tuple:
    """(state, folded, zone): the `_State` of the tickets folded here, the tickets folded
    whole (those with a correction in force and `state.again`), and the UTC offset every
    time of the ledger is written with."""
    from .. import corrections
    from ..clock import parse_time

    fixes = corrections.state(root)
    state = _State(fields)
    zone, _, _ = _fold(state, (chunks or _rows_of)(path))
    return state, _whole(root, path, state, fixes), zone


def _fold(state: _State, chunks) -> tuple:
    """Fold the rows of `chunks` into `state`: (zone, first, latest), the UTC offset of every
    time, the time of the first row, and of the last one while they are in time order."""
    from ..clock import parse_time

    zone = None
    times: Any = None  # the pattern of the times of this ledger, once its zone is known
    common: Any = None
    latest = first = ""  # the latest time of the ledger so far, while its rows are in time order
    for rows in chunks:
        if not all(rows):
            rows = [r for r in rows if r]
            if not rows:
                continue
        if set(map(len, rows)) != {7}:
            raise Unusual("cells")
        ids, ats, _bys, types, refs, texts, datas = zip(*rows)
        if set(map(len, ids)) != {12} or not "".join(ids).isascii():
            raise Unusual("ID")
        if zone is None:  # the first time gives the zone that every other must be written in
            zone = ats[0][19:]
            if not _ZONE.fullmatch(zone):
                raise Unusual("zone")
            parse_time("2000-01-01T00:00:00" + zone)
            times = re.compile(_TIME.replace("{zone}", re.escape(zone)))
            common = re.compile(_COMMON_TIME.replace("{zone}", re.escape(zone)))
            first = ats[0]
        joined = "".join(ats)
        if len(joined) != 25 * len(ats):
            raise Unusual("time")
        if not common.fullmatch(joined):  # (nearly always it does: valid times, each day in its month)
            if not times.fullmatch(joined):  # months 01-12, hours 00-23 ...
                raise Unusual("time")
            if _RARE_DAYS.search(joined):  # ... and each day in its month: the rare ones parsed
                for d in set(map(itemgetter(slice(0, 10)), ats)):
                    dt.date.fromisoformat(d)
        # times in one zone, written alike, compare as text; rows in time order (the usual
        # case, checked a chunk at a time) need no check of each ticket's order
        if state.last is None and (ats[0] < latest or not all(map(le, ats, ats[1:]))):
            state.out_of_order(latest)
        if state.last is not None:
            state.checked(compress(rows, map(_LISTED.__contains__, types)))
            continue
        latest = ats[-1]
        state.fold(ids, types, refs)
        if "set" in types:
            state.opens_and_sets(compress(rows, map(("open", "set").__contains__, types)))
        elif "open" in types:
            state.open(*map(_picker(list(compress(range(len(types)), map("open".__eq__, types)))),
                            (ids, ats, refs, texts, datas)))
    return zone, first, latest


def _whole(root: Path, path: Path, state: _State, fixes) -> list:
    """The tickets with a correction in force (`fixes`) and `state.again`, folded whole (and
    left out of `state`)."""
    from .. import corrections

    whole: dict = {tid: [] for tid in list(fixes.events) + list(state.again)}
    if whole:
        key = itemgetter(slice(0, 12))
        for lines in _records(path):
            for row in csv.reader(compress(lines, map(whole.__contains__, map(key, lines))), strict=True):
                whole[row[0]].append(row)
    rel = ledger.schema_of(LEDGER).file
    folded = []
    for tid, rows in whole.items():
        state.opened.pop(tid, None)
        events = [_event(0, row, rel) for row in rows]
        t = fold(corrections.honour_events(root, events, fixes)).get(tid)
        if t is not None and t.opened_at is not None:
            t.fields  # noqa: B018 -- a data cell that is not JSON: the careful path words it
            folded.append(t)
    return folded


_LISTED = frozenset(LISTED)




def _json(text: str):
    """json.loads(text), without its Python wrappers when `text` is one object."""
    if text[:1] == "{":
        try:
            obj, end = _SCAN(text, 0)
        except StopIteration:
            obj, end = None, -1
        if end == len(text):
            return obj
    return json.loads(text)


_SCAN = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads uses

#: every column a listing can show, as `cli.ticket._row` names them
COLUMNS = ("ticket", "opened_at", "age", "status", "priority", "kind", "category", "department", "assignee",
           "channel", "customer", "phone", "order", "summary", "abnormal")


def rows(root: Path, status: str, cols: list, short: bool, now: dt.datetime, full_phone: bool = False,
         filters: Optional[dict] = None, older=None, newer=None) -> Optional[tuple]:
    """The rows of `ticket list --status closed|all`: (rows, rest), where `rows` are
    (opened at as a timestamp, ID, the values of `cols`) of the tickets folded here, oldest
    first (by time, then ID), made
    as `cli.ticket._row` and `list_` make them (`status`, the `filters` by column, the
    tests `older` and `newer` of the opening time), and `rest` the tickets that had to be
    folded whole (`Ticket`s, for the caller's own rows). None when the ledger must be read
    the careful way (`scan.iter_tickets`)."""
    if not _SAFE or now.microsecond or len(cols) < 2 or any(c not in COLUMNS for c in cols):
        return None
    import gc

    from .scan import _ledger

    was = gc.isenabled()
    gc.disable()  # many small objects and no cycles: the collector would only cost time
    try:
        path = _ledger(root)
        if path is None:
            return [], []
        try:
            state, folded, zone = _tickets(root, path, fields=_needed(cols, filters or {}))
        except _QuoteFirst:  # a line begins with a quote: are records among them? read by records
            state, folded, zone = _tickets(root, path, _rows_of_records, _needed(cols, filters or {}))
        return _rows(state, zone, status, cols, short, now, full_phone, filters or {}, older, newer), folded
    except Exception:  # noqa: BLE001 -- whatever it is, the careful path says it in its words
        return None
    finally:
        if was:
            gc.enable()


def _needed(cols, filters: dict) -> set:
    """The columns a listing shows or filters by."""
    return set(cols).union(k for k, vals in filters.items() if vals)


def _fields(datas) -> list:
    """The intake fields (`FIELDS`) of each open row's data cell, as `Ticket.fields` gives
    them: a flat object of plain strings is read by one pattern a batch at a time (the last
    of a key wins, as in json); anything else by json. Unusual for a cell that is not an object."""
    out: list = []
    for a in range(0, len(datas), _CHUNK):
        part = datas[a:a + _CHUNK]
        text = "\n" + "\n".join(part) + "\n"
        found = _OBJECTS.findall(text)
        if len(found) != len(part) or text.count("\n") != len(part) + 1:  # something else in a cell (or a line break): one at a time
            found = []
            for cell in part:
                obj = _json(cell) if cell else {}
                if type(obj) is not dict:
                    raise Unusual("data")
                found.append(tuple(map(obj.get, FIELDS, _NONE)))
        out.extend(found)
    return out


_NONE = ("",) * len(FIELDS)  # a field the form does not have
_PLAIN = r'[^"\\\x00-\x1f]*+'  # a JSON string's text without escapes
_SCALAR = (r'(?:"' + _PLAIN + r'"|-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?|true|false|null)')
_PAIR = ("(?:" + "|".join(f'"{k}":"({_PLAIN})"' for k in FIELDS)
         + '|"(?!(?:' + "|".join(FIELDS) + ')")' + _PLAIN + '":' + _SCALAR + ")")
#: one cell per line: a flat JSON object (FIELDS as strings, other keys any plain value) or nothing
_OBJECTS = re.compile("\n(?:\\{(?:" + _PAIR + '(?:,(?=")|(?=\\})))*+\\}|)(?=\n)')


def _rows(state, zone, status, cols, short, now, full_phone, filters, older, newer, opening=None) -> list:
    """The rows of the tickets opened in `state`: (opened at as a timestamp, ID, values)."""
    ts, tids, values = _columns(state, zone, status, cols, short, now, full_phone, filters, older, newer, opening)
    return list(zip(ts, tids, zip(*values)))


def _opening(state, zone, names, cols, short, now, full_phone) -> tuple:
    """(IDs, opened at as timestamps, opened at as written, {column: values}) of the tickets
    opened in `state`, in the order of their open rows: the columns of `names` that their
    open and set rows give (`_OPENING`), each a list worked out a column at a time."""
    from ..clock import parse_time, spans
    from ..ids import SHORT

    opened = state.opened
    tids = list(opened)
    values = state.opening
    if len(tids) != len(values[0]):  # tickets left to the whole fold, or opened twice
        at = list(opened.values())
        values = [list(map(c.__getitem__, at)) for c in values]
    ats, cats, sums, *fields = values
    col = {"category": cats, "summary": sums}
    col.update(zip(state.fields, fields))
    if state.sets:  # a field of the form corrected (an empty text removes it), or the summary
        place = {tid: i for i, tid in enumerate(tids)}
        copied: set = set()
        for tid, changes in state.sets.items():
            i = place.get(tid, -1)
            for ref, text in changes if i >= 0 else ():
                if ref in col and ref in FIELDS or ref == "summary" and text:
                    if ref not in copied:  # (the lists of `state` stay as they are)
                        col[ref] = list(col[ref])
                        copied.add(ref)
                    col[ref][i] = text
    hours = _Hours(zone)
    ts = list(map(add, map(hours.__getitem__, map(itemgetter(slice(0, 13)), ats)),
                  map(_MMSS.__getitem__, map(itemgetter(slice(14, 19)), ats))))
    if "age" in names:
        col["age"] = _ages(list(map(sub, repeat(int(now.timestamp())), ts)), spans())
    col["ticket"] = list(map(itemgetter(slice(0, SHORT)), tids)) if short and "ticket" in names else tids
    if "opened_at" in names:
        sample = "2000-01-01T00:00:00" + (zone or "")
        if short:
            col["opened_at"] = list(map(str.replace, map(itemgetter(slice(5, 16)), ats), repeat("T"), repeat(" ")))
        else:  # a time prints as it is written, when it is
            col["opened_at"] = ats if parse_time(sample).isoformat() == sample else list(map(parse_time, ats))
    if "phone" in names and not full_phone:
        col["phone"] = _masks(col["phone"]) if "phone" in cols else col["phone"]
    return tids, ts, ats, col


#: the columns the open row (and set rows) give, which no later row changes
_OPENING = frozenset(("ticket", "opened_at", "age", "category", "summary") + FIELDS)


def _columns(state, zone, status, cols, short, now, full_phone, filters, older, newer, opening=None) -> tuple:
    """(opened at as timestamps, IDs, [the values of each of `cols`]) of the tickets opened
    in `state` that are listed, oldest first, each a list worked out a column at a time.
    `opening`: what `_opening` made of `state` already."""
    from ..clock import parse_time

    names = _needed(cols, filters)
    tids, ts, ats, col = opening or _opening(state, zone, names, cols, short, now, full_phone)
    state.opened.clear()
    state.opening = []
    n = len(tids)
    col = dict(col)
    if "status" in names or status != "all":
        col["status"] = sts = list(map(state.status.get, tids, repeat("open")))
    state.status.clear()
    for typ, name in _ATTRS.items():
        if name in names:
            col[name] = list(map(state.attrs[typ].get, tids, repeat("")))
        state.attrs[typ].clear()
    keep = [True] * n
    if status != "all":
        keep = list(map(status.__eq__, sts))
    for k, vals in filters.items():
        if vals:
            keep = list(map(and_, keep, map(frozenset(vals).__contains__, col[k])))
    if older is not None or newer is not None:
        keep = [k and (older is None or older(t)) and not (newer is not None and newer(t))
                for k, t in zip(keep, map(parse_time, ats))]
    values = [col[c] for c in cols]
    if not all(keep):
        ts, tids = list(compress(ts, keep)), list(compress(tids, keep))
        values = [list(compress(c, keep)) for c in values]
    # oldest first, as `list_` sorts them (by time, then ID): tickets come in the order of
    # their open rows, so nearly always already sorted, but for tickets opened in one second
    if not all(map(lt, ts, islice(ts, 1, None))):
        if all(map(le, ts, islice(ts, 1, None))):  # tickets opened in one second: each such run by ID
            order = list(range(len(ts)))
            runs: list = []  # [first, last] of each run of one time
            for i in compress(range(len(ts)), map(eq, ts, islice(ts, 1, None))):
                if runs and runs[-1][1] == i:
                    runs[-1][1] = i + 1
                else:
                    runs.append([i, i + 1])
            for a, b in runs:
                order[a:b + 1] = sorted(order[a:b + 1], key=tids.__getitem__)
        else:
            order = sorted(range(len(ts)), key=list(zip(ts, tids)).__getitem__)
        moved = list(compress(range(len(ts)), map(ne, order, range(len(ts)))))  # the few out of place
        ts, tids, *values = cs = [list(c) for c in [ts, tids] + values]  # (lists of their own)
        for c in cs:
            now_at = list(map(c.__getitem__, map(order.__getitem__, moved)))
            for i, v in zip(moved, now_at):
                c[i] = v
    return ts, tids, values


def _ages(seconds: list, span_of) -> list:
    """`span_of` of each number of seconds: a day or more shows days and hours, which are
    worked out a column at a time, each text made once."""
    texts = _Spans()
    out = list(map(texts.__getitem__, map(floordiv, seconds, repeat(3600))))
    for i in compress(range(len(seconds)), map(gt, repeat(86400), seconds)):  # under a day, or ahead
        out[i] = span_of(seconds[i])
    return out


class _Spans(dict):
    """Whole hours (a day or more) -> the age `clock.span` shows."""

    def __missing__(self, hours: int) -> str:
        d, h = divmod(hours, 24)
        text = self[hours] = f"{d}d{h}h"
        return text


class _Hours(dict):
    """The first 13 characters of a time (to the hour) -> that hour as a timestamp."""

    def __init__(self, zone):
        super().__init__()
        self.zone = zone

    def __missing__(self, text: str) -> int:
        v = self[text] = int(dt.datetime.fromisoformat(text + ":00:00" + self.zone).timestamp())
        return v


_MMSS = {f"{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}


#: phones of eleven ASCII digits or more, or none, each on a line
_USUAL_PHONES = re.compile("(?:(?:[0-9]{11,}+)?\n)*+")


def _masks(phones) -> list:
    """`mask_phone` of each phone ("" for none): eleven digits or more, the usual case,
    become their first three, four stars and their last four a column at a time."""
    from .model import mask_phone

    out = list(map(add, map(add, map(itemgetter(slice(0, 3)), phones), repeat("****")),
                   map(itemgetter(slice(-4, None)), phones)))
    joined = "\n".join(phones) + "\n"
    if _USUAL_PHONES.fullmatch(joined) and joined.count("\n") == len(phones):  # usual, or none
        if "" in phones:
            for i in compress(range(len(out)), map(not_, phones)):
                out[i] = ""
        return out
    usual = map(and_, map(str.isdigit, phones), map(le, repeat(11), map(len, phones)))
    for i in compress(range(len(out)), map(not_, usual)):
        out[i] = mask_phone(phones[i]) if phones[i] else ""
    return out


# ------------------------------------------------------------------ two processes (issue 18)

#: tickets.csv from this size up is read by two processes (`written`), given a second processor
SPLIT_MIN = 16 << 20
#: the share of tickets.csv the command reads itself; a forked child reads the rest
SPLIT = 0.5
#: a line that begins as a record does: an ID, then a time
_RECORD_START = re.compile(rb"\n[0-9A-Za-z]{12},[0-9]{4}-")


def written(root: Path, status: str, cols: list, fmt: str, now: dt.datetime, full_phone: bool, filters: dict,
            older, newer, out, check=None) -> Optional[int]:
    """`ticket list --status closed|all` as a table in a pipe or as CSV, written to `out`,
    read by two processes: this one folds the ledger up to a record near its middle
    (`SPLIT`), a forked child folds the rest, makes the rows of the tickets opened there and
    hands back what this part needs (the later rows of the tickets opened here), then the
    text of its rows, laid out with the table's widths. Returns the number of rows, or None
    when nothing was written: no second processor, a small ledger, another format, or
    anything out of the ordinary (a record across the split, rows out of time order, a
    ticket opened or with rows on both sides, a correction, two rows at the same second
    across the split, a child that failed): then `rows` reads it in one process, as ever.
    `check`: run here once the child is under way (the policy loaded and checked): should it
    raise, nothing is written either (the caller's one-process path words the error)."""
    from .. import cache
    from ..render import terminal_width

    if fmt not in ("table", "csv") or fmt == "table" and terminal_width():
        return None
    if not _SAFE or now.microsecond or len(cols) < 2 or any(c not in COLUMNS for c in cols) or cache.jobs() < 2:
        return None
    import gc
    import pickle  # noqa: F401 -- (imported once, before the fork: both processes use them)
    import threading  # noqa: F401

    from .scan import _ledger

    was = gc.isenabled()
    gc.disable()
    pid = None
    try:
        path = _ledger(root)
        size = os.path.getsize(path) if path is not None else 0
        split = _split_point(path, size) if path is not None and size >= SPLIT_MIN else None
        if path is None or split is None:
            return None
        args = (status, cols, fmt, now, full_phone, filters or {}, older, newer)
        # both parts go as UTF-8 bytes, when that is what `out` writes (this part's encoded while the child finishes)
        raw = str(getattr(out, "encoding", "")).lower().replace("-", "") == "utf8" and hasattr(out, "buffer")
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()

        def child() -> None:
            os.close(up_r)
            os.close(down_w)
            with os.fdopen(up_w, "wb") as up, os.fdopen(down_r, "rb") as down:
                _later(path, split, args, up, down)

        try:
            pid = cache.fork(child)
        finally:
            os.close(up_w)
            os.close(down_r)
        if check is not None:
            check()
        with os.fdopen(up_r, "rb") as up, os.fdopen(down_w, "wb") as down:
            made = _earlier(root, path, split, args, up, down, raw)
        if made is None:
            return None
        if os.waitpid(pid, os.WNOHANG)[0] == 0:  # it has said all and is leaving: reaped at exit
            import atexit

            atexit.register(_reap, pid)
        pid = None
    except Exception:  # noqa: BLE001 -- nothing written: the one-process path says it in its words
        return None
    finally:
        if pid is not None:
            cache.stop(pid)
        if was:
            gc.enable()
    n, text, later = made  # (an error writing them is the command's, as ever)
    if n or fmt == "csv":
        if raw:  # (strictly UTF-8, as the child's)
            out.flush()
            out.buffer.write(text)
            out.buffer.write(later)
        else:
            out.write(text)
            out.write(later.decode("utf-8"))
    return n


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _split_point(path: Path, size: int) -> Optional[int]:
    """A byte near `SPLIT` of the file where a line begins as a record does. The earlier
    part must end there cleanly (csv.reader, strict, fails at the end of a part that ends
    inside a quoted text), else the ledger is read in one process."""
    at = int(size * SPLIT)
    with open(path, "rb") as f:
        found = _RECORD_START.search(os.pread(f.fileno(), 1 << 16, at))
    return at + found.start() + 1 if found else None


def _message(obj) -> bytes:
    import pickle

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(8, "little") + data


def _send(f, obj) -> None:
    f.write(_message(obj))
    f.flush()


def _recv(f):
    """The next object `_send` sent, or None when the other process has gone."""
    import pickle

    head = f.read(8)
    if len(head) < 8:
        return None
    n = int.from_bytes(head, "little")
    data = f.read(n)
    return pickle.loads(data) if len(data) == n else None


def _later(path: Path, split: int, args: tuple, up, down) -> None:
    """The child of `written`: fold the ledger from byte `split` on; send up what the earlier
    part needs (in a thread, while the rows are made), then (first time, rows, widths) of
    the tickets opened here, and, once down comes the table's widths, the text of their rows."""
    import threading

    status, cols, fmt, now, full_phone, filters, older, newer = args
    state = _State(_needed(cols, filters))
    state.start = "?"
    zone, first, latest = _fold(state, _rows_of(path, split))
    opened, sts = state.opened, state.status
    for tid in state.unsure & opened.keys():  # opened here (after no row of it before `split`: the parent checks)
        if sts[tid][0] == "?":
            sts[tid] = sts[tid][1:]
    # the rows of the tickets opened before `split`, as `fold` made them
    theirs = []
    for d in (sts, state.sets, *state.attrs.values()):
        keys = list(filterfalse(opened.__contains__, d))
        theirs.append(dict(zip(keys, map(d.__getitem__, keys))))
    head = _message((zone, first, latest, state.last is None, bool(state.again), "".join(opened), theirs))
    sending = threading.Thread(target=up.write, args=(head,))  # (the pipe takes it as the parent reads)
    sys.setswitchinterval(1e-4)  # the sender's turn as soon as the pipe takes more (else 5 ms a write)
    sending.start()
    del head, theirs
    columns = None
    if fmt == "table":
        ts, cells, columns = _table(state, zone, args)
    else:
        made = _rows(state, zone, status, cols, False, now, full_phone, filters, older, newer)
        ts = [r[0] for r in made[:1]]
    sending.join()
    up.flush()
    sys.setswitchinterval(0.005)
    _send(up, (ts[0] if ts else None, len(ts) if columns else len(made), columns and columns[1]))
    widths = _recv(down)
    if columns is not None:
        if widths is None:
            return
        from ..render import _line_batches

        lines = _line_batches(columns[0][0] if cells is None else cells, cols,
                              columns=(columns[0], widths, columns[2]))
        next(lines)  # the heading: the parent's
        _send(up, "".join("\n".join(batch) + "\n" for batch in lines).encode("utf-8"))
    else:
        from ..render import write_listing

        text = io.StringIO()
        write_listing(map(itemgetter(2), made), cols, "csv", text)
        _send(up, text.getvalue().split("\n", 1)[1].encode("utf-8"))


def _table(state: _State, zone: str, args: tuple, opening=None) -> tuple:
    """(timestamps, cells, `render.table_columns`) of the table rows of the tickets opened in
    `state`: cells None when every cell is plain printable text (nearly always: then they
    are laid out a column at a time, as they are), else as `render.table_cells` makes them.
    `opening`: what `_opening` made of `state` already."""
    from ..render import table_cells, table_columns

    status, cols, fmt, now, full_phone, filters, older, newer = args
    ts, _, values = _columns(state, zone, status, cols, True, now, full_phone, filters, older, newer, opening)
    try:
        plain = all(map(str.isprintable, map("".join, values)))
    except TypeError:  # not all text
        plain = False
    if plain:
        return ts, None, table_columns([], cols, by_column=values)
    cells = table_cells(zip(*values))
    return ts, cells, table_columns(cells, cols)


def _earlier(root: Path, path: Path, split: int, args: tuple, up, down, raw: bool = False) -> Optional[tuple]:
    """The parent of `written`: fold the ledger up to byte `split`, take the child's rows of
    the tickets opened here, make their rows: (rows, their text (`raw`: as UTF-8), the
    child's text as UTF-8), or None when anything is out of the ordinary."""
    from .. import corrections

    status, cols, fmt, now, full_phone, filters, older, newer = args
    fixes = corrections.state(root)
    state = _State(_needed(cols, filters))
    zone, first, latest = _fold(state, _rows_of(path, 0, split))
    if state.last is not None or state.again or fixes.events or zone is None:
        return None
    # what the open rows say, while the child may still be folding (a set row there: again)
    opening: Optional[tuple] = _opening(state, zone, _needed(cols, filters), cols, fmt == "table", now, full_phone)
    head = _recv(up)
    if head is None:
        return None
    their_zone, their_first, _, ordered, again, ids, (their_status, their_sets, *their_attrs) = head
    if not ordered or again or their_zone != zone or their_first < latest:
        return None
    ids = set(map(ids.__getitem__, map(slice, range(0, len(ids), 12), range(12, len(ids) + 12, 12))))
    if not all(map(ids.isdisjoint, (state.opened, state.status, state.sets, *state.attrs.values()))):
        return None  # opened on both sides, or with rows before `split` too
    del ids
    sts = state.status
    for tid, s in their_status.items():  # the later part's statuses, after the earlier's
        if s[0] != "?":
            sts[tid] = s
        elif sts.get(tid, "open") in ("open", "waiting"):
            sts[tid] = s[1:]
    for mine, d in zip(state.attrs.values(), their_attrs):
        mine.update(d)
    for tid, changes in their_sets.items():
        state.sets.setdefault(tid, []).extend(changes)
    if their_sets:
        opening = None
    del their_status, their_attrs, their_sets, head
    if fmt == "table":
        ts, cells, (found, widths, wide) = _table(state, zone, args, opening)
    else:
        made = _rows(state, zone, status, cols, False, now, full_phone, filters, older, newer, opening)
        ts = [r[0] for r in made]
    tail = _recv(up)
    if tail is None:
        return None
    their_ts, n, their_widths = tail
    if ts and n and ts[-1] >= their_ts:  # oldest first by time, then ID: not two parts
        return None
    n += len(ts)
    if fmt == "table":
        from ..render import _line_batches

        widths = list(map(max, widths, their_widths))
        _send(down, widths)
        text = "".join("\n".join(batch) + "\n" for batch in
                       _line_batches(found[0] if cells is None else cells, cols, columns=(found, widths, wide)))
    else:
        from ..render import write_listing

        _send(down, None)
        buf = io.StringIO()
        write_listing(map(itemgetter(2), made), cols, "csv", buf)
        text = buf.getvalue()
    ours: Any = text.encode("utf-8") if raw else text  # (encoded while the child finishes)
    del text
    later = _recv(up)
    return None if later is None else (n, ours, later)
