"""Incidents (应急事件, seed 002): tickets that share a cause, graded L1-L3 by policy.

An incident is the fold of its rows in ledgers/incidents.csv: open (type, title, media,
injury), join (a ticket), flag (media exposure or injury learned later), grade (the level
it reached, recorded whenever it changes), resolve, close. The level is the most severe
one whose thresholds hold: enough complaints, or media exposure / injury where the level
names them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from . import ids, ledger
from .errors import InputError, input_error
from .policy import Policy

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
    "grade": lambda inc, e: setattr(inc, "level", e.ref),
    "resolve": lambda inc, e: setattr(inc, "resolved_at", e.at),
    "close": lambda inc, e: setattr(inc, "closed_at", e.at),
}


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
    """Response due from the opening; review due from the resolution (seed 002)."""
    lv = policy.incident_levels.get(inc.level)
    if lv is None:
        return {}
    assert inc.opened_at is not None  # fold() keeps only opened incidents
    out = {"response": inc.opened_at + lv.response.timedelta()}
    if inc.resolved_at:
        out["review"] = inc.resolved_at + lv.review.timedelta()
    return out
