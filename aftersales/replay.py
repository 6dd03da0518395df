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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import compensation, ledger, routing, sla, tickets
from .events import staff_made
from .money import ZERO
from .policy import Policy



def load_period(root: Path, start: dt.datetime, end: dt.datetime) -> dict:
    """ticket ID -> its events, for the tickets opened in [start, end)."""
    rel = ledger.schema_of(tickets.LEDGER).file
    wanted = set()
    for _line, row in ledger.records(root, tickets.LEDGER):
        if row[3] == "open" and start <= ledger.parse_time(row[1]) < end:
            wanted.add(row[0])
    out: dict = {tid: [] for tid in wanted}
    from .corrections import honour_events  # issue 15: replay the history as corrected

    for e in honour_events(root, (tickets._event(line, row, rel) for line, row in ledger.records(root, tickets.LEDGER)
                                  if row[0] in wanted)):
        out[e.ticket].append(e)
    for evs in out.values():
        evs.sort(key=lambda e: e.at)
    return out


def payments(root: Path) -> dict:
    """ticket ID -> [(at, amount, payer)] in time order."""
    out: dict = {}
    for p in compensation.payments(root):
        out.setdefault(p["ticket"], []).append((p["at"], p["amount"], p["by"]))
    for v in out.values():
        v.sort(key=lambda x: x[0])
    return out


def simulate(policy: Policy, tid: str, events: list, until: dt.datetime, pays: list) -> Optional[tickets.Ticket]:
    """The ticket as `policy` would have decided it, from its staff's events up to `until`."""
    base = [e for e in events if staff_made(e) and e.at <= until]
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


def measure(policy: Policy, t: tickets.Ticket, until: dt.datetime, pays: list) -> Outcome:
    o = Outcome(t.group or t.department, t.priority, t.abnormal)
    cycles = sla.evaluate(policy, t, until)
    seen: dict = {}
    for c in cycles:
        n = seen[c.timer_id] = seen.get(c.timer_id, 0) + 1
        o.timers[(c.timer_id, n)] = c.state
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


def replay(root: Path, old: Policy, new: Policy, start: dt.datetime, end: dt.datetime, now: dt.datetime,
           examples: int = 5) -> dict:
    """What would have differed, per kind of change: a count and example ticket IDs."""
    until = min(end, now)
    by_ticket = load_period(root, start, min(end, until + dt.timedelta(seconds=1)))  # not yet opened: left out
    pays = payments(root)
    found: dict = {}

    def note(kind, tid):
        c = found.setdefault(kind, {"count": 0, "examples": []})
        c["count"] += 1
        if len(c["examples"]) < examples:
            c["examples"].append(tid)

    skipped = 0
    for tid in sorted(by_ticket):
        evs = by_ticket[tid]
        p = pays.get(tid, [])
        a, b = simulate(old, tid, evs, until, p), simulate(new, tid, evs, until, p)
        if a is None or b is None:
            skipped += 1
            continue
        x, y = measure(old, a, until, p), measure(new, b, until, p)
        if x.department != y.department:
            note(f"routed to another department ({x.department or '-'} -> {y.department or '-'})", tid)
        if x.priority != y.priority:
            note(f"priority changed ({x.priority} -> {y.priority})", tid)
        if bool(x.abnormal) != bool(y.abnormal):
            note("would have been abnormal" if y.abnormal else "would not have been abnormal", tid)
        for key in sorted(set(x.timers) | set(y.timers), key=lambda k: (k[0], k[1])):
            s, u = x.timers.get(key, "-"), y.timers.get(key, "-")
            if s == u:
                continue
            good, bad = ("met", "ok", "warning", "cancelled"), ("missed", "breached")
            if s == "-" or u == "-":  # the timer applies under one policy only
                note(f"{key[0]}: would {'not ' if u == '-' else ''}have run", tid)
            elif s in good and u in bad:
                note(f"{key[0]}: would have been breached", tid)
            elif s in bad and u in good:
                note(f"{key[0]}: would have been met", tid)
        if x.level != y.level:
            note(f"escalation level {'raised' if y.level > x.level else 'lowered'}", tid)
        extra = set(y.over_authority) - set(x.over_authority)
        fewer = set(x.over_authority) - set(y.over_authority)
        for _k in sorted(extra):
            note("payment over the payer's authority", tid)
        for _k in sorted(fewer):
            note("payment no longer over the payer's authority", tid)
    return {"tickets": len(by_ticket), "skipped": skipped, "from": start, "to": end, "until": until,
            "changes": dict(sorted(found.items()))}
