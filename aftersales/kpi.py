"""KPIs for a period against the policy's targets (seeds 000, 004), and the weekly brief.

Definitions (each a function of the ledgers and the period [start, end), measured at
`now`):
- CSAT: surveys in the period whose mean score reaches kpi.satisfied_at, over surveys;
- first-contact resolution: tickets first resolved in the period with at most one reply
  before that resolution and no reopening since, over tickets first resolved;
- second resolution: tickets reopened in the period that were resolved again, over
  tickets reopened;
- complaint first feedback: complaints opened in the period answered within
  kpi.complaint_first_feedback, over complaints opened (the target: all of them);
- escalation rate: tickets opened in the period that became abnormal, went to a group or
  were escalated (红头), over tickets opened;
- 24-hour finish rate: tickets opened in the period at least 24 h before `now` that were
  closed within 24 h, over those tickets;
- compensation: the period's payments by liability and by method;
- complaints per 10,000 orders, when the number of orders is given.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from . import ledger, replies
from .policy import Policy

DAY = dt.timedelta(days=1)


def _first(t, typ, after=None):
    for e in t.events:
        if e.type == typ and (after is None or e.at >= after):
            return e
    return None


def as_of(tickets: dict, now) -> dict:
    """The tickets as they were at `now`: later events left out (replays)."""
    from .tickets import fold

    return {tid: t for tid, t in fold(e for t in tickets.values() for e in t.events if e.at <= now).items()
            if t.opened_at is not None}


def kpis(policy: Policy, tickets: dict, surveys: list, payments: list, start, end, now, orders=None) -> list:
    k = policy.kpi
    rows = []
    tickets = as_of(tickets, now)
    surveys = [s for s in surveys if s["at"] <= now]
    payments = [p for p in payments if ledger.parse_time(p["at"]) <= now]

    def share(name, ok, n, target, detail, at_most=False):
        value = ok / n if n else None
        verdict = "" if value is None or target is None else (
            "met" if (value <= target if at_most else value >= target) else "ABOVE" if at_most else "BELOW")  # issue 15
        rows.append({"kpi": name, "value": value, "count": f"{ok}/{n}", "target": target,
                     "at_most": at_most, "verdict": verdict, "detail": detail})

    sv = [s for s in surveys if start <= s["at"] < end]
    share("CSAT", sum(replies.satisfied(policy, s["speed"], s["result"], s["attitude"]) for s in sv), len(sv), k.csat,
          f"mean score ≥ {k.satisfied_at}")
    first_res = fcr = 0
    reopened = again = 0
    complaints = answered = 0
    opened = escalated = 0
    due = finished = 0
    limit = k.complaint_first_feedback.timedelta()
    for t in tickets.values():
        res = _first(t, "resolve")
        if res is not None and start <= res.at < end:
            first_res += 1
            replies_before = sum(1 for e in t.events if e.type == "reply" and e.at <= res.at)
            if replies_before <= 1 and not any(e.type == "reopen" and e.at >= res.at for e in t.events):
                fcr += 1
        for e in t.events:
            if e.type == "reopen" and start <= e.at < end:
                reopened += 1
                if _first(t, "resolve", e.at) is not None:
                    again += 1
                break
        if not start <= t.opened_at < end:
            continue
        opened += 1
        if t.abnormal or t.group or "escalate" in t.types:
            escalated += 1
        if t.kind == "complaint":
            complaints += 1
            r = _first(t, "reply")
            answered += r is not None and r.at - t.opened_at <= limit
        if now - t.opened_at >= DAY:
            due += 1
            c = _first(t, "close")
            finished += c is not None and c.at - t.opened_at <= DAY
    share("first-contact resolution", fcr, first_res, k.first_contact_resolution, "≤ 1 reply before the solution, not reopened")
    share("second resolution", again, reopened, k.second_resolution, "reopened tickets resolved again")
    share("complaint first feedback", answered, complaints, 1.0, f"first reply within {k.complaint_first_feedback}")
    share("escalation rate", escalated, opened, k.escalation_rate_max, "abnormal, to a group or escalated", at_most=True)
    share("24-hour finish rate", finished, due, k.finish_24h, "closed within 24 h of opening")
    pays = [p for p in payments if start <= ledger.parse_time(p["at"]) < end]
    for what in ("liability", "method"):
        totals: dict = {}
        for p in pays:
            totals[p[what]] = totals.get(p[what], Decimal("0.00")) + Decimal(p["amount"])
        for key, amount in sorted(totals.items()):
            rows.append({"kpi": f"compensation by {what}: {key}", "value": amount, "count": "", "target": None,
                         "at_most": False, "verdict": "", "detail": ""})
    if orders:
        rows.append({"kpi": "complaints per 10,000 orders", "value": Decimal(complaints * 10000) / orders,
                     "count": f"{complaints}/{orders}", "target": None, "at_most": False, "verdict": "", "detail": ""})
    return rows


# ------------------------------------------------------------------ the weekly brief


def week_start(label: str) -> dt.date:
    import re

    m = re.fullmatch(r"(\d{4})-W(\d{2})", label or "")
    try:
        return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except (AttributeError, ValueError):
        raise ValueError(f"--week '{label}': write it like 2026-W47 (weeks 01 to 52 or 53)") from None


def category_trend(policy: Policy, tickets: dict, weeks: list, tz) -> dict:
    """category -> [tickets opened in each week]."""
    out: dict = {}
    for t in tickets.values():
        d = t.opened_at.astimezone(tz).date()
        for i, w in enumerate(weeks):
            if w <= d < w + 7 * DAY:
                out.setdefault(t.category, [0] * len(weeks))[i] += 1
    return out


QUALITY = ("quality", "batch_defect", "transit_damage", "product_complaint")


def repeated_products(tickets: dict, start, end) -> list:
    """(model, tickets, batches) for products with two or more quality tickets in the span."""
    seen: dict = {}
    for t in tickets.values():
        if start <= t.opened_at < end and t.category in QUALITY and t.fields.get("model"):
            m = seen.setdefault(t.fields["model"], [0, set()])
            m[0] += 1
            if t.fields.get("batch"):
                m[1].add(t.fields["batch"])
    return sorted(((m, n, sorted(b)) for m, (n, b) in seen.items() if n >= 2), key=lambda x: (-x[1], x[0]))


def svg_lines(series: dict, labels: list, width=640, height=260) -> str:
    """A line chart: one line per series, x = labels."""
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    top = max([max(v) for v in series.values()] + [1])
    left, bottom, right, upper = 40, 30, 150, 15
    w, h = width - left - right, height - bottom - upper
    step = w / max(len(labels) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" '
             f'font-family="sans-serif" role="img">']
    for i in range(5):
        y = upper + h - h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.0f}" x2="{left + w}" y2="{y:.0f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{top * i / 4:.0f}</text>')
    for i, lab in enumerate(labels):
        parts.append(f'<text x="{left + i * step:.0f}" y="{height - 10}" text-anchor="middle">{lab}</text>')
    for n, (name, values) in enumerate(series.items()):
        c = colors[n % len(colors)]
        pts = " ".join(f"{left + i * step:.0f},{upper + h - h * v / top:.0f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="2.5" points="{pts}"/>')
        for i, v in enumerate(values):
            parts.append(f'<circle cx="{left + i * step:.0f}" cy="{upper + h - h * v / top:.0f}" r="3" fill="{c}"/>')
        parts.append(f'<rect x="{left + w + 15}" y="{upper + 16 * n}" width="10" height="10" fill="{c}"/>'
                     f'<text x="{left + w + 30}" y="{upper + 9 + 16 * n}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(items: list, width=640, bar=22) -> str:
    """Horizontal bars: [(label, value)]."""
    top = max([v for _l, v in items] + [1])
    height = 10 + bar * len(items)
    left = 150
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12" '
             f'font-family="sans-serif" role="img">']
    for i, (label, v) in enumerate(items):
        y = 5 + i * bar
        w = (width - left - 50) * v / top
        parts.append(f'<text x="{left - 8}" y="{y + bar * 0.65:.0f}" text-anchor="end">{_esc(label)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.0f}" height="{bar - 6}" fill="#1f77b4"/>'
                     f'<text x="{left + w + 6:.0f}" y="{y + bar * 0.65:.0f}">{v}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(s) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def weekly(policy: Policy, root, label: str, now, span: int = 4) -> tuple:
    """(markdown, html) of the Friday brief (seed 004) for ISO week `label`."""
    import html as h

    from . import reviews as rv
    from . import compensation, sla
    from .tickets import load_tickets

    tz = policy.tz()
    first = week_start(label)
    weeks = [first - 7 * DAY * i for i in range(span - 1, -1, -1)]
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = start + 7 * DAY
    span_start = dt.datetime.combine(weeks[0], dt.time(), tzinfo=tz)
    tks = as_of(load_tickets(root), now)
    names = {c: v.name for c, v in policy.categories.items()}
    trend = category_trend(policy, tks, weeks, tz)
    top = sorted(trend.items(), key=lambda kv: (-kv[1][-1], -sum(kv[1]), kv[0]))
    week_labels = [f"W{w.isocalendar()[1]:02d}" for w in weeks]
    this_week = [t for t in tks.values() if start <= t.opened_at < end]
    closed = sum(1 for t in tks.values() for e in t.events if e.type == "close" and start <= e.at < end)
    abnormal = [t for t in this_week if t.abnormal]
    red = sum(1 for t in tks.values() for e in t.events if e.type == "escalate" and start <= e.at < end)
    pay_names = ledger.schema_of("compensations").column_names
    pays = [dict(zip(pay_names, r)) for _l, r in compensation.payment_records(root)]  # issue 15: as corrected
    pays = [p for p in pays if start <= ledger.parse_time(p["at"]) < end and ledger.parse_time(p["at"]) <= now]
    paid = sum((Decimal(p["amount"]) for p in pays), Decimal("0.00"))
    by_liability: dict = {}
    for p in pays:
        by_liability[p["liability"]] = by_liability.get(p["liability"], Decimal("0.00")) + Decimal(p["amount"])
    att = sla.attainment(policy, [t for t in tks.values() if t.events[-1].at >= start and t.opened_at < end],
                         start, end, now)
    products = repeated_products(tks, span_start, end)
    bad_products = rv.bad_by_product(policy, rv.load(root), min(now, end))[:5]
    title = f"售后问题分析简报 · {policy.shop.name} · {label} ({first} – {first + 6 * DAY})"

    md = [f"# {title}", "", f"Generated {now.astimezone(tz):%Y-%m-%d %H:%M} by aftersales.", "",
          "| opened | closed | abnormal | red-header copies | compensation |", "|---:|---:|---:|---:|---:|",
          f"| {len(this_week)} | {closed} | {len(abnormal)} | {red} | ¥{paid} |", "",
          "## Most frequent problem types", "", "| category | " + " | ".join(week_labels) + " |",
          "|---|" + "---:|" * len(week_labels)]
    for cat, counts in top[:10]:
        md.append(f"| {names.get(cat, cat)} ({cat}) | " + " | ".join(str(c) for c in counts) + " |")
    md += ["", f"## Products with repeated quality problems (last {span} weeks; for purchasing)", ""]
    md += [f"- {m}: {n} tickets" + (f", batches {', '.join(b)}" if b else "") for m, n, b in products] or ["- none"]
    if bad_products:
        md += ["", "Bad reviews by product: " + "; ".join(f"{p} {bad}/{total}" for p, bad, total in bad_products)]
    md += ["", "## Time limits this week", "", "| timer | cycles | met | missed | met % | goal |", "|---|---:|---:|---:|---:|---|"]
    for r in att:
        pct = "" if r["share_met"] is None else f"{r['share_met']:.0%}"
        goal = "" if r["goal"] is None else f"≥{r['goal']:.0%} {'met' if r['goal_met'] else 'BELOW'}" if r["goal_met"] is not None else f"≥{r['goal']:.0%}"
        md.append(f"| {r['name']} ({r['timer']}) | {r['cycles']} | {r['met']} | {r['missed']} | {pct} | {goal} |")
    md += ["", "## Escalations", ""]
    md += [f"- {sum(1 for t in abnormal if t.abnormal == reason)} abnormal: {reason}" for reason in sorted({t.abnormal for t in abnormal})] or ["- none"]
    md += [f"- {red} red-header copies to superiors"]
    md += ["", "## Compensation this week", ""]
    md += [f"- {k}: ¥{v}" for k, v in sorted(by_liability.items())] or ["- none"]
    markdown = "\n".join(md) + "\n"

    bars = svg_bars([(names.get(c, c), v[-1]) for c, v in top[:8] if v[-1]])
    lines = svg_lines({names.get(c, c): v for c, v in top[:5]}, week_labels)
    table = lambda rows: "<table>" + "".join("<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{h.escape(str(c))}</{'th' if i == 0 else 'td'}>" for c in r) + "</tr>" for i, r in enumerate(rows)) + "</table>"  # noqa: E731
    body = [f"<h1>{h.escape(title)}</h1>",
            '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for k, v in (
                ("opened", len(this_week)), ("closed", closed), ("abnormal", len(abnormal)),
                ("red-header copies", red), ("compensation", f"¥{paid}"))) + "</div>",
            "<h2>Most frequent problem types</h2>", f"<h3>This week</h3>{bars}",
            f"<h3>Trend over {span} weeks</h3>{lines}",
            table([["category"] + week_labels] + [[names.get(c, c)] + v for c, v in top[:10]]),
            f"<h2>Products with repeated quality problems (last {span} weeks)</h2>",
            table([["product", "tickets", "batches"]] + [[m, n, ", ".join(b)] for m, n, b in products]) if products else "<p>none</p>",
            "<h2>Time limits this week</h2>",
            table([["timer", "cycles", "met", "missed", "met %"]] + [[r["name"], r["cycles"], r["met"], r["missed"],
                   "" if r["share_met"] is None else f"{r['share_met']:.0%}"] for r in att]),
            "<h2>Compensation this week</h2>",
            table([["liability", "amount"]] + [[k, f"¥{v}"] for k, v in sorted(by_liability.items())]) if by_liability else "<p>none</p>"]
    page = ("<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>" + h.escape(title) + "</title><style>"
            "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;max-width:900px;margin:24px auto;color:#222}h1{font-size:22px}"
            "h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}"
            "td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}"
            ".cards{display:flex;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:10px 16px;text-align:center}"
            ".card b{display:block;font-size:24px}.card span{color:#666;font-size:12px}</style></head><body>"
            + "".join(body) + "</body></html>\n")
    return markdown, page
