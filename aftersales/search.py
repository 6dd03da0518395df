"""Finding tickets by what a customer quotes: an order number, a waybill, a phone (whole or
its last four digits), a name, words of the summary or of the messages (issue 15).

The ticket ledger is searched as bytes, memory-mapped, without parsing it: a query's
bytes are found with `find` (C speed, no copy of the file), the hits name their tickets,
and only those tickets' records are parsed, corrected and folded. Every candidate is then
checked against the ticket as folded (fields corrected with `ticket set`, voided events
left out), so a hit in an unrelated column or an old value never shows up as a match.
"""

from __future__ import annotations

import csv
import mmap
import re
from pathlib import Path
from typing import Optional

from . import ids, ledger

FIELDS = ("order", "waybill", "phone", "customer", "text")
_REC_START = re.compile(rb"\n([0-9A-HJKMNP-TV-Z]{12}),")
_DIGITS = re.compile(r"\D")


def digits(text: str) -> str:
    d = _DIGITS.sub("", text or "")
    return d[2:] if len(d) == 13 and d.startswith("86") else d


def _variants(q: str) -> list:
    out = []
    for v in (q, q.upper(), q.lower(), q.title()):
        b = v.encode("utf-8")
        if b not in out:
            out.append(b)
    return out


_PHONE_CHARS = frozenset(b"0123456789 -+()")


def _phone_hit(d: str):
    """A check of a hit of a phone's last four digits: they end a run of phone characters whose
    digits end with `d` (so an order number holding the same four digits is passed over)."""
    want = d.encode()

    def check(mm, pos: int, n: bytes) -> bool:
        end = pos + len(n)
        if mm[end:end + 1].isdigit():
            return False
        if len(want) <= 4:
            return True
        start = end
        while start > 0 and mm[start - 1] in _PHONE_CHARS and end - start < 40:
            start -= 1
        return bytes(c for c in mm[start:end] if 48 <= c <= 57).endswith(want)

    return check


def _needles(query: str, field: Optional[str]) -> list:
    """(bytes, check or None): every matching ticket has a record holding one of the byte
    strings at a place the check (if any) accepts."""
    words = query.split()
    if not words:
        return []
    d = digits(query)
    if field == "phone" or (field is None and d and len(d) >= 4 and not re.search(r"[^\d\s+\-()]", query)):
        out = [(d[-4:].encode(), _phone_hit(d))]  # however the phone was typed, its last four digits are together
        if field is None and len(d) >= 5:
            out.append((re.sub(r"\D", "", query).encode(), None))  # or part of an order number, a waybill
        return out
    longest = max(words, key=lambda w: len(w.encode("utf-8")))
    return [(v, None) for v in _variants(longest)]


def _record_end(mm, start: int) -> int:
    """The end (after its newline) of the CSV record that starts at `start`; quotes balance in a record."""
    end = mm.find(b"\n", start)
    if end < 0:
        return len(mm)
    while mm[start:end].count(b'"') % 2:
        nxt = mm.find(b"\n", end + 1)
        if nxt < 0:
            return len(mm)
        end = nxt
    return end + 1


def _record_start(mm, pos: int) -> Optional[int]:
    """The start of the record holding byte `pos`, or None if none can be found."""
    ls = mm.rfind(b"\n", 0, pos) + 1
    for _ in range(64):  # a record of many lines: walk back to a line that starts a record
        head = mm[ls:ls + 14]
        if len(head) == 14 and head[12:13] == b"," and ids.is_valid(head[:12].decode("ascii", "replace")):
            return ls
        if ls == 0:
            return None
        ls = mm.rfind(b"\n", 0, ls - 1) + 1
    return None


def candidates(path: Path, needles: list) -> set:
    """IDs (bytes) of the tickets with a record holding one of `needles`."""
    out: set = set()
    if not needles or not path.exists() or path.stat().st_size == 0:
        return out
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        first = mm.find(b"\n") + 1
        plain = [n for n, check in needles if check is None]
        anchor = _anchor(plain)
        if anchor is not None:  # the spellings of one word (TB123, tb123): one pass for their common part
            at, part = anchor
            size, wanted = len(plain[0]), set(plain)
            needles = [(n, check) for n, check in needles if check is not None]
            pos = mm.find(part, first + at)
            while pos >= 0:
                start = _record_start(mm, pos) if mm[pos - at:pos - at + size] in wanted else None
                if start is not None and start >= first:
                    out.add(mm[start:start + 12])
                    pos = mm.find(part, max(_record_end(mm, start), pos + 1))
                else:
                    pos = mm.find(part, pos + 1)
        for n, check in needles:
            pos = mm.find(n, first)
            while pos >= 0:
                if check is not None and not check(mm, pos, n):
                    pos = mm.find(n, pos + 1)
                    continue
                start = _record_start(mm, pos)
                if start is not None and start >= first:
                    out.add(mm[start:start + 12])
                    pos = mm.find(n, _record_end(mm, start))
                else:
                    pos = mm.find(n, pos + 1)
    return out


def _anchor(needles: list) -> Optional[tuple]:
    """(offset, bytes): the longest part that several needles of one length share at one
    offset (the case variants of a word share its digits), when it is at least 4 bytes;
    else None. A record holds one of the needles only where it holds that part."""
    if len(needles) < 2 or len({len(n) for n in needles}) != 1:
        return None
    same = [len(set(col)) == 1 for col in zip(*needles)]
    best, i = (0, 0), 0
    while i < len(same):
        if same[i]:
            j = i
            while j < len(same) and same[j]:
                j += 1
            if j - i > best[1] - best[0]:
                best = (i, j)
            i = j
        else:
            i += 1
    a, b = best
    return (a, needles[0][a:b]) if b - a >= 4 else None


def records_of(path: Path, tids: set) -> list:
    """The records (text) of the tickets `tids`, in file order."""
    if not tids:
        return []
    out = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if len(tids) <= 24:  # a few tickets: find each one's records directly
            spans = []
            for tid in tids:
                key = b"\n" + tid + b","
                pos = mm.find(key)
                while pos >= 0:
                    end = _record_end(mm, pos + 1)
                    spans.append((pos + 1, end))
                    pos = mm.find(key, end - 1)
            spans.sort()
        else:  # many: one pass over every record start
            spans = []
            for m in _REC_START.finditer(mm):
                if m.group(1) in tids:
                    s = m.start() + 1
                    spans.append((s, _record_end(mm, s)))
        for s, e in spans:
            out.append(mm[s:e].decode("utf-8"))
    return out


def load(root: Path, tids: set) -> dict:
    """The tickets `tids` (bytes or str IDs), folded as corrected, from their records only."""
    from . import corrections, tickets

    path = ledger.ledger_path(root, tickets.LEDGER)
    if ledger.ends_torn(path) if path.exists() else False:
        ledger.raise_first_problem(root, tickets.LEDGER)
    want = {t if isinstance(t, bytes) else t.encode() for t in tids}
    rel = ledger.schema_of(tickets.LEDGER).file
    try:
        evs = [tickets._event(0, row, rel) for row in csv.reader(records_of(path, want), strict=True) if row]
    except (csv.Error, ValueError, UnicodeDecodeError):
        ledger.raise_first_problem(root, tickets.LEDGER, check_values=True)
        raise
    return {tid: t for tid, t in tickets.fold(corrections.honour_events(root, evs)).items() if t.opened_at is not None}


def match(t, query: str, field: Optional[str] = None) -> list:
    """Why ticket `t` matches `query`: [(field, the value that matched)]; [] when it does not."""
    q = query.strip()
    ql = q.lower()
    f = t.fields
    out = []
    d = digits(q)
    if field in (None, "phone") and f.get("phone") and d and len(d) >= 4 and not re.search(r"[^\d\s+\-()]", q):
        p = digits(f["phone"])
        if p == d or (len(d) == 4 and p.endswith(d)) or (len(d) >= 7 and d in p):
            out.append(("phone", f["phone"]))
    if field in (None, "order") and f.get("order") and ql in f["order"].lower():
        out.append(("order", f["order"]))
    if field in (None, "waybill") and f.get("waybill") and ql in f["waybill"].lower():
        out.append(("waybill", f["waybill"]))
    if field in (None, "customer") and f.get("customer") and ql in f["customer"].lower():
        out.append(("customer", f["customer"]))
    if field in (None, "text"):
        words = ql.split()
        texts = [("summary", t.summary)] + [(e.type, e.text) for e in t.events if e.type in ("message", "reply")]
        for where, text in texts:
            low = text.lower()
            if words and all(w in low for w in words):
                out.append((where, text))
                break
    return out


def search(root: Path, query: str, field: Optional[str] = None) -> list:
    """[(ticket, [(field, value)])] of every ticket matching `query`, newest first."""
    from . import tickets
    from .errors import InputError

    if field is not None and field not in FIELDS:
        from .schema import closest

        raise InputError(f"--in {field}: unknown; {closest(field, FIELDS)}")
    if len(query.strip().encode("utf-8")) < 2 or (field == "phone" and len(digits(query)) < 4):
        raise InputError("give at least 2 characters to search for (a phone: its last 4 digits or more)")
    path = ledger.ledger_path(root, tickets.LEDGER)
    found = load(root, candidates(path, _needles(query, field)))
    hits = [(t, m) for t in found.values() for m in [match(t, query, field)] if m]
    hits.sort(key=lambda x: (x[0].opened_at, x[0].id), reverse=True)
    return hits


def resolve_id(root: Path, typed: str) -> str:
    """tickets.resolve_id without parsing the ledger: the opening rows found as bytes."""
    from .errors import InputError

    prefix = ids.normalize(typed)
    if len(prefix) < 4 or not ids.is_valid(prefix):
        raise InputError(f"'{typed}' is not a ticket ID; IDs are letters and digits, type at least 4 of them")
    found = [t for t in complete_ids(root, prefix, limit=10**9, opened=True)]
    if not found:
        raise InputError(f"unknown ticket '{typed}'; `aftersales ticket list --status all` lists tickets")
    if len(found) > 1:
        shown = ", ".join(sorted(f[: len(prefix) + 2] for f in found)[:5])
        raise InputError(f"ticket '{typed}' is ambiguous ({len(found)} tickets start so: {shown}); type more characters")
    return found[0]


def find_one(root: Path, typed: str) -> str:
    """The full ID of the ticket `typed` names: a ticket ID or prefix, else an order, waybill or
    phone that only one ticket has; InputError listing the candidates otherwise."""
    from .errors import InputError

    try:
        return resolve_id(root, typed)
    except InputError as e:
        if not e.message.startswith("unknown ticket") and "is not a ticket ID" not in e.message:
            raise
        try:
            hits = [(t, m) for t, m in search(root, typed) if any(k in ("order", "waybill", "phone") for k, _ in m)]
        except InputError:
            raise e from None
        if len(hits) == 1:
            return hits[0][0].id
        if not hits:
            raise InputError(f"no ticket has the ID, order, waybill or phone '{typed}'",
                             hint="`aftersales ticket search WORDS` also searches names, summaries and messages") from None
        shown = ", ".join(f"{ids.short(t.id)} ({m[0][0]} {m[0][1]})" for t, m in hits[:5])
        raise InputError(f"'{typed}' matches {len(hits)} tickets: {shown}", hint="give the ticket ID") from None


# ------------------------------------------------------------------ completion


def complete_ids(root: Path, prefix: str, limit: int = 200, opened: bool = False) -> list:
    """Ticket IDs starting with `prefix` (as typed: any case, O/I/L forgiven), open ones first.
    With `opened`, only the opening rows count (every ticket, once)."""
    from . import tickets

    path = ledger.ledger_path(root, tickets.LEDGER)
    if not path.exists() or path.stat().st_size == 0:
        return []
    p = ids.normalize(prefix)
    if p and not ids.is_valid(p):
        return []
    pat = re.compile(b"\n(" + p.encode() + rb"[0-9A-HJKMNP-TV-Z]{%d}),[^,\n]*,[^,\n]*,(open%s)," % (ids.LENGTH - len(p), b"" if opened else b"|close"))
    status: dict = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for m in pat.finditer(mm):
            status[m.group(1).decode()] = m.group(2) == b"open"
    return sorted(status, key=lambda t: (not status[t], t))[:limit]
