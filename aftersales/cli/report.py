"""`as report ...`: reports over a period of the ledgers."""

import click

from .common import fmt_of, output_format


@click.group("report")
def cli():
    """Reports over a period: time-limit attainment."""


def _dur(seconds) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    h, s = divmod(s, 3600)
    d, h = divmod(h, 24)
    return f"{d}d{h}h" if d else f"{h}h{s // 60:02d}m" if h else f"{s // 60}m{s % 60:02d}s"


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
    from .. import tickets
    from ..errors import InputError
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    if sum(bool(x) for x in (month, week, from_ or to)) > 1:
        raise click.UsageError("give one of --month, --week or --from/--to")
    try:
        start, end, label = s.period(month, week, from_, to, policy.tz(), now)
    except ValueError as e:
        raise InputError(str(e)) from None
    loaded = [t for t in tickets.load_tickets(ws.root).values() if t.events[-1].at >= start and t.opened_at < end]
    rows = s.attainment(policy, loaded, start, end, now, group_by or "")
    f = fmt_of(app, fmt)
    cols = ["timer", "name"] + (["group"] if group_by else []) + ["target", "cycles", "met", "missed", "pending",
                                                                  "share_met", "goal", "goal_met", "median_s", "p90_s"]
    if f == "table":
        click.echo(f"time limits, {label} ({start:%Y-%m-%d} to {end:%Y-%m-%d} exclusive), {len(loaded)} tickets")
        for r in rows:
            r["share_met"] = "" if r["share_met"] is None else f"{r['share_met']:.1%}"
            r["goal_met"] = "" if r["goal_met"] is None else ("met" if r["goal_met"] else "BELOW")
            r["goal"] = "" if r["goal"] is None else f"≥{r['goal']:.0%}"
            r["median_s"], r["p90_s"] = _dur(r["median_s"]), _dur(r["p90_s"])
        heads = {"median_s": "median", "p90_s": "p90", "share_met": "met %", "goal_met": "verdict", "group": group_by or ""}
        click.echo(listing(rows, cols, f, heads) or "no timer cycles in this period\n", nl=False)
    else:
        click.echo(listing(rows, cols, f), nl=False)
