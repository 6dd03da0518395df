"""Cross-record checks of the ticket ledger, for `as check`, made in the one pass over
tickets.csv (CheckContext.ledger_problems), which also gathers what the checks across
ledgers need (aftersales.ledger_checks): which tickets have rows, which may have an event
after their close, and the rows of the few tickets that were paid.

The pass is given each good record (`see`) or a block of good records whose values
ledger.BlockCheck passed (`block`). Both go through one state machine (`_follow`); `block`
first judges the block's values column by column and declines the block (then each row goes
to `see`) unless the rows, alone, have nothing to report. Per ticket the pass keeps the line
of its first open and whether it is closed. An event is judged when it is met, unless its
ticket is not opened yet or its time is before a row above it (two clones merged): those
few wait for the end of the pass (`finish`).
"""

from __future__ import annotations

import json
import re
from itertools import compress, repeat
from operator import eq, itemgetter, not_
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .. import ids, ledger
from ..errors import Problem
from ..money import parse_amount
from ..policy import Policy
from .evidence import evidence_path
from .model import AMOUNT_FIELDS, LEDGER

if TYPE_CHECKING:
    from ..checks import CheckContext


def check_ticket_ledger(ctx: CheckContext) -> list:
    """Cross-record checks of the ticket ledger for `as check`."""
    return ctx.tickets().finish(lambda: ctx.rows(LEDGER))


def after_close_ok() -> frozenset:
    """Ticket event types a closed ticket may still take: those whose definition allows
    the closed status (aftersales.events: reopen, visit …)."""
    from ..events import TYPES

    return frozenset(n for n, d in TYPES.items() if "closed" in d.allowed)


def _before(a: str, b: str) -> bool:
    """True when time `a` is before time `b` (ISO-8601 text; compared as text when the offsets match)."""
    if len(a) == len(b) and a[-6:] == b[-6:]:
        return a < b
    try:
        return ledger.parse_time(a) < ledger.parse_time(b)
    except ValueError:
        return False


def _amount_problems(typ: str, ref: str, text: str, data: str) -> list:
    """What is wrong with the amounts an open (its intake data) or a set gives."""
    try:
        fields = (json.loads(data) if data else {}) if typ == "open" else {ref: text}
    except ValueError:
        fields = {}  # reported by the value check
    out = []
    for f in AMOUNT_FIELDS:
        if fields.get(f):
            try:
                parse_amount(fields[f], allow_zero=True)
            except ValueError as e:
                out.append(f"{f}: {e}; correct it with `aftersales ticket set`")
    return out


_ID_BYTES = ids.ALPHABET.encode("ascii")
_AMOUNT_VALUES = re.compile(rb'(?:_amount|_fee)"[ \t\n\r]*:[ \t\n\r]*("[^"]*"|.)')  # in JSON without a backslash


def _ids_valid(tids: tuple) -> bool:
    """Whether each is ids.LENGTH characters of ids.ALPHABET (checked on them joined as bytes)."""
    n, width = len(tids), ids.LENGTH + 1
    try:
        b = "\n".join(tids).encode("ascii")
    except UnicodeEncodeError:
        return False
    return (len(b) == width * n - 1 and b[ids.LENGTH::width] == b"\n" * (n - 1)
            and b.translate(None, _ID_BYTES) == b"\n" * (n - 1))


class TicketPass:
    def __init__(self, root: Path, policy: Optional[Policy], wanted=()):
        self.root, self.policy = Path(root), policy
        self.rel = ledger.schema_of(LEDGER).file
        self.problems: list = []
        self.first_open: dict = {}  # ticket -> the line of its first open
        self.active: set = set()  # the opened tickets that are not closed (the others are)
        self.unopened: set = set()  # tickets with rows but no open (yet)
        self.closed_unopened: set = set()  # those of them that are closed
        self.deferred: list = []  # (line, row): events to judge at the end
        self.wanted = set(wanted)  # tickets whose rows the money checks need
        self.kept: dict = {}  # ticket -> [(line, row)] for the wanted tickets
        self.late: set = set()  # opened tickets with an event before, in time, a row above it: `reread` judges
        # their events against the time of their open
        self.unsure_events: dict = {}  # filled by `reread`
        self._reread = False
        self._opened_at: dict = {}  # ticket -> the time of its first open, for the deferred events (`reread`)
        self.unsure: set = set()  # tickets to read again in time order (ledger_checks): a row out of
        # time order in the file (two clones merged), or an event after a close (to name the close's line)
        self._ok = after_close_ok()
        self._latest = ""  # the latest time so far, compared as ledger_checks always has (unsure)
        self._last: Optional[tuple] = None  # the latest time so far, compared in time: (text, time or None)
        self._last_offset: Optional[str] = None  # its offset when it came from a block (then text order is time order)
        self._triples: set = set()  # (by, type, ref) found right
        self._data_ok: set = set()  # data values of other rows than opens found right (they repeat)
        self._evidence_ok: set = set()  # evidence data found right
        self._amounts: set = set()  # amounts found right
        self._evidence: dict = {}  # evidence data -> its problem or None

    @property
    def with_rows(self):
        """The tickets that have rows (an event of a ticket never opened is named by check_tickets)."""
        return self.first_open.keys() | self.unopened if self.unopened else self.first_open

    def _add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel, line, message))

    # -------------------------------------------------------------- one record

    def see(self, line: int, row: list) -> None:
        tid, at, _by, typ, ref, text, data = row
        if not self._in_order(at):
            self.unsure.add(tid)  # earlier than a row above it: read again in time order
        if tid in self.wanted:
            self.kept.setdefault(tid, []).append((line, row))
        if not ids.is_valid(tid) or len(tid) != ids.LENGTH:
            self._add(line, f"ticket ID '{tid}' is not {ids.LENGTH} characters of {ids.ALPHABET}")
        if typ in ("open", "set"):
            for message in _amount_problems(typ, ref, text, data):
                self._add(line, message)
        self._follow(((line, tid, typ, row, self._late(at)),), True)

    def _in_order(self, at: str) -> bool:
        """Whether `at` is not before the latest time above it (then it is the latest)."""
        last = self._latest
        if at >= last if len(at) == len(last) and at[-6:] == last[-6:] else not _before(at, last):
            self._latest = at
            return True
        return False

    def _late(self, at: str) -> bool:
        """Whether `at` is before, in time, the latest time above it; if not, it becomes the latest."""
        t = ledger.parse_time(at)
        if self._last is not None:
            text, when = self._last
            if t < (when or ledger.parse_time(text)):
                return True
        self._last, self._last_offset = (at, t), None
        return False

    def _follow(self, records, judge: bool) -> None:
        """Each record (line, ticket, type, row, late), in file order: is its ticket opened, opened
        twice, closed; is it an event after a close (`unsure`); is it judged now (with `_event` when
        `judge`) or at the end (`deferred`: its ticket is not opened yet, or `late`)."""
        active, first_open, ok = self.active, self.first_open, self._ok
        for line, tid, typ, row, late in records:
            if tid in active:  # opened, not closed: the most common case by far
                if typ == "close":
                    active.discard(tid)
                elif typ == "open":
                    self._add(line, f"ticket {tid} is opened twice (first at line {first_open[tid]}); "
                                    "two clones drew one ID: give one of them a new ID")
                    continue
                if late:
                    self.late.add(tid)
                if judge:
                    self._event(line, typ, row[4], row[6])
                continue
            opened = tid in first_open
            if opened or tid in self.closed_unopened:  # closed
                if typ not in ok:
                    self.unsure.add(tid)
                if typ == "reopen":
                    if opened:
                        active.add(tid)
                    else:
                        self.closed_unopened.discard(tid)
            elif typ == "close":
                self.closed_unopened.add(tid)
            if typ == "open":
                if opened:
                    self._add(line, f"ticket {tid} is opened twice (first at line {first_open[tid]}); "
                                    "two clones drew one ID: give one of them a new ID")
                    continue
                first_open[tid] = line
                self.unopened.discard(tid)
                if tid in self.closed_unopened:
                    self.closed_unopened.discard(tid)  # opened and closed: not active
                else:
                    active.add(tid)
                if judge and self.policy is not None and row[4] not in self.policy.categories:
                    self._add(line, f"unknown category '{row[4]}'; add it to policies or fix the row")
            elif not opened:
                self.unopened.add(tid)
                self.deferred.append((line, row))
            else:
                if late:
                    self.late.add(tid)
                if judge:
                    self._event(line, typ, row[4], row[6])

    def _before_open(self, line: int, tid: str, typ: str, at: str, opened_at: str) -> None:
        try:
            if ledger.parse_time(at) < ledger.parse_time(opened_at):
                self._add(line, f"{typ} at {at} is before ticket {tid} was opened (line {self.first_open[tid]})")
        except ValueError:
            pass  # reported by the value check

    def _event(self, line: int, typ: str, ref: str, data: str) -> None:
        """What an event of an opened ticket says wrong alone: a name the policy does not know, a
        missing evidence file."""
        if self.policy is None:
            return
        message = self._ref_problem(typ, ref)
        if message:
            self._add(line, message)
        if typ == "evidence":
            message = self._evidence_problem(data)
            if message:
                self._add(line, message)

    def _ref_problem(self, typ: str, ref: str) -> Optional[str]:
        policy = self.policy
        assert policy is not None
        bad: Optional[tuple] = None  # (what, the known ones)
        if typ == "assign" and policy.staff_member(ref) is None:
            bad = ("staff member", [s.id for s in policy.staff])
        elif typ == "department" and ref not in policy.departments:
            bad = ("department", policy.departments)
        elif typ == "priority" and ref not in policy.priorities:
            bad = ("priority", policy.priorities)
        elif typ == "evidence" and ref not in policy.evidence_kinds:
            bad = ("evidence kind", policy.evidence_kinds)
        elif typ == "group" and ref not in policy.departments:
            bad = ("group", policy.departments)
        if bad is None:
            return None
        from ..schema import closest

        return f"unknown {bad[0]} '{ref}'; {closest(ref, bad[1])}"

    def _evidence_problem(self, data: str) -> Optional[str]:
        known = self._evidence
        if data in known:
            return known[data]
        try:
            digest = json.loads(data).get("sha256", "") if data else ""
        except ValueError:
            digest = ""
        path = json.loads(data).get("path", "") if digest else ""
        message = None
        if not digest:
            message = "evidence row has no sha256 in its data"
        elif not (self.root / (path or evidence_path(digest))).exists():
            message = f"evidence file {path or evidence_path(digest)} is missing; restore it from git or ask the customer again"
        if len(known) > 4096:
            known.clear()
        known[data] = message
        return message

    # -------------------------------------------------------------- a block of records

    #: the columns `block` checks itself (ticket, by, type, data), for ledger.BlockCheck.columns to leave
    COLUMNS = (0, 2, 3, 6)

    def block(self, lines, rows: list, cols: list, check, vouched: bool = False) -> bool:
        """`see` for each row of a block of records, done column by column: True when done; False,
        with nothing done, when a row may have something to report (then give each row to `see`
        once ledger.LedgerReader._emit has checked it, and it is good). `check`: the block's
        ledger.BlockCheck, which has checked every column but COLUMNS; this checks those
        (`values_ok`), unless another process has (`vouched`), and follows the tickets."""
        tids, ats = cols[0], cols[1]
        offset = check.offsets[1] if check.ordered[1] else None
        if offset is None:  # not in time order, or not all written alike
            return False
        first = ats[0]
        if self._last is not None:  # not before the latest time above the block
            text, when = self._last
            if (first < text if self._last_offset == offset
                    else ledger.parse_time(first) < (when or ledger.parse_time(text))):
                return False
        last = self._latest
        if not (first >= last if len(first) == len(last) and first[-6:] == last[-6:] else not _before(first, last)):
            return False
        if not vouched and not self.values_ok(cols, check):
            return False
        self._follow_block(lines, tids, cols[3], rows)
        if self.wanted and not self.wanted.isdisjoint(tids):
            for line, row in compress(zip(lines, rows), map(self.wanted.__contains__, tids)):
                self.kept.setdefault(row[0], []).append((line, row))
        self._latest = ats[-1]
        self._last, self._last_offset = (ats[-1], None), offset
        return True

    def values_ok(self, cols: list, check) -> bool:
        """Whether the values of COLUMNS in a block's columns are all right, as `see` judges
        them one by one (IDs, staff, types and refs, intake data and its amounts, set amounts,
        evidence files): with what it needs of them anyway, one set of (by, type, ref), the
        intake data of the opens apart from the few data values that repeat. Only what is
        found right is remembered: no ticket is followed."""
        tids, _ats, bys, types, refs, texts, datas = cols
        if not _ids_valid(tids):
            return False
        triples = set(zip(bys, types, refs))
        kinds = set(map(itemgetter(1), triples))
        if not triples <= self._triples:
            if not (check.valid(2, set(map(itemgetter(0), triples))) and check.valid(3, kinds)):
                return False
            if any(map(self._pair_problem, set(map(itemgetter(1, 2), triples.difference(self._triples))))):
                return False
            ledger.remember(self._triples, triples)
        is_open = list(map(eq, types, repeat("open"))) if "open" in kinds else None
        if is_open is not None:
            opens = list(compress(datas, is_open))
            if not (check.valid(6, opens) and self._amounts_right(opens, check.joined)):
                return False
        others = set(compress(datas, map(not_, is_open)) if is_open is not None else datas).difference(self._data_ok)
        if others:
            if not check.valid(6, others):
                return False
            ledger.remember(self._data_ok, others)
        if "set" in kinds:
            for ref, text in compress(zip(refs, texts), map(eq, types, repeat("set"))):
                if _amount_problems("set", ref, text, ""):
                    return False
        if "evidence" in kinds and self.policy is not None:
            found = set(compress(datas, map(eq, types, repeat("evidence")))).difference(self._evidence_ok)
            if any(map(self._evidence_problem, found)):
                return False
            ledger.remember(self._evidence_ok, found)
        return True

    def _follow_block(self, lines, tids: tuple, types: tuple, rows: list) -> None:
        """_follow(records, judge=False) for a block whose rows are in time order, with the two
        common cases written out (an event of an active ticket, the first open of a ticket)."""
        active, first_open, unopened, closed_unopened = self.active, self.first_open, self.unopened, self.closed_unopened
        follow, close = self._follow, active.discard
        for tid, typ, line in zip(tids, types, lines):
            if tid in active:
                if typ == "close":
                    close(tid)
                elif typ == "open":
                    follow(((line, tid, typ, rows[lines.index(line)], False),), False)
            elif typ == "open" and tid not in first_open and tid not in unopened and tid not in closed_unopened:
                first_open[tid] = line
                active.add(tid)
            else:
                follow(((line, tid, typ, rows[lines.index(line)], False),), False)

    def _pair_problem(self, pair: tuple) -> bool:
        """Whether an open or event of this type and ref is refused alone (an unknown category, staff
        member, department ...)."""
        typ, ref = pair
        if self.policy is None:
            return False
        if typ == "open":
            return ref not in self.policy.categories
        return self._ref_problem(typ, ref) is not None

    def _amounts_right(self, cells: list, joined: bytes = b"") -> bool:
        """Whether the intake data of these opens (JSON objects: BlockCheck passed them) gives no
        amount that _amount_problems refuses. Without a backslash in them, a quote always opens
        or closes a string, and a string followed by a colon is a key: each key ending in _amount
        or _fee is found, with its value, by one regular expression over them all (`joined`: the
        cells as BlockCheck joined them, UTF-8 with no backslash, when it did)."""
        if not joined:
            joined = "\x1f".join(cells).encode("utf-8", "surrogatepass")
            if b"\\" in joined:
                return False
        known = self._amounts
        for value in set(_AMOUNT_VALUES.findall(joined)).difference(known):
            if value[:1] != b'"' or _amount_problems("set", AMOUNT_FIELDS[0], value[1:-1].decode(), ""):
                return False  # not a string (a number, say), or not an amount: `see` words it
            ledger.remember(known, (value,))
        return True

    # -------------------------------------------------------------- the end

    def reread(self, rows) -> None:
        """Read the ledger's good records (`rows()`) again, once, for what the pass did not keep:
        the time of the first open of a ticket a deferred event needs; the events of the `late`
        tickets after their open, each judged against the open's time now; the events of the
        tickets marked unsure (`unsure_events`: ticket -> [(time text, line, type)]), which
        ledger_checks puts in time order. Nothing is read on a ledger in time order without
        events before their opening or after a close."""
        if self._reread:
            return
        self._reread = True
        need = {row[0] for _line, row in self.deferred if row[0] in self.first_open} | self.late
        unsure, events, first_open, opened_at = self.unsure, self.unsure_events, self.first_open, self._opened_at
        if not (need or unsure):
            return
        for line, row in rows():
            tid = row[0]
            if tid in need:
                if line == first_open[tid]:
                    opened_at[tid] = row[1]
                elif tid in self.late and row[3] != "open" and line > first_open[tid]:
                    self._before_open(line, tid, row[3], row[1], opened_at[tid])
            if tid in unsure:
                events.setdefault(tid, []).append((row[1], line, row[3]))

    def finish(self, rows) -> list:
        """The problems, once the pass is over. The deferred events are judged now: an event of a
        ticket never opened, one before its ticket's first open, and what _event finds; and the
        events of the `late` tickets against the time of their open (`reread`)."""
        if self.deferred or self.late:
            self.reread(rows)
            for line, row in self.deferred:
                tid, at, _by, typ, ref, _text, data = row
                if tid not in self.first_open:
                    self._add(line, f"event for ticket {tid}, which was never opened")
                    continue
                self._before_open(line, tid, typ, at, self._opened_at[tid])
                self._event(line, typ, ref, data)
            self.deferred = []
        return self.problems
