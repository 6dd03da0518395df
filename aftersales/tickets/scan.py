"""The open tickets, folded from the ledger faster than csv.reader reads it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterable, Optional

from .. import ledger
from ..errors import InputError
from .model import LEDGER, _event, fold


def load_open_tickets(root: Path, closed_after: Optional[dt.datetime] = None) -> dict:
    """The tickets not closed, folded from the ledger faster than csv.reader reads it; with
    `closed_after`, also those closed at or after it (a follow-up visit may still be owed).

    See `scan_open_records`: only the records of tickets still open are parsed, so time
    and memory follow the number of open tickets, not the length of the history.
    """
    import csv
    import gc

    rel = ledger.schema_of(LEDGER).file
    path = ledger.ledger_path(root, LEDGER)
    if not path.exists():
        return {}
    if ledger.ends_torn(path):
        ledger.raise_first_problem(root, LEDGER)
    gc_was = gc.isenabled()
    gc.disable()  # many short-lived objects and no cycles: the collector would only cost time
    try:
        try:
            from .. import corrections  # a voided close must not hide a ticket's rows

            fixes = corrections.state(root)
            records = scan_open_records(path, ledger.schema_of(LEDGER).header.encode(), keep=set(fixes.events),
                                        closed_after=closed_after)
            events = []
            for row in csv.reader(records, strict=True):
                if row:
                    events.append(_event(0, row, rel))
            events = list(corrections.honour_events(root, events, fixes))
        except (UnicodeDecodeError, csv.Error, ValueError, InputError):
            ledger.raise_first_problem(root, LEDGER, check_values=True)  # names the file and line
            raise
        return {tid: t for tid, t in fold(events).items() if t.opened_at is not None and (
            t.is_open or closed_after is not None and t.closed_at is not None and t.closed_at >= closed_after)}
    finally:
        gc.freeze()  # what was loaded lives to the end: keep later collections from rescanning it
        if gc_was:
            gc.enable()


def _at(rec: bytes) -> dt.datetime:
    """The time of a ledger record (its second field), read without csv-parsing the record."""
    return ledger.parse_time(rec[13:rec.find(b",", 13)].decode("ascii"))


_CHUNK = 1 << 17
_NOT_QUOTE_OR_NL = bytes(range(256)).translate(None, b'"\n')


def _odd_lines(body: bytes) -> list:
    """Indices of the lines of `body` that hold an odd number of quotes: the first and
    last lines of the records that span lines (a quoted field holds an even number)."""
    q = body.translate(None, _NOT_QUOTE_OR_NL).replace(b'""', b"")  # one quote is left on each odd line
    odd, line, last = [], 0, 0
    pos = q.find(b'"')
    while pos >= 0:
        line += q.count(b"\n", last, pos)
        last = pos
        odd.append(line)
        pos = q.find(b'"', pos + 1)
    return odd


def scan_open_records(path: Path, header: bytes, keep: Iterable = (), closed_after: Optional[dt.datetime] = None) -> list:
    """The records (decoded) of the tickets that are not closed, each ticket's in file order.

    Reads the file backwards, a chunk at a time. Going backwards, the first close or
    reopen row met for a ticket is its last one: at a close the ticket is known closed
    and its earlier records cost a slice and a dictionary lookup each. Nothing is
    csv-parsed here; records that span lines are found by quote parity, so a line inside
    a customer's text is never taken for a record.
    """
    closed: dict = {}  # ticket ID -> True once its last status row is known to be a close, False if a reopen
    closed.update((k.encode(), False) for k in keep)  # `keep`: tickets read whole whatever their last row says
    closed_set: set = set()  # the IDs known closed
    rows: dict = {}  # ticket ID -> its records, last first
    with open(path, "rb") as f:
        first = f.readline()
        if first.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n") != header.rstrip(b"\n"):
            raise ValueError("header")
        begin = f.tell()
        pos = f.seek(0, 2)
        carry = b""  # the start of the later chunk, not yet whole records
        while pos > begin:
            n = min(_CHUNK, pos - begin)
            pos -= n
            f.seek(pos)
            buf = f.read(n) + carry
            cut = buf.find(b"\n") + 1 if pos > begin else 0  # the first line may have begun earlier
            if pos > begin and cut == 0:
                carry = buf
                continue
            body = buf[cut:]
            odd = _odd_lines(body)
            if len(odd) & 1:  # the first odd line ends a record that began earlier
                if pos == begin:
                    raise ValueError("unterminated quote")
                end = 0
                for _ in range(odd[0] + 1):
                    end = body.index(b"\n", end) + 1
                cut += end
                body = body[end:]
                odd = [o - odd[0] - 1 for o in odd[1:]]
            carry = buf[:cut]
            lines = body.split(b"\n")
            lines.pop()  # after the last newline
            for a, b in reversed(list(zip(odd[0::2], odd[1::2]))):
                lines[a:b + 1] = [b"\n".join(lines[a:b + 1])]
            done = closed_set
            get = closed.get
            for rec in [rec for rec in reversed(lines) if rec[:12] not in done]:  # skip known-closed cheaply
                tid = rec[:12]
                known = get(tid)
                if known:
                    continue
                if known is None:  # its last close or reopen row not met yet: is this one? (the 4th field)
                    k = rec.find(b",", rec.find(b",", 13) + 1) + 1
                    if rec.startswith(b"close,", k) and not (
                            closed_after is not None and _at(rec) >= closed_after):
                        closed[tid] = True
                        closed_set.add(tid)
                        rows.pop(tid, None)
                        continue
                    if rec.startswith(b"reopen,", k) or rec.startswith(b"close,", k):  # a recent close: read it all
                        closed[tid] = False  # reopened last: open, and every earlier row counts
                lst = rows.get(tid)
                if lst is None:
                    rows[tid] = [rec]
                else:
                    lst.append(rec)
        if carry.strip():
            raise ValueError("a record before the first line")
    return [rec.decode("utf-8") for lst in rows.values() for rec in reversed(lst)]
