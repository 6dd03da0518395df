"""Intake and the lifecycle verbs: each validates one action and returns its events (not yet written)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from .. import events as _types
from .. import ids, ledger
from ..errors import InputError
from ..money import parse_amount
from ..policy import TICKET_FIELDS, Policy
from .model import AMOUNT_FIELDS, Event, Ticket


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
    from ..schema import closest

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
    return [Event(tid, now, by, "open", category, summary, v)] + category_defaults(policy, tid, now, by, category)


def category_defaults(policy: Policy, tid: str, at: dt.datetime, by: str, category: str) -> list:
    """The priority and department a category gives a ticket at intake (replay decides
    them again under another policy with the same function)."""
    cat = policy.categories[category]
    out = [Event(tid, at, by, "priority", cat.priority, f"category {category} default")]
    if cat.department:
        out.append(Event(tid, at, by, "department", cat.department, f"category {category} default"))
    return out


_OPTION_OF = {"member_level": "member", "purchased_at": "purchased", "bug_details": "bug"}


def _check_form(policy: Policy, v: dict, tz) -> dict:
    """The intake fields checked and normalised (amounts, times); InputError naming the option."""
    from ..schema import closest

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


def _check_allowed(t: Ticket, typ: str, now: dt.datetime) -> None:
    why = _types.refusal(typ, t.status)
    if why is not None:
        raise InputError(f"ticket {ids.short(t.id)}: cannot {typ}: {why}")
    assert t.opened_at is not None  # tickets are loaded opened
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
    from ..schema import closest

    _check_allowed(t, typ, now)
    what = _types.TYPES[typ].needs_text if typ in _types.TYPES else ""
    if what and not text.strip():
        raise InputError(f"give {what} as text")
    if typ == "assign":
        if policy.staff_member(ref) is None:
            raise InputError(f"--to {ref}: unknown staff member; {closest(ref, [s.id for s in policy.staff])}")
    elif typ == "verify":
        missing = [f for f in policy.closing.identity_fields if not t.fields.get(f)]
        if missing:
            raise InputError(f"ticket {ids.short(t.id)}: cannot verify the identity: not on file: {', '.join(missing)}; "
                             f"add them with `aftersales ticket set {ids.short(t.id)} FIELD VALUE`")
    elif typ == "escalated":
        if ref not in policy.escalation_targets:
            raise InputError(f"--to {ref}: unknown escalation target; {closest(ref, policy.escalation_targets)}")
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


def checklist(policy: Policy, t: Ticket, extra_cause: str = "") -> dict:
    """Every item of seed 000 §6 the policy records with a close, as "Y" or "N"."""
    items = policy.closing.record
    missing = {m for m, _ in missing_for_close(policy, t, extra_cause, items)}
    return {item: "N" if item in missing else "Y" for item in items}


def missing_for_close(policy: Policy, t: Ticket, extra_cause: str = "", items=None) -> list:
    """Checklist items not yet done, as (item, what to do) pairs."""
    out = []
    cat = policy.categories.get(t.category)
    for item in policy.closing.checklist if items is None else items:
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
        elif item == "wording" and not any(e.type == "reply" and e.data.get("script") for e in t.events):
            out.append(("wording", "no reply used the shop's official wording (`reply SCRIPT TICKET --send`)"))
        elif item == "first_contact":
            within = policy.closing.first_contact_within
            if t.first_reply_at is None or t.first_reply_at - t.opened_at > within.timedelta():
                out.append(("first_contact", f"no first contact within {within} of creation"))
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
            member = policy.staff_member(by)
            assert member is not None  # the actor is checked against the roster (Workspace.actor)
            raise InputError(
                f"only a {need} ({policy.roles[need].name}) or higher may force a close; "
                f"{by} is {member.role}"
            )
        data = {"forced": True, "missing": [m for m, _ in missing]}
    if policy.closing.record:
        data["checklist"] = checklist(policy, t, cause)
    events.append(Event(t.id, now, by, "close", "", force.strip() if missing else "", data))
    return events
