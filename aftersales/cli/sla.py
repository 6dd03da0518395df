"""`as sla-check`: every running time limit of the open tickets, for people and for cron."""

from contextlib import nullcontext

import click

from ..render import span as _left
from .common import fmt_of, output_format

COLUMNS = ["ticket", "timer", "name", "state", "deadline", "left", "paused", "priority", "department",
           "assignee", "level", "tell"]


@click.command("sla-check")
@click.option("--notify", is_flag=True,
              help="Record each new warning, breach and escalation level once, as ticket events, and list only those.")
@click.option("--state", "states", multiple=True, type=click.Choice(["ok", "warning", "breached"]),
              help="Only these states (repeatable; default: all).")
@click.option("--reminders", is_flag=True,
              help="Also list the desk's weekly deadlines due later today (policies: reminders).")
@output_format
@click.pass_obj
def cli(app, notify, states, reminders, fmt):
    """Check every open ticket's time limits at --now; exit 1 if any is breached.

    For each running timer: its deadline, the time left (negative when overdue), its
    state (ok, warning, breached), the red-header escalation level and who is to be
    told. Run it from cron every five minutes as `aftersales sla-check --notify`: each
    warning, breach and new escalation level is then recorded once, so each run prints
    only what is new and a skipped run loses nothing.
    """
    from operator import attrgetter

    from .. import actions, ids, ledger, sla, tickets

    ws = app.ws()
    policy, now = ws.policy, ws.now
    f = fmt_of(app, fmt)
    tz = policy.tz()
    new_events: list = []
    state = {"breach": False}

    def produce(open_tickets):
        clocks: dict = {}
        tells: dict = {}  # (responsible, level) -> who to tell: the roster walk once per pair
        for t in sorted(open_tickets.values(), key=attrgetter("opened_at", "id")):
            cycles = [c for c in sla.evaluate(policy, t, now, clocks) if c.running]
            if not cycles:
                continue
            level, since = sla.escalation_level(policy, t, cycles, now)
            for c in cycles:
                if c.state == "breached":
                    state["breach"] = True
                lvl = level if c.state == "breached" else 0
                if c.state == "ok":
                    tell = []
                else:
                    key = (sla.responsible(policy, t), lvl)
                    tell = tells.get(key)
                    if tell is None:
                        tell = tells[key] = sla.to_tell(policy, t, lvl)
                if notify:
                    fresh = sla.notices(t, c, now, tell)
                    if not fresh:
                        continue
                    new_events.extend(fresh)
                if states and c.state not in states:
                    continue
                if f == "table":
                    yield {"ticket": ids.short(t.id), "timer": c.timer_id, "name": c.timer.name, "state": c.state,
                           "deadline": c.deadline.astimezone(tz).strftime("%m-%d %H:%M"),
                           "left": _left(c.deadline - now), "paused": "paused" if c.paused else "",
                           "priority": t.priority, "department": t.department, "assignee": t.assignee,
                           "level": lvl, "tell": ",".join(tell)}
                elif f == "csv":  # in COLUMNS order, then "started"
                    yield (t.id, c.timer_id, c.timer.name, c.state, c.deadline.isoformat(), _left(c.deadline - now),
                           "yes" if c.paused else "no", t.priority, t.department, t.assignee, lvl, ", ".join(tell),
                           c.start.isoformat())
                else:
                    yield (t.id, c.timer_id, c.timer.name, c.state, c.deadline.isoformat(), _left(c.deadline - now),
                           c.paused, t.priority, t.department, t.assignee, lvl, tell, c.start.isoformat())
            if notify and level and since is not None:
                new_events.extend(sla.escalations(policy, t, level, since, now))
        if not reminders or states:
            return
        for rid, r, due in sla.reminders(policy, now):  # weekly deadlines of the desk (seed 004)
            if f == "table":
                yield {"ticket": "-", "timer": rid, "name": r.name, "state": "reminder",
                       "deadline": due.strftime("%m-%d %H:%M"), "left": _left(due - now), "paused": "",
                       "priority": "", "department": "", "assignee": "", "level": "", "tell": ""}
            else:
                yield ("", rid, r.name, "reminder", due.isoformat(), _left(due - now), "no" if f == "csv" else False,
                       "", "", "", 0, "" if f == "csv" else [], "")

    with ledger.locked(ws.root) if notify else nullcontext():
        window = sla.owed_after_close(policy)  # a closed ticket may still owe its follow-up visit
        open_tickets = tickets.load_open_tickets(ws.root, closed_after=now - window if window else None)
        rows = produce(open_tickets)
        if notify or f == "table":
            rows = list(rows)  # record before printing; a table needs every row for its widths
        actions.record_notices(ws, new_events)
        _emit(rows, f, policy)
    _calendar_coverage(policy, now)
    if notify and f == "table":
        for e in (e for e in new_events if e.type == "escalate"):
            click.echo(f"{ids.short(e.ticket)}: red header level {e.ref}: copy {', '.join(e.data['to'])}")
    if state["breach"]:
        click.get_current_context().exit(1)


def _emit(rows, f, policy):
    """Print rows as they come (csv, json) or as one table."""
    import csv
    import json
    import sys

    out = sys.stdout
    if f == "table":
        from ..render import listing

        text = listing(rows, COLUMNS, f)
        if text:
            out.write(text)
        return
    cols = COLUMNS + ["started"]
    if f == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)
        return
    first = True
    out.write("[")
    for r in rows:
        out.write(("\n  " if first else ",\n  ") + json.dumps(dict(zip(cols, r)), ensure_ascii=False))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _calendar_coverage(policy, now):
    """Warn when a business calendar that timers use lists no holidays for a year it needs."""
    from ..sla import calendar_gaps

    for cid, y in calendar_gaps(policy, now):
        click.echo(f"warning: calendar '{cid}' lists no holidays for {y}; add {y}'s schedule to "
                   f"policies/calendars.toml (`aftersales calendar cn-schedule --year {y}`)", err=True)
