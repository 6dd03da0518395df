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
        else:  # with --explain each ticket is decided with its words; else see _all_kept
            todo = sorted(tickets.load_open_tickets(ws.root).values(), key=lambda t: (t.opened_at, t.id)) \
                if explain else []
        paid = compensation.paid_by_ticket(ws.root)
        new_events = []
        clocks: dict = {}
        if all_ and not explain:  # each ticket's report kept while it holds (tickets.decided)
            rules = routing.Rules(policy, now)  # no words to explain: plain tests
            reports = _all_kept(ws, policy, now, rules, paid, by, new_events, clocks, dry_run)
        for t in todo:
            d = routing.evaluate(policy, t, now, routing.facts_for(policy, t, paid.get(t.id, ZERO)))
            evs, dep, missing, cycles, level, since = _outcome(policy, t, d, now, by, new_events, clocks)
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
            if not (ticket or explain or r["changes"] or r["missing_fields"] or r["level"]):
                continue  # nothing to print of it
            lines = _describe(policy, r, now, dry_run)
            changed += bool(r["changes"])
            if explain:
                lines += _explain_text(r["decision"])
            if quiet and not explain:  # issue 13: cron prints only what changed or needs a person
                lines = [ln for ln in lines if not ln.endswith(": no change") and "red header level" not in ln]
            if lines:
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



def _outcome(policy, t, d, now, by, new_events: list, clocks: dict) -> tuple:
    """What routing decision `d` makes of ticket `t`: (its change events, which are added to
    `new_events` and applied to `t`, the department and the fields it lacks, the running
    cycles and the red-header level and since when, after the change)."""
    from .. import routing, sla

    evs = routing.changes(policy, t, d, now, by)
    new_events.extend(evs)
    for e in evs:  # the escalation level after the change (an abnormal ticket is supervised)
        t.apply(e)
    dep, missing = routing.missing_fields(policy, t, d)
    # only a supervised ticket has a red-header level: the others' timers are not needed here
    cycles = sla.evaluate(policy, t, now, clocks, running=True) if sla.supervised(t) else []
    level, since = sla.escalation_level(policy, t, cycles, now)
    return evs, dep, missing, cycles, level, since


def _all_kept(ws, policy, now, rules, paid, by, new_events, clocks, dry_run) -> list:
    """The report of every open ticket (`route --all` without --explain), each kept in a
    derived cache while it holds: until an age condition of a rule turns, a timer of a
    supervised ticket could change its red-header level, or the money paid on it changes
    (compensations.csv). A ticket with changes to make holds only at this --now, and is
    decided again for a run that records them."""
    import json

    from .. import ids, routing, sla
    from ..money import ZERO
    from ..tickets import Event, scan
    from .sla import _joined, _split

    ages = sorted({rule.when.older_than.timedelta() for rule in policy.rules if rule.when.older_than is not None})

    def decide(t):
        money = paid.get(t.id, ZERO)
        d = rules.decide(t, routing.facts_for(policy, t, money))
        evs, dep, missing, cycles, level, since = _outcome(policy, t, d, now, by, new_events, clocks)
        until = None if evs else sla.steady_until(policy, t, cycles, level, since, now, clocks)
        if until is not None:
            turns = [t.open_since + age for age in ages if t.open_since + age >= now]
            until = min([until, *turns])
        return (scan.micros(now) + 1 if until is None else scan.micros(until),
                [t.id, "" if dep is None else "=" + dep, json.dumps(missing, ensure_ascii=False), str(level),
                 "" if since is None else str(scan.micros(since)), _joined(sla.to_tell(policy, t, level) if level else []),
                 json.dumps([[e.type, e.ref, e.text, e.data["rule"]] for e in evs], ensure_ascii=False), str(money)])

    def loads(text):
        return [] if text == "[]" else json.loads(text)

    reports = []
    now_us = scan.micros(now)
    for tid, dep, missing, level, since, tell, changes, _money in scan.decided(
            ws.root, "route", now, decide,
            redo=lambda p: p[7] != str(paid.get(p[0], ZERO)) or not dry_run and p[6] != "[]",
            pure=dry_run):  # else decide collects the changes to record
        reports.append({"ticket": tid, "short": ids.short(tid),
                        "changes": [Event(tid, now, by, typ, ref, text, {"rule": rule})
                                    for typ, ref, text, rule in loads(changes)],
                        "department": dep[1:] if dep else None, "missing_fields": loads(missing), "level": int(level),
                        "since": None if not since else now - scan._US * (now_us - int(since)), "tell": _split(tell),
                        "decision": None})
    return reports


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
