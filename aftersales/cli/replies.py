"""`as reply`, `as remark` and `as survey`: the shop's wording and the customers' verdict."""

from contextlib import nullcontext

import click

from .common import fmt_of, output_format


@click.command("reply")
@click.argument("template", required=False)
@click.argument("ticket", required=False)
@click.option("--send", is_flag=True, help="Record it as sent: a reply on the ticket (the first is the first contact).")
@click.option("--new-waybill", help="The new waybill, when the ticket has no reshipment record.")
@click.option("--list", "list_", is_flag=True, help="List the reply scripts of the policy.")
@output_format
@click.pass_obj
def reply(app, template, ticket, send, new_waybill, list_, fmt):
    """Render a reply script (话术) for a ticket; with --send, record it as sent.

    Scripts are in policies/replies.toml [scripts.*]: greeting, soothe, photo_request,
    transfer, chase_notice, reship_notice, closing. Their {fields} come from the ticket,
    its reshipments, the agent (--by) and the date; a field the ticket lacks is an error
    naming it.
    """
    from .. import ids, ledger, replies, tickets
    from ..render import listing

    ws = app.ws()
    policy = ws.policy
    if list_ or not template:
        rows = [{"script": k, "name": s.name, "text": s.text} for k, s in policy.scripts.items()]
        click.echo(listing(rows, ["script", "name", "text"], fmt_of(app, fmt)), nl=False)
        return
    s = replies.script(policy, template)
    if not ticket:
        raise click.UsageError("give the TICKET the reply is for")
    agent = ws.actor()
    with ledger.locked(ws.root) if send else nullcontext():
        t = tickets.load_ticket(ws.root, ticket)
        values = replies.fields_for(policy, ws.root, t, ws.now, agent)
        if new_waybill:
            values["new_waybill"] = new_waybill
        text = replies.render(s.text, values, f"script '{template}'")
        if send:
            ev = tickets.event(policy, t, ws.now, agent, "reply", "", text, {"script": template})
            tickets.append_events(ws.root, [ev], policy)
    f = fmt_of(app, fmt)
    if f != "table":  # issue 15: the rendered script as data
        row = {"script": template, "name": s.name, "ticket": t.id, "agent": agent, "at": ws.now, "sent": bool(send),
               "text": text}
        click.echo(listing([row], list(row), f), nl=False)
    else:
        click.echo(text)
    if send:
        click.echo(f"{ids.short(t.id)}: sent as a reply ({s.name})", err=True)



@click.command("remark")
@click.argument("kind", required=False)
@click.option("--ticket", help="Take the order and fields from this ticket.")
@click.option("--address", help="The new address (修改地址).")
@click.option("--product", help="Product name and attributes (修改产品).")
@click.option("--quantity", help="Quantity.")
@click.option("--courier", help="The courier asked for (指定快递).")
@click.option("--ship-date", help="The promised ship date.")
@click.option("--text", help="Free text (其他).")
@click.option("--record", is_flag=True, help="Record it on the ticket as made (stops the 5-minute remark limit).")
@output_format
@click.pass_obj
def remark(app, kind, ticket, address, product, quantity, courier, ship_date, text, record, fmt):
    """Print an order remark in the shop's format, with the agent ID and the date.

    Formats are in policies/replies.toml [remarks.*]: address, product, courier,
    ship_date, other, chased (已催件 <agent> <date>). Seed 001: remark within 5 minutes
    of payment.
    """
    from .. import replies, tickets
    from ..render import listing

    ws = app.ws()
    policy = ws.policy
    if not kind:
        rows = [{"remark": k, "name": s.name, "text": s.text} for k, s in policy.remarks.items()]
        click.echo(listing(rows, ["remark", "name", "text"], fmt_of(app, fmt)), nl=False)
        return
    r = replies.remark(policy, kind)
    agent = ws.actor()
    values = {"agent": agent, "date": ws.now.astimezone(policy.tz()).strftime("%Y-%m-%d"), "shop": policy.shop.name}
    if ticket:
        values.update({k: v for k, v in tickets.load_ticket(ws.root, ticket).fields.items() if v})
    for k, v in (("address", address), ("product", product), ("quantity", quantity), ("courier", courier),
                 ("ship_date", ship_date), ("text", text)):
        if v:
            values[k] = v
    rendered = replies.render(r.text, values, f"remark '{kind}'")
    replies.check_fields(r, values, f"remark '{kind}'")
    if record:
        from .. import actions, ids
        from ..errors import InputError

        if not ticket:
            raise InputError("--record needs --ticket: the remark is recorded on a ticket")
        t = actions.record(ws, ticket, "remark", kind, rendered).before
        click.echo(f"{ids.short(t.id)}: remark recorded", err=True)
    f = fmt_of(app, fmt)
    if f != "table":  # issue 15: the remark as data
        row = {"remark": kind, "name": r.name, "ticket": values.get("order", "") and (ticket or ""),
               "order": values.get("order", ""), "agent": agent, "date": values["date"], "text": rendered}
        click.echo(listing([row], list(row), f), nl=False)
        return
    click.echo(rendered)


@click.group("survey")
def survey():
    """Satisfaction surveys (seed 002): speed, result and attitude, 1-5."""


@survey.command("record")
@click.argument("ticket")
@click.option("--speed", type=int, required=True, help="1-5")
@click.option("--result", type=int, required=True, help="1-5")
@click.option("--attitude", type=int, required=True, help="1-5")
@click.option("--comment", default="", help="The customer's words.")
@click.pass_obj
def record(app, ticket, speed, result, attitude, comment):
    """Record a customer's satisfaction survey for a ticket."""
    from .. import ids, ledger, replies, tickets

    replies.check_scores(speed=speed, result=result, attitude=attitude)
    ws = app.ws()
    t = tickets.load_ticket(ws.root, ticket)
    if ws.now < t.opened_at:
        from ..errors import InputError

        raise InputError(f"ticket {ids.short(t.id)}: --now is before the ticket was opened")
    ledger.append(ws.root, "surveys", [{"ticket": t.id, "at": ws.now, "by": ws.actor(), "speed": speed,
                                        "result": result, "attitude": attitude, "comment": comment}], ws.policy)
    ok = replies.satisfied(ws.policy, speed, result, attitude)
    click.echo(f"{ids.short(t.id)}: survey recorded ({'satisfied' if ok else 'not satisfied'})")


@survey.command("report")
@click.option("--month", help="Surveys of this month, e.g. 2026-11 (default: all).")
@output_format
@click.pass_obj
def report(app, month, fmt):
    """The share of satisfied customers per incident level, against its target (L1 ≥ 90 %, L2 ≥ 85 %, L3 ≥ 80 %).

    A customer is satisfied when the mean of the three scores is at least kpi.satisfied_at
    (4). Tickets in no incident are counted under "-".
    """
    from .. import incidents, replies
    from ..errors import InputError
    from ..render import listing
    from ..clock import period

    ws = app.ws()
    policy = ws.policy
    rows = [r for r in replies.surveys(ws.root) if r["at"] <= ws.now]
    if month:
        try:
            start, end, _ = period(month, None, None, None, policy.tz(), ws.now)
        except (ValueError, OverflowError):
            raise InputError(f"--month '{month}': write a month like 2026-11, before 9999-12") from None
        rows = [r for r in rows if start <= r["at"] < end]
    out = replies.satisfaction_by_level(policy, rows, incidents.fold(ws.root).values())
    f = fmt_of(app, fmt)
    if f == "table":
        for r in out:
            r["share"], r["target"] = f"{r['share']:.1%}", f"≥{r['target']:.0%}"
    text = listing(out, ["level", "surveys", "satisfied", "share", "target", "verdict"], f)
    click.echo(text or "no surveys", nl=not text)
