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
from typing import Optional

from .policy import Policy, Timer

RUNNING_STATES = ("ok", "warning", "breached")

#: stop name -> event types that stop a cycle
STOP_EVENTS = {
    "first_reply": ("reply",),
    "reply": ("reply",),
    "assigned": ("assign", "department", "group"),
    "resolved": ("resolve", "close"),
    "closed": ("close",),
    "visited": ("visit",),
}


class Cycle:
    """One run of a timer on a ticket, from its start event to its stop (or to now)."""

    __slots__ = ("timer_id", "timer", "start", "stop", "stopped_by", "pauses", "deadline", "state", "paused", "used")

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

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


def clock(policy: Policy, name: str):
    from .calendar import clock_for

    return clock_for(policy, name)


def applies(policy: Policy, timer: Timer, t) -> bool:
    a = timer.applies
    if a.kinds and (policy.categories[t.category].kind if t.category in policy.categories else t.kind) not in a.kinds:
        return False
    if a.categories and t.category not in a.categories:
        return False
    if a.priorities and t.priority not in a.priorities:
        return False
    if a.abnormal is not None and bool(t.abnormal) != a.abnormal:
        return False
    return True


def waiting_windows(t) -> list:
    """(from, to or None) while the ticket waited on the customer."""
    out = []
    since = None
    for e in t.events:
        if e.type == "wait" and since is None:
            since = e.at
        elif e.type in ("resume", "resolve", "close", "reopen") and since is not None:
            out.append((since, e.at))
            since = None
    if since is not None:
        out.append((since, None))
    return out


def cycles_of(timer_id: str, timer: Timer, t) -> list:
    """The cycles of one timer on one ticket, from its timeline (states not yet set)."""
    stops = STOP_EVENTS[timer.stop]
    starts = START_EVENTS[timer.start]
    once = timer.start == "abnormal"  # a ticket becomes abnormal once
    out: list = []
    cur: Optional[Cycle] = None
    started = False
    for e in t.events:
        typ = e.type
        if cur is not None:
            if typ in stops or typ == "close":
                cur.stop, cur.stopped_by = e.at, typ
                out.append(cur)
                cur = None
        elif typ in starts and not (once and started):
            at = e.at
            if typ == "abnormal" and e.data.get("since"):
                at = min(e.at, dt.datetime.fromisoformat(e.data["since"]))  # when the condition began
            cur = Cycle(timer_id, timer, at)
            started = True
    if cur is not None:
        out.append(cur)
    if out and "waiting" in timer.pause and "wait" in t.types:
        windows = waiting_windows(t)
        for c in out:
            for a, b in windows:
                lo = max(a, c.start)
                hi = b if c.stop is None else (c.stop if b is None else min(b, c.stop))
                if hi is None or lo < hi:
                    c.pauses.append((lo, hi))
    return out


#: start name -> the event types that may start a cycle
START_EVENTS = {"opened": ("open", "reopen"), "abnormal": ("abnormal",), "customer_message": ("message",),
                "resolved": ("resolve",)}

_prepared: dict = {}
_ZERO = dt.timedelta(0)


def _timers(policy: Policy, clocks: dict) -> list:
    """Per timer, what evaluating it needs, worked out once per policy."""
    from .calendar import WallClock

    cached = _prepared.get(id(policy))
    if cached is None or cached[0] is not policy:
        items = []
        for tid, timer in policy.timers.items():
            clk = clock(policy, timer.clock)
            wall = type(clk) is WallClock and not timer.target.working_days
            items.append((tid, timer, clk, timer.target.timedelta() if wall else None, frozenset(START_EVENTS[timer.start])))
        cached = _prepared[id(policy)] = (policy, items)
    if not clocks:
        for _tid, timer, clk, _td, _st in cached[1]:
            clocks.setdefault(timer.clock, clk)
    return cached[1]


def evaluate(policy: Policy, t, now: dt.datetime, clocks: Optional[dict] = None) -> list:
    """Every timer cycle of ticket `t` with its deadline and state at `now`."""
    clocks = clocks if clocks is not None else {}
    present = t.types
    result = []
    for tid, timer, clk, wall_td, starts in _timers(policy, clocks):
        if present.isdisjoint(starts) or not applies(policy, timer, t):
            continue
        for c in cycles_of(tid, timer, t):
            if c.start > now:
                continue
            _settle(c, clk, now, wall_td)
            result.append(c)
    # --- issue 14 (platforms): the platform's own deadline (超时时间) of an imported request.
    from .platforms import deadline_cycles

    result.extend(deadline_cycles(policy, t, now))
    # --- end issue 14
    return result


def _settle(c: Cycle, clk, now: dt.datetime, wall_td: Optional[dt.timedelta] = None) -> None:
    end = c.stop if c.stop is not None and c.stop <= now else now
    if wall_td is not None:  # wall-clock time: plain (exact) arithmetic on aware datetimes
        paused = _ZERO
        for a, b in c.pauses:
            if a >= end:
                continue
            paused += (end if b is None or b > end else b) - a
            if b is None or b > now:
                c.paused = c.stop is None or c.stop > now
        c.deadline = c.start + wall_td + paused
        c.used = ((end - c.start) - paused) / wall_td
    else:  # business time on a calendar
        base = clk.deadline(c.start, c.timer.target)
        paused = 0
        for a, b in c.pauses:
            if a >= end:
                continue
            hi = end if b is None or b > end else b
            paused += clk.elapsed(a, hi)
            if b is None or b > now:
                c.paused = c.stop is None or c.stop > now
        c.deadline = clk.add(base, paused) if paused else base
        if end <= c.deadline:  # the share used only matters before the deadline (for warnings)
            c.used = (clk.elapsed(c.start, end) - paused) / (clk.elapsed(c.start, base) or 1)
        else:
            c.used = 1.0  # past the deadline: all of it (not measured further)
    if c.stop is not None and c.stop <= now:
        if c.stopped_by in STOP_EVENTS[c.timer.stop]:
            c.state = "met" if c.stop <= c.deadline else "missed"
        else:  # ended by the close
            c.state = "missed" if c.stop > c.deadline else "cancelled"
        return
    if now > c.deadline:
        c.state = "breached"
    elif c.used >= c.timer.warn_at:
        c.state = "warning"
    else:
        c.state = "ok"


# ------------------------------------------------------------------ red-header supervision


def supervised(t) -> bool:
    """Red-header supervision covers abnormal tickets and tickets routed to a department."""
    return bool(t.abnormal or t.department or t.group)


def escalation_level(policy: Policy, t, cycles: list, now: dt.datetime) -> tuple:
    """(level, the breached deadline it counts from) at `now`; level 0 is not escalated.

    Every further `escalation.every` past the earliest breached deadline copies the next
    superior: 1 h late is level 0, 2 h level 1, 4 h level 2, 6 h level 3.
    """
    if not supervised(t):
        return 0, None
    breached = [c.deadline for c in cycles if c.state == "breached"]
    if not breached:
        return 0, None
    since = min(breached)
    step = policy.escalation.every.seconds()
    level = int((now - since).total_seconds() // step)
    return min(level, policy.escalation.levels), since


def responsible(policy: Policy, t) -> str:
    """Who answers for the ticket: its assignee, else who opened it."""
    return t.assignee or t.opened_by


def superiors(policy: Policy, staff_id: str, levels: int) -> list:
    """The next `levels` superiors up the roster from `staff_id` (agent -> lead -> director)."""
    boss = {s.id: s.reports_to for s in policy.staff}
    out = []
    cur = staff_id
    while len(out) < levels:
        cur = boss.get(cur, "")
        if not cur or cur in out:
            break
        out.append(cur)
    return out


_chains: dict = {}


def to_tell(policy: Policy, t, level: int) -> list:
    """The responsible person and `level` superiors above them."""
    who = responsible(policy, t)
    key = (id(policy), who, level)
    chain = _chains.get(key)
    if chain is None:
        chain = _chains[key] = [who] + superiors(policy, who, level)
    return list(chain)


# ------------------------------------------------------------------ attainment reports


def period(text_month=None, text_week=None, text_from=None, text_to=None, tz=None, now=None) -> tuple:
    """(start, end, label) of a report period in zone `tz`; end is exclusive. ValueError if malformed."""
    import re

    def midnight(d):
        return dt.datetime(d.year, d.month, d.day, tzinfo=tz)

    if text_month:
        m = re.fullmatch(r"(\d{4})-(\d{2})", text_month)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"--month '{text_month}': write it like 2026-11")
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1900 <= y <= 9998:
            raise ValueError(f"--month '{text_month}': give a year between 1900 and 9998")
        start = dt.date(y, mo, 1)
        end = dt.date(y + (mo == 12), mo % 12 + 1, 1)
        return midnight(start), midnight(end), text_month
    if text_week:
        m = re.fullmatch(r"(\d{4})-W(\d{2})", text_week)
        try:
            start = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1) if m else None
        except ValueError:
            start = None
        if start is None:
            raise ValueError(f"--week '{text_week}': write it like 2026-W47")
        return midnight(start), midnight(start + dt.timedelta(days=7)), text_week
    if text_from or text_to:
        try:
            a = dt.date.fromisoformat(text_from) if text_from else None
            b = dt.date.fromisoformat(text_to) if text_to else None
        except ValueError:
            raise ValueError("--from/--to: write dates like 2026-11-01") from None
        if a is None or b is None:
            raise ValueError("give both --from and --to")
        if b < a:
            raise ValueError(f"--to {b} is before --from {a}")
        return midnight(a), midnight(b + dt.timedelta(days=1)), f"{a}..{b}"
    today = now.astimezone(tz).date()
    start = today.replace(day=1)
    return period(text_month=f"{start:%Y-%m}", tz=tz)


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
    late, the close ended it past the deadline, or it is still running past the deadline
    at the earlier of `now` and the period's end; cycles still running in time are pending
    and left out of the share, as are cycles the close ended in time.
    """
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
            if c.state in ("met", "missed") and c.stopped_by != "close" or c.state == "met":
                clk = clocks[c.timer.clock]
                paused = sum(clk.elapsed(a, b_ or c.stop) for a, b_ in c.pauses)
                b["times"].append(clk.elapsed(c.start, c.stop) - paused)
    rows = []
    for (tid, who), b in sorted(buckets.items(), key=lambda kv: (list(policy.timers).index(kv[0][0]), kv[0][1])):
        timer = policy.timers[tid]
        decided = b["met"] + b["missed"]
        share = b["met"] / decided if decided else None
        times = sorted(b["times"])
        rows.append({"timer": tid, "name": timer.name, "group": who, "target": str(timer.target),
                     "cycles": decided + b["pending"] + b["cancelled"], "met": b["met"], "missed": b["missed"],
                     "pending": b["pending"], "share_met": share, "goal": timer.goal,
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
