"""Replay a period of the ledgers under two policies and say what would have differed.

Every decision is a function of (policy, ledgers, now), so a ticket can be re-decided
under another policy: its staff's events (intake, replies, messages, waits, closes, ...)
are kept, and every event a policy decided (the priority and department a category
gives, routing's department, priority, abnormal flag, alerts and groups, time-limit
notices) is dropped and decided again, at the moments the tool would have decided it:
at intake, at each customer message, after each payment, and when a rule's age limit
passes (as a cron job running `route --all` would have). Time limits, escalations and
the authority of each payment are then measured under each policy at the end of the
period. Nothing is written.

Issue 18 (speed): the period's tickets are read without csv-parsing the whole ledger
(`_period_records`); two policies that differ in timers only share one simulation; and
for a plain change of time limits (`_TimerChange`) a ticket is simulated only when the
red-header level could differ. Tests (tests/test_replay_quick.py) hold each shortcut to
what the plain way gives.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import cache, compensation, corrections, events, ids, ledger, routing, sla, tickets
from .errors import InputError
from .events import staff_made
from .money import ZERO
from .policy import Policy
from .tickets.scan import _odd_lines


def load_period(root: Path, start: dt.datetime, end: dt.datetime) -> dict:
    """ticket ID -> its events as corrected, in time order, for the tickets opened in [start, end).

    Read quickly (_period_records, _events); anything the quick reading is unsure of (a
    torn or malformed record, a time it cannot read) sends it to the careful reader, so
    errors read as everywhere else."""
    try:
        records, fixes = _period_records(root, start, end), corrections.state(root)
        return {tid: _events(root, tid, recs, fixes) for tid, recs in records.items()}
    except _Unsure:
        return _load_period_carefully(root, start, end)


def _load_period_carefully(root: Path, start: dt.datetime, end: dt.datetime) -> dict:
    """load_period with the careful reader, whose errors name the file and line."""
    rel = ledger.schema_of(tickets.LEDGER).file
    wanted = set()
    for line, row in ledger.records(root, tickets.LEDGER):
        if row[3] == "open":
            tickets._event(line, row, rel)  # an unreadable time: one line naming the file and line
            if start <= ledger.parse_time(row[1]) < end:
                wanted.add(row[0])
    out: dict = {tid: [] for tid in wanted}
    for e in corrections.honour_events(root, (tickets._event(line, row, rel) for line, row in
                                              ledger.records(root, tickets.LEDGER) if row[0] in wanted)):
        out[e.ticket].append(e)
    for evs in out.values():
        evs.sort(key=lambda e: e.at)
    return out


class _Unsure(Exception):
    """The quick reading met something only the careful reader can judge."""


_CHUNK = 1 << 20
_WIDTH = len(ledger.schema_of(tickets.LEDGER).columns)


def _period_records(root: Path, start: dt.datetime, end: dt.datetime) -> dict:
    """ticket ID -> [line, record, line, record, ...] (records as bytes, in file order) for
    the tickets opened in [start, end); _Unsure when only the careful reader can tell.

    Nothing is csv-parsed here, and little is held: a ticket's records all come after its
    open row, so until the first open row of the period only open rows dated near it are
    looked at (a regex finds them, see _open_rows); from there on the records of the
    period's tickets are kept, as compact as they come, for `_events` to parse one ticket
    at a time. Chunks end between records, and a line that continues a quoted field (a
    customer's text over several lines) is told from a record by the parity of the quotes
    before it. The ledger is not read backwards with a stop: intake takes any --now and
    clones merge, so an open row of the period can sit anywhere in the file."""
    path = ledger.ledger_path(root, tickets.LEDGER)
    if not path.exists():
        return {}
    if ledger.ends_torn(path):
        raise _Unsure("a torn last line")
    header = ledger.schema_of(tickets.LEDGER).header.encode()
    opens, within = _open_rows(start, end), _within(start, end)
    out: dict = {}  # ID -> records, for the tickets opened in the period
    with open(path, "rb") as f:
        if f.readline().lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n") != header.rstrip(b"\n"):
            raise _Unsure("the header")
        line = 2  # of the first record in the chunk
        carry = b"\n"  # the newline before the chunk's first record, and the start of that record
        while True:
            chunk = f.read(_CHUNK)
            buf = carry + chunk
            cut = buf.rfind(b"\n") + 1 if chunk else len(buf)  # whole records: buf[1:cut]
            quotes = buf.count(b'"', 0, cut)
            while quotes & 1 and cut > 1:  # the last record goes on in the next chunk: cut before it
                ls = buf.rfind(b"\n", 0, cut - 1) + 1
                quotes -= buf.count(b'"', ls, cut)
                cut = ls
            if cut == 1 and chunk:  # no record ends in this chunk: read on
                if len(buf) > 64 * _CHUNK:  # no record is that long: a quote left open
                    raise _Unsure("a quoted field left open")
                carry = buf
                continue
            if cut < len(buf) and not chunk:
                raise _Unsure("a quoted field left open")
            seen, quotes = 1, 0  # the quotes in buf[1:seen]
            for m in opens.finditer(buf, 0, cut):
                quotes += buf.count(b'"', seen, m.start() + 1)
                seen = m.start() + 1
                if not quotes & 1 and within(m[2]):  # a record, not a line in a quoted field
                    out.setdefault(m[1], [])
            if out:
                body = buf[1:cut]
                lines = body.split(b"\n")
                lines.pop()  # after the last newline
                nums = list(range(line, line + len(lines)))
                for a, b in reversed(list(zip(*[iter(_odd_lines(body))] * 2))):  # records over several lines
                    lines[a:b + 1] = [b"\n".join(lines[a:b + 1])]
                    nums[a:b + 1] = [nums[a]]
                get, k = out.get, ids.LENGTH
                for n, rec in zip(nums, lines):
                    recs = get(rec[:k])
                    if recs is not None:
                        recs += n, rec
            line += buf.count(b"\n", 1, cut)
            carry = buf[cut - 1:]
            if not chunk:
                break
    return {_text(tid): recs for tid, recs in out.items()}


def _open_rows(start: dt.datetime, end: dt.datetime) -> re.Pattern:
    """Lines (each after a newline) that hold an open row, with its ticket ID (every ID
    is ids.LENGTH characters) and time; when the period spans few months, only those
    dated in them: the regex engine skips the rest, most of a long ledger, without a
    step of Python."""
    lo, hi = (dt.date.fromordinal(min(max(d.toordinal() + k, 1), dt.date.max.toordinal()))
              for d, k in ((start.date(), -2), (end.date(), 2)))  # in any UTC offset, the dates the period spans
    months: list = []
    y, m = lo.year, lo.month
    while (y, m) <= (hi.year, hi.month) and len(months) <= 24:
        months.append(b"%04d-%02d" % (y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    dated = b"(?:" + b"|".join(months) + b")-" if len(months) <= 24 else b""
    return re.compile(rb"\n(.{%d}),(" % ids.LENGTH + dated + rb"[^,\n]*),[^,\n]*,open,")  # the ID: see _text


def _within(start: dt.datetime, end: dt.datetime) -> Callable[[bytes], bool]:
    """A test of a time as a ledger holds it: is it in [start, end)? Compared as bytes when it
    has the bounds' form and UTC offset (as ledger.format_time writes them), else parsed."""
    lo, hi = (ledger.format_time(t).encode() if t.tzinfo is not None and not t.microsecond else b"" for t in (start, end))

    def within(at: bytes) -> bool:
        if len(at) == len(lo) == len(hi) and at[19:] == lo[19:] == hi[19:]:
            return lo <= at < hi
        try:
            return start <= ledger.parse_time(_text(at)) < end
        except ValueError:
            raise _Unsure("a time") from None
    return within


def _text(cell: bytes) -> str:
    """An ID or a time, which are ASCII without commas (other bytes: not an ID of ids.LENGTH characters)."""
    if b"," in cell or not cell.isascii():
        raise _Unsure("not an ID")
    return cell.decode("ascii")


def _events(root: Path, tid: str, records: list, fixes, passed: Optional[list] = None) -> list:
    """The events of one ticket from its records (see _period_records), as corrected, in time order.

    With `passed`, only the events a person recorded (`staff_events`) are made when the
    ticket has no correction; the times of the rows left out are appended to `passed`,
    for `_check_times` to check once the period is read (an unreadable one sends the
    replay to the careful reader, as an event made of it would)."""
    rel = ledger.schema_of(tickets.LEDGER).file
    lines, recs = records[0::2], records[1::2]
    evs = []
    if passed is not None and tid in fixes.events:
        passed = None
    try:
        rows = list(csv.reader(b"\0".join(recs).decode("utf-8").split("\0"), strict=True))  # a record holds no NUL
        if len(rows) != len(recs):
            raise _Unsure("not one record a line")
        for line, row in zip(lines, rows):
            if len(row) != _WIDTH:
                raise _Unsure("not one record a line")
            if row[0] == tid:
                if passed is not None and not _staff_row(row):
                    passed.append(row[1])
                    continue
                evs.append(tickets._event(line, row, rel))
    except (UnicodeDecodeError, csv.Error, InputError):
        raise _Unsure("a record") from None
    if tid in fixes.events:
        evs = list(corrections.honour_events(root, evs, fixes))
    evs.sort(key=_AT)
    return evs


_AT = operator.attrgetter("at")


def _staff_row(row: list) -> bool:
    """events.staff_made of the event a record makes, from the record."""
    made_by = _MADE_BY.get(row[3], events.STAFF)
    if made_by == events.EITHER:
        return row[2] != "system" and not row[5].startswith(("category ", "rule "))
    return made_by == events.STAFF


_MADE_BY = {n: d.made_by for n, d in events.TYPES.items()}


#: `policy replay` decides the later half of the period's tickets in a forked process from so many a half
_BESIDE_MIN = 1000


def _times_read(result: tuple) -> tuple:
    """A half's result (see _replay) with, instead of the times it left out, whether each
    reads (what the process that made it can tell; the other one cannot see them)."""
    found, skipped, passed = result
    try:
        _check_times(passed)
    except _Unsure:
        return found, skipped, False
    return found, skipped, True


def _unsure_or(work: Callable) -> Callable:
    """work, answering "unsure" when it raised _Unsure (for a forked process, whose
    exception stays there)."""

    def answer():
        try:
            return work()
        except _Unsure:
            return "unsure"

    return answer


def _check_times(times: list) -> None:
    """_Unsure unless every time is one `tickets._event` reads."""
    for k in range(0, len(times), 4096):
        part = times[k:k + 4096]
        if ledger.time_offset(part) is None:
            for at in part:
                try:
                    ledger.parse_time(at)
                except ValueError:
                    raise _Unsure("a time") from None


def payments(root: Path) -> dict:
    """ticket ID -> [(at, amount, payer)] in time order."""
    out: dict = {}
    for p in compensation.payments(root):
        out.setdefault(p["ticket"], []).append((p["at"], p["amount"], p["by"]))
    for v in out.values():
        v.sort(key=lambda x: x[0])
    return out


def staff_events(events: list, until: dt.datetime) -> list:
    """The events a person recorded up to `until`: what replay keeps of a ticket's history."""
    return [e for e in events if e.at <= until and (e.type in _STAFF_TYPES or staff_made(e))]


def simulate(policy: Policy, tid: str, events: list, until: dt.datetime, pays: list) -> Optional[tickets.Ticket]:
    """The ticket as `policy` would have decided it, from its staff's events up to `until`."""
    return _simulate(policy, tid, staff_events(events, until), until, pays)


def _simulate(policy: Policy, tid: str, base: list, until: dt.datetime, pays: list) -> Optional[tickets.Ticket]:
    if not base or base[0].type != "open" or base[0].ref not in policy.categories:
        return None
    t = tickets.Ticket(tid)

    def decide(at):
        paid = sum((a for when, a, _by in pays if when <= at), ZERO)
        for e in routing.route_ticket(policy, t, at, paid=paid)[0]:
            t.apply(e)

    ages = sorted({r.when.older_than.timedelta() for r in policy.rules if r.when.older_than is not None})
    moments = []  # (time, order, what): staff events, payments and age limits, in time order
    for i, e in enumerate(base):
        moments.append((e.at, 0, i, e))
    for j, (when, _a, _by) in enumerate(pays):
        if when <= until:
            moments.append((when, 1, j, None))
    for i, e in enumerate(base):
        if e.type in ("open", "reopen"):
            for age in ages:
                when = e.at + age + dt.timedelta(seconds=1)
                if when <= until:
                    moments.append((when, 2, i, None))
    moments.sort(key=lambda m: (m[0], m[1], m[2]))
    for when, kind, _i, e in moments:
        if kind == 0:
            t.apply(e)
            if e.type == "open":
                for d in tickets.category_defaults(policy, tid, e.at, "system", e.ref):
                    t.apply(d)
            if e.type in ("open", "message"):
                decide(e.at)
        elif t.is_open:
            decide(when)
    return t


@dataclass
class Outcome:
    department: str = ""
    priority: str = ""
    abnormal: str = ""
    timers: dict = field(default_factory=dict)  # (timer, n-th cycle) -> met | missed | breached | ...
    level: int = 0
    over_authority: list = field(default_factory=list)  # indexes of payments beyond the payer's authority


def _states(cycles: list) -> dict:
    """(timer, n-th cycle) -> the cycle's state, from [(timer, cycle)]."""
    seen: dict = {}
    out = {}
    for timer, c in cycles:
        n = seen[timer] = seen.get(timer, 0) + 1
        out[(timer, n)] = c.state
    return out


def measure(policy: Policy, t: tickets.Ticket, until: dt.datetime, pays: list,
            clocks: Optional[dict] = None) -> Outcome:
    """What replay compares of a ticket at `until`. `clocks`: a dict kept across the tickets
    measured under one policy (sla.evaluate prepares its timers there once)."""
    o = Outcome(t.group or t.department, t.priority, t.abnormal)
    cycles = sla.evaluate(policy, t, until, clocks)
    o.timers = _states([(c.timer_id, c) for c in cycles])
    o.level = sla.escalation_level(policy, t, [c for c in cycles if c.running], until).level  # as sla-check shows it
    total = ZERO
    for k, (when, amount, by) in enumerate(pays):
        if when > until:
            break
        total += amount
        member = policy.staff_member(by)
        cap, _note = compensation.authority(policy, member.role, t) if member else (None, "")
        if cap is None or total > cap:
            o.over_authority.append(k)
    return o


def _same_decisions(old: Policy, new: Policy) -> bool:
    """True when the two policies differ in their timers at most: routing then decides
    every ticket the same under both (it reads no timer), so one simulation serves both."""
    return all(getattr(old, f.name) == getattr(new, f.name) for f in dataclasses.fields(Policy) if f.name != "timers")


#: what staff alone record: a timer started, stopped, cancelled and paused by these only
#: runs the same on a ticket whatever routing decided on it
_STAFF_TYPES = {n for n, d in events.TYPES.items() if d.made_by == events.STAFF}
#: what a timer's cycles read besides its start and stop: waits, cancels, the close (and
#: the resolution that ends a daily series)
_READ_ALWAYS = {*events.WAIT_BEGINS, *events.WAIT_ENDS, *sla.CANCELS, *sla.STOP_EVENTS["resolved"], "close"}


class _TimerChange:
    """A shortcut for the common review, a time limit changed: when two policies differ
    only in timers that staff events alone start, stop and pause and that do not depend
    on what routing decides (priority, abnormal), those timers' cycles can be read off
    the staff's events folded without routing. If they end in the same states under both
    policies and would give the same red-header level, nothing about the ticket differs
    (routing and every other timer are the same), and the ticket needs no simulation.

    The level check rests on escalation counting from the earliest breached deadline:
    the ticket's level is the higher of what the changed timers' cycles give and what the
    others give, so equal levels from the changed ones mean equal levels for the ticket."""

    def __init__(self, old: Policy, new: Policy):
        self.changed = {k for k in {**old.timers, **new.timers} if old.timers.get(k) != new.timers.get(k)}
        self.policy = old  # the escalation rule, the same in both
        # both versions of the changed timers side by side ("0:" old, "1:" new), measured in one pass
        self.side = {f"{side}:{k}": (side, k) for side, p in enumerate((old, new)) for k in p.timers if k in self.changed}
        self.both = dataclasses.replace(old, timers={key: (old, new)[side].timers[k] for key, (side, k) in self.side.items()})
        self.clocks: dict = {}
        self.stand_in = tickets.Ticket("")  # a supervised ticket, for the level these cycles alone give
        self.stand_in.abnormal = "-"

    @staticmethod
    def applies(old: Policy, new: Policy) -> bool:
        if not _same_decisions(old, new):
            return False
        for p, q in ((old, new), (new, old)):
            for k, timer in p.timers.items():
                if q.timers.get(k) == timer:
                    continue
                if timer.applies.priorities or timer.applies.abnormal is not None:
                    return False
                if not {*sla.START_EVENTS[timer.start], *sla.STOP_EVENTS[timer.stop], *_READ_ALWAYS} <= _STAFF_TYPES:
                    return False
        return True

    def outcomes(self, tid: str, base: list, until: dt.datetime) -> Optional[tuple]:
        """The changed timers' states and the level their cycles alone give, under each
        policy; None when they are the same."""
        t = tickets.Ticket(tid)
        for e in base:
            t.apply(e)
        sides: tuple = ([], [])
        for c in sla.evaluate(self.both, t, until, self.clocks):
            side, timer = self.side.get(c.timer_id, (None, ""))
            if side is not None:  # not the platform's own deadline
                sides[side].append((timer, c))
        states = [_states(cycles) for cycles in sides]
        levels = [sla.escalation_level(self.policy, self.stand_in, running, until).level if running else 0
                  for running in ([c for _, c in cycles if c.running] for cycles in sides)]
        if states[0] == states[1] and levels[0] == levels[1]:
            return None  # nothing differs
        return Outcome(timers=states[0], level=levels[0]), Outcome(timers=states[1], level=levels[1])


def differences(x: Outcome, y: Outcome) -> list:
    """What differs between a ticket's outcomes under the old policy (x) and the new (y), as kinds of change."""
    out = []
    if x.department != y.department:
        out.append(f"routed to another department ({x.department or '-'} -> {y.department or '-'})")
    if x.priority != y.priority:
        out.append(f"priority changed ({x.priority} -> {y.priority})")
    if bool(x.abnormal) != bool(y.abnormal):
        out.append("would have been abnormal" if y.abnormal else "would not have been abnormal")
    for key in sorted(set(x.timers) | set(y.timers), key=lambda k: (k[0], k[1])):
        s, u = x.timers.get(key, "-"), y.timers.get(key, "-")
        if s == u:
            continue
        good, bad = ("met", "ok", "warning", "cancelled"), ("missed", "breached")
        if s == "-" or u == "-":  # the timer applies under one policy only
            out.append(f"{key[0]}: would {'not ' if u == '-' else ''}have run")
        elif s in good and u in bad:
            out.append(f"{key[0]}: would have been breached")
        elif s in bad and u in good:
            out.append(f"{key[0]}: would have been met")
    if x.level != y.level:
        out.append(f"escalation level {'raised' if y.level > x.level else 'lowered'}")
    out += ["payment over the payer's authority"] * len(set(y.over_authority) - set(x.over_authority))
    out += ["payment no longer over the payer's authority"] * len(set(x.over_authority) - set(y.over_authority))
    return out


def replay(root: Path, old: Policy, new: Policy, start: dt.datetime, end: dt.datetime, now: dt.datetime,
           examples: int = 5) -> dict:
    """What would have differed, per kind of change: a count and example ticket IDs."""
    import gc

    gc_was = gc.isenabled()
    gc.disable()  # many short-lived objects and no cycles: the collector would only cost time
    try:
        try:
            return _replay(root, old, new, start, end, now, examples, quick=True)
        except _Unsure:
            return _replay(root, old, new, start, end, now, examples, quick=False)
    finally:
        if gc_was:
            gc.enable()


def _replay(root: Path, old: Policy, new: Policy, start: dt.datetime, end: dt.datetime, now: dt.datetime,
            examples: int, quick: bool) -> dict:
    until = min(end, now)
    opened_by = min(end, until + dt.timedelta(seconds=1))  # not yet opened: left out
    if quick:  # each ticket's records parsed when its turn comes (see load_period)
        source, fixes = _period_records(root, start, opened_by), corrections.state(root)
    else:
        source, fixes = _load_period_carefully(root, start, opened_by), None
    tids = sorted(source)
    pays = payments(root)
    same = _same_decisions(old, new)
    shortcut = _TimerChange(old, new) if _TimerChange.applies(old, new) else None
    clocks_old: dict = {}
    clocks_new: dict = {}

    def replay_tickets(some: list) -> tuple:
        """(what would have differed: kind -> count and the first `examples` IDs, tickets
        skipped, the times of the records not made events) for the tickets `some`, in order."""
        found: dict = {}
        skipped = 0
        passed: list = []  # the times of the records not made events (quick)

        def note(kind, tid):
            c = found.setdefault(kind, {"count": 0, "examples": []})
            c["count"] += 1
            if len(c["examples"]) < examples:
                c["examples"].append(tid)

        for tid in some:
            got = source.pop(tid)  # the ticket's records (quick) or events
            base = staff_events(_events(root, tid, got, fixes, passed) if quick else got, until)
            p = pays.get(tid, [])
            if not base or base[0].type != "open" or base[0].ref not in old.categories or base[0].ref not in new.categories:
                skipped += 1  # simulate gives None under one policy at least
                continue
            if shortcut is not None:
                xy = shortcut.outcomes(tid, base, until)
                if xy is None or xy[0].level == xy[1].level:  # then only these timers' states can differ
                    for kind in differences(*xy) if xy else ():
                        note(kind, tid)
                    continue
            a = _simulate(old, tid, base, until, p)
            b = a if same else _simulate(new, tid, base, until, p)
            assert a is not None and b is not None
            for kind in differences(measure(old, a, until, p, clocks_old), measure(new, b, until, p, clocks_new)):
                note(kind, tid)
        return found, skipped, passed

    half = len(tids) // 2
    if half < _BESIDE_MIN or cache.jobs() < 2:
        found, skipped, passed = replay_tickets(tids)
    else:  # the later half in a forked process meanwhile (cache.halves: a failed child's half here)
        (found, skipped, passed), got = cache.halves(lambda: replay_tickets(tids[:half]),
                                                     _unsure_or(lambda: _times_read(replay_tickets(tids[half:]))))
        if got == "unsure":
            raise _Unsure("a record")
        found2, skipped2, times_read = got
        skipped += skipped2
        for kind, c in found2.items():
            mine = found.setdefault(kind, {"count": 0, "examples": []})
            mine["count"] += c["count"]
            mine["examples"] = (mine["examples"] + c["examples"])[:examples]
        if not times_read:
            raise _Unsure("a time")
    _check_times(passed)
    return {"tickets": len(tids), "skipped": skipped, "from": start, "to": end, "until": until,
            "changes": dict(sorted(found.items()))}
