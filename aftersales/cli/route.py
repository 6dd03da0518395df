"""`as route`: apply the routing rules to one ticket or every open one."""

from contextlib import nullcontext

import click

from .common import fmt_of, output_format

_BLOCK = 4096  # lines of the table written at a time


@click.command("route")
@click.argument("ticket", required=False)
@click.option("--all", "all_", is_flag=True, help="Every open ticket (for cron: tickets turn abnormal with time).")
@click.option("--explain", is_flag=True, help="For every rule in order: matched or not, and each condition's verdict.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print only what changed or needs a person; nothing when nothing did (for cron).")
@output_format
@click.pass_obj
def cli(app, ticket, all_, explain, dry_run, fmt, quiet=False):
    """Apply the routing rules to a ticket (or --all open ones) and record what changes.

    Rules (policies: rules) are evaluated in the order written; each matched rule's
    actions are recorded as events naming the rule. Also shows the red-header
    escalation level reached at --now. Exit 1 when a ticket is routed to a department
    whose required fields it lacks.
    """
    from .. import compensation, ids, ledger, routing, sla, tickets
    from ..money import ZERO
    from ..render import _plain

    if bool(ticket) == bool(all_):
        raise click.UsageError("give a TICKET or --all")
    ws = app.ws()
    policy, now = ws.policy, ws.now
    by = "system"
    if not dry_run and ticket:
        by = app.by_opt and ws.actor() or "system"
    f = fmt_of(app, fmt)
    reports = []
    with ledger.locked(ws.root) if not dry_run else nullcontext():
        if ticket:
            t = tickets.load_ticket(ws.root, ticket)
            if not t.is_open:
                from ..errors import InputError

                raise InputError(f"ticket {ids.short(t.id)} is closed; reopen it before routing")
            todo = [t]
        else:
            todo = sorted(tickets.load_open_tickets(ws.root).values(), key=lambda t: (t.opened_at, t.id))
        paid = compensation.paid_by_ticket(ws.root)
        new_events = []
        clocks: dict = {}
        rules = routing.Rules(policy, now) if all_ and not explain else None  # no words to explain: plain tests
        for t in todo:
            facts = routing.facts_for(policy, t, paid.get(t.id, ZERO))
            d = rules.decide(t, facts) if rules else routing.evaluate(policy, t, now, facts)
            evs = routing.changes(policy, t, d, now, by)
            new_events.extend(evs)
            for e in evs:  # the escalation level after the change (an abnormal ticket is supervised)
                t.apply(e)
            dep, missing = routing.missing_fields(policy, t, d)
            # only a supervised ticket has a red-header level: the others' timers are not needed here
            cycles = [c for c in sla.evaluate(policy, t, now, clocks) if c.running] if sla.supervised(t) else []
            level, since = sla.escalation_level(policy, t, cycles, now)
            reports.append({"ticket": t.id, "short": ids.short(t.id), "changes": evs, "department": dep,
                            "missing_fields": missing, "level": level, "since": since,
                            "tell": sla.to_tell(policy, t, level) if level else [], "decision": d if explain else None})
        if new_events and not dry_run:
            tickets.append_events(ws.root, new_events, policy)
    if f == "json":
        import json

        out = [{"ticket": r["ticket"],
                "changes": [{"type": e.type, "value": e.ref or e.text, "rule": e.data["rule"]} for e in r["changes"]],
                "department": r["department"], "missing_fields": r["missing_fields"],
                "escalation_level": r["level"], "tell": r["tell"],
                **({"rules": [_explain_json(o) for o in r["decision"].outcomes]} if explain else {})}
               for r in reports]
        click.echo(json.dumps(_plain(out), ensure_ascii=False, indent=2))
    elif f == "csv":
        from ..render import listing

        rows = []  # issue 15: every part of the JSON, one table; `record` says which part a row is
        for r in reports:
            rows.append({"ticket": r["ticket"], "record": "ticket", "department": r["department"],
                         "missing_fields": r["missing_fields"], "escalation_level": r["level"], "tell": r["tell"]})
            rows += [{"ticket": r["ticket"], "record": "change", "type": e.type, "value": e.ref or e.text,
                      "rule": e.data["rule"]} for e in r["changes"]]
            if explain:
                for o in r["decision"].outcomes:
                    base = {"ticket": r["ticket"], "rule": o.rule.name, "matched": o.matched, "skipped_by": o.skipped_by}
                    rows += [dict(base, record="check", condition=c.condition, ok=c.ok, detail=c.detail)
                             for c in o.checks] or [dict(base, record="rule")]
        click.echo(listing(rows, ["ticket", "record", "type", "value", "rule", "department", "missing_fields",
                                  "escalation_level", "tell", "matched", "skipped_by", "condition", "ok", "detail"],
                           "csv"), nl=False)
    else:
        changed = 0
        out = []  # printed _BLOCK lines at a time, not one write (and flush) per ticket
        for r in reports:
            lines = _describe(policy, r, now, dry_run)
            changed += bool(r["changes"])
            if explain:
                lines += _explain_text(r["decision"])
            if quiet and not explain:  # issue 13: cron prints only what changed or needs a person
                lines = [ln for ln in lines if not ln.endswith(": no change") and "red header level" not in ln]
            if lines and (ticket or explain or r["changes"] or r["missing_fields"] or r["level"]):
                out += lines
                if len(out) >= _BLOCK:
                    click.echo("\n".join(out))
                    out = []
        if out:
            click.echo("\n".join(out))
        if all_ and not (quiet and not changed):
            click.echo(f"{len(reports)} open ticket{'s' if len(reports) != 1 else ''} routed, "
                       f"{changed} {'would change' if dry_run else 'changed'}")
    if any(r["missing_fields"] for r in reports):
        click.get_current_context().exit(1)



def _describe(policy, r, now, dry_run):
    from ..clock import span

    verb = "would set" if dry_run else "set"
    lines = []
    head = r["short"]
    for e in r["changes"]:
        what = e.text if e.type == "alert" else e.ref
        lines.append(f"{head}: {verb} {e.type} {what} (rule {e.data['rule']})")
    if not r["changes"]:
        lines.append(f"{head}: no change")
    if r["missing_fields"]:
        dep = policy.departments[r["department"]]
        lines.append(f"{head}: routed to {dep.name} ({r['department']}), which needs: "
                     + ", ".join(r["missing_fields"]) + " (`aftersales ticket set`)")
    if r["level"]:
        lines.append(f"{head}: red header level {r['level']} ({span(now - r['since'])} past its deadline): copy "
                     + ", ".join(r["tell"][1:]))
    return lines


def _explain_text(d):
    out = []
    for o in d.outcomes:
        n = o.index + 1
        if o.skipped_by:
            out.append(f"  {n}. {o.rule.name}: not evaluated (rule {o.skipped_by} matched and stops)")
            continue
        acts = ", ".join(f"{k} {v}" for k, v in vars(o.rule.then).items() if v)
        out.append(f"  {n}. {o.rule.name}: {'MATCH -> ' + acts if o.matched else 'no match'}"
                   + (" (stop)" if o.matched and o.rule.stop else ""))
        if not o.checks:
            out.append("       (no conditions: matches every ticket)")
        for c in o.checks:
            out.append(f"       {'✓' if c.ok else '✗'} {c.condition}: {c.detail}")
    return out


def _explain_json(o):
    return {"rule": o.rule.name, "matched": o.matched, "skipped_by": o.skipped_by,
            "checks": [{"condition": c.condition, "ok": c.ok, "detail": c.detail} for c in o.checks]}
