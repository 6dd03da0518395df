"""Quality inspection of conversations (质检, seed 001, 售前组长): "每日质检比例不得低于客服接待量
40%", "发现低于90分聊天记录一对一分析".

ledgers/inspections.csv holds three kinds of row: `volume` (an agent's conversations on a
day; a later row for the same agent and day replaces it), `inspect` (a lead's score of
one conversation) and `review` (the one-to-one review of an inspection under the pass
score). A day's coverage per agent is the conversations inspected over the volume,
against policy `inspection.coverage`; a follow-up is owed for every inspection under
`inspection.pass_score` with no review.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import ledger
from .errors import InputError
from .policy import Policy

LEDGER = "inspections"


def rows(root: Path, now=None) -> list:
    """Every row as a dict, `at` parsed, `day` a date, `score`/`count` ints (None when empty)."""
    names = ledger.schema_of(LEDGER).column_names
    out = []
    for line, raw in ledger.records(root, LEDGER):
        r = dict(zip(names, raw))
        r["at"] = ledger.parse_time(r["at"])
        if now is not None and r["at"] > now:
            continue
        r["day"] = dt.date.fromisoformat(r["day"])
        for k in ("score", "count"):
            r[k] = int(r[k]) if r[k] else None
        r["line"] = line
        out.append(r)
    return out


def check_inspector(policy: Policy, by: str) -> None:
    need = policy.inspection.inspector_role
    if policy.rank(by) < policy.roles[need].rank:
        member = policy.staff_member(by)
        assert member is not None  # the actor is checked against the roster (Workspace.actor)
        raise InputError(f"only a {need} ({policy.roles[need].name}) or higher inspects conversations; "
                         f"{by} is {member.role} ({policy.roles[member.role].name})")


def check_agent(policy: Policy, agent: str) -> None:
    from .schema import closest

    if policy.staff_member(agent) is None:
        raise InputError(f"AGENT {agent}: unknown staff member; {closest(agent, [s.id for s in policy.staff])}")


def check_score(score: int) -> None:
    if not 0 <= score <= 100:
        raise InputError(f"--score {score}: a QA score goes from 0 to 100")


def owed(policy: Policy, records: list) -> list:
    """Inspections under the pass score with no one-to-one review yet, oldest first."""
    reviewed = {r["ref"] for r in records if r["type"] == "review"}
    return [r for r in records if r["type"] == "inspect" and r["score"] is not None
            and r["score"] < policy.inspection.pass_score and r["id"] not in reviewed]


def day(policy: Policy, records: list, when: dt.date) -> list:
    """Per agent with conversations or inspections on `when`: conversations, inspected,
    coverage, its target and verdict, scores under the pass score, and follow-ups owed
    (on any day); then a TOTAL row for the team."""
    volume: dict = {}
    for r in records:
        if r["type"] == "volume" and r["day"] == when:
            volume[r["agent"]] = r["count"]  # a later row replaces an earlier one
    inspected: dict = {}
    below: dict = {}
    for r in records:
        if r["type"] == "inspect" and r["day"] == when:
            inspected.setdefault(r["agent"], set()).add(r["ref"])
            if r["score"] < policy.inspection.pass_score:
                below[r["agent"]] = below.get(r["agent"], 0) + 1
    owing: dict = {}
    for r in owed(policy, records):
        owing[r["agent"]] = owing.get(r["agent"], 0) + 1
    target = policy.inspection.coverage
    out = []

    def row(agent, conv, n, b, o):
        share = n / conv if conv else None
        verdict = "no volume" if conv is None else "" if conv == 0 else ("met" if share >= target else "BELOW")
        return {"day": when, "agent": agent, "conversations": conv, "inspected": n,
                "coverage": None if share is None else round(share, 4), "target": target, "verdict": verdict,
                "below_pass": b, "reviews_owed": o}

    for agent in sorted(set(volume) | set(inspected)):
        out.append(row(agent, volume.get(agent), len(inspected.get(agent, ())), below.get(agent, 0),
                       owing.get(agent, 0)))
    if out:
        conv = sum(v for v in volume.values() if v) if volume else None
        out.append(row("TOTAL", conv, sum(len(v) for v in inspected.values()), sum(below.values()),
                       sum(owing.values())))
    return out
