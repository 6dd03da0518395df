"""KPIs for a period against the policy's targets (seeds 000, 004), and the weekly brief's numbers
(`brief.py` renders them as Markdown and HTML).

Definitions (each a function of the ledgers and the period [start, end), measured at
`now`):
- CSAT: surveys in the period whose mean score reaches kpi.satisfied_at, over surveys;
- first-contact resolution: tickets first resolved in the period with at most one reply
  before that resolution and no reopening since, over tickets first resolved;
- second resolution: tickets reopened in the period that were resolved again, over
  tickets reopened;
- complaint first feedback: complaints opened in the period answered within
  kpi.complaint_first_feedback, over complaints opened (the target: all of them);
- escalation rate (seed 004 §6, 投诉升级率): complaints opened in the period that the
  customer escalated beyond the shop (`ticket escalated`: a regulator, the platform, the
  media) because of a service failure (kpi.escalation_service_failure_only), over
  complaints opened; abnormal tickets and red-header copies are internal and not counted;
- 24-hour finish rate: tickets opened in the period at least 24 h before `now` that were
  closed within 24 h, over those tickets;
- compensation: the period's payments by liability and by method;
- complaints per 10,000 orders, when the number of orders is given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Optional

from . import compensation, ledger, replies
from .money import ZERO
from .clock import week_start
from .policy import Policy

DAY = dt.timedelta(days=1)


def as_of(tickets: dict, now: dt.datetime) -> dict:
    """The tickets as they were at `now`: later events left out (replays). A ticket's
    events are in time order, so only the tickets with an event after `now` are folded
    again; the others are taken as they are."""
    from .tickets import fold

    later = [t for t in tickets.values() if t.events and t.events[-1].at > now]
    if not later:
        return {tid: t for tid, t in tickets.items() if t.opened_at is not None}
    refolded = fold(e for t in later for e in t.events if e.at <= now)
    out = {}
    for tid, t in tickets.items():
        if t.events and t.events[-1].at > now:
            t = refolded.get(tid)
            if t is None:
                continue  # opened after now
        if t.opened_at is not None:
            out[tid] = t
    return out


#: What a ticket adds to the KPIs of a period, `now` left out (see `ticket_facts`).
FACTS = ("first_res", "fcr", "reopened", "again", "complaints", "escalated", "answered", "opened", "finished")

#: The event types `ticket_facts` looks at ("open" and "set" give the kind).
FACT_TYPES = frozenset({"open", "set", "resolve", "reply", "reopen", "close", "escalated"})


def ticket_facts(policy: Policy, t, start: dt.datetime, end: dt.datetime) -> tuple:
    """What ticket `t`, as it is, adds to the KPIs of [start, end), one 0 or 1 per name
    in FACTS. Only `opened` and `finished` (opened in the period, closed within 24 h) wait
    on `now`: they count once the ticket is 24 h old (`counts`)."""
    k = policy.kpi
    first_res = fcr = reopened = again = complaint = escalated = answered = opened = finished = 0
    resolves = []  # the times of the ticket's resolutions, replies and reopenings, in order
    reps = []
    reopens = []
    opens = []  # and its open and set events
    close = None
    for e in t.events:
        typ = e.type
        if typ == "reply":
            reps.append(e.at)
        elif typ == "resolve":
            resolves.append(e.at)
        elif typ == "reopen":
            reopens.append(e.at)
        elif typ == "close" and close is None:
            close = e.at
        elif typ == "open" or typ == "set":
            opens.append(e)
    if resolves and start <= resolves[0] < end:
        res = resolves[0]
        first_res = 1
        if sum(1 for at in reps if at <= res) <= 1 and not any(at >= res for at in reopens):
            fcr = 1
    for at in reopens:
        if start <= at < end:
            reopened = 1
            if any(r >= at for r in resolves):
                again = 1
            break
    if start <= t.opened_at < end:
        opened = 1
        if _complaint(t, opens):
            complaint = 1
            escalated = int(any(e.type == "escalated" and (e.data.get("service_failure", True)
                                                           or not k.escalation_service_failure_only) for e in t.events))
            answered = int(bool(reps) and reps[0] - t.opened_at <= k.complaint_first_feedback.timedelta())
        finished = int(close is not None and close - t.opened_at <= DAY)
    return (first_res, fcr, reopened, again, complaint, escalated, answered, opened, finished)


def _complaint(t, opens: list) -> bool:
    """t.kind == "complaint", of a ticket whose open and set events are `opens`. Of a ticket
    opened once and never set, read off the open row's intake data when it is a flat JSON
    object as the ledger writes it, without parsing it (an intake form is parsed for this
    alone, for each ticket of a month); else as t.kind reads it (and words a bad cell)."""
    if len(opens) == 1 and opens[0]._data is None and ledger.plain_object(opens[0]._raw):
        raw = opens[0]._raw
        n = raw.count('"kind":')
        if n == 0:
            return False
        if n == 1:
            return '"kind":"complaint"' in raw
    return t.kind == "complaint"


def counts(facts, now: dt.datetime) -> dict:
    """The KPI counts from (opening time, ticket_facts) pairs, at `now`: a ticket opened in
    the period is due for the 24-hour finish rate once it is a day old."""
    out = dict.fromkeys(FACTS[:7], 0)
    due = finished = 0
    names = FACTS[:7]
    for opened_at, f in facts:
        for name, v in zip(names, f):
            if v:
                out[name] += 1
        if f[7] and now - opened_at >= DAY:
            due += 1
            finished += f[8]
    out["due"], out["finished"] = due, finished
    return out


def kpis(policy: Policy, tickets: dict, surveys: list, payments: list, start: dt.datetime, end: dt.datetime,
         now: dt.datetime, orders: Optional[int] = None) -> list:
    tickets = as_of(tickets, now)
    n = counts(((t.opened_at, ticket_facts(policy, t, start, end)) for t in tickets.values()), now)
    return rows(policy, n, surveys, payments, start, end, now, orders)


def rows(policy: Policy, n: dict, surveys: list, payments: list, start: dt.datetime, end: dt.datetime,
         now: dt.datetime, orders: Optional[int] = None) -> list:
    """The KPI rows from the tickets' counts (`counts`), the surveys and the payments."""
    k = policy.kpi
    rows = []
    surveys = [s for s in surveys if s["at"] <= now]
    payments = [p for p in payments if p["at"] <= now]

    def share(name, ok, n, target, detail, at_most=False):
        value = ok / n if n else None
        verdict = "" if value is None or target is None else (
            "met" if (value <= target if at_most else value >= target) else "ABOVE" if at_most else "BELOW")  # issue 15
        rows.append({"kpi": name, "value": value, "count": f"{ok}/{n}", "target": target,
                     "at_most": at_most, "verdict": verdict, "detail": detail})

    sv = [s for s in surveys if start <= s["at"] < end]
    share("CSAT", sum(replies.satisfied(policy, s["speed"], s["result"], s["attitude"]) for s in sv), len(sv), k.csat,
          f"mean score ≥ {k.satisfied_at}")
    complaints = n["complaints"]
    share("first-contact resolution", n["fcr"], n["first_res"], k.first_contact_resolution,
          "≤ 1 reply before the solution, not reopened")
    share("second resolution", n["again"], n["reopened"], k.second_resolution, "reopened tickets resolved again")
    share("complaint first feedback", n["answered"], complaints, 1.0, f"first reply within {k.complaint_first_feedback}")
    share("escalation rate", n["escalated"], complaints, k.escalation_rate_max,
          "complaints escalated beyond the shop" + (" for a service failure" if k.escalation_service_failure_only else ""),
          at_most=True)
    share("24-hour finish rate", n["finished"], n["due"], k.finish_24h, "closed within 24 h of opening")
    pays = [p for p in payments if start <= p["at"] < end]
    for what in ("liability", "method"):
        totals: dict = {}
        for p in pays:
            totals[p[what]] = totals.get(p[what], ZERO) + p["amount"]
        for key, amount in sorted(totals.items()):
            rows.append({"kpi": f"compensation by {what}: {key}", "value": amount, "count": "", "target": None,
                         "at_most": False, "verdict": "", "detail": ""})
    if orders:
        rows.append({"kpi": "complaints per 10,000 orders", "value": Decimal(complaints * 10000) / orders,
                     "count": f"{complaints}/{orders}", "target": None, "at_most": False, "verdict": "", "detail": ""})
    return rows


# ------------------------------------------------------------------ the weekly brief


def category_trend(openings, weeks: list, tz: dt.tzinfo) -> dict:
    """category -> [tickets opened in each week], of (opening time, category) pairs."""
    out: dict = {}
    lo, hi = min(weeks), max(weeks) + 7 * DAY
    for opened_at, category in openings:
        d = opened_at.astimezone(tz).date()
        if not lo <= d < hi:
            continue
        for i, w in enumerate(weeks):
            if w <= d < w + 7 * DAY:
                out.setdefault(category, [0] * len(weeks))[i] += 1
    return out


def repeated_products(models) -> list:
    """(model, tickets, batches) for products with two or more quality tickets, of the
    (model, batch) pairs of the quality tickets of the span."""
    seen: dict = {}
    for model, batch in models:
        m = seen.setdefault(model, [0, set()])
        m[0] += 1
        if batch:
            m[1].add(batch)
    return sorted(((m, n, sorted(b)) for m, (n, b) in seen.items() if n >= 2), key=lambda x: (-x[1], x[0]))


@dataclass
class Brief:
    """The numbers of the Friday brief (seed 004) for one ISO week; `brief.render` writes them out."""

    label: str
    first: dt.date  # the week's Monday
    span: int  # weeks in the trends
    now: dt.datetime
    tz: dt.tzinfo
    names: dict  # category -> its name
    top: list  # [(category, [tickets opened in each week])], most frequent this week first
    week_labels: list
    opened: int  # tickets opened this week
    closed: int
    abnormal: list  # the reasons of the tickets opened this week that are abnormal
    red: int  # red-header copies this week
    paid: Decimal
    by_liability: dict
    att: list  # time-limit attainment rows
    products: list  # (model, tickets, batches) with repeated quality problems
    bad_products: list  # (product, bad reviews, reviews)


def brief(policy: Policy, root: Path, label: str, now: dt.datetime, span: int = 4) -> Brief:
    """The Friday brief's numbers for ISO week `label`, as they were at `now`. The tickets
    are read one at a time: those with a row this week whole, those with rows in the
    earlier weeks of the span only as they were opened (all that the trend and the
    products count of them)."""
    from . import cache, sla
    from . import reviews as rv
    from .tickets.scan import span_records

    tz = policy.tz()
    first = week_start(label)
    weeks = [first - 7 * DAY * i for i in range(span - 1, -1, -1)]
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = start + 7 * DAY
    span_start = dt.datetime.combine(weeks[0], dt.time(), tzinfo=tz)
    found = span_records(root, start, span_start)
    whole, light = found if found is not None else ({}, {})

    def part(whole: dict, light: dict) -> dict:
        return _week_part(policy, root, whole, light, start, end, span_start, now)

    if cache.jobs() >= 2 and len(whole) + len(light) >= SHARE_MIN:
        # half of the tickets folded and evaluated by a second process; should it fail in
        # any way, its half is done here after all (an error then worded as ever)
        theirs = ({k: whole.pop(k) for k in list(whole)[1::2]}, {k: light.pop(k) for k in list(light)[1::2]})
        got, other = cache.halves(lambda: part(whole, light), lambda: part(*theirs))
        for k in ("openings", "models", "abnormal"):
            got[k] += other[k]
        for k in ("opened", "closed", "red"):
            got[k] += other[k]
        sla.merge_buckets(got["buckets"], other["buckets"])
    else:
        got = part(whole, light)
    att = sla.attainment_rows(policy, got["buckets"])
    names = {c: v.name for c, v in policy.categories.items()}
    trend = category_trend(got["openings"], weeks, tz)
    top = sorted(trend.items(), key=lambda kv: (-kv[1][-1], -sum(kv[1]), kv[0]))
    week_labels = [f"W{w.isocalendar()[1]:02d}" for w in weeks]
    pays = [p for p in compensation.payments(root) if start <= p["at"] < end and p["at"] <= now]
    paid = sum((p["amount"] for p in pays), ZERO)
    by_liability: dict = {}
    for p in pays:
        by_liability[p["liability"]] = by_liability.get(p["liability"], ZERO) + p["amount"]
    products = repeated_products(got["models"])
    bad_products = rv.bad_by_product(policy, rv.load(root), min(now, end))[:5]
    return Brief(label, first, span, now, tz, names, top, week_labels, got["opened"], got["closed"], got["abnormal"], got["red"],
                 paid, by_liability, att, products, bad_products)


#: a weekly brief of at least this many tickets read is shared with a second process
SHARE_MIN = 4000


def _week_part(policy: Policy, root: Path, whole: dict, light: dict, start: dt.datetime, end: dt.datetime,
               span_start: dt.datetime, now: dt.datetime) -> dict:
    """The brief's counts of the tickets of `whole` and `light` (`scan.span_records`),
    which it empties: each is read once, as it was at `now`; those with a row this week
    (`whole`) are counted and their time limits evaluated, the others (`light`) only
    count as openings."""
    from . import sla
    from .tickets.scan import fold_span

    quality = policy.kpi.quality_categories
    got: dict = {"openings": [], "models": [], "abnormal": [], "opened": 0, "closed": 0, "red": 0}
    openings, models, abnormal = got["openings"], got["models"], got["abnormal"]

    def this_week():
        """The tickets with a row this week, as they were at `now`; the rest is counted on the way."""
        for whole_, t in fold_span(root, whole, light):
            if t.events[-1].at > now:
                t = as_of({t.id: t}, now).get(t.id)
                if t is None:
                    continue
            openings.append((t.opened_at, t.category))
            if span_start <= t.opened_at < end and t.category in quality and t.fields.get("model"):
                models.append((t.fields["model"], t.fields.get("batch")))
            if not whole_:
                continue
            if start <= t.opened_at < end:
                got["opened"] += 1
                if t.abnormal:
                    abnormal.append(t.abnormal)
            for e in t.events:
                if start <= e.at < end:
                    if e.type == "close":
                        got["closed"] += 1
                    elif e.type == "escalate":
                        got["red"] += 1
            if t.events[-1].at >= start and t.opened_at < end:
                yield t

    got["buckets"] = sla.attainment_buckets(policy, this_week(), start, end, now)  # it reads them once, as they come
    return got
