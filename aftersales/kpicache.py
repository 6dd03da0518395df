"""A derived cache for `report kpi`: what each ticket adds to a month's KPIs
(`kpi.ticket_facts`), as tickets.csv was at byte N, so that a warm run folds again only
the tickets that the records appended since touch.

It is checked exactly as the open-ticket cache is (aftersales/cache.py, whose helpers it
uses): the size and CRC-32 of the first N bytes, corrections.csv byte for byte and the
policy files' digest; anything else and it is rebuilt from the ledger, as a cold run reads
it. It lives beside that cache in `.aftersales/cache/`, one file per month
(`kpi-<first day>-<day after the last>`), and holds:

- the sums of the facts over the tickets with a row in or after the month (those
  `load_since` gives), and for each of them opened in the month its opening time and
  whether it was closed within 24 h: the 24-hour finish rate counts a ticket once it is a
  day old, so it is counted at read time, against `now`;
- per such ticket, its facts, whether it is a complaint and the times of its events of
  the types the facts look at (`kpi.FACT_TYPES`), as corrected: a ticket the tail touches
  is folded again from them and its appended rows (an appended row that opens it again or
  sets its kind rebuilds the cache);
- the first 12 bytes (the ticket ID) of every record of the other tickets: a row appended
  for one of them (a ticket quiet since before the month) rebuilds the cache, as its
  history is not kept. A ticket first seen in the tail is new.

The facts are those of the tickets as they are, so the cache answers only for a `now` at
or after the latest row; an earlier `now` is read cold and leaves the cache alone. A torn
last line is reported as without the cache (the cold reading reports it).
`--no-cache` (or AFTERSALES_NO_CACHE=1): read cold, neither read nor write the cache.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Optional, cast

from . import cache, kpi
from .policy import Policy

VERSION = 1

#: How the last read went: "warm", "cold: ...", "rebuilt: <why>" or "bypassed: <why>" (tests, debugging).
last = ""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)


def path(root: Path, start: dt.datetime, end: dt.datetime) -> Path:
    return root / cache.DIR / f"kpi-{start:%Y%m%d}-{end:%Y%m%d}"


def _us(at: dt.datetime) -> int:
    return (at - _EPOCH) // _US


class Record:
    """The cache of one month (see the module's docstring). `closed_after` is there for
    `cache.why_not`, which this cache shares with the open-ticket one; it is always None."""

    closed_after = None

    def __init__(self, size: int, crc: int, fixes: bytes, policy: str, start: str, end: str, latest: Optional[str],
                 sums: list, opened: list, lines: bytes, others: bytes):
        self.size, self.crc, self.fixes, self.policy, self.start, self.end = size, crc, fixes, policy, start, end
        self.latest = latest  # the latest time of a row of the tickets kept (ISO), None when there are none
        self.sums = sums  # the sums of FACTS[:7]
        self.opened = opened  # per ticket opened in the month: opening time in µs since 1970 * 2 + closed within 24 h
        self.lines = lines  # b"\n" + one line per ticket: ID \t facts \t opening time (µs) \t events (JSON)
        self.others = others  # the first 12 bytes of every record of the other tickets, joined (see `_known`)


#: event type -> its letter in a ticket's line (escalated: E for a service failure, e not)
_LETTER = {"open": "o", "reply": "r", "resolve": "R", "reopen": "p", "close": "c"}
_TYPE = {v: k for k, v in _LETTER.items()}


def _line(policy: Policy, t, facts: tuple) -> str:
    """A ticket's line: ID, facts, opening time (µs), "complaint" or nothing (all that the
    facts ask of its kind) and the events the facts look at, each a letter and its time.
    InputError when a data cell it needs is not JSON (the caller then does not cache)."""
    kind = "complaint" if facts[4] else ""  # all the facts ask of it; a row that sets it rebuilds the cache
    evs = []
    for e in t.events:
        letter = _LETTER.get(e.type)
        if letter is None:
            if e.type != "escalated":
                continue
            letter = "E"  # `ticket_facts` reads whether it was a service failure of complaints opened in the period only
            if facts[4] and not e.data.get("service_failure", True):
                letter = "e"
        evs.append(letter + e.at.isoformat())
    return f"{t.id}\t{'%d%d%d%d%d%d%d%d%d' % facts}\t{_us(t.opened_at)}\t{kind}\t{';'.join(evs)}"


def _events(tid: str, kind: str, text: str) -> list:
    """The events of a ticket's line, as Event objects (what the facts look at only)."""
    from .ledger import parse_time
    from .tickets import Event

    out = []
    for item in text.split(";") if text else ():
        letter, when = item[0], parse_time(item[1:])
        if letter == "o":
            out.append(Event(tid, when, "", "open", "", "", {"kind": kind}))
        elif letter in "Ee":
            out.append(Event(tid, when, "", "escalated", "", "", {"service_failure": letter == "E"}))
        else:
            out.append(Event(tid, when, "", _TYPE[letter], "", "", {}))
    return out


def _find(blob: bytes, tid: bytes, sep: bytes) -> Optional[bytes]:
    """The line of `blob` (which begins with a newline) that starts with `tid` + `sep`."""
    pos = blob.find(b"\n" + tid + sep)
    if pos < 0:
        return None
    end = blob.find(b"\n", pos + 1)
    return blob[pos + 1:end if end >= 0 else len(blob)]


def load(p: Path) -> Optional[Record]:
    """The cache as `save` wrote it, or None (missing, unreadable, another version, cut short)."""
    try:
        with open(p, "rb") as f:
            head = json.loads(f.readline())
            if head.get("version") != VERSION or head.get("code") != cache.code_digest():
                return None  # another layout, or other code made it
            parts = [f.read(head[k]) for k in ("fixes", "opened", "lines", "others")]
            if [len(x) for x in parts] != [head[k] for k in ("fixes", "opened", "lines", "others")] or f.read(1):
                return None
        fixes, opened, lines, others = parts
        return Record(head["size"], head["crc"], fixes, head["policy"], head["start"], head["end"], head["latest"],
                      list(head["sums"]), [int(x) for x in opened.split()], lines, others)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(p: Path, rec: Record) -> None:
    """Write the cache atomically; a read-only workspace simply goes without."""
    opened = "\n".join(map(str, rec.opened)).encode("ascii")
    head = json.dumps({"version": VERSION, "code": cache.code_digest(), "size": rec.size, "crc": rec.crc,
                       "policy": rec.policy, "start": rec.start, "end": rec.end, "latest": rec.latest, "sums": rec.sums, "fixes": len(rec.fixes),
                       "opened": len(opened), "lines": len(rec.lines), "others": len(rec.others)}).encode("ascii")

    def write(f):
        for part in (head + b"\n", rec.fixes, opened, rec.lines, rec.others):
            f.write(part)

    cache.write_atomic(p, write)


def counts(policy: Policy, root: Path, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> dict:
    """The KPI counts of the tickets for [start, end) at `now` (`kpi.counts`): from the
    cache and the records appended since when it holds, else from the ledger (which then
    writes the cache)."""
    global last
    from . import ledger
    from .tickets import scan

    tpath = ledger.ledger_path(root, "tickets")
    if not cache.enabled or not tpath.exists() or tpath.stat().st_size == 0 or ledger.ends_torn(tpath):
        last = "bypassed: " + ("no cache" if not cache.enabled else "the ledger is missing, empty or torn")
        return _cold(policy, root, start, end, now)
    p = path(root, start, end)
    with open(tpath, "rb") as f:
        data = scan._Bytes(f.fileno(), os.fstat(f.fileno()).st_size)  # these bytes, even if a writer appends now
        fixes, digest = cache.corrections_bytes(root), cache.policy_digest(root)
        rec = load(p)
        why = "no cache" if rec is None else cache.why_not(cast(Any, rec), data, fixes, digest, None, ledger.parse_time) or (
            "another period" if (rec.start, rec.end) != (start.isoformat(), end.isoformat()) else "")
        if rec is not None and not why:
            got = _warm(policy, root, rec, data, start, end, now)
            if isinstance(got, tuple):
                if got[1]:
                    save(p, rec)  # `_warm` moved it on to the end of the ledger
                last = "warm"
                return got[0]
            why = got
            if why.startswith("an earlier --now"):
                last = "bypassed: " + why
                return _cold(policy, root, start, end, now)
        last = ("cold: " if rec is None else "rebuilt: ") + why
        n, new = _read(policy, root, data, start, end, now, (fixes, digest))
    if new is not None:
        save(p, new)
    return n


def _cold(policy: Policy, root: Path, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> dict:
    from . import ledger
    from .tickets import scan

    tpath = ledger.ledger_path(root, "tickets")
    if not tpath.exists():
        return kpi.counts((), now)
    if ledger.ends_torn(tpath):
        ledger.raise_first_problem(root, "tickets")
    with open(tpath, "rb") as f:
        return _read(policy, root, scan._Bytes(f.fileno(), os.fstat(f.fileno()).st_size), start, end, now, None)[0]


def _read(policy: Policy, root: Path, data, start, end, now, keys: Optional[tuple]) -> tuple:
    """(the counts at `now`, the cache's Record or None) from the ledger bytes `data`, one
    ticket at a time; the record only with `keys` (corrections.csv's bytes, the policies'
    digest) and when every ticket can be cached."""
    from .errors import InputError
    from .tickets import scan

    seen: Optional[list] = [] if keys is not None else None
    keep = keys is not None
    at_now: list = []  # (opening time, facts) of the tickets as of `now`
    bad: list = []  # (opening time, ID, error) of the tickets whose facts need a data cell that is not JSON
    lines: list = []
    kept: list = []  # and their facts
    opened: list = []
    latest: Optional[dt.datetime] = None
    for t in scan.iter_span(root, data, start, seen, kpi.FACT_TYPES):  # the facts look at no other row
        try:
            facts = kpi.ticket_facts(policy, t, start, end)
            if t.events[-1].at > now:  # rows after `now` are left out of the answer, not of the cache
                was = kpi.as_of({t.id: t}, now).get(t.id)
                if was is not None:
                    at_now.append((was.opened_at, kpi.ticket_facts(policy, was, start, end)))
            else:
                at_now.append((t.opened_at, facts))
        except InputError as e:
            bad.append((t.opened_at, t.id, e))
            keep = False
            continue
        if not keep:
            continue
        if len(t.id) != 12 or not t.id.isascii() or not t.id.isalnum():
            keep = False  # IDs as the ledger writes them only: they are found by their first 12 bytes
            continue
        try:
            line = _line(policy, t, facts)
        except InputError:
            keep = False  # a data cell that is not JSON: answered without the cache (`check` names it)
            continue
        lines.append(line)
        kept.append(facts)
        if facts[7]:
            opened.append(int(line.split("\t", 3)[2]) * 2 + facts[8])
        at = t.events[-1].at
        latest = at if latest is None or at > latest else latest
    if bad:
        raise min(bad, key=lambda x: (x[0], x[1]))[2]
    n = kpi.counts(at_now, now)
    if not keep or keys is None or seen is None:
        return n, None
    others = b"".join(seen)
    opened.sort()
    sums = [sum(col) for col in list(zip(*kept))[:7]] if kept else [0] * 7
    rec = Record(len(data), data.crc(), keys[0], keys[1], start.isoformat(), end.isoformat(),
                 None if latest is None else latest.isoformat(), sums, opened,
                 ("\n" + "\n".join(lines)).encode("utf-8") if lines else b"", others)
    return n, rec


def _counts(rec: Record, now: dt.datetime) -> dict:
    out = dict(zip(kpi.FACTS[:7], rec.sums))
    cut = _us(now - kpi.DAY)
    due = finished = 0
    for v in rec.opened:
        if v >> 1 <= cut:
            due += 1
            finished += v & 1
    out["due"], out["finished"] = due, finished
    return out


def _warm(policy: Policy, root: Path, rec: Record, data, start, end, now):
    """(the counts, whether `rec` was moved on to the end of `data` to be written again:
    the records appended since folded in); or why the cache cannot answer (a string)."""
    import csv
    import io

    from . import corrections, ledger
    from .errors import InputError
    from .tickets import _event, fold

    if rec.latest is not None and ledger.parse_time(rec.latest) > now:
        return "an earlier --now than the latest row"
    if rec.size == len(data):
        return _counts(rec, now), False
    tail = data[rec.size:]
    rel = ledger.schema_of("tickets").file
    try:
        rows = [row for row in csv.reader(io.StringIO(tail.decode("utf-8"), newline=""), strict=True) if row]
        events = list(corrections.honour_events(root, [_event(0, row, rel) for row in rows]))
    except (csv.Error, UnicodeDecodeError, ValueError, InputError):
        return "a record appended since cannot be read"
    touched: dict = {}
    for e in events:
        touched.setdefault(e.ticket, []).append(e)
    if any(e.at > now for e in events):
        return "an earlier --now than the latest row"
    if len(touched) > 256:
        return "many tickets were touched"  # each new one is looked for among the others: read it all again
    lines = dict(line.split("\t", 1) for line in rec.lines.decode("utf-8").split("\n")[1:]) if len(touched) > 8 else None
    changed: dict = {}
    latest = None if rec.latest is None else ledger.parse_time(rec.latest)
    for tid, evs in touched.items():
        key = tid.encode("utf-8")
        if len(key) != 12 or b"\n" in key or b"\t" in key:
            return "an appended record's ticket ID is not one the ledger writes"
        if lines is not None:
            line = lines.get(tid)
        else:
            found = _find(rec.lines, key, b"\t")
            line = None if found is None else found.decode("utf-8").split("\t", 1)[1]
        if line is None and key in rec.others:  # (or 12 bytes across two IDs: a needless rebuild, one in 2^60)
            return "a row was appended for a ticket quiet since before the month"
        before = []
        if line is not None:
            if any(e.type == "open" or e.type == "set" and e.ref == "kind" for e in evs):
                return "an appended row changes a ticket's opening or kind"
            old, opened_us, kind, text = line.split("\t", 3)
            before = _events(tid, kind, text)
            _take(rec, tuple(int(c) for c in old), int(opened_us), -1)
        t = fold(before + evs).get(tid)
        if t is None or t.opened_at is None:
            if line is not None:
                return "a ticket lost its opening"
            changed[tid] = None  # rows without an opening: counted nowhere, as a cold run does
            continue
        facts = kpi.ticket_facts(policy, t, start, end)
        try:
            new = _line(policy, t, facts)
        except InputError:
            return "a ticket cannot be cached"
        _take(rec, facts, _us(t.opened_at), 1)
        changed[tid] = new
        at = t.events[-1].at
        latest = at if latest is None or at > latest else latest
    rec.opened.sort()
    rec.latest = None if latest is None else latest.isoformat()
    got = _counts(rec, now)
    if len(data) - rec.size >= cache.SAVE_AFTER:  # moved on: the caller writes it
        if lines is None:
            lines = dict(line.split("\t", 1) for line in rec.lines.decode("utf-8").split("\n")[1:])
        gone = []
        for tid, line in changed.items():
            if line is None:
                gone.append(tid.encode("utf-8"))
                lines.pop(tid, None)
            else:
                lines[tid] = line.split("\t", 1)[1]
        rec.lines = "".join(f"\n{tid}\t{rest}" for tid, rest in lines.items()).encode("utf-8")
        rec.others += b"".join(gone)
        rec.size, rec.crc = len(data), data.crc(rec.size, len(data), rec.crc)
        return got, True
    return got, False


def _take(rec: Record, facts: tuple, opened_us: int, sign: int) -> None:
    """Add (sign 1) or take away (-1) a ticket's facts from the sums and the openings."""
    for i in range(7):
        rec.sums[i] += sign * facts[i]
    if facts[7]:
        if sign > 0:
            rec.opened.append(opened_us * 2 + facts[8])
        else:
            rec.opened.remove(opened_us * 2 + facts[8])
