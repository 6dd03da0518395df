"""`as inspect ...`: quality inspection of conversations (质检, seed 001)."""

import click

from .common import fmt_of, output_format


@click.group("inspect")
def cli():
    """Quality inspection (质检, seed 001): leads inspect ≥ 40 % of conversations a day; under 90 points, one-to-one.

    Record each agent's conversations of the day (volume), each conversation inspected
    with its QA score (record), and the one-to-one review of a low score (review); `day`
    shows the coverage against the policy's target and the follow-ups owed.
    """


def _date(ws, text):
    import datetime as dt

    from ..errors import InputError

    if not text:
        return ws.now.astimezone(ws.policy.tz()).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date '{text}': write a day like 2026-11-23") from None


def _append(ws, row):
    from .. import ids, ledger

    row = {"id": ids.new_id(8), "at": ws.now, "by": ws.actor(), **row}
    ledger.append(ws.root, "inspections", [row], ws.policy)
    return row


@cli.command("volume")
@click.argument("agent")
@click.argument("conversations", type=int)
@click.option("--date", help="The day (default: the day of --now).")
@click.pass_obj
def volume(app, agent, conversations, date):
    """Record an agent's conversations (接待量) of a day; a later record replaces it."""
    from .. import inspections
    from ..errors import InputError

    ws = app.ws()
    inspections.check_agent(ws.policy, agent)
    if conversations < 0:
        raise InputError(f"CONVERSATIONS {conversations}: give the number of conversations, 0 or more")
    day = _date(ws, date)
    _append(ws, {"type": "volume", "agent": agent, "day": day, "count": conversations})
    click.echo(f"{agent} {day}: {conversations} conversations")


@cli.command("record")
@click.argument("agent")
@click.argument("conversation")
@click.option("--score", type=int, required=True, help="The QA score, 0-100.")
@click.option("--note", default="", help="What the inspection found.")
@click.option("--date", help="The day of the conversation (default: the day of --now).")
@click.pass_obj
def record(app, agent, conversation, score, note, date):
    """Record a conversation inspected (--by a lead) and its QA score; under the pass score owes a review."""
    from .. import inspections

    ws = app.ws()
    policy = ws.policy
    inspections.check_inspector(policy, ws.actor())
    inspections.check_agent(policy, agent)
    inspections.check_score(score)
    row = _append(ws, {"type": "inspect", "agent": agent, "day": _date(ws, date), "ref": conversation,
                       "score": score, "text": note})
    owe = f"; under {policy.inspection.pass_score}: review it one-to-one (`inspect review {row['id']}`)" \
        if score < policy.inspection.pass_score else ""
    click.echo(f"inspection {row['id']}: {agent} {conversation} {score} points{owe}")


@cli.command("review")
@click.argument("inspection")
@click.argument("text")
@click.pass_obj
def review(app, inspection, text):
    """Record the one-to-one review (一对一分析) of an inspection under the pass score."""
    from .. import ids, inspections
    from ..errors import InputError

    ws = app.ws()
    policy = ws.policy
    inspections.check_inspector(policy, ws.actor())
    if not text.strip():
        raise InputError("give what the one-to-one review found, as text")
    records = inspections.rows(ws.root)
    known = {r["id"]: r for r in records if r["type"] == "inspect"}
    try:
        iid = ids.resolve(inspection, known, "inspection", "aftersales inspect owed")
    except ValueError as e:
        raise InputError(str(e)) from None
    insp = known[iid]
    if insp["score"] >= policy.inspection.pass_score:
        raise InputError(f"inspection {iid} scored {insp['score']}, not under {policy.inspection.pass_score}; "
                         "no one-to-one review is owed")
    if any(r["type"] == "review" and r["ref"] == iid for r in records):
        raise InputError(f"inspection {iid} is already reviewed")
    _append(ws, {"type": "review", "agent": insp["agent"], "day": _date(ws, None), "ref": iid, "text": text.strip()})
    click.echo(f"inspection {iid}: reviewed one-to-one with {insp['agent']}")


@cli.command("day")
@click.option("--date", help="The day (default: the day of --now).")
@output_format
@click.pass_obj
def day(app, date, fmt):
    """A day's coverage per agent against the target (40 %), scores under 90 and reviews owed."""
    from .. import inspections
    from ..render import listing

    ws = app.ws()
    when = _date(ws, date)
    rows = inspections.day(ws.policy, inspections.rows(ws.root, ws.now), when)
    f = fmt_of(app, fmt)
    if f == "table":
        for r in rows:
            r["coverage"] = "-" if r["coverage"] is None else f"{r['coverage']:.1%}"
            r["target"] = f"≥{r['target']:.0%}"
            r["conversations"] = "-" if r["conversations"] is None else r["conversations"]
    cols = ["day", "agent", "conversations", "inspected", "coverage", "target", "verdict", "below_pass", "reviews_owed"]
    out = listing(rows, cols, f)
    click.echo(out or f"no conversations or inspections on {when}", nl=not out)


@cli.command("owed")
@output_format
@click.pass_obj
def owed(app, fmt):
    """Inspections under the pass score whose one-to-one review is still owed, oldest first."""
    from .. import inspections
    from ..render import listing

    ws = app.ws()
    rows = inspections.owed(ws.policy, inspections.rows(ws.root, ws.now))
    for r in rows:
        r["inspection"], r["conversation"], r["inspector"] = r["id"], r["ref"], r["by"]
    out = listing(rows, ["inspection", "day", "agent", "conversation", "score", "inspector"], fmt_of(app, fmt))
    click.echo(out or "no reviews owed", nl=not out)
