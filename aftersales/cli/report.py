"""`as report ...`: reports over a period of the ledgers."""

import click

from .common import fmt_of, output_format


@click.group("report")
def cli():
    """Reports over a period: time limits, courier claims, KPIs, the weekly brief."""


def _dur(seconds) -> str:
    import datetime as dt

    from ..clock import span

    return "" if seconds is None else span(dt.timedelta(seconds=seconds))


@cli.command("sla")
@click.option("--month", help="A calendar month, e.g. 2026-11 (default: the month of --now).")
@click.option("--week", help="An ISO week, e.g. 2026-W47.")
@click.option("--from", "from_", metavar="DATE", help="First day, e.g. 2026-11-01 (with --to).")
@click.option("--to", metavar="DATE", help="Last day, inclusive.")
@click.option("--by", "group_by", type=click.Choice(["department", "agent"]), default=None,
              help="Split each timer by department or by agent (who stopped the clock).")
@output_format
@click.pass_obj
def sla(app, month, week, from_, to, group_by, fmt):
    """Time-limit attainment for a period: share met, median and 90th percentile per timer.

    Counts the timer cycles that started in the period. Timers with a goal in the policy
    (the 24-hour close: 95 % a month, seed 000) are marked met or below it.
    """
    from .. import sla as s
    from ..clock import period
    from .. import tickets
    from ..errors import InputError
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    if sum(bool(x) for x in (month, week, from_ or to)) > 1:
        raise click.UsageError("give one of --month, --week or --from/--to")
    try:
        start, end, label = period(month, week, from_, to, policy.tz(), now)
    except (ValueError, OverflowError) as e:
        raise InputError(str(e) if str(e).startswith("--") else f"the period is out of range ({e}); give a year before 9999") from None
    loaded = [t for t in tickets.load_since(ws.root, start).values() if t.events[-1].at >= start and t.opened_at < end]
    rows = s.attainment(policy, loaded, start, end, now, group_by or "")
    f = fmt_of(app, fmt)
    cols = ["timer", "name"] + (["group"] if group_by else []) + ["target", "cycles", "met", "missed", "pending", "not_applicable",
                                                                  "share_met", "goal", "goal_met", "median_s", "p90_s"]
    if f == "table":
        click.echo(f"time limits, {label} ({start:%Y-%m-%d} to {end:%Y-%m-%d} exclusive), {len(loaded)} tickets")
        for r in rows:
            r["share_met"] = "" if r["share_met"] is None else f"{r['share_met']:.1%}"
            r["goal_met"] = "" if r["goal_met"] is None else ("met" if r["goal_met"] else "BELOW")
            r["goal"] = "" if r["goal"] is None else f"≥{r['goal']:.0%}"
            r["median_s"], r["p90_s"] = _dur(r["median_s"]), _dur(r["p90_s"])
        heads = {"median_s": "median", "p90_s": "p90", "share_met": "met %", "not_applicable": "n/a", "goal_met": "verdict", "group": group_by or ""}
        click.echo(listing(rows, cols, f, heads) or "no timer cycles in this period\n", nl=False)
    else:
        click.echo(listing(rows, cols, f), nl=False)


@cli.command("claims")
@click.option("--month", help="A calendar month, e.g. 2026-11 (default: the month of --now).")
@click.option("--courier", "only", multiple=True, help="Only these couriers.")
@click.option("--statement", is_flag=True, help="Print the statement to send to each courier.")
@output_format
@click.pass_obj
def claims(app, month, only, statement, fmt):
    """Per courier for a month: courier-liability compensations, lost parcels, failed intercepts.

    Totals claimed (compensations the courier owes back, lost parcels claimed) and settled.
    --statement prints a statement for each courier to send at the monthly reconciliation.
    """
    import json

    from .. import claims as cl
    from ..clock import period
    from ..errors import InputError
    from ..render import _plain, listing

    ws = app.ws()
    policy = ws.policy
    try:
        start, end, label = period(month, None, None, None, policy.tz(), ws.now)
    except (ValueError, OverflowError) as e:
        raise InputError(f"--month {month}: {e}" if "--month" not in str(e) else str(e)) from None
    if only and policy.logistics:
        from ..schema import closest

        for c in only:
            if c not in policy.logistics.couriers and c != "unknown":
                raise InputError(f"--courier {c}: unknown; {closest(c, policy.logistics.couriers)}")
    data = {k: v for k, v in cl.claims(policy, ws.root, start, end).items() if not only or k in only}
    f = fmt_of(app, fmt)
    if statement:
        texts = [{"courier": k, "statement": cl.statement(policy, k, v, label)} for k, v in data.items()]
        if f == "table":
            click.echo("\n\n".join(x["statement"] for x in texts) or f"no claims in {label}")
        else:
            click.echo(listing(texts, ["courier", "statement"], f), nl=False)
        return
    rows = [{"courier": k, "compensations": len(v["compensations"]), "lost_parcels": len(v["lost"]),
             "failed_intercepts": len(v["failed_intercepts"]), "claimed": v["claimed"], "settled": v["settled"]}
            for k, v in data.items()]
    if f == "json":
        click.echo(json.dumps(_plain([dict(r, details={"compensations": data[r["courier"]]["compensations"],
                                                             "lost": data[r["courier"]]["lost"],
                                                             "failed_intercepts": data[r["courier"]]["failed_intercepts"]})
                                      for r in rows]), ensure_ascii=False, indent=2))
        return
    out = listing(rows, list(rows[0]) if rows else ["courier"], f)
    click.echo(out or f"no claims in {label}", nl=not out)


@cli.command("kpi")
@click.option("--month", help="A calendar month, e.g. 2026-11 (default: the month of --now).")
@click.option("--orders", type=click.IntRange(min=1), help="Orders in the month, for complaints per 10,000 orders.")
@output_format
@click.pass_obj
def kpi(app, month, orders, fmt):
    """KPIs for a month against the policy's targets (seeds 000, 004).

    CSAT, first-contact resolution, second resolution, complaint first feedback within
    2 h, escalation rate, 24-hour finish rate, compensation by liability and method, and
    complaints per 10,000 orders with --orders.
    """
    from .. import kpi as k
    from .. import kpicache, replies
    from ..clock import period
    from ..errors import InputError
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    try:
        start, end, label = period(month, None, None, None, policy.tz(), now)
    except (ValueError, OverflowError) as e:
        raise InputError(str(e)) from None
    from .. import compensation

    rows = k.rows(policy, kpicache.counts(policy, ws.root, start, end, now), replies.surveys(ws.root),
                  compensation.payments(ws.root), start, end, now, orders)
    f = fmt_of(app, fmt)
    if f == "json":  # issue 15: every value a number (money too), an empty count null
        from decimal import Decimal

        for r in rows:
            if isinstance(r["value"], Decimal):
                r["value"] = float(r["value"])
            if r["count"] == "":
                r["count"] = None
    if f == "table":
        click.echo(f"KPIs, {label}")
        for r in rows:
            v = r["value"]
            r["value"] = "" if v is None else (f"{v:.1%}" if isinstance(v, float) else f"¥{v:.2f}"
                                               if r["kpi"].startswith("compensation") else f"{v:.2f}")
            t = r["target"]
            r["target"] = "" if t is None else f"{'≤' if r['at_most'] else '≥'}{t:.0%}"
    click.echo(listing(rows, ["kpi", "value", "count", "target", "verdict", "detail"], f), nl=False)


@cli.command("weekly")
@click.option("--week", help="An ISO week, e.g. 2026-W47 (default: the week of --now).")
@click.option("-o", "--output", "out_dir", default=".", type=click.Path(file_okay=False), show_default=True,
              help="Folder for weekly-WEEK.md and weekly-WEEK.html.")
@click.option("--weeks", type=click.IntRange(min=2, max=26), default=4, show_default=True, help="Weeks in the trends.")
@click.pass_obj
def weekly(app, week, out_dir, weeks):
    """Write the Friday brief (售后问题分析简报, seed 004) as Markdown and a self-contained HTML page.

    Most frequent problem types and their trend (charts), products with repeated quality
    problems (for purchasing), time-limit attainment, escalations, compensation. The page
    has its charts inline (SVG) and opens offline.
    """
    from pathlib import Path

    from ..brief import weekly as weekly_brief
    from ..errors import InputError

    ws = app.ws()
    now = ws.now
    label = week or f"{now.astimezone(ws.policy.tz()).isocalendar()[0]}-W{now.astimezone(ws.policy.tz()).isocalendar()[1]:02d}"
    try:
        md, page = weekly_brief(ws.policy, ws.root, label, now, weeks)
    except ValueError as e:
        raise InputError(str(e)) from None
    out = Path(out_dir)
    ws.refuse_inside(out, f"-o {out_dir}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for ext, text in (("md", md), ("html", page)):
            (out / f"weekly-{label}.{ext}").write_text(text, encoding="utf-8")
            click.echo(str(out / f"weekly-{label}.{ext}"))
    except OSError as e:
        raise InputError(f"-o {out_dir}: cannot write there: {e.strerror}") from None
