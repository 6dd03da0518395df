"""`as policy diff|replay|textconv`: review a policy change by its meaning and its effect."""

import click

from .common import fmt_of, output_format


@click.group("policy")
def cli():
    """Review policy changes: the diff by meaning, and a replay against past ledgers."""


def _sides(ws_root, rev1, rev2):
    from ..errors import InputError
    from ..policydiff import in_git, load_at

    if in_git(ws_root):
        old, new = (rev1 or "HEAD"), (rev2 or "")
    else:
        if not (rev1 and rev2):
            raise InputError("outside a git repository give two policy folders: "
                             "`aftersales policy diff OLD_DIR NEW_DIR`")
        old, new = rev1, rev2
    return (old, load_at(ws_root, old)), (new or "the working tree", load_at(ws_root, new))


@cli.command("diff")
@click.argument("rev1", required=False)
@click.argument("rev2", required=False)
@output_format
@click.pass_obj
def diff(app, rev1, rev2, fmt):
    """Compare the policies of two git revisions (default HEAD and the working tree) by meaning.

    Rules added, removed, reordered or changed; time limits old -> new; authority caps;
    calendar days added or removed; reply scripts; any other value by its path.
    Reordering keys or reformatting a file is no change. Outside git, give two folders.
    """
    from .. import policydiff
    from ..render import listing

    ws = app.ws()
    (old_label, old), (new_label, new) = _sides(ws.root, rev1, rev2)
    changes = policydiff.diff(old, new)
    f = fmt_of(app, fmt)
    if f == "table":
        if not changes:
            click.echo(f"no change in meaning between {old_label} and {new_label}")
            return
        click.echo(f"policy changes from {old_label} to {new_label}:")
        for c in changes:
            click.echo(f"  {c.what}")
    else:
        click.echo(listing([c.as_dict() for c in changes], ["section", "item", "change", "old", "new", "what"], f),
                   nl=False)


@cli.command("textconv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def textconv(file):
    """Print a policy file canonically (git's textconv): a reformat shows no diff.

    In a shop repository: git config diff.aftersales-policy.textconv "aftersales policy textconv"
    (`aftersales init` marks policies/*.toml with diff=aftersales-policy).
    """
    import sys

    import tomli_w

    from ..errors import InputError
    from ..tomlmap import load

    raw = open(file, "rb").read()
    try:
        data = load(raw.decode("utf-8-sig"), file).data
    except (UnicodeDecodeError, InputError):  # git diff must still work: show the file as it is
        sys.stdout.buffer.write(raw)
        return
    sys.stdout.write(tomli_w.dumps(_sorted(data)))


def _sorted(v):
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted(x) for x in v]
    return v


@cli.command("replay")
@click.option("--old", "old_rev", metavar="REV|DIR", help="The policy before (default: HEAD; outside git: a folder).")
@click.option("--new", "new_rev", metavar="REV|DIR", help="The policy after (default: the working tree).")
@click.option("--from", "from_", metavar="DATE", help="First day of tickets opened (default: 30 days before --now).")
@click.option("--to", metavar="DATE", help="Last day, inclusive (default: the day of --now).")
@click.option("--examples", type=click.IntRange(min=0), default=5, show_default=True, help="Example tickets per change.")
@output_format
@click.pass_obj
def replay(app, old_rev, new_rev, from_, to, examples, fmt):
    """Replay the tickets of a period under two policies and report what would have differed.

    Tickets routed to another department, priorities changed, tickets that would (not)
    have been abnormal, timers that would have been met or breached, escalation levels,
    payments over the payer's authority: each with a count and example ticket IDs. The
    staff's events are kept; what a policy decides is decided again. Writes nothing.
    """
    import datetime as dt

    from .. import replay as rp
    from ..clock import period
    from ..errors import InputError
    from ..policydiff import in_git, load_at
    from ..render import _plain

    ws = app.ws()
    tz = ws.policy.tz() if (ws.root / "policies").is_dir() else None
    if in_git(ws.root):
        old_label, new_label = old_rev or "HEAD", new_rev or "the working tree"
        old = load_at(ws.root, old_rev or "HEAD", git=True)
        new = ws.policy if tz is not None and not new_rev else load_at(ws.root, new_rev or "", git=True)  # loaded once
    else:
        if not (old_rev and new_rev):
            raise InputError("outside a git repository give --old DIR and --new DIR (policy folders)")
        old_label, new_label = old_rev, new_rev
        old, new = load_at(ws.root, old_rev), load_at(ws.root, new_rev)
    now = ws.now
    try:
        start, end, _label = period(text_from=from_, text_to=to, tz=tz, now=now, default_days=30)
    except (ValueError, OverflowError) as e:
        raise InputError(str(e)) from None
    result = rp.replay(ws.root, old, new, start, end, now, examples)
    f = fmt_of(app, fmt)
    if f == "json":
        import json

        click.echo(json.dumps(_plain(dict(result, old=old_label, new=new_label)), ensure_ascii=False, indent=2))
        return
    rows = [{"change": k, "tickets": v["count"], "examples": v["examples"]} for k, v in result["changes"].items()]
    if f == "csv":
        from ..render import listing

        click.echo(listing(rows, ["change", "tickets", "examples"], "csv"), nl=False)
        return
    from .. import ids

    click.echo(f"replayed {result['tickets']} tickets opened {start.date()}..{(end - dt.timedelta(days=1)).date()} under {old_label} and {new_label}, "
               f"measured at {result['until'].astimezone(tz):%Y-%m-%d %H:%M}"
               + (f" ({result['skipped']} skipped: a category one policy lacks)" if result["skipped"] else ""))
    if not rows:
        click.echo("  no difference")
    for r in rows:
        ex = ", ".join(ids.short(t) for t in r["examples"])
        click.echo(f"  {r['tickets']:>6}  {r['change']}" + (f"  (e.g. {ex})" if ex else ""))
