"""Routing rules (policies: rules), evaluated in order, with the reason for every verdict.

`evaluate` returns, for every rule, whether it matched and the result of each of its
conditions with the ticket's value, and the combined decision. `changes` turns a
decision into ticket events. Routing is edge-triggered: an action is recorded when the
rules decide something new, not again and again, so a person who moves a ticket by hand
is not overruled by the next cron run unless the rules' decision itself changes.

Combination: department and group — the last matching rule that sets one wins;
priority — only raised, never lowered (the most urgent of the ticket's and the rules');
abnormal — the first matching rule's reason, once; alerts — each matching rule's once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple, TYPE_CHECKING, Optional

from .clock import span
from .compensation import ticket_limit
from .money import ZERO
from .policy import Conditions, Policy, Rule

if TYPE_CHECKING:
    from .tickets import Ticket


@dataclass
class Check:
    condition: str
    ok: bool
    detail: str


@dataclass
class Outcome:
    index: int
    rule: Rule
    matched: bool = False
    checks: list = field(default_factory=list)
    skipped_by: str = ""  # the stopping rule that kept this one from being evaluated


@dataclass
class Decision:
    department: Optional[tuple] = None  # (value, rule)
    group: Optional[tuple] = None
    priority: Optional[tuple] = None
    abnormal: Optional[tuple] = None  # (reason, rule, since)
    alerts: list = field(default_factory=list)  # (text, rule)
    outcomes: list = field(default_factory=list)


@dataclass
class Facts:
    """What routing knows beyond the ticket: money paid and the ticket's limit."""

    paid: Decimal = ZERO
    proposed: Decimal = ZERO
    limit: Optional[Decimal] = None
    limit_note: str = ""


_SINGULAR = {"kinds": "kind", "categories": "category", "channels": "channel", "member_levels": "member_level",
             "priorities": "priority"}


def _any_of(name: str, value: str, allowed: tuple) -> Check:
    what = _SINGULAR[name]
    if value in allowed:
        return Check(name, True, f"{what} is '{value}'")
    return Check(name, False, f"{what} is '{value or '(none)'}', not {', '.join(allowed)}")


def _words(t, words: tuple) -> Check:
    n = 0
    for e in (None, *(e for e in t.events if e.type == "message")):  # the summary, then each customer message
        low = (t.summary if e is None else e.text).lower()
        for w in words:
            if w.lower() in low:  # the place is named only on a match
                where = "the summary" if e is None else f"a customer message ({e.at.strftime('%m-%d %H:%M')})"
                return Check("words", True, f"'{w}' in {where}")
        n += e is not None
    return Check("words", False, f"none of {', '.join(words)} in the summary or {n} customer message{'s' if n != 1 else ''}")


def _amount(t, name: str, fieldname: str, least: Decimal) -> Check:
    raw = t.fields.get(fieldname, "")
    if not raw:
        return Check(name, False, f"{fieldname} is missing")
    value = Decimal(raw)
    if value >= least:
        return Check(name, True, f"{fieldname} {value} ≥ {least}")
    return Check(name, False, f"{fieldname} {value} < {least}")


def check_conditions(w: Conditions, t: Ticket, now: dt.datetime, facts: Facts) -> list:
    """Each given condition of `w` on ticket `t`, in a fixed order."""
    return list(_conditions(w, t, now, facts))


def _conditions(w: Conditions, t: Ticket, now: dt.datetime, facts: Facts):
    """Each given condition's Check, in a fixed order, made as it is asked for."""
    if w.kinds:
        yield _any_of("kinds", t.kind, w.kinds)
    if w.categories:
        yield _any_of("categories", t.category, w.categories)
    if w.channels:
        yield _any_of("channels", t.fields.get("channel", ""), w.channels)
    if w.member_levels:
        yield _any_of("member_levels", t.fields.get("member_level", ""), w.member_levels)
    if w.priorities:
        yield _any_of("priorities", t.priority, w.priorities)
    if w.words:
        yield _words(t, w.words)
    if w.item_amount_at_least is not None:
        yield _amount(t, "item_amount_at_least", "item_amount", w.item_amount_at_least)
    if w.order_amount_at_least is not None:
        yield _amount(t, "order_amount_at_least", "order_amount", w.order_amount_at_least)
    if w.older_than is not None:
        assert t.open_since is not None  # routing decides on opened tickets
        age = now - t.open_since
        limit = w.older_than.timedelta()
        since = "since reopened" if t.reopened_at else "since opened"
        if age > limit:
            yield Check("older_than", True, f"open for {span(age)} {since}, over {w.older_than}")
        else:
            yield Check("older_than", False, f"open for {span(age)} {since}, not over {w.older_than}")
    if w.resolved is not None:
        resolved = t.status in ("resolved", "closed")
        yield Check("resolved", resolved == w.resolved, f"ticket is {'resolved' if resolved else 'not resolved'} ({t.status})")
    if w.abnormal is not None:
        yield Check("abnormal", bool(t.abnormal) == w.abnormal,
                    f"ticket is abnormal ({t.abnormal})" if t.abnormal else "ticket is not abnormal")
    if w.compensation_over_limit is not None:
        total = facts.paid + facts.proposed
        if facts.limit is None:
            over, detail = False, f"paid {total}; no limit for this ticket"
        else:
            over = total > facts.limit
            detail = f"paid{' and proposed' if facts.proposed else ''} {total} {'>' if over else '≤'} limit {facts.limit}"
            if facts.limit_note:
                detail += f" ({facts.limit_note})"
        yield Check("compensation_over_limit", over == w.compensation_over_limit, detail)
    for f in w.missing:
        yield Check("missing", not t.fields.get(f), f"{f} is {'present' if t.fields.get(f) else 'missing'}")
    for f in w.present:
        yield Check("present", bool(t.fields.get(f)), f"{f} is {'present' if t.fields.get(f) else 'missing'}")


def evaluate(policy: Policy, t: Ticket, now: dt.datetime, facts: Optional[Facts] = None,
             explain: bool = True) -> Decision:
    """Every rule in order on ticket `t`. With explain=False a rule's conditions are
    checked only up to the first that fails, and its outcome keeps no checks: the decision
    is the same. (`Rules` decides the same for many tickets faster, without outcomes.)"""
    facts = facts or Facts()
    d = Decision()
    stopped = ""
    rank = policy.priorities[t.priority].rank if t.priority in policy.priorities else 99
    for i, rule in enumerate(policy.rules):
        o = Outcome(i, rule)
        d.outcomes.append(o)
        if stopped:
            o.skipped_by = stopped
            continue
        if explain:
            o.checks = check_conditions(rule.when, t, now, facts)
            o.matched = all(c.ok for c in o.checks)
        else:
            o.matched = all(c.ok for c in _conditions(rule.when, t, now, facts))
        if o.matched:
            rank = _act(policy, d, rule, t, now, rank)
            if rule.stop:
                stopped = rule.name
    return d


def _act(policy: Policy, d: Decision, rule: Rule, t: Ticket, now: dt.datetime, rank: int) -> int:
    """Add the actions of matched `rule` to decision `d`; the priority rank decided so far, after."""
    a = rule.then
    if a.department:
        d.department = (a.department, rule.name)
    if a.group:
        d.group = (a.group, rule.name)
    if a.priority and policy.priorities[a.priority].rank < rank:
        rank = policy.priorities[a.priority].rank
        d.priority = (a.priority, rule.name)
    if a.abnormal and d.abnormal is None:
        since = now
        if rule.when.older_than is not None:  # the condition began when the age passed the limit
            assert t.open_since is not None  # routing decides on opened tickets
            since = t.open_since + rule.when.older_than.timedelta()
        d.abnormal = (a.abnormal, rule.name, min(since, now))
    if a.alert:
        d.alerts.append((a.alert, rule.name))
    return rank


class Rules:
    """A policy's rules made ready to decide on many tickets (`route --all`): each condition
    becomes a plain test of the ticket, with none of the words `evaluate` explains it in.
    `decide` gives the decision `evaluate` gives, without the per-rule outcomes."""

    def __init__(self, policy: Policy, now: dt.datetime):
        self.policy, self.now = policy, now
        self.rules = [(rule, _tests(rule.when, now)) for rule in policy.rules]

    def decide(self, t: Ticket, facts: Facts) -> Decision:
        policy = self.policy
        d = Decision()
        rank = policy.priorities[t.priority].rank if t.priority in policy.priorities else 99
        for rule, tests in self.rules:
            for test in tests:
                if not test(t, facts):
                    break
            else:
                rank = _act(policy, d, rule, t, self.now, rank)
                if rule.stop:
                    break
        return d


def _tests(w: Conditions, now: dt.datetime) -> list:
    """The conditions of `w` as tests `(ticket, facts) -> bool`, in the order of `_conditions`:
    each is the `ok` of that condition's Check."""
    out: list = []
    if w.kinds:
        out.append(lambda t, f, allowed=w.kinds: t.kind in allowed)
    if w.categories:
        out.append(lambda t, f, allowed=w.categories: t.category in allowed)
    if w.channels:
        out.append(lambda t, f, allowed=w.channels: t.fields.get("channel", "") in allowed)
    if w.member_levels:
        out.append(lambda t, f, allowed=w.member_levels: t.fields.get("member_level", "") in allowed)
    if w.priorities:
        out.append(lambda t, f, allowed=w.priorities: t.priority in allowed)
    if w.words:  # any of the words in the summary or a customer message, as `_words` looks
        import re

        found = re.compile("|".join(re.escape(word.lower()) for word in w.words)).search
        out.append(lambda t, f: found(t.summary.lower()) is not None
                   or any(found(m.lower()) is not None for m in t.messages))
    for name, least in (("item_amount", w.item_amount_at_least), ("order_amount", w.order_amount_at_least)):
        if least is not None:
            out.append(lambda t, f, name=name, least=least:
                       bool(t.fields.get(name, "")) and Decimal(t.fields[name]) >= least)
    if w.older_than is not None:
        out.append(lambda t, f, limit=w.older_than.timedelta(): now - t.open_since > limit)
    if w.resolved is not None:
        out.append(lambda t, f, want=w.resolved: (t.status in ("resolved", "closed")) == want)
    if w.abnormal is not None:
        out.append(lambda t, f, want=w.abnormal: bool(t.abnormal) == want)
    if w.compensation_over_limit is not None:
        out.append(lambda t, f, want=w.compensation_over_limit:
                   (f.limit is not None and f.paid + f.proposed > f.limit) == want)
    for name in w.missing:
        out.append(lambda t, f, name=name: not t.fields.get(name))
    for name in w.present:
        out.append(lambda t, f, name=name: bool(t.fields.get(name)))
    return out


def changes(policy: Policy, t: Ticket, d: Decision, now: dt.datetime, by: str = "system") -> list:
    """Ticket events that record what is new in decision `d` for ticket `t`."""
    from .tickets import Event

    out = []
    for typ, decided, current in (("department", d.department, t.department), ("group", d.group, t.group)):
        if decided is None:
            continue
        value, rule = decided
        last = t.routed.get(typ)
        if (last[1] if last else current) != value:
            out.append(Event(t.id, now, by, typ, value, f"rule {rule}", {"rule": rule}))
    if d.priority is not None:
        value, rule = d.priority
        if value != t.priority:
            out.append(Event(t.id, now, by, "priority", value, f"rule {rule}", {"rule": rule}))
    if d.abnormal is not None and not t.abnormal:
        reason, rule, since = d.abnormal
        out.append(Event(t.id, now, by, "abnormal", reason, f"rule {rule}", {"rule": rule, "since": since.isoformat()}))
    raised = {e.data.get("rule") for e in t.events if e.type == "alert"} if d.alerts else set()
    for text, rule in d.alerts:
        if rule not in raised:
            out.append(Event(t.id, now, by, "alert", "", text, {"rule": rule}))
    return out


class Missing(NamedTuple):
    """Where a ticket ends up, and the fields that department needs and the ticket lacks."""

    department: str
    fields: list


class Routed(NamedTuple):
    """The events that record what routing changed, and the decision they come from."""

    events: list
    decision: Decision


def missing_fields(policy: Policy, t: Ticket, d: Decision) -> Missing:
    """The department the ticket ends up in, and the fields it needs that the ticket lacks."""
    dep = d.department[0] if d.department else t.department
    if d.group:
        dep = d.group[0]
    if not dep or dep not in policy.departments:
        return Missing(dep, [])
    return Missing(dep, [f for f in policy.departments[dep].required_fields if not t.fields.get(f)])


def route_ticket(policy: Policy, t: Ticket, now: dt.datetime, by: str = "system", paid: Decimal = ZERO) -> Routed:
    """What routing changes on ticket `t` at `now`, and the decision (without the words that explain it)."""
    d = evaluate(policy, t, now, facts_for(policy, t, paid), explain=False)
    return Routed(changes(policy, t, d, now, by), d)


def facts_for(policy: Policy, t: Ticket, paid: Decimal = ZERO, proposed: Decimal = ZERO) -> Facts:
    limit, note = ticket_limit(policy, t)
    return Facts(paid=paid, proposed=proposed, limit=limit, limit_note=note)
