"""`as orders`: the orders imported from the platforms' exports (issue 14)."""

import click

from .common import fmt_of, output_format


@click.group("orders")
def cli():
    """Orders imported from platform exports: their facts and the platform's ship-by deadline."""


@cli.command("check")
@click.option("--within", default="6h", show_default=True, metavar="DURATION",
              help="Also list orders whose ship-by time falls within this long of --now.")
@output_format
@click.pass_obj
def check(app, within, fmt):
    """List orders not shipped by, or soon due at, the platform's ship-by time (承诺发货时间); exit 1 if any.

    \b
    Example:
      aftersales orders check --within 4h
    """
    from ..errors import InputError
    from ..platforms import ship_by_due
    from ..policy import Duration
    from ..render import listing

    try:
        limit = Duration.from_toml(within).timedelta()
    except ValueError as e:
        raise InputError(f"--within {within}: {e}") from None
    ws = app.ws()
    tz = ws.policy.tz()
    due = ship_by_due(ws.root, ws.now, limit)
    rows = [{"order": d.order, "platform": d.platform, "ship_by": d.ship_by.astimezone(tz), "state": d.state,
             "status": d.status, "left": d.ship_by - ws.now} for d in due]
    f = fmt_of(app, fmt)
    if f == "table":
        from ..render import span

        for r in rows:
            r["ship_by"] = r["ship_by"].strftime("%m-%d %H:%M")
            r["left"] = span(r["left"])
        out = listing(rows, ["order", "platform", "ship_by", "left", "state", "status"], f)
        click.echo(out or "no order due to ship", nl=not out)
    else:
        for r in rows:
            r["left"] = int(r["left"].total_seconds())
        click.echo(listing(rows, ["order", "platform", "ship_by", "left", "state", "status"], f), nl=False)
    if rows:
        click.get_current_context().exit(1)


@cli.command("show")
@click.argument("order")
@click.option("--full-phone", is_flag=True, help="Show the phone number in full.")
@output_format
@click.pass_obj
def show(app, order, full_phone, fmt):
    """Show what the platform exports said about ORDER (its latest facts)."""
    from pathlib import Path

    from ..errors import InputError
    from ..platforms import order_facts
    from ..render import listing
    from ..tickets import mask_phone

    ws = app.ws()
    facts = order_facts(Path(ws.root), {order}).get(order)
    if facts is None:
        raise InputError(f"order '{order}' is in no imported export; check the number, or import the export "
                         "(`aftersales import FILE`)")
    if facts.get("phone") and not full_phone:
        facts["phone"] = mask_phone(facts["phone"])
    rows = [{"field": k, "value": v} for k, v in facts.items() if v]
    click.echo(listing(rows, ["field", "value"], fmt_of(app, fmt)), nl=fmt_of(app, fmt) == "table")
