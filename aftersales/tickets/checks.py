"""Cross-record checks of the ticket ledger, for `as check`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from .. import ids, ledger
from ..errors import Problem
from ..money import parse_amount
from ..policy import Policy
from .evidence import evidence_path
from .model import AMOUNT_FIELDS, LEDGER

if TYPE_CHECKING:
    from ..checks import CheckContext


def check_ticket_ledger(ctx: CheckContext) -> list:
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
        bad: Optional[tuple] = None  # (what, the known ones)
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
            from ..schema import closest

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
