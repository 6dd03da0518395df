"""What each ticket event type means, in one place.

A ticket is the fold of its rows in ledgers/tickets.csv. Each row has a type, and this
module says everything about a type: the statuses it may be recorded in (and why not
otherwise), whether it needs text, how it changes the ticket, which time-limit cycles it
starts, stops or pauses, and whether staff made it or a policy decided it. The ticket
model, the ledger schema, the time limits, routing and replay all read these
definitions; adding an event type is adding one `EventType` below.

The shape follows git-bug, where every operation on an issue is one type with its own
`Apply`: `Ticket.apply` looks the type up here and calls its `apply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .tickets import Event

STATUSES = ("open", "waiting", "resolved", "closed")
OPEN_STATUSES = ("open", "waiting", "resolved")

#: how an event came to be: recorded by a person, decided by a policy, or either
STAFF, POLICY, EITHER = "staff", "policy", "either"


@dataclass(frozen=True)
class EventType:
    name: str
    #: statuses in which staff may record it, and the reason given otherwise
    allowed: tuple = OPEN_STATUSES
    why_not: str = ""
    #: what the text is, when the event needs text ("the reply"); empty: text optional
    needs_text: str = ""
    #: STAFF, POLICY (routing and time limits decide it again on replay), or EITHER
    #: (a policy's when written by system or with a "category …"/"rule …" reason)
    made_by: str = STAFF
    #: timer start names (policies/timers.toml `start`) that this event begins a cycle of
    starts: tuple = ()
    #: timer stop names (`stop`) that this event ends a cycle of
    stops: tuple = ()
    #: begins (+1) or ends (-1) a wait on the customer, which pauses timers that say so
    waiting: int = 0
    #: timer start names whose running cycles it ends as cancelled (a reopen voids the
    #: resolution a follow-up visit was owed for; the next resolution starts a new one)
    cancels: tuple = ()
    #: how it changes the ticket
    apply: Optional[Callable] = field(default=None, compare=False, repr=False)


# -- how each type changes a ticket (a `tickets.model.Ticket`)


def _open(t, e):
    t.opened_at = e.at
    t.opened_by = e.by
    t.line = e.line
    t._field_events = [e]
    t._fields = None
    t._category, t._summary = e.ref, e.text


def _set(t, e):
    t._field_events.append(e)
    t._fields = None
    if e.ref == "summary" and e.text:
        t._summary = e.text


def _attr(name):
    def apply(t, e):
        setattr(t, name, e.ref)
    return apply


def _alert(t, e):
    t.alerts.append(e.text)


#: the ref of a reply marked automatic (`ticket reply --auto`): it stops no timer and is
#: not the first contact (seed 003: auto-replies do not count as a response)
AUTOMATIC = "auto"


def counts(e) -> bool:
    """False for an automatic reply, which stops no timer."""
    return e.ref != AUTOMATIC or e.type != "reply"


def _reply(t, e):
    if e.ref == AUTOMATIC:
        return
    if t.first_reply_at is None:
        t.first_reply_at = e.at
    t.last_reply_at = e.at


def _message(t, e):
    t.last_message_at = e.at
    t.messages.append(e.text)


def _verify(t, e):
    t.identity_verified = True


def _evidence(t, e):
    t.evidence.setdefault(e.ref, []).append(e)


def _wait(t, e):
    if t.status == "open":
        t.status = "waiting"


def _resume(t, e):
    if t.status == "waiting":
        t.status = "open"


def _accept(t, e):
    t.accepted = True


def _resolve(t, e):
    t.status = "resolved"
    t.resolved_at = e.at


def _cause(t, e):
    t.cause = e.text


def _close(t, e):
    t.status = "closed"
    t.closed_at = e.at
    t._close = e


def _reopen(t, e):
    t.status = "open"
    t.reopened_at = e.at
    t.resolved_at = None
    t.closed_at = None
    t.accepted = False
    t._close = None


_AFTER_RESOLVED = ("resolved", "closed")

TYPES: dict = {d.name: d for d in (
    # intake and the form
    EventType("open", starts=("opened", "paid"), apply=_open),
    EventType("set", apply=_set),
    EventType("verify", apply=_verify),
    # conversation
    EventType("reply", needs_text="the reply", starts=("replied",), stops=("first_reply", "reply"), apply=_reply),
    EventType("message", needs_text="the customer's message", starts=("customer_message",), stops=("answered",),
              apply=_message),
    EventType("call", needs_text="what was said on the phone", stops=("answered",)),
    EventType("note", needs_text="the note"),
    EventType("remark", needs_text="the order remark", stops=("remarked",)),
    EventType("evidence", apply=_evidence),
    # who handles it
    EventType("assign", stops=("assigned",), apply=_attr("assignee")),
    EventType("department", made_by=EITHER, stops=("assigned",), apply=_attr("department")),
    EventType("group", made_by=EITHER, stops=("assigned",), apply=_attr("group")),
    EventType("priority", made_by=EITHER, apply=_attr("priority")),
    # waiting on the customer
    EventType("wait", allowed=("open",), why_not="only an open ticket can wait on the customer",
              needs_text="what you wait for", waiting=+1, apply=_wait),
    EventType("resume", allowed=("waiting",), why_not="it is not waiting on the customer", waiting=-1,
              apply=_resume),
    # the solution and the close
    EventType("accept", apply=_accept),
    EventType("resolve", allowed=("open", "waiting"), why_not="it is already resolved; reopen it first",
              needs_text="the solution", starts=("resolved",), stops=("resolved",), waiting=-1, apply=_resolve),
    EventType("cause", needs_text="the cause analysis", apply=_cause),
    EventType("close", stops=("resolved", "closed"), waiting=-1, apply=_close),
    EventType("reopen", allowed=_AFTER_RESOLVED, why_not="it is not resolved or closed",
              needs_text="why it is reopened", starts=("opened",), waiting=-1, cancels=("resolved",), apply=_reopen),
    EventType("visit", allowed=_AFTER_RESOLVED, why_not="a follow-up visit comes after the ticket is resolved",
              stops=("visited",)),
    # decided by routing, time limits and money
    EventType("route", made_by=POLICY),
    EventType("abnormal", made_by=POLICY, starts=("abnormal",), apply=_attr("abnormal")),
    EventType("alert", made_by=POLICY, apply=_alert),
    # time-limit notices: a follow-up visit can be owed, and late, after the close
    EventType("sla", made_by=POLICY, allowed=STATUSES),
    EventType("escalate", made_by=POLICY, allowed=STATUSES),
    EventType("sent"),
    # a complaint taken beyond the shop (a regulator, the platform, the media): seed 004 §6 escalation rate
    EventType("escalated", allowed=STATUSES, needs_text="why the customer escalated"),
)}

NAMES = tuple(TYPES)


def starting(start: str) -> tuple:
    """The event types that begin a cycle of a timer with this `start`."""
    return tuple(n for n, d in TYPES.items() if start in d.starts)


def stopping(stop: str) -> tuple:
    """The event types that end a cycle of a timer with this `stop` (the close ends every
    cycle besides, as cancelled or missed: see `sla`)."""
    return tuple(n for n, d in TYPES.items() if stop in d.stops)


TIMER_STARTS = tuple(dict.fromkeys(s for d in TYPES.values() for s in d.starts))
TIMER_STOPS = tuple(dict.fromkeys(s for d in TYPES.values() for s in d.stops))
WAIT_BEGINS = tuple(n for n, d in TYPES.items() if d.waiting > 0)
WAIT_ENDS = tuple(n for n, d in TYPES.items() if d.waiting < 0)


def staff_made(e: Event) -> bool:
    """True when a person recorded event `e`; False when a policy decided it (replay
    drops those and lets the policy under test decide them again)."""
    d = TYPES.get(e.type)
    if d is None or d.made_by == STAFF:
        return True
    if d.made_by == POLICY:
        return False
    return e.by != "system" and not e.text.startswith(("category ", "rule "))


def refusal(typ: str, status: str) -> Optional[str]:
    """Why an event of type `typ` cannot be recorded on a ticket in `status`, or None."""
    d = TYPES.get(typ)
    allowed = d.allowed if d is not None else OPEN_STATUSES
    if status in allowed:
        return None
    if d is not None and d.why_not:
        return d.why_not
    return "it is closed; reopen it first with `aftersales ticket reopen`" if status == "closed" else f"it is {status}"
