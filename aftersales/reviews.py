"""Review follow-up (评价维护, seeds 001 and 004): bad reviews must be contacted within 1 h.

A review is the latest state of the rows sharing its id (a later row fills in what an
earlier one left empty: the contact, the follow-up ticket). A bad review (score at or
under `reviews.bad_at_most`) is overdue when it has neither a contact nor a follow-up
ticket `reviews.contact_within` after it was written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

from . import ledger
from .policy import Policy


def load(root: Path, until: Optional[dt.datetime] = None) -> dict:
    """(review, order) -> the review as known at `until` (a platform may reuse a review ID)."""
    return ledger.latest(root, "reviews", ("review", "order"), until)


def _known(text: str, now: dt.datetime):
    t = ledger.parse_time(text) if text else None
    return t if t is not None and t <= now else None


def is_bad(policy: Policy, r: dict) -> bool:
    return bool(r["score"]) and int(r["score"]) <= policy.reviews.bad_at_most


def overdue(policy: Policy, reviews: dict, now: dt.datetime) -> list:
    """Bad reviews written by `now`, past the contact limit, with no contact and no ticket at `now`."""
    limit = policy.reviews.contact_within.timedelta()
    out = []
    for r in reviews.values():
        created = _known(r["created_at"], now)
        if created is None or not is_bad(policy, r) or r["ticket"] or _known(r["contacted_at"], now):
            continue
        if now - created > limit:
            out.append((created, r))
    out.sort(key=lambda x: (x[0], x[1]["review"]))
    return [r for _c, r in out]


def bad_by_product(policy: Policy, reviews: dict, now: dt.datetime) -> list:
    """(product, bad reviews, reviews) for products with bad reviews written by `now`, most first."""
    counts: dict = {}
    for r in reviews.values():
        if _known(r["created_at"], now) is None or not r["product"]:
            continue
        c = counts.setdefault(r["product"], [0, 0])
        c[1] += 1
        if is_bad(policy, r):
            c[0] += 1
    rows = [(p, bad, total) for p, (bad, total) in counts.items() if bad]
    rows.sort(key=lambda x: (-x[1], -x[2], x[0]))
    return rows
