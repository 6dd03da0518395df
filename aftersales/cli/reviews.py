"""`as reviews check` and `as reviews contact`: following up bad reviews."""

import click

from .common import fmt_of, output_format


@click.group("reviews")
def cli():
    """Follow up bad reviews (评价维护): contact within 1 h, count problems per product."""


@cli.command("check")
@click.option("--open-tickets", is_flag=True, help="Open a follow-up ticket for each overdue bad review.")
@click.option("--by-product", is_flag=True, help="List products by their number of bad reviews instead (for purchasing).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Products shown in the table.")
@output_format
@click.pass_obj
def check(app, open_tickets, by_product, top, fmt):
    """List bad reviews not contacted within the limit at --now; exit 1 if there is any.

    A review scoring at or under reviews.bad_at_most (2) must be contacted within
    reviews.contact_within (1 h, seed 004): record the contact with `reviews contact`, or
    open a follow-up ticket with --open-tickets. The table ends with the products that
    have the most bad reviews, so batch quality problems reach purchasing.
    """
    from .. import ids, ledger, reviews
    from ..render import listing

    ws = app.ws()
    policy, now = ws.policy, ws.now
    f = fmt_of(app, fmt)
    allrev = reviews.load(ws.root, now)
    if by_product:
        rows = [{"product": p, "bad_reviews": bad, "reviews": total}
                for p, bad, total in reviews.bad_by_product(policy, allrev, now)]
        text = listing(rows if f != "table" else rows[:top], ["product", "bad_reviews", "reviews"], f)
        click.echo(text or "no bad reviews", nl=not text)
        return
    late = reviews.overdue(policy, allrev, now)
    opened = {}
    if open_tickets and late:
        from .. import actions

        rp = policy.reviews
        forms, chosen = [], []
        for r in late:
            if not r["order"]:
                continue  # the ticket category needs the order: contact by hand
            comment = (r["comment"] or "").replace("\r", " ").replace("\n", " ").strip()
            forms.append({"channel": rp.ticket_channel, "category": rp.ticket_category, "order": r["order"],
                          "summary": f"差评 {r['score']} 分: {comment or '(无评论)'}"})
            chosen.append(r)

        def contacted(done):  # each review now has its follow-up ticket: recorded with the tickets
            return {"reviews": [dict(r, at=now, by=ws.actor(), ticket=o.ticket.id) for r, o in zip(chosen, done)]}

        for r, o in zip(chosen, actions.open_tickets(ws, forms, also=contacted)):
            opened[r["review"]] = o.ticket.id
    limit = policy.reviews.contact_within.timedelta()
    rows = []
    for r in late:
        created = ledger.parse_time(r["created_at"])
        over = now - created - limit
        rows.append({"review": r["review"], "order": r["order"], "product": r["product"], "score": int(r["score"]),
                     "created_at": created, "overdue_h": round(over.total_seconds() / 3600, 1),
                     "comment": r["comment"], "ticket": opened.get(r["review"], "")})
    if f == "table":
        for r in rows:
            c = " ".join((r["comment"] or "").split())
            r["comment"] = c if len(c) <= 30 else c[:29] + "…"
            r["ticket"] = ids.short(r["ticket"]) if r["ticket"] else ""
        cols = ["review", "order", "score", "created_at", "overdue_h", "comment"] + (["ticket"] if opened else [])
        out = listing(rows, cols, f, {"overdue_h": "overdue (h)"})
        click.echo(out or "no bad review waiting for contact", nl=not out)
        if rows:
            click.echo(f"\n{len(rows)} bad review{'s' if len(rows) != 1 else ''} not contacted within "
                       f"{policy.reviews.contact_within}.")
        worst = reviews.bad_by_product(policy, allrev, now)[:3]
        if worst:
            click.echo("most bad reviews: " + "; ".join(f"{p} ({bad} of {total})" for p, bad, total in worst)
                       + " (`reviews check --by-product`)")
        if opened:
            click.echo(f"opened {len(opened)} follow-up ticket{'s' if len(opened) != 1 else ''}")
    else:
        click.echo(listing(rows, ["review", "order", "product", "score", "created_at", "overdue_h", "comment", "ticket"], f),
                   nl=False)
    if rows:
        click.get_current_context().exit(1)


@cli.command("contact")
@click.argument("review")
@click.option("--order", help="The order, when the platform used the review ID for several orders.")
@click.option("--ticket", help="The ticket the contact belongs to, if any.")
@click.pass_obj
def contact(app, review, order, ticket):
    """Record that the customer of a review was contacted (at --now, by --by)."""
    from .. import ledger, reviews, tickets
    from ..errors import InputError

    ws = app.ws()
    by = ws.actor()
    with ledger.locked(ws.root):
        allrev = reviews.load(ws.root)
        found = [r for (rid, o), r in allrev.items() if (rid == review or (len(review) >= 6 and rid.startswith(review)))
                 and (not order or o == order)]
        if len(found) > 1 and len({r["review"] for r in found}) == 1:
            raise InputError(f"review '{review}' belongs to {len(found)} orders; name one with --order")
        if len(found) != 1:
            raise InputError(f"{'unknown' if not found else 'ambiguous'} review '{review}'; "
                             "`aftersales reviews check --format csv` lists the ones waiting")
        r = found[0]
        tid = tickets.resolve_id(ws.root, ticket) if ticket else r["ticket"]
        ledger.append(ws.root, "reviews", [dict(r, at=ws.now, by=by, contacted_at=ws.now, ticket=tid)], ws.policy)
    click.echo(f"review {r['review']}: contacted by {by}")
