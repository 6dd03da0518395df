"""`as correct ...`: void or supersede an earlier record by appending a correction (issue 15)."""

import click

from .common import fmt_of, output_format


@click.group("correct")
def cli():
    """Correct a mistake: a new row voids or supersedes an earlier record.

    History keeps both rows; folds, reports and authority checks use the record as
    corrected. REF is a payment ID (`ticket show` lists a ticket's payments), TICKET.EVENT
    as `ticket show` prints it for each event, or a correction ID (voiding a correction
    restores what it corrected). Correcting money needs the authority that paying it
    needed, or --approved-by someone who has it.

    \b
    Examples:
      aftersales --by a01 correct void 4Q2M9XDK --reason "entered twice"
      aftersales --by l01 correct payment 4Q2M9XDK --amount 5.00 --reason "wrong amount"
      aftersales --by a01 correct event GH61T24.K3M9QX --text "已补发" --reason typo
    """


def _do(app, ref, action, reason, approved_by, values, fmt):
    from .. import corrections, ledger
    from ..render import listing

    ws = app.ws()
    policy, now, by = ws.policy, ws.now, ws.actor()
    with ledger.locked(ws.root):
        corr, desc = corrections.plan(ws.root, policy, now, by, ref, action, reason, values, approved_by)
        corrections.append(ws.root, corr, policy)
    f = fmt_of(app, fmt)
    if f != "table":
        click.echo(listing([dict(corr.row(), effect=desc)], list(corr.row()) + ["effect"], f), nl=False)
        return
    approval = f", approved by {corr.approved_by}" if corr.approved_by else ""
    what = "voided" if action == "void" else "superseded"
    click.echo(f"{corr.id}: {corr.target} {what} ({desc}){approval}: {corr.reason}")


@cli.command("void")
@click.argument("ref")
@click.option("--reason", required=True, help="Why the record is void (kept with the correction).")
@click.option("--approved-by", default="", metavar="STAFF", help="The approver, when the money is over your authority.")
@output_format
@click.pass_obj
def void(app, ref, reason, approved_by, fmt):
    """Void a payment, a ticket event or a correction."""
    _do(app, ref, "void", reason, approved_by, {}, fmt)


@cli.command("payment")
@click.argument("ref")
@click.option("--amount", help="The right amount, yuan.")
@click.option("--method", help="The right method (policies: compensation.methods).")
@click.option("--liability", help="The right liability (policies: compensation.liabilities).")
@click.option("--payment-reason", help="The right reason text of the payment.")
@click.option("--reason", required=True, help="Why it is corrected (kept with the correction).")
@click.option("--approved-by", default="", metavar="STAFF", help="The approver, when the money is over your authority.")
@output_format
@click.pass_obj
def payment(app, ref, amount, method, liability, payment_reason, reason, approved_by, fmt):
    """Supersede a payment's amount, method, liability or reason."""
    _do(app, ref, "supersede", reason, approved_by,
        {"amount": amount, "method": method, "liability": liability, "reason": payment_reason}, fmt)


@cli.command("event")
@click.argument("ref")
@click.option("--text", required=True, help="The right text of the event (a reply, note, message ...).")
@click.option("--reason", required=True, help="Why it is corrected (kept with the correction).")
@output_format
@click.pass_obj
def event(app, ref, text, reason, fmt):
    """Supersede the text of a ticket event (TICKET.EVENT from `ticket show`)."""
    _do(app, ref, "supersede", reason, "", {"text": text}, fmt)


@cli.command("list")
@click.option("--ticket", "ticket", help="Only the corrections of this ticket.")
@output_format
@click.pass_obj
def list_(app, ticket, fmt):
    """List corrections, oldest first, with whether each is still in force."""
    from .. import corrections, tickets
    from ..render import listing

    ws = app.ws()
    tid = tickets.resolve_id(ws.root, ticket) if ticket else None
    st = corrections.state(ws.root)
    active = {c.id for c in st.active}
    rows = [dict(c.row(), in_force=c.id in active) for c in st.all if tid is None or c.ticket == tid]
    cols = ["id", "at", "by", "ledger", "target", "action", "ticket", "reason", "approved_by", "data", "in_force"]
    f = fmt_of(app, fmt)
    out = listing(rows, cols, f)
    click.echo(out if out or f != "table" else "no corrections", nl=bool(f == "table" and not out))
