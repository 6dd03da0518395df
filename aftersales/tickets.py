"""Tickets as append-only events: intake, lifecycle, evidence, the closing checklist.

A ticket's state is the fold of its rows in ledgers/tickets.csv, oldest first; nothing
else stores state. Every staff action is one event row (type, ref, text, data); a few
actions write two rows in one append (intake writes the opening row and the decided
priority; a close with --cause writes the cause and the close).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Optional

from . import ids, ledger
from .errors import InputError, Problem
from .money import parse_amount
from .policy import TICKET_FIELDS, Policy

LEDGER = "tickets"
EVIDENCE_DIR = "evidence"

#: Intake fields kept in the opening row's data (summary and category have columns).
AMOUNT_FIELDS = ("item_amount", "order_amount", "shipping_fee")
STATUSES = ("open", "waiting", "resolved", "closed")
OPEN_STATUSES = ("open", "waiting", "resolved")


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
        out = set()
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
    def open_since(self):
        """When the ticket was opened, or last reopened."""
        return self.reopened_at or self.opened_at

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def apply(self, e: Event) -> None:
        self.events.append(e)
        t = e.type
        self.types.add(t)
        if t == "open":
            self.opened_at = e.at
            self.opened_by = e.by
            self.line = e.line
            self._field_events = [e]
            self._fields = None
            self._category, self._summary = e.ref, e.text
        elif t == "set":
            self._field_events.append(e)
            self._fields = None
            if e.ref == "summary" and e.text:
                self._summary = e.text
        elif t == "priority":
            self.priority = e.ref
        elif t == "department":
            self.department = e.ref
        elif t == "assign":
            self.assignee = e.ref
        elif t == "group":
            self.group = e.ref
        elif t == "abnormal":
            self.abnormal = e.ref
        elif t == "alert":
            self.alerts.append(e.text)


        elif t == "reply":
            if self.first_reply_at is None:
                self.first_reply_at = e.at
            self.last_reply_at = e.at
        elif t == "message":
            self.last_message_at = e.at
            self.messages.append(e.text)
        elif t == "verify":
            self.identity_verified = True
        elif t == "evidence":
            self.evidence.setdefault(e.ref, []).append(e)
        elif t == "wait":
            if self.status == "open":
                self.status = "waiting"
        elif t == "resume":
            if self.status == "waiting":
                self.status = "open"
        elif t == "accept":
            self.accepted = True
        elif t == "resolve":
            self.status = "resolved"
            self.resolved_at = e.at
        elif t == "cause":
            self.cause = e.text
        elif t == "close":
            self.status = "closed"
            self.closed_at = e.at
            self._close = e
        elif t == "reopen":
            self.status = "open"
            self.reopened_at = e.at
            self.resolved_at = None
            self.closed_at = None
            self.accepted = False
            self._close = None


# ------------------------------------------------------------------ reading


def _event(line: int, row: list, rel: str) -> Event:
    """An event from a ledger record; its data cell is parsed on first use."""
    tid, at, by, typ, ref, text, data = row
    try:
        when = ledger.parse_time(at)
    except ValueError as e:
        raise InputError(f"{rel}:{line}: 'at' value '{at}' is not valid: {e}") from None
    return Event(tid, when, by, typ, ref, text, None if data else {}, line, data)


def iter_events(root: Path, only: Optional[set] = None) -> Iterable[Event]:
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


def load_open_tickets(root: Path) -> dict:
    """The tickets not closed, folded from the ledger faster than csv.reader reads it.

    See `scan_open_records`: only the records of tickets still open are parsed, so time
    and memory follow the number of open tickets, not the length of the history.
    """
    import csv
    import gc

    rel = ledger.schema_of(LEDGER).file
    path = ledger.ledger_path(root, LEDGER)
    if not path.exists():
        return {}
    if ledger.ends_torn(path):
        ledger.raise_first_problem(root, LEDGER)
    gc_was = gc.isenabled()
    gc.disable()  # many short-lived objects and no cycles: the collector would only cost time
    try:
        try:
            records = scan_open_records(path, ledger.schema_of(LEDGER).header.encode())
            events = []
            for row in csv.reader(records, strict=True):
                if row:
                    events.append(_event(0, row, rel))
        except (UnicodeDecodeError, csv.Error, ValueError, InputError):
            ledger.raise_first_problem(root, LEDGER, check_values=True)  # names the file and line
            raise
        return {tid: t for tid, t in fold(events).items() if t.opened_at is not None and t.is_open}
    finally:
        gc.freeze()  # what was loaded lives to the end: keep later collections from rescanning it
        if gc_was:
            gc.enable()


_CHUNK = 1 << 17
_NOT_QUOTE_OR_NL = bytes(range(256)).translate(None, b'"\n')


def _odd_lines(body: bytes) -> list:
    """Indices of the lines of `body` that hold an odd number of quotes: the first and
    last lines of the records that span lines (a quoted field holds an even number)."""
    q = body.translate(None, _NOT_QUOTE_OR_NL).replace(b'""', b"")  # one quote is left on each odd line
    odd, line, last = [], 0, 0
    pos = q.find(b'"')
    while pos >= 0:
        line += q.count(b"\n", last, pos)
        last = pos
        odd.append(line)
        pos = q.find(b'"', pos + 1)
    return odd


def scan_open_records(path: Path, header: bytes) -> list:
    """The records (decoded) of the tickets that are not closed, each ticket's in file order.

    Reads the file backwards, a chunk at a time. Going backwards, the first close or
    reopen row met for a ticket is its last one: at a close the ticket is known closed
    and its earlier records cost a slice and a dictionary lookup each. Nothing is
    csv-parsed here; records that span lines are found by quote parity, so a line inside
    a customer's text is never taken for a record.
    """
    closed: dict = {}  # ticket ID -> True once its last status row is known to be a close, False if a reopen
    closed_set: set = set()  # the IDs known closed
    rows: dict = {}  # ticket ID -> its records, last first
    with open(path, "rb") as f:
        first = f.readline()
        if first.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n") != header.rstrip(b"\n"):
            raise ValueError("header")
        begin = f.tell()
        pos = f.seek(0, 2)
        carry = b""  # the start of the later chunk, not yet whole records
        while pos > begin:
            n = min(_CHUNK, pos - begin)
            pos -= n
            f.seek(pos)
            buf = f.read(n) + carry
            cut = buf.find(b"\n") + 1 if pos > begin else 0  # the first line may have begun earlier
            if pos > begin and cut == 0:
                carry = buf
                continue
            body = buf[cut:]
            odd = _odd_lines(body)
            if len(odd) & 1:  # the first odd line ends a record that began earlier
                if pos == begin:
                    raise ValueError("unterminated quote")
                end = 0
                for _ in range(odd[0] + 1):
                    end = body.index(b"\n", end) + 1
                cut += end
                body = body[end:]
                odd = [o - odd[0] - 1 for o in odd[1:]]
            carry = buf[:cut]
            lines = body.split(b"\n")
            lines.pop()  # after the last newline
            for a, b in reversed(list(zip(odd[0::2], odd[1::2]))):
                lines[a:b + 1] = [b"\n".join(lines[a:b + 1])]
            done = closed_set
            get = closed.get
            for rec in [rec for rec in reversed(lines) if rec[:12] not in done]:  # skip known-closed cheaply
                tid = rec[:12]
                known = get(tid)
                if known:
                    continue
                if known is None:  # its last close or reopen row not met yet: is this one? (the 4th field)
                    k = rec.find(b",", rec.find(b",", 13) + 1) + 1
                    if rec.startswith(b"close,", k):
                        closed[tid] = True
                        closed_set.add(tid)
                        rows.pop(tid, None)
                        continue
                    if rec.startswith(b"reopen,", k):
                        closed[tid] = False  # reopened last: open, and every earlier row counts
                lst = rows.get(tid)
                if lst is None:
                    rows[tid] = [rec]
                else:
                    lst.append(rec)
        if carry.strip():
            raise ValueError("a record before the first line")
    return [rec.decode("utf-8") for lst in rows.values() for rec in reversed(lst)]


def resolve_id(root: Path, typed: str) -> str:
    """The full ticket ID for a typed ID or unique prefix; InputError otherwise."""
    prefix = ids.normalize(typed)
    if len(prefix) < 4 or not ids.is_valid(prefix):
        raise InputError(f"'{typed}' is not a ticket ID; IDs are letters and digits, type at least 4 of them")
    found = set()
    for _line, row in ledger.records(root, LEDGER):
        if row[3] == "open" and row[0].startswith(prefix):
            found.add(row[0])
    if not found:
        raise InputError(f"unknown ticket '{typed}'; `aftersales ticket list --status all` lists tickets")
    if len(found) > 1:
        shown = ", ".join(sorted(f[: len(prefix) + 2] for f in found)[:5])
        raise InputError(f"ticket '{typed}' is ambiguous ({len(found)} tickets start so: {shown}); type more characters")
    return found.pop()


def load_ticket(root: Path, typed: str) -> Ticket:
    tid = resolve_id(root, typed)
    t = fold(iter_events(root, only={tid})).get(tid)
    assert t is not None and t.opened_at is not None
    return t


# ------------------------------------------------------------------ intake

_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


def _parse_purchased(text: str, tz) -> str:
    s = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        try:
            return dt.date.fromisoformat(s).isoformat()
        except ValueError:
            raise InputError(f"--purchased '{text}' is not a date") from None
    try:
        t = dt.datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        try:
            return dt.date.fromisoformat(s).isoformat()
        except ValueError:
            raise InputError(f"--purchased '{text}': write the purchase time like 2026-11-20 or 2026-11-20T14:05:00+08:00") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return ledger.format_time(t)


def intake(policy: Policy, now: dt.datetime, by: str, values: dict) -> list:
    """Validate an intake form and return the events that open the ticket.

    `values` maps ticket fields (TICKET_FIELDS) to the text typed; empty ones are left
    out. Every missing required field is named in one error.
    """
    from .schema import closest

    v = {k: str(x).strip() for k, x in values.items() if x is not None and str(x).strip() != ""}
    unknown = set(v) - set(TICKET_FIELDS)
    if unknown:
        raise InputError(f"unknown ticket field(s): {', '.join(sorted(unknown))}")
    category = v.get("category", "")
    if not category:
        raise InputError("--category is required; `aftersales ticket categories` lists them")
    if category not in policy.categories:
        raise InputError(f"--category {category}: unknown category; {closest(category, policy.categories)}")
    cat = policy.categories[category]
    if "kind" in v and v["kind"] != cat.kind:
        raise InputError(f"--kind {v['kind']} does not match category '{category}', which is of kind '{cat.kind}'")
    required = ["channel", "summary"] + [f for f in cat.required if f not in ("channel", "summary")]
    missing = [f for f in required if f not in v]
    if missing:
        opts = ", ".join("--" + _OPTION_OF.get(f, f.replace("_", "-")) for f in missing)
        raise InputError(f"category '{category}' ({cat.name}) needs: {opts}")
    v = _check_form(policy, v, now.tzinfo)
    v["kind"] = cat.kind
    tid = ids.new_id()
    summary = v.pop("summary")
    v.pop("category")
    events = [Event(tid, now, by, "open", category, summary, v)]
    events.append(Event(tid, now, by, "priority", cat.priority, f"category {category} default"))
    if cat.department:
        events.append(Event(tid, now, by, "department", cat.department, f"category {category} default"))
    return events


_OPTION_OF = {"member_level": "member", "purchased_at": "purchased", "bug_details": "bug"}


def _check_form(policy: Policy, v: dict, tz) -> dict:
    """The intake fields checked and normalised (amounts, times); InputError naming the option."""
    from .schema import closest

    v = dict(v)
    opt = lambda f: "--" + _OPTION_OF.get(f, f.replace("_", "-"))  # noqa: E731
    for fname, known in (("channel", policy.channels), ("member_level", policy.member_levels),
                         ("demand", policy.demands)):
        if fname in v and v[fname] not in known:
            raise InputError(f"{opt(fname)} {v[fname]}: unknown; {closest(v[fname], known)}")
    if "courier" in v and policy.logistics and v["courier"] not in policy.logistics.couriers:
        raise InputError(f"--courier {v['courier']}: unknown; {closest(v['courier'], policy.logistics.couriers)}")
    if "phone" in v and not _PHONE.match(v["phone"]):
        raise InputError(f"--phone '{v['phone']}': not a phone number (digits, spaces, - and a leading + only)")
    for f in AMOUNT_FIELDS:
        if f in v:
            try:
                v[f] = str(parse_amount(v[f]))
            except ValueError as e:
                raise InputError(f"{opt(f)}: {e}") from None
    if "item_amount" in v and "order_amount" in v and parse_amount(v["item_amount"]) > parse_amount(v["order_amount"]):
        raise InputError(f"--item-amount {v['item_amount']} is more than --order-amount {v['order_amount']}")
    if "purchased_at" in v:
        v["purchased_at"] = _parse_purchased(v["purchased_at"], tz)
    return v


def append_events(root: Path, events: list, policy: Policy) -> None:
    ledger.append(root, LEDGER, [e.row() for e in events], policy)


# ------------------------------------------------------------------ lifecycle

#: type -> statuses in which it is allowed
ALLOWED = {
    "reply": OPEN_STATUSES, "message": OPEN_STATUSES, "assign": OPEN_STATUSES, "department": OPEN_STATUSES,
    "note": OPEN_STATUSES, "set": OPEN_STATUSES, "verify": OPEN_STATUSES, "evidence": OPEN_STATUSES,
    "wait": ("open",), "resume": ("waiting",), "accept": OPEN_STATUSES, "resolve": ("open", "waiting"),
    "cause": OPEN_STATUSES, "close": OPEN_STATUSES, "reopen": ("resolved", "closed"),
    "visit": ("resolved", "closed"),
}

_WHY = {
    "wait": "only an open ticket can wait on the customer",
    "resume": "it is not waiting on the customer",
    "resolve": "it is already resolved; reopen it first",
    "reopen": "it is not resolved or closed",
    "visit": "a follow-up visit comes after the ticket is resolved",
}


def _check_allowed(t: Ticket, typ: str, now: dt.datetime) -> None:
    allowed = ALLOWED.get(typ, OPEN_STATUSES)
    if t.status not in allowed:
        why = _WHY.get(typ) or ("it is closed; reopen it first with `aftersales ticket reopen`"
                                 if t.status == "closed" else f"it is {t.status}")
        raise InputError(f"ticket {ids.short(t.id)}: cannot {typ}: {why}")
    if now < t.opened_at:
        raise InputError(f"ticket {ids.short(t.id)}: the time {now.isoformat()} is before the ticket was opened "
                         f"({t.opened_at.isoformat()}); check --now")
    last = t.events[-1].at
    if now < last:
        raise InputError(f"ticket {ids.short(t.id)}: the time {now.isoformat()} is before its last event "
                         f"({last.isoformat()}); events are recorded in time order, check --now")


def event(policy: Policy, t: Ticket, now: dt.datetime, by: str, typ: str, ref: str = "", text: str = "",
          data: Optional[dict] = None) -> Event:
    """Validate one lifecycle action on ticket `t` and return its event (not yet written)."""
    from .schema import closest

    _check_allowed(t, typ, now)
    if typ in ("reply", "message", "note", "resolve", "cause", "wait", "reopen") and not text.strip():
        what = {"reply": "the reply", "message": "the customer's message", "note": "the note",
                "resolve": "the solution", "cause": "the cause analysis", "wait": "what you wait for",
                "reopen": "why it is reopened"}[typ]
        raise InputError(f"give {what} as text")
    if typ == "assign":
        if policy.staff_member(ref) is None:
            raise InputError(f"--to {ref}: unknown staff member; {closest(ref, [s.id for s in policy.staff])}")
    elif typ == "department":
        if ref not in policy.departments:
            raise InputError(f"--department {ref}: unknown; {closest(ref, policy.departments)}")
    elif typ == "set":
        if ref in ("kind", "category"):
            raise InputError(f"'{ref}' is fixed at intake; open a new ticket for another category")
        if ref not in TICKET_FIELDS:
            raise InputError(f"unknown ticket field '{ref}'; {closest(ref, TICKET_FIELDS)}")
        if ref == "summary" and not text.strip():
            raise InputError("the summary cannot be emptied")
        if text.strip():  # the same checks as at intake
            form = {ref: text}
            if ref in ("item_amount", "order_amount"):  # the item may not cost more than the order
                other = "order_amount" if ref == "item_amount" else "item_amount"
                if t.fields.get(other):
                    form[other] = t.fields[other]
            text = _check_form(policy, form, now.tzinfo)[ref]
    return Event(t.id, now, by, typ, ref, text, data or {})


def missing_for_close(policy: Policy, t: Ticket, extra_cause: str = "") -> list:
    """Checklist items not yet done, as (item, what to do) pairs."""
    out = []
    cat = policy.categories.get(t.category)
    for item in policy.closing.checklist:
        if item == "identity" and not t.identity_verified:
            out.append(("identity", "identity not checked against the order (`ticket verify`)"))
        elif item == "evidence" and cat is not None:
            lacking = [k for k in cat.evidence if k not in t.evidence]
            if lacking:
                names = ", ".join(f"{k} ({policy.evidence_kinds[k].name})" for k in lacking)
                out.append(("evidence", f"evidence missing: {names} (`ticket evidence`)"))
        elif item == "accepted" and not t.accepted:
            out.append(("accepted", "customer has not accepted the solution (`ticket accept`)"))
        elif item == "cause" and not (t.cause or extra_cause.strip()):
            out.append(("cause", "no cause analysis recorded (`ticket close --cause` or `ticket cause`)"))
    return out


class ChecklistRefused(Exception):
    """A close refused by the closing checklist (exit status 1: the ticket is not ready)."""

    def __init__(self, ticket: Ticket, missing: list):
        self.ticket = ticket
        self.missing = missing
        super().__init__(f"ticket {ids.short(ticket.id)} cannot be closed: " + "; ".join(m for _, m in missing))


def close(policy: Policy, t: Ticket, now: dt.datetime, by: str, cause: str = "", force: str = "") -> list:
    """Events that close `t`; ChecklistRefused if items are missing and not forced."""
    _check_allowed(t, "close", now)
    missing = missing_for_close(policy, t, cause)
    events = []
    if cause.strip():
        events.append(Event(t.id, now, by, "cause", "", cause.strip()))
    if missing and not force:
        raise ChecklistRefused(t, missing)
    if missing and not force.strip():
        raise InputError("--force needs the reason, in words; it is recorded with the close")
    data = {}
    if missing:
        need = policy.closing.force_role
        if policy.rank(by) < policy.roles[need].rank:
            raise InputError(
                f"only a {need} ({policy.roles[need].name}) or higher may force a close; "
                f"{by} is {policy.staff_member(by).role}"
            )
        data = {"forced": True, "missing": [m for m, _ in missing]}
    events.append(Event(t.id, now, by, "close", "", force.strip() if missing else "", data))
    return events


def store_evidence(root: Path, src: Path, max_bytes: Optional[int] = None) -> tuple:
    """Copy a file into evidence/ by content hash; returns (sha256, stored relative path).

    Only a plain file is taken (not a symbolic link, FIFO or device), and not over
    `max_bytes` (policies: shop.evidence_max_mb); what is copied is what was checked."""
    import stat

    src = Path(src)
    try:
        st = os.lstat(src)
    except OSError:
        raise InputError(f"{src}: no such file; give the path of the photo or video to attach") from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{src}: is a symbolic link; give the photo or video file itself")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{src}: not a plain file (a folder, FIFO or device); give the photo or video file itself")
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(f"{src}: {st.st_size / 1e6:.1f} MB is over the evidence limit of {max_bytes // 10**6} MB "
                         "(policies: shop.evidence_max_mb); attach a smaller file")
    h = hashlib.sha256()
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:  # the file checked above, read once to hash and once to copy
        if os.fstat(f.fileno()).st_ino != st.st_ino:
            raise InputError(f"{src}: changed while it was being attached; try again")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        digest = h.hexdigest()
        rel = evidence_path(digest, src.suffix)
        dest = Path(root) / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
            f.seek(0)
            with open(tmp, "wb") as out:
                shutil.copyfileobj(f, out)
            os.replace(tmp, dest)
    return digest, rel


def evidence_path(digest: str, suffix: str = "") -> str:
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
    return f"{EVIDENCE_DIR}/{digest[:2]}/{digest}{suffix}"


def mask_phone(phone: str) -> str:
    digits = phone.replace(" ", "").replace("-", "")
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:] if len(digits) < 11 else digits[:3] + "****" + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]


# ------------------------------------------------------------------ checks


def check_ticket_ledger(ctx) -> list:
    """Cross-record checks of the ticket ledger for `as check`."""
    rel = ledger.schema_of(LEDGER).file
    policy: Optional[Policy] = ctx.policy
    problems = []
    opened: dict = {}
    for line, row in ctx.rows(LEDGER):  # first pass: the openings, and what a row says alone
        tid, at, by, typ, ref, text, data = row
        if not ids.is_valid(tid) or len(tid) != ids.LENGTH:
            problems.append(Problem(rel, line, f"ticket ID '{tid}' is not {ids.LENGTH} characters of {ids.ALPHABET}"))
        if typ in ("open", "set"):
            try:
                fields = (json.loads(data) if data else {}) if typ == "open" else {ref: text}
            except ValueError:
                fields = {}  # reported by the value check
            for f in AMOUNT_FIELDS:
                if fields.get(f):
                    try:
                        parse_amount(fields[f], allow_zero=True)
                    except ValueError as e:
                        problems.append(Problem(rel, line, f"{f}: {e}; correct it with `aftersales ticket set`"))
        if typ == "open":
            if tid in opened:
                problems.append(Problem(rel, line, f"ticket {tid} is opened twice (first at line {opened[tid][0]}); "
                                        "two clones drew one ID: give one of them a new ID"))
                continue
            opened[tid] = (line, at)
            if policy is not None and ref not in policy.categories:
                problems.append(Problem(rel, line, f"unknown category '{ref}'; add it to policies or fix the row"))
    for line, row in ctx.rows(LEDGER):  # second pass: each event against its ticket's opening
        tid, at, by, typ, ref, text, data = row
        if typ == "open":
            continue
        if tid not in opened:
            problems.append(Problem(rel, line, f"event for ticket {tid}, which was never opened"))
            continue
        try:
            if ledger.parse_time(at) < ledger.parse_time(opened[tid][1]):
                problems.append(Problem(rel, line, f"{typ} at {at} is before ticket {tid} was opened (line {opened[tid][0]})"))
        except ValueError:
            pass  # reported by the value check
        if policy is None:
            continue
        bad = None
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
        if bad:
            from .schema import closest

            problems.append(Problem(rel, line, f"unknown {bad[0]} '{ref}'; {closest(ref, bad[1])}"))
        if typ == "evidence":
            try:
                digest = json.loads(data).get("sha256", "") if data else ""
            except ValueError:
                digest = ""
            path = json.loads(data).get("path", "") if digest else ""
            if not digest:
                problems.append(Problem(rel, line, "evidence row has no sha256 in its data"))
            elif not (ctx.root / (path or evidence_path(digest))).exists():
                problems.append(Problem(rel, line, f"evidence file {path or evidence_path(digest)} is missing; restore it from git or ask the customer again"))
    return problems
