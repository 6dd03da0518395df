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


@cli.command("resolve")
@click.argument("incident")
@click.argument("solution")
@click.pass_obj
def resolve(app, incident, solution):
    """Record the incident's root cause and solution; its review deadline starts."""
    _simple(app, incident, "resolve", solution)


@cli.command("close")
@click.argument("incident")
@click.argument("text", required=False, default="")
@click.pass_obj
def close(app, incident, text):
    """Close the incident after its review."""
    _simple(app, incident, "close", text)


def _simple(app, incident, typ, text):
    from .. import incidents, ledger
    from ..errors import InputError

    ws = app.ws()
    with ledger.locked(ws.root):
        inc = incidents.resolve_id(ws.root, incident)
        incidents.check_open(inc, ws.now)
        if typ == "resolve" and inc.status == "resolved":
            raise InputError(f"incident {inc.id} is already resolved")
        _append(ws, [{"incident": inc.id, "at": ws.now, "by": ws.actor(), "type": typ, "text": text}])
    click.echo(f"incident {inc.id}: {typ}d" if typ == "close" else f"incident {inc.id}: resolved")


def _view(policy, inc, now):
    from .. import incidents

    lv = policy.incident_levels.get(inc.level)
    due = incidents.deadlines(policy, inc)
    return {"incident": inc.id, "status": inc.status, "level": inc.level, "type": inc.kind, "title": inc.title,
            "tickets": len(inc.tickets), "media": inc.media, "injury": inc.injury,
            "lead_role": lv.lead_role if lv else "", "leads": [s.id for s in incidents.leaders(policy, inc.level)],
            "opened_at": inc.opened_at, "response_due": due.get("response"), "review_due": due.get("review"),
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
    cols = ["incident", "status", "level", "type", "title", "tickets", "leads", "response_due", "review_due",
            "satisfaction_target"]
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
        lines.append(f"  response due: {resp.astimezone(tz).strftime('%Y-%m-%d %H:%M')} ({lv.response} after opening)"
                     + (" - OVERDUE" if ws.now > resp and inc.status == "open" else ""))
        if v["review_due"]:
            lines.append(f"  review due: {v['review_due'].astimezone(tz).strftime('%Y-%m-%d %H:%M')} ({lv.review} after resolution)")
        else:
            lines.append(f"  review due: {lv.review} after resolution")
        lines.append(f"  satisfaction target: ≥ {lv.satisfaction:.0%}")
    lines.append("  tickets: " + (", ".join(ids.short(t) for t in inc.tickets) or "none"))
    lines.append("history:")
    for at, by, typ, ref, text, _data in inc.events:  # IncidentEvent fields, in order
        lines.append(f"  {at.astimezone(tz).strftime('%Y-%m-%d %H:%M')}  {typ:<7} {by}: {' '.join(x for x in (ids.short(ref) if typ == 'join' else ref, text) if x)}")
    click.echo("\n".join(lines))
