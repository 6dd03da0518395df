"""The ticket model: events, the fold that makes a ticket of them, reading and writing.

A ticket's state is the fold of its rows in ledgers/tickets.csv, oldest first; nothing
else stores state. What each event type does to a ticket is defined in `aftersales.events`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from .. import events as _types
from .. import ids, ledger
from ..errors import InputError, input_error

if TYPE_CHECKING:
    from ..policy import Policy

LEDGER = "tickets"

#: Intake fields kept in the opening row's data (summary and category have columns).
AMOUNT_FIELDS = ("item_amount", "order_amount", "shipping_fee")
STATUSES = _types.STATUSES
OPEN_STATUSES = _types.OPEN_STATUSES


class Event:
    """One row of the ticket ledger. `data` (a JSON object in the ledger) is parsed on
    first use: most readers never look at it."""

    __slots__ = ("ticket", "at", "by", "type", "ref", "text", "_data", "_raw", "line")

    def __init__(self, ticket: str, at: dt.datetime, by: str, type: str, ref: str = "", text: str = "",
                 data: Optional[dict] = None, line: int = 0, raw: str = ""):
        self.ticket, self.at, self.by, self.type, self.ref, self.text = ticket, at, by, type, ref, text
        self._data = data if data is not None or raw else {}
        self._raw = raw
        self.line = line

    @property
    def data(self) -> dict:
        if self._data is None:
            try:
                obj = json.loads(self._raw)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                where = f"{ledger.schema_of(LEDGER).file}{':' + str(self.line) if self.line else ''}"
                raise InputError(f"{where}: the data cell of a {self.type} row of ticket {self.ticket} is not a "
                                 "JSON object; `aftersales check` shows the line")
            self._data = obj
        return self._data

    def row(self) -> dict:
        return {"ticket": self.ticket, "at": self.at, "by": self.by, "type": self.type,
                "ref": self.ref, "text": self.text, "data": self.data}

    def __repr__(self) -> str:
        return f"Event({self.ticket}, {self.at.isoformat()}, {self.by}, {self.type}, {self.ref!r}, {self.text!r})"


class Ticket:
    """The current state of one ticket: the fold of its events."""

    __slots__ = (
        "id", "opened_at", "opened_by", "_fields", "_field_events", "_category", "_summary", "status", "priority",
        "department", "assignee",
        "group", "abnormal", "first_reply_at", "last_reply_at", "last_message_at", "resolved_at",
        "closed_at", "identity_verified", "accepted", "cause", "evidence", "events", "messages",
        "alerts", "_close", "line", "reopened_at", "types",
    )

    def __init__(self, tid: str):
        self.id = tid
        self.opened_at: Optional[dt.datetime] = None
        self.opened_by = ""
        self._fields: Optional[dict] = {}  # built from _field_events on first use
        self._field_events: list = []  # the open row and the set rows, in order
        self._category = ""
        self._summary = ""
        self.status = "open"
        self.priority = ""
        self.department = ""
        self.assignee = ""
        self.group = ""
        self.abnormal = ""
        self.first_reply_at = None
        self.last_reply_at = None
        self.last_message_at = None
        self.resolved_at = None
        self.closed_at = None
        self.identity_verified = False
        self.accepted = False
        self.cause = ""
        self.evidence: dict = {}  # kind -> the evidence events of that kind
        self.events: list = []
        self.messages: list = []  # customer messages, for word rules
        self.alerts: list = []
        self._close = None  # the last close event, while closed
        self.line = 0
        self.reopened_at = None
        self.types: set = set()  # the event types the ticket has seen

    # -- derived
    @property
    def fields(self) -> dict:
        """The intake form as corrected since: parsed from the ledger on first use."""
        if self._fields is None:
            f: dict = {}
            for e in self._field_events:
                if e.type == "open":
                    f = dict(e.data)
                    f["summary"], f["category"] = e.text, e.ref
                elif e.text:
                    f[e.ref] = e.text
                else:
                    f.pop(e.ref, None)
            self._fields = f
        return self._fields

    @property
    def kind(self) -> str:
        return self.fields.get("kind", "")

    @property
    def category(self) -> str:
        return self._category

    @property
    def summary(self) -> str:
        return self._summary

    @property
    def forced(self) -> str:
        """The reason of a close that was forced past the checklist, while closed."""
        e = self._close
        return e.text if e is not None and e.data.get("forced") else ""

    @property
    def notified(self) -> set:
        """What `sla-check --notify` already recorded."""
        out: set[tuple[str, ...]] = set()
        for e in self.events:
            if e.type == "sla":
                out.add(("sla", e.ref, e.data.get("start", ""), e.text))
            elif e.type == "escalate":
                out.add(("escalate", e.data.get("since", ""), e.ref))
        return out

    @property
    def routed(self) -> dict:
        """Action -> (rule, value) that routing last decided for it."""
        out = {}
        for e in self.events:
            if e.type in ("department", "priority", "abnormal", "alert", "group") and e.text.startswith("rule ") \
                    or e.type == "alert":
                rule = e.data.get("rule")
                if rule:
                    out[e.type] = (rule, e.ref if e.type != "alert" else e.text)
        return out

    @property
    def open_since(self) -> Optional[dt.datetime]:
        """When the ticket was opened, or last reopened."""
        return self.reopened_at or self.opened_at

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def apply(self, e: Event) -> None:
        """Fold one more event in: its type's `apply` (aftersales.events) changes the ticket."""
        self.events.append(e)
        self.types.add(e.type)
        d = _types.TYPES.get(e.type)
        if d is not None and d.apply is not None:
            d.apply(self, e)


# ------------------------------------------------------------------ reading


def _event(line: int, row: list, rel: str) -> Event:
    """An event from a ledger record; its data cell is parsed on first use. The short
    cells (ticket, by, type, ref) repeat from row to row: one string each is kept."""
    tid, at, by, typ, ref, text, data = row
    try:
        when = ledger.parse_time(at)
    except ValueError as e:
        raise InputError(f"{rel}:{line}: 'at' value '{at}' is not valid: {e}") from None
    return Event(_intern(tid), when, _intern(by), _intern(typ), _intern(ref), text, None if data else {}, line, data)


_intern = sys.intern


def iter_events(root: Path, only: Optional[set] = None) -> Iterable[Event]:
    """The events as corrected: voided ones left out (aftersales/corrections.py)."""
    from ..corrections import honour_events

    return honour_events(root, _iter_events(root, only))


def _iter_events(root: Path, only: Optional[set] = None) -> Iterable[Event]:
    rel = ledger.schema_of(LEDGER).file
    for line, row in ledger.records(root, LEDGER):
        if only is not None and row[0] not in only:
            continue
        yield _event(line, row, rel)


def fold(events: Iterable[Event]) -> dict:
    """Tickets by ID from events in any order: each ticket's events are applied by time
    (file order among equal times), so a merge that interleaves two clones' rows folds
    the same as a history written in one place."""
    grouped: dict = {}
    for e in events:
        grouped.setdefault(e.ticket, []).append(e)
    tickets = {}
    for tid, evs in grouped.items():
        evs.sort(key=lambda e: e.at)
        t = Ticket(tid)
        for e in evs:
            t.apply(e)
        tickets[tid] = t
    return tickets


def load_tickets(root: Path) -> dict:
    return {tid: t for tid, t in fold(iter_events(root)).items() if t.opened_at is not None}


def resolve_id(root: Path, typed: str) -> str:
    """The full ticket ID for a typed ID or unique prefix; InputError otherwise."""
    opened = (row[0] for _line, row in ledger.records(root, LEDGER) if row[3] == "open")
    try:
        return ids.resolve(typed, opened, "ticket", "aftersales ticket list --status all", min_length=4, show=True)
    except ValueError as e:
        raise input_error(str(e)) from None


def load_ticket(root: Path, typed: str) -> Ticket:
    tid = resolve_id(root, typed)
    t = fold(iter_events(root, only={tid})).get(tid)
    assert t is not None and t.opened_at is not None
    return t


def append_events(root: Path, events: list, policy: Optional[Policy]) -> None:
    ledger.append(root, LEDGER, [e.row() for e in events], policy)


def mask_phone(phone) -> str:
    """The phone number with its middle hidden (a number in the intake data as its digits)."""
    digits = str(phone).replace(" ", "").replace("-", "")
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:] if len(digits) < 11 else digits[:3] + "****" + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]
