"""Incidents (应急事件, seed 002): tickets that share a cause, graded L1-L3 by policy.

An incident is the fold of its rows in ledgers/incidents.csv: open (type, title, media,
injury), join (a ticket), flag (media exposure or injury learned later), grade (the level
it reached, recorded whenever it changes), respond (customers contacted), resolve (the
solution), cause (the cause analysis), approve (the solution approved by the level's
owner), confirm (customers confirmed the result), review (the 5W1H review), improve (an
item of the improvement list), close. The level is the most severe one whose thresholds
hold: enough complaints, or media exposure / injury where the level names them.

Time limits (seed 002): the response limit of the level runs from the opening or, after
a regrade, from the regrade; the review limit from the resolution. An incident closes
only with its archive complete (policy `incident_archive`, seed 002 §4.4).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from . import ids, ledger
from .errors import InputError, input_error
from .policy import Policy, model

LEDGER = "incidents"


@dataclass
class Incident:
    id: str
    opened_at: Optional[dt.datetime] = None
    opened_by: str = ""
    kind: str = ""
    title: str = ""
    media: bool = False
    injury: bool = False
    tickets: list = field(default_factory=list)
    level: str = ""
    resolved_at: Optional[dt.datetime] = None
    closed_at: Optional[dt.datetime] = None
    events: list = field(default_factory=list)
    response_from: Optional[dt.datetime] = None  # the opening, or the last regrade
    responded_at: Optional[dt.datetime] = None  # the first response since response_from
    solution: str = ""
    cause: str = ""
    approved_by: str = ""
    confirmed: bool = False
    reviewed_at: Optional[dt.datetime] = None
    review: dict = field(default_factory=dict)  # the 5W1H
    improvements: list = field(default_factory=list)

    @property
    def status(self) -> str:
        return "closed" if self.closed_at else "resolved" if self.resolved_at else "open"


class IncidentEvent(NamedTuple):
    """One row of ledgers/incidents.csv."""

    at: dt.datetime
    by: str
    type: str
    ref: str
    text: str
    data: dict


def _open(inc: Incident, e: IncidentEvent) -> None:
    inc.opened_at, inc.opened_by, inc.kind, inc.title = e.at, e.by, e.ref, e.text
    inc.media, inc.injury = bool(e.data.get("media")), bool(e.data.get("injury"))
    inc.response_from = e.at


def _grade(inc: Incident, e: IncidentEvent) -> None:
    if inc.level and e.ref != inc.level:  # a regrade: the new level's response limit starts now
        inc.response_from = e.at
        inc.responded_at = None
    inc.level = e.ref


def _respond(inc: Incident, e: IncidentEvent) -> None:
    if inc.responded_at is None:
        inc.responded_at = e.at


def _resolve(inc: Incident, e: IncidentEvent) -> None:
    inc.resolved_at, inc.solution = e.at, e.text


def _review(inc: Incident, e: IncidentEvent) -> None:
    inc.reviewed_at, inc.review = e.at, dict(e.data)


def _join(inc: Incident, e: IncidentEvent) -> None:
    if e.ref not in inc.tickets:
        inc.tickets.append(e.ref)


def _flag(inc: Incident, e: IncidentEvent) -> None:
    inc.media = inc.media or bool(e.data.get("media"))
    inc.injury = inc.injury or bool(e.data.get("injury"))


#: how each incident event type changes the incident (the same shape as aftersales.events)
APPLY = {
    "open": _open,
    "join": _join,
    "flag": _flag,
    "grade": _grade,
    "respond": _respond,
    "resolve": _resolve,
    "cause": lambda inc, e: setattr(inc, "cause", e.text),
    "approve": lambda inc, e: setattr(inc, "approved_by", e.by),
    "confirm": lambda inc, e: setattr(inc, "confirmed", True),
    "review": _review,
    "improve": lambda inc, e: inc.improvements.append(e.text),
    "close": lambda inc, e: setattr(inc, "closed_at", e.at),
}

#: the incident event types (the ledger's `type` column takes these and "note")
TYPES = tuple(APPLY) + ("note",)

#: the 5W1H of a review (seed 002 §4.2)
FIVE_W_ONE_H = ("what", "why", "who", "when", "where", "how")


def fold(root: Path) -> dict:
    """Incidents by ID: each one's events applied in time order (file order among equal times)."""
    rel = ledger.schema_of(LEDGER).file
    out: dict = {}
    rows = []
    for line, row in ledger.records(root, LEDGER):
        iid, at, by, typ, ref, text, data = row
        try:
            when = ledger.parse_time(at)
        except ValueError as err:
            raise InputError(f"{rel}:{line}: 'at' value '{at}' is not valid: {err}") from None
        rows.append((when, line, iid, IncidentEvent(when, by, typ, ref, text, json.loads(data) if data else {})))
    rows.sort(key=lambda r: (r[0], r[1]))
    for _when, _line, iid, e in rows:
        inc = out.setdefault(iid, Incident(iid))
        inc.events.append(e)
        apply = APPLY.get(e.type)
        if apply is not None:
            apply(inc, e)
    return {k: v for k, v in out.items() if v.opened_at is not None}


class Grade(NamedTuple):
    """An incident's level ("" when none applies) and why."""

    level: str
    why: str


def grade(policy: Policy, complaints: int, media: bool, injury: bool) -> Grade:
    """The level of an incident with so many complaints, media exposure or injury."""
    levels = sorted(policy.incident_levels.items(), key=lambda kv: -kv[1].min_complaints)
    for lid, lv in levels:
        if lv.media and media:
            return Grade(lid, "media exposure")
        if lv.injury and injury:
            return Grade(lid, "injury or property loss")
        if complaints >= lv.min_complaints:
            return Grade(lid, f"{complaints} complaint{'s' if complaints != 1 else ''} (≥ {lv.min_complaints})")
    return Grade("", f"{complaints} complaints")


def regrade_event(policy: Policy, inc: Incident, now: dt.datetime, by: str) -> list:
    level, why = grade(policy, len(inc.tickets), inc.media, inc.injury)
    if level and level != inc.level:
        inc.level = level
        return [{"incident": inc.id, "at": now, "by": by, "type": "grade", "ref": level, "text": why}]
    return []


def resolve_id(root: Path, typed: str) -> Incident:
    incidents = fold(root)
    try:
        return incidents[ids.resolve(typed, incidents, "incident", "aftersales incident list")]
    except ValueError as e:
        raise input_error(str(e)) from None


def check_open(inc: Incident, now: dt.datetime) -> None:
    """Refuse to record on a closed incident, or at a time before its last event."""
    if inc.status == "closed":
        raise InputError(f"incident {inc.id} is closed")
    last = inc.events[-1].at
    if now < last:
        raise InputError(f"incident {inc.id}: the time {now.isoformat()} is before its last event ({last.isoformat()}); check --now")


def leaders(policy: Policy, level: str) -> list:
    lv = policy.incident_levels.get(level)
    if lv is None:
        return []
    return [s for s in policy.staff if s.role == lv.lead_role and s.active]


def deadlines(policy: Policy, inc: Incident) -> dict:
    """Response due from the opening or the last regrade; review due from the resolution (seed 002)."""
    lv = policy.incident_levels.get(inc.level)
    if lv is None:
        return {}
    assert inc.opened_at is not None  # fold() keeps only opened incidents
    out = {"response": (inc.response_from or inc.opened_at) + lv.response.timedelta()}
    if inc.resolved_at:
        out["review"] = inc.resolved_at + lv.review.timedelta()
    return out


def states(policy: Policy, inc: Incident, now) -> dict:
    """"response" and "review": met, late (done after the deadline), OVERDUE (not done, the
    deadline passed), due (not done yet), or "" when there is no deadline yet."""
    due = deadlines(policy, inc)
    out = {}
    for what, done in (("response", inc.responded_at), ("review", inc.reviewed_at)):
        d = due.get(what)
        if d is None:
            out[what] = ""
        elif done is not None:
            out[what] = "met" if done <= d else "late"
        else:
            out[what] = "OVERDUE" if now > d and inc.status != "closed" else "due"
    return out


def owner_role(policy: Policy, level: str) -> str:
    lv = policy.incident_levels.get(level)
    return (lv.approve_role or lv.lead_role) if lv else ""


def check_approver(policy: Policy, inc: Incident, by: str) -> None:
    """Seed 002: the solution is approved by the level's owner; InputError otherwise."""
    if not inc.level:
        raise InputError(f"incident {inc.id} has no level; nobody owns its solution yet")
    if not inc.solution:
        raise InputError(f"incident {inc.id} has no solution to approve; record it with `aftersales incident resolve`")
    need = owner_role(policy, inc.level)
    member = policy.staff_member(by)
    assert member is not None  # the actor is checked against the roster (Workspace.actor)
    if policy.rank(by) < policy.roles[need].rank:
        raise InputError(f"incident {inc.id} is {inc.level}: its solution is approved by a {need} "
                         f"({policy.roles[need].name}) or higher; {by} is {member.role} ({policy.roles[member.role].name})")


ARCHIVE_WHAT = model.ARCHIVE_WHAT  # what each archive item is, and how it is recorded


def archive(policy: Policy, inc: Incident) -> dict:
    """The archive of seed 002 §4.4 as item -> True/False, in the policy's order."""
    have = {"grading": bool(inc.level), "records": bool(inc.tickets), "cause": bool(inc.cause),
            "approval": bool(inc.approved_by), "confirmation": inc.confirmed, "review": inc.reviewed_at is not None,
            "improvements": bool(inc.improvements)}
    return {item: have.get(item, False) for item in policy.incident_archive}


# ------------------------------------------------------------------ reports


def _keys(inc: Incident, tickets: dict) -> set:
    """What an incident is about, to find it again: its tickets' models and batches, else its title."""
    keys = set()
    for tid in inc.tickets:
        t = tickets.get(tid)
        if t is not None:
            for f in ("model", "batch"):
                if t.fields.get(f):
                    keys.add((f, t.fields[f]))
    return keys or {("title", inc.title)}


def recurrences(incidents: list, tickets: dict) -> set:
    """IDs of incidents that recur: an earlier incident of the same type is about the same
    product model, batch or (with neither) title."""
    out = set()
    seen: list = []
    for inc in sorted(incidents, key=lambda i: (i.opened_at, i.id)):
        k = _keys(inc, tickets)
        if any(kind == inc.kind and k & keys for kind, keys in seen):
            out.add(inc.id)
        seen.append((inc.kind, k))
    return out


def monthly(policy: Policy, incidents: list, tickets: dict, months: list, tz, now) -> list:
    """Per month (first days, ascending): incidents opened, by level, responded in time,
    closed, recurrences and the recurrence rate (seed 002 §5 metrics: the monthly trend)."""
    incidents = [i for i in incidents if i.opened_at <= now]
    rec = recurrences(incidents, tickets)
    rows = []
    for first in months:
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        opened = [i for i in incidents if first <= i.opened_at.astimezone(tz).date() < nxt]
        row = {"month": first.strftime("%Y-%m"), "opened": len(opened)}
        for lv in policy.incident_levels:
            row[lv] = sum(1 for i in opened if i.level == lv)
        row["responded_in_time"] = sum(1 for i in opened if states(policy, i, now)["response"] == "met")
        row["closed"] = sum(1 for i in incidents if i.closed_at and first <= i.closed_at.astimezone(tz).date() < nxt)
        row["recurrences"] = sum(1 for i in opened if i.id in rec)
        row["recurrence_rate"] = round(row["recurrences"] / len(opened), 4) if opened else None
        rows.append(row)
    return rows
