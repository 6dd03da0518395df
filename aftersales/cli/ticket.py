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
    from .. import actions, ids

    ws, policy = _ctx(app)
    o = actions.open_ticket(ws, values)
    t, routed, opened = o.ticket, o.routed, o.events[0]
    cat = policy.categories[opened.ref]
    dep, missing = o.department, o.missing
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
    from .. import actions, ids

    ws = app.ws()
    t = actions.record(ws, typed, typ, ref, text, data).before
    click.echo(f"{ids.short(t.id)}: {typ}{(' ' + ref) if ref else ''} recorded{note(t, ws.now) if note else ''}")
    return t


@cli.command("reply")
@click.argument("ticket")
@click.argument("text")
@click.option("--auto", is_flag=True, help="An automatic reply: it stops no time limit (seed 003).")
@click.pass_obj
def reply(app, ticket, text, auto):
    """Record a reply sent to the customer (the first one is the first contact)."""
    if auto:
        from ..events import AUTOMATIC

        _record(app, ticket, "reply", ref=AUTOMATIC, text=text, note=lambda t, now: " (stops no time limit)")
        return
    _record(app, ticket, "reply", text=text,
            note=lambda t, now: f" (first contact, {_age(now - t.opened_at)} after opening)" if t.first_reply_at is None else "")


@cli.command("call")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def call(app, ticket, text):
    """Record a phone call to the customer (out of stock: no answer in 24 h, phone them)."""
    _record(app, ticket, "call", text=text)


@cli.command("message")
@click.argument("ticket")
@click.argument("text")
@click.pass_obj
def message(app, ticket, text):
    """Record a message from the customer, in their words; routing runs at once on it."""
    from .. import actions, ids

    r = actions.message(app.ws(), ticket, text)
    t, routed = r.before, r.routed
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
        if not Path(f).exists() and not Path(f).is_symlink():
            raise InputError(f"{f}: no such file; give the path of the photo or video to attach")
    with ledger.locked(ws.root):
        t = tickets.load_ticket(ws.root, ticket)
        events = []
        for f in files:
            tickets.event(policy, t, ws.now, by, "evidence", kind)  # validates the transition
            digest, rel = tickets.store_evidence(ws.root, Path(f), policy.shop.evidence_max_mb * 10**6)
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
    if closing.data.get("checklist"):
        click.echo("  checklist: " + ", ".join(f"{k} {v}" for k, v in closing.data["checklist"].items()))


@cli.command("escalated")
@click.argument("ticket")
@click.argument("text")
@click.option("--to", "to", required=True, metavar="TARGET",
              help="Where the customer took it: regulator, platform, media (policies: escalation_targets).")
@click.option("--service-failure/--not-service-failure", default=True, show_default=True,
              help="Whether a service failure of the shop caused it (seed 004 §6 counts only these).")
@click.pass_obj
def escalated(app, ticket, text, to, service_failure):
    """Record that the customer escalated the complaint beyond the shop (投诉升级, e.g. to 12315)."""
    _record(app, ticket, "escalated", ref=to, text=text, data={"service_failure": service_failure})


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
#: the columns of `ticket list` as a table
TABLE_COLUMNS = ["ticket", "opened_at", "age", "status", "priority", "category", "department", "assignee",
                 "customer", "phone", "summary"]


def _open_listed(ws, now):
    """The open tickets, as `_row` reads them: kept per ticket in a derived cache (a warm
    run folds only the tickets appended rows touch; see tickets.decided)."""
    from ..tickets import scan

    from .. import ids, tickets

    def decide(t):
        f = t.fields
        phone = f.get("phone", "")
        return scan.FOREVER, [t.id, t.opened_at.isoformat(), t.status, t.priority, t.kind, t.category, t.department,
                              t.assignee, f.get("channel", ""), f.get("customer", ""), phone,
                              f.get("order", ""), t.summary, t.abnormal, str(scan.micros(t.opened_at)),
                              tickets.mask_phone(phone) if phone else "", ids.short(t.id),
                              t.opened_at.strftime("%m-%d %H:%M")]

    return scan.decided(ws.root, "ticket-list", now, decide, pure=True)


def _open_rows(kept, status, cols, table, now, full_phone, filters, older, newer) -> list:
    """`list_`'s rows, (opened at as a timestamp, ID, values in `cols` order), of the open
    tickets `_open_listed` kept: as `_row` makes them, with the age worked out at now."""
    from .. import ids
    from ..clock import spans
    from ..ledger import parse_time
    from ..tickets.scan import micros

    from operator import itemgetter

    now_us = micros(now)
    age_of = spans()
    rows: list = []
    wanted = [(k, vals) for k, vals in filters.items() if vals]
    values = itemgetter(*cols)
    times = older is not None or newer is not None or not table
    if cols == TABLE_COLUMNS and not wanted and not times:  # the plain table: straight from the payloads
        add = rows.append
        for p in kept:
            if status == "open" or p[2] == status:
                at = int(p[14])
                add((at / 1000000, p[0], (p[16], p[17], age_of(int((now_us - at) / 1000000)), p[2], p[3], p[5], p[6],
                                          p[7], p[9], p[10] if full_phone else p[15], p[12])))
        return rows
    for p in kept:
        if status != "open" and p[2] != status:
            continue
        (tid, opened, st, priority, kind, category, department, assignee, channel, customer, phone, order, summary,
         abnormal, opened_us, masked, _, _) = p
        age = age_of(int((now_us - int(opened_us)) / 1000000))  # as int(timedelta.total_seconds()) gives it
        when = parse_time(opened) if times else None
        r = {"ticket": ids.short(tid) if table else tid, "opened_at": opened[5:10] + " " + opened[11:16] if table
             else when, "age": age, "status": st, "priority": priority, "kind": kind, "category": category,
             "department": department, "assignee": assignee, "channel": channel, "customer": customer,
             "phone": phone if full_phone else masked, "order": order, "summary": summary, "abnormal": abnormal}
        if wanted and any(r[k] not in vals for k, vals in wanted):
            continue
        if older is not None and not older(when) or newer is not None and newer(when):
            continue
        rows.append((int(opened_us) / 1000000, tid, values(r)))
    return rows


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
@click.option("--order", "orders", multiple=True, help="Only tickets of this order number (any case; repeatable).")
@click.option("--full-phone", is_flag=True, help="Show phone numbers in full (masked by default).")
@output_format
@click.pass_obj
def list_(app, status, kind, category, department, assignee, priority, channel, older_than, newer_than,
          full_phone, fmt, orders=()):
    """List tickets, oldest first (open ones by default)."""
    f = fmt_of(app, fmt)
    if not (orders or older_than or newer_than or kind or category or department or assignee or priority or channel) \
            and status in ("open", "waiting", "resolved"):
        ws = app.ws()
        now = ws.instant()
        if now is not None and _kept_under_these_policies(ws.root):
            # what was made of each open ticket was made under these policy files and this
            # code, which loaded and passed its checks then: the policy is not loaded again
            cols = _list_columns(f)
            _write_rows(_open_rows(_open_listed(ws, now), status, cols, f == "table", now, full_phone, {}, None, None),
                        cols, f, status)
            return

    tried = False  # (listing.written ran already)
    if not (orders or older_than or newer_than or kind or category or department or assignee or priority or channel) \
            and status in ("closed", "all"):
        ws = app.ws()
        now = ws.instant()
        if now is not None:  # every ticket, unfiltered: the policy is loaded (and checked) while a
            import sys  # forked process reads the later half of the ledger (listing.written)

            from ..tickets import listing as whole

            n = whole.written(ws.root, status, _list_columns(f), f, now, full_phone, {}, None, None, sys.stdout,
                              check=lambda: ws.policy)
            if n is not None:
                if not n and f == "table":
                    click.echo(f"no {status if status != 'all' else ''} tickets".replace("  ", " "))
                return
            tried = True

    from .. import tickets
    from ..errors import InputError
    from ..policy import Duration

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

    from ..sla import older_than

    older = older_than(policy, limits["older"], now) if "older" in limits else None
    newer = older_than(policy, limits["newer"], now) if "newer" in limits else None
    if orders:  # issue 15: only the tickets whose records hold the order number are read
        from .. import search

        loaded = search.load(ws.root, search.candidates(ws.root / "ledgers" / "tickets.csv",
                                                        [(v, None) for o in orders for v in search._variants(o.strip())]))
        source = iter(loaded.values())
    cols = _list_columns(f)
    rows = []  # (opened at as a timestamp, ID, the row's values in `cols` order)
    if not orders and status in tickets.STATUSES[:3]:  # the open tickets, as kept (tickets.decided)
        rows = _open_rows(_open_listed(ws, now), status, cols, f == "table", now, full_phone, filters, older, newer)
        source = iter(())
    if not orders and status not in tickets.STATUSES[:3]:  # closed or all: every ticket (issue 18)
        import sys

        from ..tickets import listing as whole

        n = None if tried else whole.written(ws.root, status, cols, f, now, full_phone, filters, older, newer, sys.stdout)
        if n is not None:  # two processes wrote it (a big ledger, a second processor)
            if not n and f == "table":
                click.echo(f"no {status if status != 'all' else ''} tickets".replace("  ", " "))
            return
        made = whole.rows(ws.root, status, cols, f == "table", now, full_phone, filters, older, newer)
        if made is not None:  # the rows it could make, and the tickets it had to fold whole
            rows, rest = made
            source = iter(rest)
            if not rest:  # the usual case: every row made there, written oldest first
                from operator import itemgetter

                from ..render import write_listing

                # (listing.rows gives them oldest first)
                if not write_listing(map(itemgetter(2), rows), cols, f, sys.stdout) and f == "table":
                    click.echo(f"no {status if status != 'all' else ''} tickets".replace("  ", " "))
                return
        else:  # the ledger is read the careful way
            source = tickets.iter_tickets(ws.root)
    wanted = {o.strip().upper() for o in orders}
    for t in source:
        if status == "open" and not t.is_open or status not in ("open", "all") and t.status != status:
            continue
        r = _row(t, policy, now, full_phone, short=f == "table")
        if any(vals and r[k] not in vals for k, vals in filters.items()):
            continue
        if orders and r["order"].upper() not in wanted:  # issue 15: --order
            continue
        if older is not None and not older(t.opened_at) or newer is not None and newer(t.opened_at):
            continue
        if f == "table":
            r["opened_at"] = r["opened_at"].strftime("%m-%d %H:%M")
        rows.append((t.opened_at.timestamp(), t.id, tuple(r[c] for c in cols)))
    _write_rows(rows, cols, f, status)


def _write_rows(rows: list, cols: list, f: str, status: str) -> None:
    """`list_`'s rows (opened at as a timestamp, ID, values in `cols` order), oldest first."""
    from operator import itemgetter

    rows.sort(key=itemgetter(0, 1), reverse=True)  # oldest last: popped first

    def drain():  # each row freed as it is written
        while rows:
            yield rows.pop()[2]

    import sys

    from ..render import write_listing

    n = write_listing(drain(), cols, f, sys.stdout)
    if not n and f == "table":
        click.echo(f"no {status if status != 'all' else ''} tickets".replace("  ", " "))


def _list_columns(f: str) -> list:
    """The columns `ticket list` shows in format `f`."""
    return TABLE_COLUMNS if f == "table" else LIST_COLUMNS + ["abnormal"]


def _kept_under_these_policies(root) -> bool:
    """Whether `ticket list` kept what it made of the open tickets (cache file
    `ticket-list`) under the policy files, corrections and code of now."""
    from .. import cache

    return cache.enabled and cache.made_under(root, "ticket-list")


@cli.command("show")
@click.argument("ticket")
@click.option("--full-phone", is_flag=True, help="Show the phone number in full.")
@output_format
@click.pass_obj
def show(app, ticket, full_phone, fmt):
    """Show a ticket and its whole timeline, oldest first."""
    import json

    from .. import corrections, ids, tickets
    from ..render import _plain

    ws, policy = _ctx(app)
    from ..search import find_one  # issue 15: an order number, waybill or phone finds the ticket too

    t, history, pays, corrs = corrections.ticket_history(ws.root, find_one(ws.root, ticket))  # issue 15: as corrected, both rows kept
    f = fmt_of(app, fmt)
    fields = dict(t.fields)
    if "phone" in fields and not full_phone:
        fields["phone"] = tickets.mask_phone(fields["phone"])
    missing = [what for _, what in tickets.missing_for_close(policy, t)] if t.is_open else []
    timeline = []
    for h in history:
        e, c = h["event"], h["correction"]
        text = e.text
        if e.type == "set" and e.ref == "phone" and not full_phone and text:
            text = tickets.mask_phone(text)
        timeline.append({"at": e.at, "by": e.by, "type": e.type, "ref": e.ref, "text": text,
                         "data": {} if e.type == "open" else e.data, "record": h["record"],
                         "corrected": ("voided" if c.action == "void" else "superseded") if c else "",
                         "correction": c.id if c else "", "corrected_text": c.data.get("text", "") if c else ""})
    payments = [{"payment": x["payment"]["id"], "at": x["payment"]["at"], "by": x["payment"]["by"],
                 "amount": x["payment"]["amount"], "method": x["payment"]["method"],
                 "liability": x["payment"]["liability"], "reason": x["payment"]["reason"],
                 "approved_by": x["payment"]["approved_by"],
                 "in_force": x["effective"] is not None,
                 "effective_amount": x["effective"]["amount"] if x["effective"] else "0.00",
                 "correction": x["correction"].id if x["correction"] else ""} for x in pays]
    fixes = [dict(c.row(), in_force=active) for c, active in corrs]
    if f != "table":
        level = 0
        if t.is_open:
            from .. import sla

            level, _ = sla.escalation_level(policy, t, sla.evaluate(policy, t, ws.now, running=True), ws.now)
        doc = {"ticket": t.id, "status": t.status, "priority": t.priority, "department": t.department,
               "escalation_level": level,
               "assignee": t.assignee, "group": t.group, "abnormal": t.abnormal, "opened_at": t.opened_at,
               "opened_by": t.opened_by, "fields": fields, "evidence": sorted(t.evidence),
               "checklist_missing": missing, "timeline": timeline, "payments": payments, "corrections": fixes,
               "closing_checklist": (t._close.data.get("checklist") or {}) if t._close is not None else {}}
        if f == "csv":  # one table: every part of the ticket as rows of a section
            from ..render import listing

            rows = [{"section": "ticket", "key": k, "text": doc[k]} for k in
                    ("ticket", "status", "priority", "department", "escalation_level", "assignee", "group", "abnormal",
                     "opened_at", "opened_by")]
            rows += [{"section": "field", "key": k, "text": v} for k, v in fields.items()]
            rows += [{"section": "evidence", "key": k, "text": len(t.evidence[k])} for k in sorted(t.evidence)]
            rows += [{"section": "checklist_missing", "text": m} for m in missing]
            rows += [dict(x, section="timeline") for x in timeline]
            rows += [dict(x, section="payment", key=x["payment"], ref=x["method"], text=x["reason"]) for x in payments]
            rows += [dict(x, section="correction", key=x["id"], type=x["action"], ref=x["target"], text=x["reason"])
                     for x in fixes]
            click.echo(listing(rows, ["section", "key", "at", "by", "type", "ref", "text", "data", "record", "corrected",
                                      "correction", "corrected_text", "amount", "effective_amount", "liability",
                                      "approved_by", "in_force"], "csv"), nl=False)
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
    if t._close is not None and t._close.data.get("checklist"):
        ck = t._close.data["checklist"]  # in the policy's order (the ledger keeps JSON keys sorted)
        order = [k for k in policy.closing.record if k in ck] + sorted(k for k in ck if k not in policy.closing.record)
        lines.append("  closing checklist: " + ", ".join(f"{k} {ck[k]}" for k in order))
    if missing:
        lines.append("  to close: " + "; ".join(missing))
    # a closed ticket may still owe a follow-up visit (on_close = "continue")
    from .. import sla

    cycles = sla.evaluate(policy, t, ws.now, running=True)
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
    if payments:
        lines.append("payments:")
        for p in payments:
            state = "" if p["in_force"] and not p["correction"] else (
                f"  [voided by {p['correction']}]" if not p["in_force"] else
                f"  [now ¥{p['effective_amount']}, corrected by {p['correction']}]")
            lines.append(f"  {p['payment']}  {p['at'][:16].replace('T', ' ')}  {p['by']}  ¥{p['amount']} "
                         f"{p['method']} {p['liability']}{state}")
    if fixes:
        lines.append("corrections:")
        for c in fixes:
            appr = f", approved by {c['approved_by']}" if c["approved_by"] else ""
            lines.append(f"  {c['id']}  {c['at'].strftime('%Y-%m-%d %H:%M')}  {c['by']}  {c['action']} {c['target']}"
                         f"{appr}: {c['reason']}{'' if c['in_force'] else '  [voided]'}")
    lines.append(f"timeline (correct an event with `aftersales correct void|event {ids.short(t.id)}.REF`):")
    for e in timeline:
        who = f"{e['by']} {staff.get(e['by'], '')}".rstrip()
        detail = " ".join(x for x in (e["ref"], e["text"]) if x)
        mark = ""
        if e["corrected"] == "voided":
            mark = f"  [voided by {e['correction']}]"
        elif e["corrected"]:
            mark = f"  [now: {e['corrected_text']}; corrected by {e['correction']}]"
        lines.append(f"  {e['at'].strftime('%Y-%m-%d %H:%M')}  {e['record'].partition('.')[2]}  {e['type']:<10} "
                     f"{who}: {detail}{mark}".rstrip())
    from ..render import printable, wrap

    click.echo(wrap(printable("\n".join(lines))))  # issue 15: long lines wrap at the terminal's width


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


# ------------------------------------------------------------------ issue 15: find a ticket


@cli.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--in", "field", type=click.Choice(["order", "waybill", "phone", "customer", "text"]),
              help="Search only this: the order number, the waybill, the phone, the customer's name, "
                   "or the words of the summary and the messages. Default: all of them.")
@click.option("--status", type=click.Choice(["open", "waiting", "resolved", "closed", "all"]), default="all",
              show_default=True, help="open means not closed.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most this many.")
@click.option("--full-phone", is_flag=True, help="Show phone numbers in full (masked by default).")
@output_format
@click.pass_obj
def search(app, query, field, status, limit, full_phone, fmt):
    """Find tickets by order number, waybill, phone, name or words; newest first.

    A phone matches whole or by its last four digits; an order number or waybill by any
    part of it (any case); words must all be in the summary or in one message or reply.

    \b
    Examples:
      aftersales ticket search TB20261115088
      aftersales ticket search 5678 --in phone
      aftersales ticket search 王女士
      aftersales ticket search 电水壶 裂纹
    """
    from .. import search as s
    from .. import tickets

    ws, policy = _ctx(app)
    q = " ".join(query)
    hits = s.search(ws.root, q, field)
    hits = [(t, m) for t, m in hits if status == "all" or (t.is_open if status == "open" else t.status == status)]
    f = fmt_of(app, fmt)
    rows = []
    for t, m in hits[:limit]:
        r = _row(t, policy, ws.now, full_phone, short=f == "table")
        r["waybill"] = t.fields.get("waybill", "")
        r["matched"] = m[0][0]
        value = m[0][1]
        r["match"] = tickets.mask_phone(value) if m[0][0] == "phone" and not full_phone else value
        r["matches"] = [k for k, _ in m]
        rows.append(r)
    if f == "table":
        if not rows:
            click.echo(f"no ticket matches '{q}'")
            return
        for r in rows:
            r["opened_at"] = r["opened_at"].strftime("%Y-%m-%d %H:%M")
            r["match"] = f"{r['matched']}: {r['match']}"
        cols = ["ticket", "opened_at", "status", "category", "customer", "phone", "order", "match"]
        click.echo(listing_fit(rows, cols, f), nl=False)
        if len(hits) > limit:
            click.echo(f"{len(hits) - limit} more; narrow the search, or --limit {len(hits)}")
    else:
        from ..render import listing

        click.echo(listing(rows, LIST_COLUMNS + ["abnormal", "waybill", "matched", "match", "matches"], f), nl=False)


def listing_fit(rows, cols, fmt):
    """A listing; tables are fitted to the terminal's width when render offers it (issue 15)."""
    from .. import render

    fit = getattr(render, "fitted_listing", None)
    return fit(rows, cols) if fit is not None and fmt == "table" else render.listing(rows, cols, fmt)
