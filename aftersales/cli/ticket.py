"""`as ticket ...`: intake, the lifecycle verbs, list and show."""

import click

from .common import fmt_of, output_format


@click.group("ticket")
def cli():
    """Open, update, close and read tickets.

    Every verb appends one event to ledgers/tickets.csv naming who (--by) and when
    (--now); a ticket's state is the fold of its events. TICKET is the ID printed at
    intake or any unique prefix of at least 4 characters.
    """


def _ctx(app):
    ws = app.ws()
    return ws, ws.policy


def _age(delta) -> str:
    from ..render import span

    return span(delta)


@cli.command("new")
@click.option("--channel", help="Where the customer came from (policies: channels).")
@click.option("--category", help="Sub-category (policies: categories); it fixes the kind.")
@click.option("--kind", help="consultation, after_sales or complaint; optional, checked against the category.")
@click.option("--summary", help="The problem in the customer's words.")
@click.option("--order", help="Order number (the core key).")
@click.option("--customer", help="Customer name.")
@click.option("--phone", help="Customer phone.")
@click.option("--purchased", "purchased_at", help="Purchase date or time, ISO-8601.")
@click.option("--member", "member_level", help="Member level (policies: member_levels).")
@click.option("--demand", help="Core demand: refund, exchange, reship, compensation, apology (policies: demands).")
@click.option("--item-amount", help="Item price in yuan.")
@click.option("--order-amount", help="Order amount in yuan.")
@click.option("--shipping-fee", help="Shipping fee in yuan.")
@click.option("--model", help="Product model.")
@click.option("--batch", help="Batch number.")
@click.option("--waybill", help="Waybill (tracking) number.")
@click.option("--courier", help="Courier (policies: logistics.couriers).")
@click.option("--bug", "bug_details", help="Bug details for a technical fault.")
@click.option("--address", help="Delivery address.")
@output_format
@click.pass_obj
def new(app, fmt, **values):
    """Open a ticket from the intake form; print its ID and priority.

    \b
    Example:
      aftersales --by a01 ticket new --channel taobao --category quality \\
        --order TB20261123001 --customer 王女士 --phone 13812345678 --model K-200 \\
        --summary "收到的水壶底部有裂纹" --demand exchange
    """
    from .. import ids, tickets

    from .. import routing

    ws, policy = _ctx(app)
    by = ws.actor()
    # --- issue 14 (platforms): an imported order fills in amounts, phone, address, waybill.
    from ..platforms import fill_from_order

    values = fill_from_order(ws.root, values)
    # --- end issue 14
    events = tickets.intake(policy, ws.now, by, values)
    opened = events[0]
    t = tickets.fold(events)[opened.ticket]
    routed, decision = routing.route_ticket(policy, t, ws.now)  # intake routes at once
    for e in routed:
        t.apply(e)
    tickets.append_events(ws.root, events + routed, policy)
    cat = policy.categories[opened.ref]
    dep, missing = routing.missing_fields(policy, t, decision)
    if fmt_of(app, fmt) == "table":
        click.echo(f"{ids.short(opened.ticket)}  priority {t.priority} ({policy.priorities[t.priority].name})  "
                   f"{policy.kinds[cat.kind].name}/{cat.name}")
        for e in routed:
            click.echo(f"  {e.type} {e.text if e.type == 'alert' else e.ref} (rule {e.data['rule']})")
    else:
        from ..render import listing

        row = {"ticket": opened.ticket, "short": ids.short(opened.ticket), "priority": t.priority,
               "kind": cat.kind, "category": opened.ref, "department": t.department, "group": t.group,
               "abnormal": t.abnormal, "opened_at": opened.at}
        click.echo(listing([row], list(row), fmt_of(app, fmt)), nl=False)
    if missing:
        click.echo(f"warning: {ids.short(opened.ticket)} goes to {policy.departments[dep].name} ({dep}), which needs: "
                   f"{', '.join(missing)}; add them with `aftersales ticket set`", err=True)


def _record(app, typed, typ, ref="", text="", data=None, note=None):
    """Record one lifecycle event; `note(ticket before, now)` adds to the confirmation."""
    from .. import ids, ledger, tickets

    ws, policy = _ctx(app)
    by = ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, typed)
        ev = tickets.event(policy, t, ws.now, by, typ, ref, text, data)
        tickets.append_events(ws.root, [ev], policy)
    click.echo(f"{ids.short(t.id)}: {typ}{(' ' + ref) if ref else ''} recorded{note(t, ws.now) if note else ''}")
    return t


@cli.command("reply")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def reply(app, ticket, text):
    """Record a reply sent to the customer (the first one is the first contact)."""
    _record(app, ticket, "reply", text=text,
            note=lambda t, now: f" (first contact, {_age(now - t.opened_at)} after opening)" if t.first_reply_at is None else "")


@cli.command("message")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def message(app, ticket, text):
    """Record a message from the customer, in their words; routing runs at once on it."""
    from .. import compensation, ids, ledger, routing, tickets

    ws, policy = _ctx(app)
    by = ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, ticket)
        ev = tickets.event(policy, t, ws.now, by, "message", "", text)
        t.apply(ev)
        paid = compensation.paid_by_ticket(ws.root).get(t.id, compensation.CENT * 0)
        routed, _ = routing.route_ticket(policy, t, ws.now, paid=paid)
        tickets.append_events(ws.root, [ev] + routed, policy)
    click.echo(f"{ids.short(t.id)}: message recorded")
    for e in routed:
        click.echo(f"  {e.type} {e.text if e.type == 'alert' else e.ref} (rule {e.data['rule']})")


@cli.command("note")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def note(app, ticket, text):
    """Add an internal note."""
    _record(app, ticket, "note", text=text)


@cli.command("assign")
@click.argument("ticket")
@click.option("--to", "to", metavar="STAFF", help="Staff member who takes the ticket.")
@click.option("--department", metavar="DEPT", help="Department that takes the ticket.")
@click.option("--reason", default="", help="Why (kept with the event).")
@click.pass_obj
def assign(app, ticket, to, department, reason):
    """Assign a ticket to a person (--to) or a department (--department)."""
    if bool(to) == bool(department):
        raise click.UsageError("give exactly one of --to STAFF or --department DEPT")
    if to:
        _record(app, ticket, "assign", ref=to, text=reason)
    else:
        _record(app, ticket, "department", ref=department, text=reason)


@cli.command("set")
@click.argument("ticket")
@click.argument("field")
@click.argument("value")
@click.pass_obj
def set_field(app, ticket, field, value):
    """Correct or complete an intake field (e.g. batch, phone); "" clears it."""
    _record(app, ticket, "set", ref=field.replace("-", "_"), text=value)


@cli.command("verify")
@click.argument("ticket")
@click.argument("text", required=False, default="")
@click.pass_obj
def verify(app, ticket, text):
    """Record that the customer's identity matches the order (closing checklist)."""
    _record(app, ticket, "verify", text=text)


@cli.command("evidence")
@click.argument("ticket")
@click.argument("kind")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_obj
def evidence(app, ticket, kind, files):
    """Attach evidence files of KIND (item, box, waybill ...); they are copied by content hash."""
    from pathlib import Path

    from .. import ids, ledger, tickets
    from ..errors import InputError
    from ..schema import closest

    ws, policy = _ctx(app)
    by = ws.actor()
    if kind not in policy.evidence_kinds:
        raise InputError(f"evidence kind '{kind}' is unknown; {closest(kind, policy.evidence_kinds)}")
    for f in files:
        if not Path(f).is_file():
            raise InputError(f"{f}: no such file; give the path of the photo or video to attach")
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, ticket)
        events = []
        for f in files:
            tickets.event(policy, t, ws.now, by, "evidence", kind)  # validates the transition
            digest, rel = tickets.store_evidence(ws.root, Path(f))
            size = Path(f).stat().st_size
            events.append(tickets.Event(t.id, ws.now, by, "evidence", kind, Path(f).name,
                                        {"sha256": digest, "path": rel, "size": size}))
        tickets.append_events(ws.root, events, policy)
    for e in events:
        click.echo(f"{ids.short(t.id)}: evidence {kind} {e.text} stored as {e.data['path']}")


@cli.command("wait")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def wait(app, ticket, text):
    """Put the ticket waiting on the customer (pauses time limits that allow it)."""
    _record(app, ticket, "wait", text=text)


@cli.command("resume")
@click.argument("ticket")
@click.argument("text", required=False, default="")
@click.pass_obj
def resume(app, ticket, text):
    """Take a waiting ticket back (the customer answered)."""
    _record(app, ticket, "resume", text=text)


@cli.command("accept")
@click.argument("ticket")
@click.argument("text", required=False, default="")
@click.pass_obj
def accept(app, ticket, text):
    """Record that the customer explicitly accepted the solution."""
    _record(app, ticket, "accept", text=text)


@cli.command("resolve")
@click.argument("ticket")
@click.argument("solution")
@click.pass_obj
def resolve(app, ticket, solution):
    """Record the solution given to the customer."""
    _record(app, ticket, "resolve", text=solution)


@cli.command("cause")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def cause(app, ticket, text):
    """Record the cause analysis (closing checklist)."""
    _record(app, ticket, "cause", text=text)


@cli.command("close")
@click.argument("ticket")
@click.option("--cause", "cause_text", default="", help="Record the cause analysis with the close.")
@click.option("--force", "force", default="", metavar="REASON",
              help="Close despite missing checklist items (lead or higher); the reason is recorded.")
@click.pass_obj
def close(app, ticket, cause_text, force):
    """Close a ticket after the closing checklist.

    The checklist (policies: closing) asks for identity checked, evidence complete for the
    category, the customer's acceptance and a cause analysis. A close that misses an item
    is refused with exit status 1 and the list of what is missing; a lead may --force it.
    """
    from .. import ids, ledger, tickets

    ws, policy = _ctx(app)
    by = ws.actor()
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, ticket)
        try:
            events = tickets.close(policy, t, ws.now, by, cause_text, force)
        except tickets.ChecklistRefused as r:
            click.echo(f"{ids.short(t.id)}: not closed; the closing checklist misses:", err=True)
            for _item, what in r.missing:
                click.echo(f"  - {what}", err=True)
            click.echo(f"a {policy.closing.force_role} may close it anyway with --force REASON", err=True)
            click.get_current_context().exit(1)
        tickets.append_events(ws.root, events, policy)
    closing = events[-1]
    if closing.data.get("forced"):
        click.echo(f"{ids.short(t.id)}: closed by force ({', '.join(closing.data['missing'])} missing): {closing.text}")
    else:
        click.echo(f"{ids.short(t.id)}: closed")


@cli.command("reopen")
@click.argument("ticket")
@click.argument("reason")
@click.pass_obj
def reopen(app, ticket, reason):
    """Reopen a resolved or closed ticket; the customer's acceptance must be given again."""
    _record(app, ticket, "reopen", text=reason)


@cli.command("visit")
@click.argument("ticket")
@click.argument("text", required=False, default="")
@click.pass_obj
def visit(app, ticket, text):
    """Record the follow-up visit (回访) after resolution."""
    _record(app, ticket, "visit", text=text)


LIST_COLUMNS = ["ticket", "opened_at", "age", "status", "priority", "kind", "category", "department",
                "assignee", "channel", "customer", "phone", "order", "summary"]


def _row(t, policy, now, full_phone, short=True):
    from .. import ids, tickets

    phone = t.fields.get("phone", "")
    return {
        "ticket": ids.short(t.id) if short else t.id,
        "opened_at": t.opened_at, "age": _age(now - t.opened_at), "status": t.status,
        "priority": t.priority, "kind": t.kind, "category": t.category, "department": t.department,
        "assignee": t.assignee, "channel": t.fields.get("channel", ""), "customer": t.fields.get("customer", ""),
        "phone": phone if full_phone else (tickets.mask_phone(phone) if phone else ""),
        "order": t.fields.get("order", ""), "summary": t.summary, "abnormal": t.abnormal,
    }


@cli.command("list")
@click.option("--status", type=click.Choice(["open", "waiting", "resolved", "closed", "all"]), default="open",
              show_default=True, help="open means not closed (open, waiting or resolved).")
@click.option("--kind", multiple=True, help="Only these kinds (repeatable).")
@click.option("--category", multiple=True, help="Only these categories.")
@click.option("--department", multiple=True, help="Only these departments.")
@click.option("--assignee", multiple=True, help="Only tickets assigned to these staff.")
@click.option("--priority", multiple=True, help="Only these priorities.")
@click.option("--channel", multiple=True, help="Only these channels.")
@click.option("--older-than", metavar="AGE", help='Only tickets opened longer ago than AGE ("24h", "3d").')
@click.option("--newer-than", metavar="AGE", help="Only tickets opened more recently than AGE.")
@click.option("--full-phone", is_flag=True, help="Show phone numbers in full (masked by default).")
@output_format
@click.pass_obj
def list_(app, status, kind, category, department, assignee, priority, channel, older_than, newer_than,
          full_phone, fmt):
    """List tickets, oldest first (open ones by default)."""
    from .. import tickets
    from ..errors import InputError
    from ..policy import Duration
    from ..render import listing

    from ..schema import closest

    ws, policy = _ctx(app)
    now = ws.now
    limits = {}
    for name, text in (("older", older_than), ("newer", newer_than)):
        if text:
            try:
                limits[name] = Duration.from_toml(text)
            except ValueError as e:
                raise InputError(f"--{name}-than: {e}") from None
    filters = {"kind": kind, "category": category, "department": department, "assignee": assignee,
               "priority": priority, "channel": channel}
    known = {"kind": policy.kinds, "category": policy.categories, "department": policy.departments,
             "assignee": [s.id for s in policy.staff], "priority": policy.priorities, "channel": policy.channels}
    for k, vals in filters.items():
        for v in vals:
            if v not in known[k]:
                raise InputError(f"--{k} {v}: unknown; {closest(v, known[k])}")

    def cutoff(d):  # the opening time before which a ticket is older than d
        if d.working_days:
            from .. import sla

            cal = policy.shop.calendar
            if not cal:
                raise InputError("an age in working days needs the shop's business calendar (shop.calendar)")
            clk = sla.clock(policy, cal)
            # opened at or before the latest instant from which n working days have passed by now
            return lambda opened: clk.deadline(opened, d) < now
        td = d.timedelta()
        return lambda opened: now - opened > td

    older = cutoff(limits["older"]) if "older" in limits else None
    newer = cutoff(limits["newer"]) if "newer" in limits else None
    rows = []
    loaded = tickets.load_open_tickets(ws.root) if status in tickets.STATUSES[:3] else tickets.load_tickets(ws.root)
    for t in sorted(loaded.values(), key=lambda t: (t.opened_at, t.id)):
        if status == "open" and not t.is_open or status not in ("open", "all") and t.status != status:
            continue
        r = _row(t, policy, now, full_phone, short=fmt_of(app, fmt) == "table")
        if any(vals and r[k] not in vals for k, vals in filters.items()):
            continue
        if older is not None and not older(t.opened_at) or newer is not None and newer(t.opened_at):
            continue
        rows.append(r)
    f = fmt_of(app, fmt)
    if f == "table":
        for r in rows:
            r["summary"] = r["summary"] if len(r["summary"]) <= 24 else r["summary"][:23] + "…"
            r["opened_at"] = r["opened_at"].strftime("%m-%d %H:%M")
        cols = ["ticket", "opened_at", "age", "status", "priority", "category", "department", "assignee",
                "customer", "phone", "summary"]
        out = listing(rows, cols, f)
        click.echo(out if out else f"no {status if status != 'all' else ''} tickets".replace("  ", " "), nl=not out)
    else:
        click.echo(listing(rows, LIST_COLUMNS + ["abnormal"], f), nl=False)


@cli.command("show")
@click.argument("ticket")
@click.option("--full-phone", is_flag=True, help="Show the phone number in full.")
@output_format
@click.pass_obj
def show(app, ticket, full_phone, fmt):
    """Show a ticket and its whole timeline, oldest first."""
    import json

    from .. import ids, tickets
    from ..render import _plain

    ws, policy = _ctx(app)
    t = tickets.load_ticket(ws.root, ticket)
    f = fmt_of(app, fmt)
    fields = dict(t.fields)
    if "phone" in fields and not full_phone:
        fields["phone"] = tickets.mask_phone(fields["phone"])
    missing = [what for _, what in tickets.missing_for_close(policy, t)] if t.is_open else []
    timeline = []
    for e in t.events:
        text = e.text
        if e.type == "set" and e.ref == "phone" and not full_phone and text:
            text = tickets.mask_phone(text)
        timeline.append({"at": e.at, "by": e.by, "type": e.type, "ref": e.ref, "text": text,
                         "data": {} if e.type == "open" else e.data})
    if f != "table":
        level = 0
        if t.is_open:
            from .. import sla

            level, _ = sla.escalation_level(policy, t, [c for c in sla.evaluate(policy, t, ws.now) if c.running], ws.now)
        doc = {"ticket": t.id, "status": t.status, "priority": t.priority, "department": t.department,
               "escalation_level": level,
               "assignee": t.assignee, "group": t.group, "abnormal": t.abnormal, "opened_at": t.opened_at,
               "opened_by": t.opened_by, "fields": fields, "evidence": sorted(t.evidence),
               "checklist_missing": missing, "timeline": timeline}
        if f == "csv":
            from ..render import listing

            click.echo(listing(timeline, ["at", "by", "type", "ref", "text", "data"], "csv"), nl=False)
        else:
            click.echo(json.dumps(_plain(doc), ensure_ascii=False, indent=2))
        return
    cat = policy.categories.get(t.category)
    staff = {s.id: s.name for s in policy.staff}
    lines = [f"ticket {t.id} ({ids.short(t.id)})  {t.status}  priority {t.priority}",
             f"  kind/category: {policy.kinds[t.kind].name if t.kind in policy.kinds else t.kind}/"
             f"{cat.name if cat else t.category}"]
    if t.department:
        dep = policy.departments.get(t.department)
        lines.append(f"  department: {dep.name if dep else t.department}")
    if t.assignee:
        lines.append(f"  assignee: {t.assignee} {staff.get(t.assignee, '')}".rstrip())
    if t.group:
        lines.append(f"  group: {t.group}")
    if t.abnormal:
        lines.append(f"  abnormal (异常工单): {t.abnormal}")
    for k in ("channel", "order", "customer", "phone", "purchased_at", "member_level", "demand", "item_amount",
              "order_amount", "shipping_fee", "model", "batch", "waybill", "courier", "bug_details", "address"):
        if k in fields:
            lines.append(f"  {k}: {fields[k]}")
    lines.append(f"  summary: {t.summary}")
    lines.append(f"  evidence: {', '.join(sorted(t.evidence)) or 'none'}")
    if missing:
        lines.append("  to close: " + "; ".join(missing))
    if t.is_open:
        from .. import sla

        cycles = [c for c in sla.evaluate(policy, t, ws.now) if c.running]
        level, since = sla.escalation_level(policy, t, cycles, ws.now)
        if cycles:
            lines.append(f"time limits at {ws.now.strftime('%Y-%m-%d %H:%M')}:")
            for c in cycles:
                left = c.deadline - ws.now
                lines.append(f"  {c.timer.name} ({c.timer_id}): {c.state}{' (paused)' if c.paused else ''}, "
                             f"deadline {c.deadline.astimezone(policy.tz()).strftime('%m-%d %H:%M')}, "
                             f"{'left ' + _age(left) if left.total_seconds() >= 0 else 'overdue ' + _age(-left)}")
        if level:
            lines.append(f"  red header level {level}: copy {', '.join(sla.to_tell(policy, t, level)[1:])}")
    lines.append("timeline:")
    for e in timeline:
        who = f"{e['by']} {staff.get(e['by'], '')}".rstrip()
        detail = " ".join(x for x in (e["ref"], e["text"]) if x)
        lines.append(f"  {e['at'].strftime('%Y-%m-%d %H:%M')}  {e['type']:<10} {who}: {detail}".rstrip())
    click.echo("\n".join(lines))


@cli.command("categories")
@output_format
@click.pass_obj
def categories(app, fmt):
    """List the ticket categories of the policy with their required fields."""
    from ..render import listing

    _, policy = _ctx(app)
    rows = [{"category": c, "name": v.name, "kind": v.kind, "priority": v.priority,
             "required": list(v.required), "evidence": list(v.evidence)} for c, v in policy.categories.items()]
    click.echo(listing(rows, ["category", "name", "kind", "priority", "required", "evidence"], fmt_of(app, fmt)), nl=False)
