"""`as import MAPPING FILE`: append the rows of a spreadsheet or platform export to a ledger."""

import click

from .common import fmt_of, output_format


@click.command("import")
@click.argument("mapping", metavar="MAPPING")
@click.argument("file", metavar="FILE")
@click.option("--encoding", metavar="ENC", help="The file's encoding, e.g. utf-8 or gb18030 (default: the mapping's, "
              "else UTF-8 with or without BOM, else GBK/GB18030).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--keep-going", is_flag=True,
              help="Import the good rows even if some are bad (needs --rejects); the default is all or nothing.")
@click.option("--rejects", metavar="FILE", type=click.Path(dir_okay=False),
              help="With --keep-going: write the bad rows here, as in the source plus an 'error' column, to fix and import again.")
@output_format
@click.pass_obj
def cli(app, mapping, file, encoding, dry_run, keep_going, rejects, fmt):
    """Import a CSV export into a ledger by a policy [imports.MAPPING] entry, all or nothing.

    The mapping names the ledger and, for each ledger column, the file's column; its
    `values` translate source values (e.g. 顺丰 -> sf). Times without an offset are taken
    in the mapping's time zone (else the shop's); amounts like ¥1,234.00 are normalised.
    Unmapped 'at' is the import time (--now) and unmapped 'by' the acting staff (--by).
    If any row is bad, every bad row is listed as FILE:LINE: message, nothing is written
    and the exit status is 2. Otherwise all rows are appended in one write.

    \b
    Example:
      aftersales import sf-shipments 顺丰发货单.csv --dry-run
      aftersales import sf-shipments 顺丰发货单.csv
    """
    from .. import ledger
    from ..render import problems as render_problems
    from ..spreadsheet import import_map, needs_actor, read_import

    ws = app.ws()
    policy = ws.policy
    m = import_map(policy, mapping)
    actor = ws.actor() if needs_actor(policy, mapping) else None
    if keep_going != bool(rejects):
        raise click.UsageError("--keep-going and --rejects FILE go together: the rejected rows must go somewhere")
    if rejects:
        from pathlib import Path

        from ..errors import InputError

        target = Path(rejects).resolve()
        ws.refuse_inside(target, f"--rejects {rejects}")
        if target.exists():
            raise InputError(f"--rejects {rejects}: already exists (the export itself?); choose a new file")
        if not target.parent.is_dir():
            raise InputError(f"--rejects {rejects}: no folder {target.parent}")
    skipped: list = []
    rows, problems = read_import(policy, mapping, file, encoding=encoding, now=ws.now, actor=actor, skipped=skipped)
    total = len(rows) + len(problems)
    if skipped:
        click.echo(f"skipped {len(skipped)} row{'s' if len(skipped) != 1 else ''} that imports.{mapping}.only_when leaves out",
                   err=True)
    target = ledger.schema_of(m.ledger).file
    fmt = fmt_of(app, fmt)
    if problems and keep_going:
        from ..spreadsheet import write_rejects

        if not dry_run:
            write_rejects(file, rejects, problems, encoding, m, mapping)
            if rows:
                ledger.append(ws.root, m.ledger, rows, policy)
        click.echo(render_problems(problems, fmt), nl=False)
        verb = "would import" if dry_run else "imported"
        click.echo(f"{verb} {len(rows)} of {total} rows into {target}; {len(problems)} rejected"
                   + ("" if dry_run else f", written to {rejects} with their reasons"), err=True)
        click.get_current_context().exit(1)
    if problems:
        click.echo(render_problems(problems, fmt), nl=False)
        click.echo(f"{len(problems)} of {total} row{'' if total == 1 else 's'} "
                   f"{'is' if len(problems) == 1 else 'are'} bad; nothing was imported", err=True)
        click.get_current_context().exit(2)
    plural = "" if total == 1 else "s"
    if dry_run:
        click.echo(f"would import {total} row{plural} into {target} (dry run: nothing written)")
        return
    if rows:
        ledger.append(ws.root, m.ledger, rows, policy)
    click.echo(f"imported {total} row{plural} into {target}")
