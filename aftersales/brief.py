"""The Friday brief (售后问题分析简报, seed 004) rendered: Markdown, and a self-contained HTML
page with inline SVG charts (no script, no external file). The numbers come from
`kpi.brief`."""

from __future__ import annotations

import datetime as dt

from .kpi import Brief, brief

DAY = dt.timedelta(days=1)


def weekly(policy, root, label: str, now, span: int = 4) -> tuple:
    """(markdown, html) of the Friday brief for ISO week `label`."""
    return render(policy, brief(policy, root, label, now, span))


def render(policy, b: Brief) -> tuple:
    import html as h

    label, first, span, now, tz, names, top, week_labels = b.label, b.first, b.span, b.now, b.tz, b.names, b.top, b.week_labels
    opened, closed, abnormal, red, paid, by_liability = b.opened, b.closed, b.abnormal, b.red, b.paid, b.by_liability
    att, products, bad_products = b.att, b.products, b.bad_products
    title = f"售后问题分析简报 · {policy.shop.name} · {label} ({first} – {first + 6 * DAY})"

    md = [f"# {title}", "", f"Generated {now.astimezone(tz):%Y-%m-%d %H:%M} by aftersales.", "",
          "| opened | closed | abnormal | red-header copies | compensation |", "|---:|---:|---:|---:|---:|",
          f"| {opened} | {closed} | {len(abnormal)} | {red} | ¥{paid} |", "",
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
    md += [f"- {abnormal.count(reason)} abnormal: {reason}" for reason in sorted(set(abnormal))] or ["- none"]
    md += [f"- {red} red-header copies to superiors"]
    md += ["", "## Compensation this week", ""]
    md += [f"- {k}: ¥{v}" for k, v in sorted(by_liability.items())] or ["- none"]
    markdown = "\n".join(md) + "\n"

    bars = svg_bars([(names.get(c, c), v[-1]) for c, v in top[:8] if v[-1]])
    lines = svg_lines({names.get(c, c): v for c, v in top[:5]}, week_labels)
    table = lambda rows: "<table>" + "".join("<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{h.escape(str(c))}</{'th' if i == 0 else 'td'}>" for c in r) + "</tr>" for i, r in enumerate(rows)) + "</table>"  # noqa: E731
    body = [f"<h1>{h.escape(title)}</h1>",
            '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for k, v in (
                ("opened", opened), ("closed", closed), ("abnormal", len(abnormal)),
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
