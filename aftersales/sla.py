"""Time limits: timer cycles read off a ticket's timeline, their deadlines and states.

A timer (policies: timers) runs in cycles. A cycle starts on its start event (the ticket
opened or reopened, became abnormal, a customer message, a resolution) and stops on its stop event
(a reply, an assignment, the solution, the close, the follow-up visit). While the ticket
waits on the customer a timer that lists "waiting" under `pause` stands still: the
deadline moves on by exactly the paused time, measured on the timer's clock. Closing a
ticket ends every cycle still running.

States of a cycle at `now`: running cycles are ok, warning (past `warn_at` of the
target) or breached (past the deadline); finished ones are met or missed. Red-header
supervision (红头工单): a breached running cycle on a ticket that is abnormal or in a
department escalates one superior up the roster for every `escalation.every` overdue.

Everything here is a function of (policy, ticket, now).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Union

from . import events as _events
from .policy import Policy, Timer

if TYPE_CHECKING:
    from .calendar import BusinessCalendar, WallClock
    from .policy import Duration
    from .tickets import Ticket

RUNNING_STATES = ("ok", "warning", "breached")

#: stop name -> event types that stop a cycle; start name -> event types that start one
#: (both read off the event definitions in aftersales.events)
STOP_EVENTS = {name: _events.stopping(name) for name in _events.TIMER_STOPS}
START_EVENTS = {name: _events.starting(name) for name in _events.TIMER_STARTS}


class Cycle:
    """One run of a timer on a ticket, from its start event to its stop (or to now)."""

    __slots__ = ("timer_id", "timer", "start", "stop", "stopped_by", "pauses", "deadline", "state", "paused", "used",
                 "whole")

    def __init__(self, timer_id: str, timer: Timer, start: dt.datetime):
        self.timer_id = timer_id
        self.timer = timer
        self.start = start
        self.stop: Optional[dt.datetime] = None  # the stop event's time, or the close that ended it
        self.stopped_by = ""  # the event type that ended the cycle
        self.pauses: list = []  # (from, to or None) waiting windows within the cycle
        self.deadline: Optional[dt.datetime] = None
        self.state = ""  # ok | warning | breached | met | missed | cancelled
        self.paused = False  # waiting on the customer at now
        self.used = 0.0  # share of the target used at now (or at the stop); 1.0 once past the deadline on a calendar
        self.whole: Optional[float] = None  # the target's seconds on its clock, where `used` was measured by it

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


def owed_after_close(policy: Policy) -> Optional[dt.timedelta]:
    """How long after a close a timer that a close does not end (`on_close = "continue"`,
    the follow-up visit) can still be running and escalating: its target on the wall
    clock (on a business clock or in working days: the target in days plus ten days, a
    generous bound over nights, weekends and holidays) plus the red-header escalation's
    whole run. None when no timer goes on past the close. sla-check lists closed tickets
    within it; `report sla` counts the visit met or missed whenever it was."""
    spans = []
    for timer in policy.timers.values():
        if timer.on_close != "continue":
            continue
        target = timer.target
        if timer.clock == "calendar" and not target.working_days:
            spans.append(target.timedelta())
        else:
            days = float(target.amount) if target.working_days else target.seconds() / 3600 / 8
            spans.append(dt.timedelta(days=days + 10))
    if not spans:
        return None
    return max(spans) + dt.timedelta(seconds=policy.escalation.every.seconds() * policy.escalation.levels)


def older_than(policy: Policy, d: Duration, now: dt.datetime) -> Callable[[dt.datetime], bool]:
    """A test of an opening time: was a ticket opened then older than duration `d` at
    `now`? Working days count on the shop's business calendar (n working days have passed
    once the deadline of n working days from the opening is past)."""
    if d.working_days:
        from .errors import InputError

        if not policy.shop.calendar:
            raise InputError("an age in working days needs the shop's business calendar (shop.calendar)")
        clk = clock(policy, policy.shop.calendar)
        return lambda opened: clk.deadline(opened, d) < now
    td = d.timedelta()
    return lambda opened: now - opened > td


def clock(policy: Policy, name: str) -> Union[WallClock, BusinessCalendar]:
    from .calendar import clock_for

    return clock_for(policy, name)


def applies(policy: Policy, timer: Timer, t: Ticket) -> bool:
    a = timer.applies
    if a.kinds and (policy.categories[t.category].kind if t.category in policy.categories else t.kind) not in a.kinds:
        return False
    if a.categories and t.category not in a.categories:
        return False
    if a.priorities and t.priority not in a.priorities:
        return False
    if a.channels and t.fields.get("channel", "") not in a.channels:
        return False
    if a.abnormal and not t.abnormal:  # `abnormal = false` is judged per cycle: see abnormal_since
        return False
    return True


def abnormal_since(t: Ticket) -> Optional[dt.datetime]:
    """When the ticket became abnormal (the condition's start when routing gave it), or None.
    A timer for ordinary tickets (`applies.abnormal = false`) keeps the cycles that started
    before: a ticket that turns abnormal stays in the 24-hour close share (seed 000 §7)."""
    if not t.abnormal:
        return None
    for e in t.events:
        if e.type == "abnormal" and e.ref:
            return min(e.at, dt.datetime.fromisoformat(e.data["since"])) if e.data.get("since") else e.at
    return None


def paid_at(t: Ticket) -> Optional[dt.datetime]:
    """The payment time: the ticket's purchased_at when it holds a time, not a bare date
    (the order ledger has no payment time yet; seed 001: remark within 5 min of payment)."""
    text = t.fields.get("purchased_at", "")
    if "T" not in text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def waiting_windows(t: Ticket) -> list:
    """(from, to or None) while the ticket waited on the customer."""
    out = []
    since = None
    for e in t.events:
        if e.type in _events.WAIT_BEGINS and since is None:
            since = e.at
        elif e.type in _events.WAIT_ENDS and since is not None:
            out.append((since, e.at))
            since = None
    if since is not None:
        out.append((since, None))
    return out


#: event type -> the timer start names whose running cycles it cancels (events.EventType.cancels)
CANCELS = {n: d.cancels for n, d in _events.TYPES.items() if d.cancels}


def cycles_of(timer_id: str, timer: Timer, t: Ticket) -> list:
    """The cycles of one timer on one ticket, from its timeline (states not yet set).

    A close ends a running cycle unless the close is its stop or the timer says
    `on_close = "continue"` (the follow-up visit stays owed after the close); a reopen
    cancels the cycles started by the resolution it undoes. An automatic reply starts
    and stops nothing."""
    stops = STOP_EVENTS[timer.stop]
    starts = START_EVENTS[timer.start]
    once = timer.start in ("abnormal", "paid")  # a ticket becomes abnormal once; an order is paid once
    close_ends = timer.on_close != "continue"
    out: list = []
    cur: Optional[Cycle] = None
    started = False
    for e in t.events:
        typ = e.type
        if cur is not None:
            if (typ in stops or typ == "close" and close_ends) and _events.counts(e):
                cur.stop, cur.stopped_by = e.at, typ
                out.append(cur)
                cur = None
            elif timer.start in CANCELS.get(typ, ()):
                cur.stop, cur.stopped_by = e.at, typ
                out.append(cur)
                cur = None
        elif typ in starts and not (once and started) and _events.counts(e):
            at = e.at
            if typ == "abnormal" and e.data.get("since"):
                at = min(e.at, dt.datetime.fromisoformat(e.data["since"]))  # when the condition began
            elif timer.start == "paid":
                at = paid_at(t)
                if at is None:
                    break  # no payment time on the ticket: no cycle
            cur = Cycle(timer_id, timer, at)
            started = True
    if cur is not None:
        out.append(cur)
    if out and "waiting" in timer.pause and not t.types.isdisjoint(_events.WAIT_BEGINS):
        windows = waiting_windows(t)
        for c in out:
            for a, b in windows:
                lo = max(a, c.start)
                hi = b if c.stop is None else (c.stop if b is None else min(b, c.stop))
                if hi is None or lo < hi:
                    c.pauses.append((lo, hi))
    return out


def daily_cycles(timer_id: str, timer: Timer, t, tz, now: dt.datetime) -> list:
    """A recurring daily deadline (`daily = "16:00"`, seed 004 §3.1: repair progress reported
    to the customer every day before 16:00): from the timer's start until the ticket is
    resolved or closed, one cycle per day, due at that time of day. A stop event counts
    for the next deadline after it, so a report at 17:00 serves the next day; a day whose
    deadline passes without one is missed, and the next day's cycle begins."""
    hh, mm = (int(x) for x in timer.daily.split(":"))
    stops = STOP_EVENTS[timer.stop]
    starts = START_EVENTS[timer.start]
    ends = STOP_EVENTS["resolved"]  # the resolution (or the close) ends the series
    begin = end = None
    end_type = ""
    hits: list = []
    for e in t.events:
        if begin is None:
            if e.type in starts and _events.counts(e):
                begin = e.at
        elif e.type in ends:
            end, end_type = e.at, e.type
            break
        elif e.type in stops and _events.counts(e):
            hits.append(e)
    if begin is None:
        return []

    def due_after(x):
        local = x.astimezone(tz)
        d = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        return d if d > local else (local + dt.timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)

    out = []
    lo = begin
    limit = min(now, end) if end is not None else now
    while lo < limit:
        due = due_after(lo)
        c = Cycle(timer_id, timer, lo)
        c.deadline = due
        hit = next((e for e in hits if lo < e.at <= due), None)
        if hit is not None:
            c.stop, c.stopped_by = hit.at, hit.type
        elif end is not None and end <= due:
            c.stop, c.stopped_by = end, end_type  # resolved before the day's deadline: not owed
        out.append(c)
        lo = due
    return out


_ZERO = dt.timedelta(0)


_PREPARED = ("prepared timers",)  # a key of the caller's clocks dict that no clock name can take


def _timers(policy: Policy, clocks: dict) -> list:
    """Per timer, what evaluating it needs, worked out once per policy and kept in the
    caller's `clocks` dict (so it lives as long as the command's evaluation, no longer)."""
    from .calendar import WallClock

    cached = clocks.get(_PREPARED)
    if cached is None or cached[0] is not policy:
        items = []
        for tid, timer in policy.timers.items():
            clk = clock(policy, timer.clock)
            wall = type(clk) is WallClock and not timer.target.working_days
            items.append((tid, timer, clk, timer.target.timedelta() if wall else None, frozenset(START_EVENTS[timer.start])))
            clocks.setdefault(timer.clock, clk)
        cached = clocks[_PREPARED] = (policy, items)
    return cached[1]


def evaluate(policy: Policy, t: Ticket, now: dt.datetime, clocks: Optional[dict] = None,
             running: bool = False) -> list:
    """Every timer cycle of ticket `t` with its deadline and state at `now`; with
    `running`, only those still running at `now` (a cycle stopped by then is never
    worked out)."""
    clocks = clocks if clocks is not None else {}
    present = t.types
    result = []
    for tid, timer, clk, wall_td, starts in _timers(policy, clocks):
        if present.isdisjoint(starts) or not applies(policy, timer, t):
            continue
        ordinary = timer.applies.abnormal is False
        since = abnormal_since(t) if ordinary else None
        if timer.daily:
            for c in daily_cycles(tid, timer, t, policy.tz(), now):
                if since is None or c.start < since:
                    _settle_daily(c, now)
                    result.append(c)
            continue
        for c in cycles_of(tid, timer, t):
            if c.start > now or since is not None and c.start >= since or \
                    running and c.stop is not None and c.stop <= now:  # met, missed or cancelled
                continue
            _settle(c, clk, now, wall_td)
            result.append(c)
    # --- issue 14 (platforms): the platform's own deadline (超时时间) of an imported request.
    from .platforms import deadline_cycles

    result.extend(deadline_cycles(policy, t, now))
    # --- end issue 14
    return [c for c in result if c.state in RUNNING_STATES] if running else result


def _settle_daily(c: Cycle, now: dt.datetime) -> None:
    if c.stop is not None and c.stop <= now:
        c.state = "met" if c.stopped_by in STOP_EVENTS[c.timer.stop] else "cancelled"
        return
    c.stop = None
    assert c.deadline is not None  # a daily cycle is made with its deadline
    if now > c.deadline:
        c.state = "missed"  # the day's deadline passed without a report: the next day's cycle runs
        c.stop, c.stopped_by = c.deadline, ""
        return
    whole = (c.deadline - c.start).total_seconds() or 1
    c.used = (now - c.start).total_seconds() / whole
    c.state = "warning" if c.used >= c.timer.warn_at else "ok"


def _settle(c: Cycle, clk, now: dt.datetime, wall_td: Optional[dt.timedelta] = None) -> None:
    """The deadline and state of cycle `c` at `now`. Waiting on the customer moves the
    deadline on by the time waited, but only a wait that began before the deadline (as
    moved by the waits before it): a wait begun after a miss neither hides the miss nor
    stops the red-header level from rising."""
    end = c.stop if c.stop is not None and c.stop <= now else now
    if wall_td is not None:  # wall-clock time: plain (exact) arithmetic on aware datetimes
        paused_td = _ZERO
        deadline = c.start + wall_td
        for a, b in c.pauses:
            if a >= end or a >= deadline:
                continue
            paused_td += (end if b is None or b > end else b) - a
            deadline = c.start + wall_td + paused_td
            if b is None or b > now:
                c.paused = c.stop is None or c.stop > now
        c.deadline = deadline
        c.used = ((end - c.start) - paused_td) / wall_td
        c.whole = wall_td.total_seconds()
    else:  # business time on a calendar
        base = clk.deadline(c.start, c.timer.target)
        paused = 0
        deadline = base
        for a, b in c.pauses:
            if a >= end or a >= deadline:
                continue
            hi = end if b is None or b > end else b
            paused += clk.elapsed(a, hi)
            deadline = clk.add(base, paused) if paused else base
            if b is None or b > now:
                c.paused = c.stop is None or c.stop > now
        c.deadline = deadline
        if end <= c.deadline:  # the share used only matters before the deadline (for warnings)
            c.whole = float(clk.elapsed(c.start, base) or 1)
            c.used = (clk.elapsed(c.start, end) - paused) / c.whole
        else:
            c.used = 1.0  # past the deadline: all of it (not measured further)
    if c.stop is not None and c.stop <= now:
        if c.stopped_by in STOP_EVENTS[c.timer.stop]:
            c.state = "met" if c.stop <= c.deadline else "missed"
        elif c.stopped_by == "close" and c.stop > c.deadline:
            c.state = "missed"  # the close came after the deadline: the limit was missed
        elif c.stopped_by == "close" and c.timer.on_close == "missed":
            c.state = "missed"  # closed before the stop it waits for ever happened
        else:  # cut short in time by the close, or cancelled by a reopen
            c.state = "cancelled"
        return
    if now > c.deadline:
        c.state = "breached"
    elif c.used >= c.timer.warn_at:
        c.state = "warning"
    else:
        c.state = "ok"


def reminders(policy: Policy, now: dt.datetime) -> list:
    """(id, reminder, due) for each weekly reminder due later on the day of `now` (shop's
    zone): from midnight on its weekday until its time it is listed, then it is gone."""
    from .policy.model import WEEKDAYS

    local = now.astimezone(policy.tz())
    out = []
    for rid, r in policy.reminders.items():
        if WEEKDAYS[local.weekday()] != r.weekday:
            continue
        hh, mm = (int(x) for x in r.at.split(":"))
        due = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if local <= due:
            out.append((rid, r, due))
    return out


# ------------------------------------------------------------------ red-header supervision


def supervised(t: Ticket) -> bool:
    """Red-header supervision covers abnormal tickets and tickets routed to a department."""
    return bool(t.abnormal or t.department or t.group)


class Escalation(NamedTuple):
    """A ticket's red-header level at a moment, and the breached deadline it counts from."""

    level: int
    since: Optional[dt.datetime]


def escalation_level(policy: Policy, t: Ticket, cycles: list, now: dt.datetime) -> Escalation:
    """The red-header level at `now` (0: not escalated) and the deadline it counts from.
    The one definition of the rule: sla-check, route, ticket show and replay use it.

    Every further `escalation.every` past the earliest breached deadline copies the next
    superior: 1 h late is level 0, 2 h level 1, 4 h level 2, 6 h level 3.
    """
    if not supervised(t):
        return Escalation(0, None)
    breached = [c.deadline for c in cycles if c.state == "breached"]
    if not breached:
        return Escalation(0, None)
    since = min(breached)
    step = policy.escalation.every.seconds()
    level = int((now - since).total_seconds() // step)
    return Escalation(min(level, policy.escalation.levels), since)


def steady_until(policy: Policy, t: Ticket, cycles: list, level: int, since: Optional[dt.datetime],
                 now: dt.datetime, clocks: dict) -> Optional[dt.datetime]:
    """A moment up to which (not included) evaluating ticket `t` gives the same running
    cycles, with the same deadlines, states, pauses and red-header level, as at `now`:
    only the time left changes. `cycles` are its running cycles at `now` and
    (`level`, `since`) its escalation. Conservative: a warning is assumed to come as
    soon as it could on the wall clock (business time never runs faster), and None is
    returned when anything may change at once (a pause, a row at or after `now`).
    With no change ahead it is datetime.max. sla-check keeps its rows with it
    (tickets.decided)."""
    if t.events and t.events[-1].at >= now or t.opened_at is not None and t.opened_at >= now:
        return None  # rows at or after now: cycles may start, stop or pause as now moves on
    if any(timer.start == "paid" and applies(policy, timer, t) for timer in policy.timers.values()):
        paid = paid_at(t)
        if paid is not None and paid >= now:
            return None
    until = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    for c in cycles:
        if c.paused or c.deadline is None:
            return None
        if c.state == "breached":
            continue  # the deadline stays where it is: breached it stays
        until = min(until, c.deadline)  # a warning or ok cycle is breached past it
        if c.state == "ok":
            whole = _span(policy, c, clocks)
            if whole is None:
                return None
            warn = now + dt.timedelta(seconds=max((c.timer.warn_at - c.used) * whole - 1, 0))
            until = min(until, warn)
    daily = clocks.get(_DAILY)
    if daily is None or daily[0] is not policy or daily[1] != now:
        daily = clocks[_DAILY] = (policy, now, [(tm, _next_daily(tm.daily, policy.tz(), now))
                                                for tm in policy.timers.values() if tm.daily])
    for timer, due in daily[2]:  # a daily series begins a cycle at each day's time,
        if due < until and applies(policy, timer, t):  # though the day's cycle was met (not running)
            until = due
    if level < policy.escalation.levels and since is not None:
        until = min(until, since + dt.timedelta(seconds=policy.escalation.every.seconds() * (level + 1)))
    return until if until > now else None


_DAILY = ("daily timers",)  # a key of the caller's clocks dict: the daily timers, each's next time after now


def _next_daily(at: str, tz, now: dt.datetime) -> dt.datetime:
    """The first time of day `at` ("16:00", the shop's zone) after `now`, as daily_cycles' days end."""
    hh, mm = (int(x) for x in at.split(":"))
    local = now.astimezone(tz)
    d = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return d if d > local else (local + dt.timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)


def _span(policy: Policy, c: Cycle, clocks: dict) -> Optional[float]:
    """The seconds of cycle `c`'s target on its clock: the share `used` grows by one over
    that many seconds of business time, so never faster than over that many wall seconds."""
    if c.whole is not None:
        return c.whole or 1.0
    if c.timer.daily or c.timer_id not in policy.timers:  # a daily cycle, the platform's deadline: wall time
        assert c.deadline is not None  # settled
        return (c.deadline - c.start).total_seconds() or 1.0
    from .calendar import WallClock

    clk = clocks.get(c.timer.clock) or clock(policy, c.timer.clock)
    target = c.timer.target
    if type(clk) is WallClock and not target.working_days:
        return target.timedelta().total_seconds() or 1.0
    return float(clk.elapsed(c.start, clk.deadline(c.start, target)) or 1)


def responsible(policy: Policy, t: Ticket) -> str:
    """Who answers for the ticket: its assignee, else who opened it."""
    return t.assignee or t.opened_by


def superiors(policy: Policy, staff_id: str, levels: int) -> list:
    """The next `levels` superiors up the roster from `staff_id` (agent -> lead -> director)."""
    boss = {s.id: s.reports_to for s in policy.staff}
    out: list[str] = []
    cur = staff_id
    while len(out) < levels:
        cur = boss.get(cur, "")
        if not cur or cur in out:
            break
        out.append(cur)
    return out


def to_tell(policy: Policy, t: Ticket, level: int) -> list:
    """The responsible person and `level` superiors above them."""
    who = responsible(policy, t)
    return [who] + superiors(policy, who, level)


# ------------------------------------------------------------------ notices (sla-check --notify)


def unnoticed(c: Cycle, seen: set) -> list:
    """The states of cycle `c` (warning, breached) that `sla-check --notify` has not yet
    recorded, given what a ticket's `notified` says: a breach first seen also owes the
    warning it skipped, so nothing is lost between runs."""
    if c.state == "ok":
        return []
    start = c.start.isoformat()
    return [state for state in (("warning", "breached") if c.state == "breached" else (c.state,))
            if state != "ok" and ("sla", c.timer_id, start, state) not in seen]


def notices(t: Ticket, c: Cycle, now: dt.datetime, tell: list, seen: Optional[set] = None) -> list:
    """Events for a warning or breach of cycle `c` not yet recorded on ticket `t`
    (`seen`: its `notified`, when the caller has it)."""
    from .tickets import Event

    assert c.deadline is not None  # evaluate() settled the cycle
    start = c.start.isoformat()
    return [Event(t.id, now, "system", "sla", c.timer_id, state,
                  {"start": start, "deadline": c.deadline.isoformat(), "tell": tell})
            for state in unnoticed(c, t.notified if seen is None else seen)]


def unescalated(level: int, since: dt.datetime, seen: set) -> list:
    """The red-header levels up to `level` (counted from `since`) not yet recorded."""
    key = since.isoformat()
    return [lv for lv in range(1, level + 1) if ("escalate", key, str(lv)) not in seen]


def escalations(policy: Policy, t: Ticket, level: int, since: dt.datetime, now: dt.datetime,
                seen: Optional[set] = None) -> list:
    """Events for each red-header level up to `level` not yet recorded on ticket `t`."""
    from .tickets import Event

    key = since.isoformat()
    chain = to_tell(policy, t, level)
    return [Event(t.id, now, "system", "escalate", str(lv), f"红头工单: 抄送 {chain[lv] if lv < len(chain) else '-'}",
                  {"since": key, "to": chain[: lv + 1]})
            for lv in unescalated(level, since, t.notified if seen is None else seen)]


def calendar_gaps(policy: Policy, now: dt.datetime) -> list:
    """(calendar, year) for each business calendar that timers use and that lists no
    holidays for this year or, in December, the next: its deadlines would fall on days
    off (China's schedule for a year is published late in the year before)."""
    years = [now.year] + ([now.year + 1] if now.month == 12 and now.year < 9999 else [])
    used = {t.clock for t in policy.timers.values() if t.clock != "calendar"}
    out: list[tuple[str, int]] = []
    for cid in sorted(used):
        cal = policy.calendars[cid]
        have = {h.start.year for h in cal.holidays} | {h.end.year for h in cal.holidays}
        out.extend((cid, y) for y in years if y not in have)
    return out


# ------------------------------------------------------------------ attainment reports


def _rank(values: list, q: float):
    """Nearest-rank percentile of sorted values."""
    import math

    if not values:
        return None
    return values[max(0, math.ceil(q * len(values)) - 1)]


def attainment(policy: Policy, tickets: list, start: dt.datetime, end: dt.datetime, now: dt.datetime,
               group_by: str = "") -> list:
    """Per timer (and department or agent): cycles started in [start, end), share met, median
    and 90th-percentile time to stop (on the timer's clock, pauses left out).

    A cycle counts as met when its stop event came by the deadline, missed when it came
    late, the close ended it past the deadline or before a stop the timer says a close
    cannot replace (`on_close = "missed"`), or it is still running past the deadline at
    the earlier of `now` and the period's end; cycles still running in time are pending,
    cycles a close or a reopen cut short in time are not applicable; neither counts in
    the share. met + missed + pending + not_applicable = cycles.
    """
    return attainment_rows(policy, attainment_buckets(policy, tickets, start, end, now, group_by))


def attainment_buckets(policy: Policy, tickets, start: dt.datetime, end: dt.datetime, now: dt.datetime,
                       group_by: str = "") -> dict:
    """`attainment`'s counts before they are summed up: (timer, group) -> met, missed,
    pending and cancelled cycles, and the times to stop. Those of two sets of tickets
    merge by `merge_buckets`."""
    at = min(now, end)
    clocks: dict = {}
    buckets: dict = {}
    for t in tickets:
        for c in evaluate(policy, t, at, clocks):
            if not start <= c.start < end:
                continue
            if c.timer_id not in policy.timers:  # issue 14: the platform's deadline is not a policy timer
                continue
            who = ""
            if group_by == "department":
                who = t.department or t.group or "-"
            elif group_by == "agent":
                who = _stopper(t, c) or responsible(policy, t)
            b = buckets.setdefault((c.timer_id, who), {"met": 0, "missed": 0, "pending": 0, "cancelled": 0, "times": []})
            state = "missed" if c.state == "breached" else "pending" if c.state in ("ok", "warning") else c.state
            b[state] += 1
            if c.state == "met" or c.state == "missed" and c.stopped_by not in ("close", ""):
                clk = clocks[c.timer.clock]
                paused = sum(clk.elapsed(a, b_ or c.stop) for a, b_ in c.pauses)
                b["times"].append(clk.elapsed(c.start, c.stop) - paused)
    return buckets


def merge_buckets(into: dict, other: dict) -> dict:
    """The buckets of two sets of tickets (`attainment_buckets`) as one."""
    for key, b in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = b
            continue
        for k in ("met", "missed", "pending", "cancelled"):
            mine[k] += b[k]
        mine["times"].extend(b["times"])
    return into


def attainment_rows(policy: Policy, buckets: dict) -> list:
    """`attainment`'s rows of its buckets."""
    rows = []
    for (tid, who), b in sorted(buckets.items(), key=lambda kv: (list(policy.timers).index(kv[0][0]), kv[0][1])):
        timer = policy.timers[tid]
        decided = b["met"] + b["missed"]
        share = b["met"] / decided if decided else None
        times = sorted(b["times"])
        rows.append({"timer": tid, "name": timer.name, "group": who, "target": str(timer.target),
                     "cycles": decided + b["pending"] + b["cancelled"], "met": b["met"], "missed": b["missed"],
                     "pending": b["pending"], "not_applicable": b["cancelled"], "share_met": share, "goal": timer.goal,
                     "goal_met": None if timer.goal is None or share is None else share >= timer.goal,
                     "median_s": _rank(times, 0.5), "p90_s": _rank(times, 0.9)})
    return rows


def _stopper(t, c) -> str:
    if c.stop is None:
        return ""
    for e in t.events:
        if e.at == c.stop and e.type == c.stopped_by:
            return e.by if e.by != "system" else ""
    return ""
