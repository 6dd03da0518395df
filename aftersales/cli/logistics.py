"""`as logistics check` (the chase list) and `as eligibility` (return and refund options)."""

import click

from .common import fmt_of, output_format


@click.group("logistics")
def cli():
    """Chase parcels (查件/催件, seed 001) from the shipments ledger."""


@cli.command("check")
@click.option("--open-tickets", is_flag=True, help="Open a logistics ticket for each parcel to chase that has none yet.")
@output_format
@click.pass_obj
def check(app, open_tickets, fmt):
    """List every parcel to chase at --now and why; exit 1 if there is any.

    Zone 1 with no tracking update for 24 h, zones 2-3 for 48 h; not collected 24 h
    after shipping (not during promotion periods); signed by someone else (verify with
    the courier within 24 h, then report it lost). Prints the order remark
    (已催件 <agent> <date>) and the customer notice from the reply scripts.
    """
    import os

    from .. import ids, ledger, logistics, registers, tickets
    from ..errors import InputError
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    if policy.logistics is None:
        raise InputError("the policy has no [logistics] section; add one (see the default pack's logistics.toml)")
    agent = app.by_opt or os.environ.get("AS_USER") or "<agent>"
    lost = {r.row["waybill"] for r in registers.load(ws.root, registers.SPECS["lost"]).values()
            if ledger.parse_time(r.history[0]["at"]) <= now}  # reported by then
    chase = logistics.ChaseBeside(ws.root, policy, now, lost)  # the parcels, meanwhile
    try:
        open_, known = logistics.open_tickets(ws.root, now)  # as known at --now
        watched = logistics.chased_tickets(policy, open_)  # the others put nothing on the list
        keep = {t.fields.get("waybill") for t in watched} - {"", None}
    except BaseException:
        chase.abandon()
        raise
    todo, unzoned, parcels = chase(keep)
    todo += logistics.ticket_chases(policy, watched, parcels, now, lost)
    reship = registers.load(ws.root, registers.SPECS["reship"])
    missing = logistics.owed_tickets(reship, now) - known.keys()
    todo += logistics.waybills_owed(policy, reship, {**known, **logistics.tickets_at(ws.root, missing, now)}, now)
    todo.sort(key=lambda c: (c.since, c.waybill, c.rule))
    from ..replies import render

    from ..replies import moment as _moment

    moment = _moment(policy, now, agent)
    remark = render(policy.remarks["chased"].text, moment, "remark 'chased'") if "chased" in policy.remarks else ""
    notice = render(policy.scripts["chase_notice"].text, moment, "script 'chase_notice'") \
        if "chase_notice" in policy.scripts else ""
    opened = {}
    if open_tickets and todo:
        from .. import actions

        lg = policy.logistics
        with ledger.locked(ws.root):  # the forms are chosen and written under one lock
            have = {t.fields.get("waybill") for t in tickets.load_tickets(ws.root).values()
                    if t.category == lg.ticket_category}
            forms, chased = [], []
            for c in todo:
                if c.ticket or not c.waybill or c.waybill in have or c.waybill in chased:
                    continue
                values = {"channel": lg.ticket_channel, "category": lg.ticket_category, "order": c.order,
                          "waybill": c.waybill, "summary": f"物流催件 ({c.rule}): {c.why}"}
                if c.courier:
                    values["courier"] = c.courier
                forms.append(values)
                chased.append(c.waybill)
            for waybill, o in zip(chased, actions.open_tickets(ws, forms)):
                opened[waybill] = o.ticket.id
    rows = [{"waybill": c.waybill, "order": c.order, "courier": c.courier, "destination": c.destination, "zone": c.zone,
             "rule": c.rule, "why": c.why, "since": c.since, "remark": remark,
             "ticket": opened.get(c.waybill, "") or c.ticket} for c in todo]
    f = fmt_of(app, fmt)
    if f == "table":
        cols = ["waybill", "order", "destination", "zone", "rule", "why"] + (["ticket"] if any(r["ticket"] for r in rows) else [])
        for r in rows:
            r["ticket"] = ids.short(r["ticket"]) if r["ticket"] else ""
        out = listing(rows, cols, f)
        click.echo(out or "no parcel to chase", nl=not out)
        if rows:
            click.echo(f"\n{len(rows)} parcel{'s' if len(rows) != 1 else ''} to chase. Order remark after chasing: {remark}")
            if notice:
                click.echo(f"Customer notice ({policy.scripts['chase_notice'].name}): {notice}")
        if opened:
            click.echo(f"opened {len(opened)} ticket{'s' if len(opened) != 1 else ''}")
        if unzoned:
            click.echo(f"warning: {len(unzoned)} parcel{'s' if len(unzoned) != 1 else ''} go to destinations no zone "
                       f"lists (e.g. '{unzoned[0]['destination']}'); add them to policies (logistics.zones) "
                       "or set logistics.default_zone", err=True)
    else:
        click.echo(listing(rows, ["waybill", "order", "courier", "destination", "zone", "rule", "why", "since", "remark",
                                  "ticket"], f), nl=False)
    if rows:
        click.get_current_context().exit(1)


@click.command("eligibility")
@click.argument("order", required=False)
@click.option("--ticket", help="Take the order and its amounts from this ticket.")
@click.option("--fault", type=click.Choice(["customer", "shop", "warehouse", "courier"]),
              help="Whose fault it is, to say who pays return shipping.")
@click.option("--out-of-stock", is_flag=True, help="Also give the out-of-stock compensation range.")
@output_format
@click.pass_obj
def eligibility(app, order, ticket, fault, out_of_stock, fmt):
    """Say which return and refund options an order qualifies for at --now, and why.

    7-day no-reason return and price-difference refund (counted in calendar days from
    the signing, in the shop's zone: the day of signing is day 0, day 7 the last),
    fast refund (policies: returns), who pays return shipping (by fault), and the
    out-of-stock compensation range.
    """
    from .. import logistics, tickets
    from ..errors import InputError
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    fields, category = {}, ""
    if ticket:
        t = tickets.load_ticket(ws.root, ticket)
        fields, category = dict(t.fields), t.category
        order = order or fields.get("order", "")
    if not order:
        raise click.UsageError("give an ORDER or --ticket")
    signed = None
    for p in logistics.parcels(ws.root, now).values():
        if p["order"] == order and p["signed_at"]:
            signed = logistics._t(p["signed_at"])
    if not ticket:
        known = [t for t in tickets.load_tickets(ws.root).values() if t.fields.get("order") == order]
        if known:
            fields, category = dict(known[-1].fields), known[-1].category
        elif signed is None and not any(p["order"] == order for p in logistics.parcels(ws.root).values()):
            raise InputError(f"order '{order}' is in no ticket and no shipment; check the number")
    verdicts = logistics.eligibility(policy, now, signed, fields, fault or "",
                                     "out_of_stock" if out_of_stock else category)
    rows = [{"rule": v.rule, "verdict": v.verdict, "why": v.why} for v in verdicts]
    f = fmt_of(app, fmt)
    if f == "table":
        click.echo(f"order {order} at {now.astimezone(policy.tz()):%Y-%m-%d %H:%M}")
    click.echo(listing(rows, ["rule", "verdict", "why"], f), nl=False)
