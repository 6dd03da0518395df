"""`as incident ...`: group tickets that share a cause, grade and follow the incident."""

import click

from .common import fmt_of, output_format


@click.group("incident")
def cli():
    """Group tickets that share a cause into an incident graded L1-L3 (seed 002).

    The level follows the policy (incident_levels): number of complaints, media
    exposure, injury or property loss. Every regrading is recorded as an event.
    """


def _append(ws, rows):
    from .. import ledger

    ledger.append(ws.root, "incidents", rows, ws.policy)


@cli.command("open")
@click.option("--type", "kind", required=True, metavar="TYPE",
              help="quality, service or special (policies: incident_types): product quality, service failure, "
                   "or a special scenario (weather, outage, staffing).")
@click.option("--title", required=True, help="The shared cause, in a few words.")
@click.option("--media", is_flag=True, help="There is media exposure.")
@click.option("--injury", is_flag=True, help="There is injury or property loss.")
@click.argument("tickets", nargs=-1)
@click.pass_obj
def open_(app, kind, title, media, injury, tickets):
    """Open an incident, with the tickets it already covers; print its ID and level."""
    from .. import ids, incidents, tickets as tk

    ws = app.ws()
    policy, now, by = ws.policy, ws.now, ws.actor()
    if kind not in policy.incident_types:
        from ..errors import InputError
        from ..schema import closest

        raise InputError(f"--type {kind}: unknown incident type; {closest(kind, policy.incident_types)}")
    if not title.strip():
        from ..errors import InputError

        raise InputError("--title is empty; name the shared cause in a few words")
    full = list(dict.fromkeys(tk.resolve_id(ws.root, t) for t in tickets))  # each ticket once
    iid = ids.new_id(8)
    inc = incidents.Incident(iid, opened_at=now, kind=kind, title=title, media=media, injury=injury, tickets=full)
    rows = [{"incident": iid, "at": now, "by": by, "type": "open", "ref": kind, "text": title,
             "data": {"media": media, "injury": injury} if (media or injury) else {}}]
    rows += [{"incident": iid, "at": now, "by": by, "type": "join", "ref": t} for t in full]
    rows += incidents.regrade_event(policy, inc, now, by)
    _append(ws, rows)
    click.echo(f"incident {iid}  level {inc.level or '-'}  {len(full)} ticket{'s' if len(full) != 1 else ''}")


@cli.command("join")
@click.argument("incident")
@click.argument("tickets", nargs=-1, required=True)
@click.pass_obj
def join(app, incident, tickets):
    """Add tickets to an incident; a change of level is recorded."""
    from .. import incidents, ledger, tickets as tk

    ws = app.ws()
    policy, now, by = ws.policy, ws.now, ws.actor()
    with ledger.locked(ws.root):
        inc = incidents.resolve_id(ws.root, incident)
        incidents.check_open(inc, now)
        rows = []
        for t in tickets:
            tid = tk.resolve_id(ws.root, t)
            if tid not in inc.tickets:
                inc.tickets.append(tid)
                rows.append({"incident": inc.id, "at": now, "by": by, "type": "join", "ref": tid})
        before = inc.level
        rows += incidents.regrade_event(policy, inc, now, by)
        if rows:
            _append(ws, rows)
    change = f", regraded {before} -> {inc.level}" if inc.level != before else ""
    click.echo(f"incident {inc.id}: {len(inc.tickets)} tickets, level {inc.level or '-'}{change}")


@cli.command("flag")
@click.argument("incident")
@click.option("--media", is_flag=True, help="Media exposure has happened.")
@click.option("--injury", is_flag=True, help="Injury or property loss has happened.")
@click.pass_obj
def flag(app, incident, media, injury):
    """Record media exposure or injury learned later; regrades the incident."""
    from .. import incidents, ledger

    if not (media or injury):
        raise click.UsageError("give --media and/or --injury")
    ws = app.ws()
    policy, now, by = ws.policy, ws.now, ws.actor()
    with ledger.locked(ws.root):
        inc = incidents.resolve_id(ws.root, incident)
        incidents.check_open(inc, now)
        inc.media, inc.injury = inc.media or media, inc.injury or injury
        before = inc.level
        rows = [{"incident": inc.id, "at": now, "by": by, "type": "flag",
                 "data": {k: True for k, v in (("media", media), ("injury", injury)) if v}}]
        rows += incidents.regrade_event(policy, inc, now, by)
        _append(ws, rows)
    change = f", regraded {before} -> {inc.level}" if inc.level != before else ""
    click.echo(f"incident {inc.id}: level {inc.level}{change}")


@cli.command("respond")
@click.argument("incident")
@click.argument("text")
@click.pass_obj
def respond(app, incident, text):
    """Record the response: the customers contacted (apology, explanation, demand, promised time)."""
    _simple(app, incident, "respond", text)


@cli.command("resolve")
@click.argument("incident")
@click.argument("solution")
@click.pass_obj
def resolve(app, incident, solution):
    """Record the incident's solution; its review deadline starts."""
    _simple(app, incident, "resolve", solution)


@cli.command("cause")
@click.argument("incident")
@click.argument("text")
@click.pass_obj
def cause(app, incident, text):
    """Record the cause analysis (root and direct cause)."""
    _simple(app, incident, "cause", text)


@cli.command("approve")
@click.argument("incident")
@click.argument("text", required=False, default="")
@click.pass_obj
def approve(app, incident, text):
    """Approve the solution (--by the level's owner: L1 manager, L2 director, L3 CS manager, or higher)."""
    _simple(app, incident, "approve", text)


@cli.command("confirm")
@click.argument("incident")
@click.argument("text")
@click.pass_obj
def confirm(app, incident, text):
    """Record the customers' confirmation of the result (问题解决确认单)."""
    _simple(app, incident, "confirm", text)


@cli.command("review")
@click.argument("incident")
@click.option("--what", required=True, help="What happened (事件概况).")
@click.option("--why", required=True, help="Root and direct cause.")
@click.option("--who", required=True, help="Who took part, and how they did.")
@click.option("--when", "when_", required=True, help="The timeline.")
@click.option("--where", required=True, help="Where in the chain it happened.")
@click.option("--how", required=True, help="What worked and what failed.")
@click.pass_obj
def review(app, incident, what, why, who, when_, where, how):
    """Record the 5W1H review (复盘) after the resolution."""
    from ..errors import InputError

    data = {"what": what, "why": why, "who": who, "when": when_, "where": where, "how": how}
    for k, v in data.items():
        if not v.strip():
            raise InputError(f"--{k} is empty; the review answers each of the 5W1H")
    _simple(app, incident, "review", what, data)


@cli.command("improve")
@click.argument("incident")
@click.argument("text")
@click.pass_obj
def improve(app, incident, text):
    """Add an item to the improvement list (改进措施清单)."""
    _simple(app, incident, "improve", text)


@cli.command("close")
@click.argument("incident")
@click.argument("text", required=False, default="")
@click.pass_obj
def close(app, incident, text):
    """Close the incident; refused (exit 1) while its archive (seed 002 §4.4) misses an item."""
    _simple(app, incident, "close", text)


_DONE = {"respond": "response recorded", "resolve": "resolved", "cause": "cause analysis recorded",
         "approve": "solution approved", "confirm": "customer confirmation recorded", "review": "review recorded",
         "improve": "improvement recorded", "close": "closed"}


def _simple(app, incident, typ, text, data=None):
    from .. import incidents, ledger
    from ..errors import InputError

    ws = app.ws()
    policy, by = ws.policy, ws.actor()
    note = ""
    with ledger.locked(ws.root):
        inc = incidents.resolve_id(ws.root, incident)
        incidents.check_open(inc, ws.now)
        if typ == "resolve" and inc.status == "resolved":
            raise InputError(f"incident {inc.id} is already resolved")
        if typ == "review" and not inc.resolved_at:
            raise InputError(f"incident {inc.id} is not resolved; the review follows the resolution (`incident resolve`)")
        if typ == "approve":
            incidents.check_approver(policy, inc, by)
        if typ == "close":
            missing = [k for k, ok in incidents.archive(policy, inc).items() if not ok]
            if missing:
                click.echo(f"incident {inc.id}: not closed; the archive misses:", err=True)
                for k in missing:
                    name, how = incidents.ARCHIVE_WHAT[k]
                    click.echo(f"  - {name}: {how}", err=True)
                click.get_current_context().exit(1)
        if typ == "respond":
            due = incidents.deadlines(policy, inc).get("response")
            if due is not None and inc.responded_at is None:
                note = f" ({'in time' if ws.now <= due else 'late'}, due {due.astimezone(policy.tz()).strftime('%m-%d %H:%M')})"
        if typ == "review":
            due = incidents.deadlines(policy, inc)["review"]
            note = f" ({'in time' if ws.now <= due else 'late'}, due {due.astimezone(policy.tz()).strftime('%m-%d %H:%M')})"
        _append(ws, [{"incident": inc.id, "at": ws.now, "by": by, "type": typ, "text": text, "data": data or {}}])
    click.echo(f"incident {inc.id}: {_DONE[typ]}{note}")


def _view(policy, inc, now):
    from .. import incidents

    lv = policy.incident_levels.get(inc.level)
    due = incidents.deadlines(policy, inc)
    st = incidents.states(policy, inc, now)
    return {"incident": inc.id, "status": inc.status, "level": inc.level, "type": inc.kind, "title": inc.title,
            "tickets": len(inc.tickets), "media": inc.media, "injury": inc.injury,
            "lead_role": lv.lead_role if lv else "", "leads": [s.id for s in incidents.leaders(policy, inc.level)],
            "opened_at": inc.opened_at, "response_due": due.get("response"), "review_due": due.get("review"),
            "response": st["response"], "review": st["review"], "approved_by": inc.approved_by,
            "archive": incidents.archive(policy, inc),
            "satisfaction_target": lv.satisfaction if lv else None, "ticket_ids": list(inc.tickets)}


@cli.command("list")
@click.option("--all", "all_", is_flag=True, help="Closed incidents too.")
@output_format
@click.pass_obj
def list_(app, all_, fmt):
    """List incidents with their level, leader and deadlines."""
    from .. import incidents
    from ..render import listing

    ws = app.ws()
    rows = [_view(ws.policy, inc, ws.now) for inc in sorted(incidents.fold(ws.root).values(), key=lambda i: i.opened_at)
            if all_ or inc.status != "closed"]
    cols = ["incident", "status", "level", "type", "title", "tickets", "leads", "response_due", "response", "review_due",
            "review", "satisfaction_target"]
    out = listing(rows, cols, fmt_of(app, fmt))
    click.echo(out or "no incidents", nl=bool(not out))


@cli.command("show")
@click.argument("incident")
@output_format
@click.pass_obj
def show(app, incident, fmt):
    """Show an incident: level and why, who leads it, deadlines, satisfaction target, tickets, history."""
    import json

    from .. import ids, incidents
    from ..render import _plain

    ws = app.ws()
    policy = ws.policy
    inc = incidents.resolve_id(ws.root, incident)
    v = _view(policy, inc, ws.now)
    if fmt_of(app, fmt) != "table":
        v["history"] = [{"at": e.at, "by": e.by, "type": e.type, "ref": e.ref, "text": e.text} for e in inc.events]
        click.echo(json.dumps(_plain(v), ensure_ascii=False, indent=2))
        return
    lv = policy.incident_levels.get(inc.level)
    staff = {s.id: s.name for s in policy.staff}
    tz = policy.tz()
    lines = [f"incident {inc.id}  {inc.status}  level {inc.level or '-'}{' (' + lv.name + ')' if lv else ''}",
             f"  {inc.kind}: {inc.title}",
             f"  tickets: {len(inc.tickets)}  media: {'yes' if inc.media else 'no'}  injury: {'yes' if inc.injury else 'no'}"]
    if lv:
        leads = ", ".join(f"{s} {staff[s]}" for s in v["leads"]) or "nobody in the roster"
        lines.append(f"  led by: {policy.roles[lv.lead_role].name} ({lv.lead_role}): {leads}")
        resp = v["response_due"]
        since = "opening" if inc.response_from == inc.opened_at else "the regrade"
        lines.append(f"  response due: {resp.astimezone(tz).strftime('%Y-%m-%d %H:%M')} ({lv.response} after {since})"
                     + f" - {v['response']}")
        if v["review_due"]:
            lines.append(f"  review due: {v['review_due'].astimezone(tz).strftime('%Y-%m-%d %H:%M')} ({lv.review} after resolution)"
                         + f" - {v['review']}")
        else:
            lines.append(f"  review due: {lv.review} after resolution")
        owner = incidents.owner_role(policy, inc.level)
        lines.append(f"  solution approved: {inc.approved_by or 'no'} (by a {owner} or higher)")
        lines.append(f"  satisfaction target: ≥ {lv.satisfaction:.0%}")
    lines.append("  archive: " + ", ".join(f"{k} {'Y' if ok else 'N'}" for k, ok in v["archive"].items()))
    lines.append("  tickets: " + (", ".join(ids.short(t) for t in inc.tickets) or "none"))
    lines.append("history:")
    for at, by, typ, ref, text, _data in inc.events:  # IncidentEvent fields, in order
        lines.append(f"  {at.astimezone(tz).strftime('%Y-%m-%d %H:%M')}  {typ:<7} {by}: {' '.join(x for x in (ids.short(ref) if typ == 'join' else ref, text) if x)}")
    click.echo("\n".join(lines))


@cli.command("report")
@click.option("--months", default=6, show_default=True, help="How many months, ending with the month of --now.")
@output_format
@click.pass_obj
def report(app, months, fmt):
    """Incidents per month: opened by level, responded in time, closed, recurrences and the recurrence rate.

    An incident recurs when an earlier incident of the same type was about the same
    product model or batch (of its tickets), or has the same title when its tickets name
    neither (seed 002: recurrence rate and the monthly trend).
    """
    import datetime as dt

    from .. import incidents
    from ..errors import InputError
    from ..render import listing
    from ..tickets import load_tickets

    if not 1 <= months <= 120:
        raise InputError(f"--months {months}: give 1 to 120 months")
    ws = app.ws()
    policy, tz = ws.policy, ws.policy.tz()
    first = ws.now.astimezone(tz).date().replace(day=1)
    firsts = [first]
    for _ in range(months - 1):
        firsts.insert(0, (firsts[0] - dt.timedelta(days=1)).replace(day=1))
    rows = incidents.monthly(policy, list(incidents.fold(ws.root).values()), load_tickets(ws.root), firsts, tz, ws.now)
    f = fmt_of(app, fmt)
    if f == "table":
        for r in rows:
            r["recurrence_rate"] = "-" if r["recurrence_rate"] is None else f"{r['recurrence_rate']:.0%}"
    cols = ["month", "opened"] + list(policy.incident_levels) + ["responded_in_time", "closed", "recurrences",
                                                                 "recurrence_rate"]
    click.echo(listing(rows, cols, f), nl=False)
