"""`as compensate`: record a compensation payment within the policy's authority."""

import click

from .common import fmt_of, output_format


@click.command("compensate")
@click.argument("ticket")
@click.option("--amount", required=True, help="Yuan, at most two decimals, e.g. 8.00.")
@click.option("--method", required=True, help="refund_only, balance, coupon, gift, transfer, next_purchase (policies).")
@click.option("--liability", required=True, help="Who is at fault: courier, warehouse, shop, customer, unknown (policies).")
@click.option("--reason", default="", help="Why; required for methods the policy discourages (Alipay transfer).")
@click.option("--approved-by", default="", metavar="STAFF", help="The approver, when the total is over your authority.")
@click.option("--again", is_flag=True, help="Pay the same amount again within the duplicate window on purpose.")
@click.option("--note", default="", help="A free note for the register.")
@output_format
@click.pass_obj
def cli(app, ticket, amount, method, liability, reason, approved_by, again, note, fmt):
    """Record a compensation payment (赔付打款登记) within the policy's authority.

    The authority matrix (policies: compensation.authority) caps what each role may pay
    in total on a ticket of each category, counting what was already paid. Over the
    payer's authority the payment is refused with the role that must approve; with
    --approved-by naming someone of that role or higher (not the payer) it is recorded
    with the approver. A total over the ticket's limit makes the ticket abnormal.
    """
    from .. import actions, ids

    p = actions.pay(app.ws(), ticket, amount, method, liability, reason, approved_by, again, note)
    t, row, total, routed, limit, limit_note = p.ticket, p.row, p.total, p.routed, p.limit, p.limit_note
    f = fmt_of(app, fmt)
    if f != "table":
        from ..render import listing

        out = dict(row, total_paid=total, ticket_limit=limit, abnormal=next((e.ref for e in routed if e.type == "abnormal"), ""))
        click.echo(listing([out], list(out), f), nl=False)
        return
    approval = f", approved by {row['approved_by']}" if row["approved_by"] else ""
    click.echo(f"{row['id']}: paid ¥{row['amount']} on {ids.short(t.id)} ({method}, liability {liability}{approval}); "
               f"total paid ¥{total}" + (f" of the ticket's limit ¥{limit} ({limit_note})" if limit is not None else ""))
    for e in routed:
        click.echo(f"  {e.type} {e.text if e.type == 'alert' else e.ref} (rule {e.data['rule']})")
