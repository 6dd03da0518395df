"""`as repair`: finish what a cut-off write left: roll back an unfinished batch, cut a torn tail."""

import click


@click.command("repair")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.pass_obj
def cli(app, dry_run):
    """Roll back an unfinished write and remove torn last records; shows what it removes.

    An unfinished batch (ledgers/.journal: a command was killed, or the disk filled) is
    rolled back whole, on every ledger it touched. A ledger whose last record was cut off
    by another writer is cut back to the end of its last complete record; a 0-byte ledger
    gets its header row. Every removed byte is printed first. Exit 0 when there was
    nothing to do or all was repaired, 1 when a ledger needs a person (it is named).
    """
    from .. import ledger

    ws = app.ws()
    root = ws.root
    changed = False
    journal = ledger.read_journal(root)
    if journal is not None:
        plan = ledger.recovery_plan(root)  # InputError if it cannot be rolled back safely
        click.echo(f"unfinished write of {journal.get('started', '?')}: `{journal.get('command', '?')}`; "
                   f"{'would roll' if dry_run else 'rolling'} it back whole:")
        for rel, now_size, size, lines, text in plan:
            click.echo(f"  {rel}: {now_size} -> {size} bytes, {lines} line{'s' if lines != 1 else ''} removed")
            _show(text)
        changed = True
    plan = ledger.repair_plan(root) if journal is None else []
    refused = False
    for name, action, _keep, text, message in plan:
        rel = ledger.schema_of(name).file
        if action == "refuse":
            click.echo(f"{rel}: cannot repair: {message}", err=True)
            refused = True
            continue
        click.echo(f"{rel}: {message}")
        _show(text)
        changed = True
    if not dry_run and changed:
        if journal is not None:
            with ledger.locked(root, quiet=True):
                pass
            plan = ledger.repair_plan(root)  # the rolled-back ledgers may have older torn tails
            for name, action, _keep, text, message in plan:
                if action in ("header", "truncate"):
                    click.echo(f"{ledger.schema_of(name).file}: {message}")
                    _show(text)
        ledger.repair(root, [p for p in plan if p[1] in ("header", "truncate")])
    if not changed and not refused:
        click.echo("nothing to repair: no unfinished write, every ledger ends with a complete record")
    elif changed:
        click.echo("dry run: nothing changed" if dry_run else
                   "repaired; what was removed was never a complete record or a finished write: enter it again if it is still wanted")
    if refused:
        click.get_current_context().exit(1)


def _show(text: str, limit: int = 20) -> None:
    lines = text.splitlines() or ([text] if text else [])
    for line in lines[:limit]:
        click.echo("    | " + line[:200])
    if len(lines) > limit:
        click.echo(f"    | ... {len(lines) - limit} more lines")
