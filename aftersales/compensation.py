"""Compensation authority (policies: compensation) and what was paid (ledgers/compensations.csv)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Optional

from . import ledger
from .policy import Cap, Policy

CENT = Decimal("0.01")


def cap_amount(cap: Cap, t) -> Optional[Decimal]:
    """The cap in yuan for ticket `t`; None when the ticket lacks the amount it is a share of."""
    if cap.amount is not None:
        return cap.amount
    raw = t.fields.get(cap.of, "")
    if not raw:
        return None
    return (Decimal(raw) * cap.percent / 100).quantize(CENT)


def authority(policy: Policy, role: str, t) -> tuple:
    """(the most `role` may pay in total on ticket `t`, the rule that gives it).

    A role may pay up to the highest cap held by it or any lower-ranked role for the
    ticket's category. (None, "") when no rule gives the role any authority here.
    """
    comp = policy.compensation
    if comp is None or role not in policy.roles:
        return None, ""
    rank = policy.roles[role].rank
    best, note = None, ""
    for a in comp.authority:
        if a.categories and t.category not in a.categories:
            continue
        if policy.roles[a.role].rank > rank or policy.roles[a.role].rank == 0:
            continue
        amount = cap_amount(a.cap, t)
        if amount is not None and (best is None or amount > best):
            best, note = amount, f"{a.role}: {a.cap}"
    return best, note


def ticket_limit(policy: Policy, t) -> tuple:
    """The ticket's compensation limit: what `abnormal_above_role` may authorise."""
    if policy.compensation is None:
        return None, ""
    return authority(policy, policy.compensation.abnormal_above_role, t)


def paid_by_ticket(root: Path) -> dict:
    """Total paid per ticket ID."""
    out: dict = {}
    names = ledger.schema_of("compensations").column_names
    ti, ai = names.index("ticket"), names.index("amount")
    for _line, row in ledger.records(root, "compensations"):
        out[row[ti]] = out.get(row[ti], Decimal("0.00")) + Decimal(row[ai] or "0")
    return out
