"""The rows of `ticket list --status closed|all`, from one forward pass over the ledger (issue 18).

A listing needs few things of a ticket: when it was opened, its status, priority,
department, assignee, abnormal flag, category, summary and five intake fields. `rows`
folds only the rows that change those (`LISTED`), straight from the csv rows, without
making an Event of every row or keeping a ticket's timeline; every other row is still
read and checked (its number of cells, its ID and its time) and left.

Anything unusual goes the careful way, through the whole fold (`Ticket`): a ticket with
a correction in force, or whose listed rows are out of time order, is folded whole here
and handed back for the caller's own rows; anything odd about the file (a record that
does not read, a time not written as the ledger writes them, an ID that is not twelve
characters, a data cell that is not a JSON object) makes `rows` return None, and the
caller reads the ledger with `scan.iter_tickets` as before, so an error is worded as it
always was. tests/test_listing.py checks the rows against the whole fold's.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import sys
from itertools import compress
from operator import itemgetter
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
_RARE_DAYS = ("-02-29T", "-02-30T", "-02-31T", "-04-31T", "-06-31T", "-09-31T", "-11-31T")


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


# the state of a ticket while the ledger is read: a list indexed by these; the intake
# fields (FIELDS) follow at _FIELDS, "" when the form has none
_AT, _LAST, _STATUS, _PRIO, _DEPT, _ASSIGNEE, _ABNORMAL, _CATEGORY, _SUMMARY, _FIELDS = range(10)
_NEW: list = [None, None, "open", "", "", "", "", "", ""] + [""] * len(FIELDS)
_NONE = ("",) * len(FIELDS)  # a field the form does not have


def _tickets(root: Path, path: Path) -> tuple:
    """(state, folded, zone): the state of each ticket folded here (by ID), the tickets
    folded whole, and the UTC offset every time of the ledger is written with."""
    from .. import corrections
    from ..clock import parse_time

    fixes = corrections.state(root)
    whole: dict = {tid: [] for tid in fixes.events}  # tickets folded whole: their rows
    state: dict = {}
    again: set = set()  # tickets whose listed rows are not in time order: folded whole
    zone = None
    times: Any = None  # the pattern of the times of this ledger, once its zone is known
    latest = ""  # the latest time of the ledger so far, while its rows are in time order
    bound = None  # once they are not: the latest time before, which a ticket's earlier rows are not after
    first, second, fourth = itemgetter(0), itemgetter(1), itemgetter(3)
    intern = sys.intern  # the short cells repeat from ticket to ticket: one string each
    slot = {k: _FIELDS + i for i, k in enumerate(FIELDS)}
    for lines in _records(path):
        rows = list(csv.reader(lines, strict=True))
        rows = [r for r in rows if r] if not all(rows) else rows
        if not rows:
            continue
        if set(map(len, rows)) - {7} or set(map(len, map(first, rows))) - {12}:
            raise Unusual("cells")
        ats = list(map(second, rows))
        if set(map(len, ats)) - {25}:
            raise Unusual("time")
        if zone is None:  # the first time gives the zone that every other must be written in
            zone = ats[0][19:]
            if not _ZONE.fullmatch(zone):
                raise Unusual("zone")
            parse_time("2000-01-01T00:00:00" + zone)
            times = re.compile(_TIME.replace("{zone}", re.escape(zone)))
        joined = "".join(ats)
        if not times.fullmatch(joined):  # each well-formed, months 01-12, days 01-31, hours 00-23 ...
            raise Unusual("time")
        if any(d in joined for d in _RARE_DAYS):  # ... and each day in its month: the rare ones parsed
            for d in set(map(itemgetter(slice(0, 10)), ats)):
                dt.date.fromisoformat(d)
        # times in one zone, written alike, compare as text; rows in time order (the usual
        # case, checked a block at a time) need no check of each ticket's order
        if bound is None and (ats[0] < latest or ats != sorted(ats)):
            bound = latest
        latest = max(latest, ats[-1]) if bound is None else latest
        if whole:
            for row in compress(rows, map(whole.__contains__, map(first, rows))):
                whole[row[0]].append(row)
        for row in compress(rows, map(_FOLDED.__contains__, map(fourth, rows))):
            tid, at, _by, typ, ref, text, data = row
            if whole and tid in whole:
                continue
            s = state.get(tid)
            if s is None:
                s = state[tid] = _NEW.copy()
                if bound is not None:
                    s[_LAST] = at
            elif bound is not None:
                if at < (s[_LAST] or bound):
                    again.add(tid)
                else:
                    s[_LAST] = at
            if typ == "priority":
                s[_PRIO] = intern(ref)
            elif typ == "close":
                s[_STATUS] = "closed"
            elif typ == "open":
                obj = _json(data) if data else {}
                if type(obj) is not dict:
                    raise Unusual("data")
                s[_AT], s[_CATEGORY], s[_SUMMARY] = at, intern(ref), text
                s[_FIELDS:] = map(obj.get, FIELDS, _NONE)
                for i in _SHARED:
                    if type(s[i]) is str:
                        s[i] = intern(s[i])
            elif typ == "resolve":
                s[_STATUS] = "resolved"
            elif typ == "wait":
                if s[_STATUS] == "open":
                    s[_STATUS] = "waiting"
            elif typ == "resume":
                if s[_STATUS] == "waiting":
                    s[_STATUS] = "open"
            elif typ == "abnormal":
                s[_ABNORMAL] = intern(ref)
            elif typ == "assign":
                s[_ASSIGNEE] = intern(ref)
            elif typ == "department":
                s[_DEPT] = intern(ref)
            elif typ == "reopen":
                s[_STATUS] = "open"
            else:  # set: a field of the form, corrected (an empty text removes it)
                at_slot = slot.get(ref)
                if at_slot is not None:
                    s[at_slot] = text
                if ref == "summary" and text:
                    s[_SUMMARY] = text
    if again:
        for tid in again:
            del state[tid]
            whole[tid] = []
        for lines in _records(path):
            for row in csv.reader(lines, strict=True):
                if row and row[0] in again:
                    whole[row[0]].append(row)
    rel = ledger.schema_of(LEDGER).file
    folded = []
    for tid, rows in whole.items():
        events = [_event(0, row, rel) for row in rows]
        t = fold(corrections.honour_events(root, events, fixes)).get(tid)
        if t is not None and t.opened_at is not None:
            t.fields  # noqa: B018 -- a data cell that is not JSON: the careful path words it
            folded.append(t)
    return state, folded, zone


_FOLDED = frozenset(LISTED)
_SHARED = (_FIELDS + FIELDS.index("channel"), _FIELDS + FIELDS.index("kind"))  # fields with few values


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
    (opened at as a timestamp, ID, the values of `cols`) of the tickets folded here, made
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
        state, folded, zone = _tickets(root, path)
        return _rows(state, zone, status, cols, short, now, full_phone, filters or {}, older, newer), folded
    except Exception:  # noqa: BLE001 -- whatever it is, the careful path says it in its words
        return None
    finally:
        if was:
            gc.enable()


def _rows(state: dict, zone, status, cols, short, now, full_phone, filters, older, newer) -> list:
    """The rows of the tickets in `state` (emptied as they are made)."""
    from ..clock import parse_time, span
    from ..ids import SHORT
    from .model import mask_phone

    pick = itemgetter(*[COLUMNS.index(c) for c in cols])
    active = [(COLUMNS.index(k), vals) for k, vals in filters.items() if vals]
    now_ts = int(now.timestamp())
    sample = "2000-01-01T00:00:00" + (zone or "")
    as_text = zone is not None and parse_time(sample).isoformat() == sample  # a time prints as it is written
    hours: dict = {}  # the first 13 characters of a time -> that hour as a timestamp
    seconds: dict = {}  # "MM:SS" -> seconds
    by_hour: dict = {}  # an age of a day or more, in hours -> its text
    by_minute: dict = {}  # an age under a day, in minutes -> its text
    td = dt.timedelta
    out = []
    while state:
        tid, s = state.popitem()
        at = s[_AT]
        if at is None:  # never opened
            continue
        st = s[_STATUS]
        if status != "all" and st != status:
            continue
        base = hours.get(at[:13])
        if base is None:
            base = hours[at[:13]] = int(dt.datetime.fromisoformat(at[:13] + ":00:00" + zone).timestamp())
        sec = seconds.get(at[14:19])
        if sec is None:
            sec = seconds[at[14:19]] = int(at[14:16]) * 60 + int(at[17:19])
        ts = base + sec
        age_s = now_ts - ts
        if age_s >= 86400:
            age = by_hour.get(age_s // 3600)
            if age is None:
                age = by_hour[age_s // 3600] = span(td(seconds=age_s))
        elif age_s >= 0:
            age = by_minute.get(age_s // 60)
            if age is None:
                age = by_minute[age_s // 60] = span(td(seconds=age_s))
        else:
            age = span(td(seconds=age_s))
        channel, customer, phone, order, kind = s[_FIELDS:]
        vals = (tid[:SHORT] if short else tid, at[5:10] + " " + at[11:16] if short else at if as_text else parse_time(at),
                age, st, s[_PRIO], kind, s[_CATEGORY], s[_DEPT], s[_ASSIGNEE], channel, customer,
                phone if full_phone else (mask_phone(phone) if phone else ""), order, s[_SUMMARY], s[_ABNORMAL])
        if active and any(vals[i] not in v for i, v in active):
            continue
        if older is not None or newer is not None:
            opened = parse_time(at)
            if older is not None and not older(opened) or newer is not None and newer(opened):
                continue
        s[:] = pick(vals)  # the ticket's state becomes its row: no second copy of every ticket
        out.append((ts, tid, s))
    return out
