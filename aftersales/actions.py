"""Actions: what a command does between parsing its options and rendering its result.

A command module parses options, calls one action here, and renders what it returns.
An action reads the ledgers it needs (under the ledger lock when it writes), lets the
domain decide (intake, lifecycle, routing, money, time limits: pure functions of policy,
records and now), and writes every row of its decision in one append. Nothing here
imports click or prints.

    plan_open / open_ticket / open_tickets   intake + routing at once (ticket new, logistics,
                                             reviews, imports)
    record / message                         one lifecycle event (message also routes)
    pay                                      a payment: compensations.csv and the routing it causes
    record_notices                           what `sla-check --notify` owes staff, recorded once
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import ledger
from .money import ZERO

if TYPE_CHECKING:
    from .policy import Policy
    from .workspace import Workspace


@dataclass
class Opened:
    """A ticket opened by intake and routed at once (not yet written by `plan_open`)."""

    ticket: Any  # tickets.Ticket, with the routing applied
    events: list  # the intake events, then the routing events: what is written
    routed: list  # the routing events alone
    department: str = ""  # the department routing sent it to …
    missing: tuple = ()  # … and the fields that department needs and the ticket lacks


def plan_open(policy: Policy, now: dt.datetime, by: str, values: dict) -> Opened:
    """Intake of one form and routing at once: the events that open the ticket."""
    from . import routing, tickets

    evs = tickets.intake(policy, now, by, values)
    t = tickets.fold(evs)[evs[0].ticket]
    routed, decision = routing.route_ticket(policy, t, now)
    for e in routed:
        t.apply(e)
    dep, missing = routing.missing_fields(policy, t, decision)
    return Opened(t, evs + routed, routed, dep, tuple(missing))


def open_ticket(ws: Workspace, values: dict) -> Opened:
    """`ticket new`: open and route one ticket, written in one append. An order imported
    from a platform export fills in what the form leaves out (amounts, phone, address …)."""
    from .platforms import fill_from_order

    return open_tickets(ws, [fill_from_order(ws.root, values)])[0]


def open_tickets(ws: Workspace, forms: list, also: Optional[Callable[[list], dict]] = None) -> list:
    """Open and route a ticket per form, all written in one append. `also(opened)` may
    return rows for other ledgers ({ledger: rows}), written under the same lock. The
    lock is re-entrant: a caller that chose the forms under it keeps holding it."""
    from . import tickets

    policy, now, by = ws.policy, ws.now, ws.actor()
    opened = [plan_open(policy, now, by, v) for v in forms]
    rows = [e for o in opened for e in o.events]
    with ledger.locked(ws.root):
        if rows:
            tickets.append_events(ws.root, rows, policy)
        for name, extra in (also(opened) if also else {}).items():
            if extra:
                ledger.append(ws.root, name, extra, policy)
    return opened


@dataclass
class Recorded:
    before: Any  # the ticket as it was before the event
    event: Any
    routed: list = field(default_factory=list)


def record(ws: Workspace, typed: str, typ: str, ref: str = "", text: str = "", data: Optional[dict] = None) -> Recorded:
    """One lifecycle event on the ticket `typed` (an ID or unique prefix), checked and written."""
    from . import tickets

    policy = ws.policy
    by = ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, typed)
        ev = tickets.event(policy, t, ws.now, by, typ, ref, text, data)
        tickets.append_events(ws.root, [ev], policy)
    return Recorded(t, ev)


def record_events(ws: Workspace, events: list) -> None:
    """Events already decided (a close with its cause, a reply from a script) in one append."""
    from . import tickets

    with ledger.locked(ws.root):
        tickets.append_events(ws.root, events, ws.policy)


def message(ws: Workspace, typed: str, text: str) -> Recorded:
    """A customer's message; routing decides again at once (words may make it abnormal)."""
    from . import compensation, routing, tickets

    policy = ws.policy
    by = ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, typed)
        ev = tickets.event(policy, t, ws.now, by, "message", "", text)
        t.apply(ev)
        paid = compensation.paid_by_ticket(ws.root).get(t.id, ZERO)
        routed, _ = routing.route_ticket(policy, t, ws.now, paid=paid)
        tickets.append_events(ws.root, [ev] + routed, policy)
    return Recorded(t, ev, routed)


@dataclass
class Payment:
    ticket: Any
    row: dict  # the compensations.csv row written
    total: Decimal  # paid on the ticket, this payment included
    routed: list  # routing events the payment caused (an abnormal ticket over its limit)
    limit: Optional[Decimal] = None  # the ticket's limit, and how it is worked out
    limit_note: str = ""


def pay(ws: Workspace, typed: str, amount: str, method: str, liability: str, reason: str = "", approved_by: str = "",
        again: bool = False, note: str = "") -> Payment:
    """A payment within the policy's authority, and the routing it causes, decided before
    anything is written and written under one lock."""
    from . import compensation, routing, tickets

    policy, now, by = ws.policy, ws.now, ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, typed)
        payments = compensation.payments_of(ws.root, t.id)
        row = compensation.plan_payment(policy, t, payments, now, by, amount, method, liability, reason,
                                        approved_by, again, note)
        total = sum((a for _at, a in payments), row["amount"])
        routed, _ = routing.route_ticket(policy, t, now, paid=total)
        ledger.encode_rows(ledger.schema_of("tickets"), [e.row() for e in routed], policy)  # refused before a write
        ledger.append(ws.root, "compensations", [row], policy)
        if routed:
            tickets.append_events(ws.root, routed, policy)
    limit, limit_note = compensation.ticket_limit(policy, t)
    return Payment(t, row, total, routed, limit, limit_note)


def record_notices(ws: Workspace, events: list) -> None:
    """The notices `sla-check --notify` decided (time-limit warnings and breaches, red-header
    levels), recorded once so that the next run does not repeat them. The caller holds
    the ledger lock (it decided under it)."""
    from . import tickets

    if events:
        tickets.append_events(ws.root, events, ws.policy)
