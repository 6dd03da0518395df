"""`as import [MAPPING] FILE`: a platform export (recognised by its header), or a CSV file
by a policy [imports.MAPPING] entry, into the ledgers."""

import click

from .common import fmt_of, output_format


@click.command("import")
@click.argument("mapping", metavar="[MAPPING]", required=False)
@click.argument("file", metavar="FILE", required=False)
@click.option("--profile", metavar="NAME", help="Read FILE with this platform profile instead of recognising it "
              "from its header (`--profiles` lists them).")
@click.option("--profiles", "list_profiles", is_flag=True, help="List the platform profiles and exit.")
@click.option("--encoding", metavar="ENC", help="The file's encoding, e.g. utf-8 or gb18030 (default: the mapping's, "
              "else UTF-8 with or without BOM, else GBK/GB18030).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--keep-going", is_flag=True,
              help="Import the good rows even if some are bad (needs --rejects); the default is all or nothing.")
@click.option("--rejects", metavar="FILE", type=click.Path(dir_okay=False),
              help="With --keep-going: write the bad rows here, as in the source plus an 'error' column, to fix and import again.")
@output_format
@click.pass_obj
def cli(app, mapping, file, profile, list_profiles, encoding, dry_run, keep_going, rejects, fmt):
    """Import a platform export, or a CSV file by a policy [imports.MAPPING] entry, all or nothing.

    With FILE alone: a Taobao/Tmall, JD, Pinduoduo or Douyin order or refund export,
    recognised from its header row (`--profiles` lists the profiles; a shop adds or
    overrides one in policies/platforms/NAME.toml). Orders go to ledgers/orders.csv and,
    with a waybill, ledgers/shipments.csv; refunds and after-sales requests open tickets.
    Importing the same or an overlapping export again adds only what is new or changed.
    FILE may be a folder: every *.csv (and *.xlsx) in it is imported (a drop folder for cron). On a
    terminal a progress line shows rows, rows per second and the time left.

    With MAPPING FILE: the mapping names the ledger and, for each ledger column, the
    file's column; its `values` translate source values (e.g. 顺丰 -> sf). Times without
    an offset are taken in the mapping's time zone (else the shop's); amounts like
    ¥1,234.00 are normalised. Unmapped 'at' is the import time (--now) and unmapped 'by'
    the acting staff (--by).

    If any row is bad, every bad row is listed as FILE:LINE: message, nothing is written
    and the exit status is 2.

    \b
    Example:
      aftersales --by a01 import 订单报表-20261123.csv
      aftersales --by system import /srv/drop/          # cron
      aftersales import sf-shipments 顺丰发货单.csv --dry-run
    """
    if list_profiles:
        return _list_profiles(app, fmt)
    if mapping is None:
        raise click.UsageError("give FILE (a platform export, or a folder of them), or MAPPING FILE")
    if keep_going != bool(rejects):
        raise click.UsageError("--keep-going and --rejects FILE go together: the rejected rows must go somewhere")
    if file is None:
        return _platform(app, mapping, profile, encoding, dry_run, keep_going, rejects, fmt)
    if profile:
        raise click.UsageError("--profile reads a platform export: give FILE alone, without a MAPPING")
    from .. import ledger
    from ..render import problems as render_problems
    from ..spreadsheet import Import, import_map, needs_actor, write_rejects

    ws = app.ws()
    policy = ws.policy
    m = import_map(policy, mapping)
    actor = ws.actor() if needs_actor(policy, mapping) else None
    if rejects:
        _check_rejects(ws, rejects)
    imp = Import(policy, mapping, file, encoding=encoding, now=ws.now, actor=actor)

    def skipped():
        if imp.skipped:
            click.echo(f"skipped {imp.skipped} row{'s' if imp.skipped != 1 else ''} that imports.{mapping}.only_when "
                       "leaves out", err=True)

    if dry_run:
        for _ in imp.chunks(keep_going):
            pass
        skipped()
    else:
        # One streaming pass, written as it goes in one batch: rolled back whole unless every
        # row is good (or, with --keep-going, every good row is in and the rejects are out).
        try:
            with ledger.appending(ws.root, m.ledger) as write:
                for data in imp.chunks(keep_going):
                    write(data)
                skipped()
                if imp.problems and not keep_going:
                    raise _NotImported
                if imp.problems:
                    write_rejects(rejects, imp.header, imp.rejected)
                if imp.too_long is not None:
                    raise imp.too_long
        except _NotImported:
            pass
    problems = imp.problems
    total = imp.good + len(problems)
    target = ledger.schema_of(m.ledger).file
    fmt = fmt_of(app, fmt)
    if problems and keep_going:
        click.echo(render_problems(problems, fmt), nl=False)
        verb = "would import" if dry_run else "imported"
        click.echo(f"{verb} {imp.good} of {total} rows into {target}; {len(problems)} rejected"
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
    click.echo(f"imported {total} row{plural} into {target}")


class _NotImported(Exception):
    """Raised inside the import's batch to roll back what it wrote (a row was bad)."""


# ------------------------------------------------------------------ platform exports (issue 14)


def _list_profiles(app, fmt):
    from ..platforms import load_profiles
    from ..render import listing

    ws = app.ws()
    rows = [{"profile": p.name, "platform": p.platform, "kind": p.kind, "title": p.title,
             "recognised_by": "、".join(p.recognise), "file": p.file} for p in load_profiles(ws.root).values()]
    f = fmt_of(app, fmt)
    click.echo(listing(rows, ["profile", "platform", "kind", "title", "recognised_by"] + ([] if f == "table" else ["file"]), f),
               nl=False if f != "table" else True)


def _check_rejects(ws, rejects):
    from pathlib import Path

    from ..errors import InputError

    target = Path(rejects).resolve()
    ws.refuse_inside(target, f"--rejects {rejects}")
    if target.exists():
        raise InputError(f"--rejects {rejects}: already exists (the export itself?); choose a new file")
    if not target.parent.is_dir():
        raise InputError(f"--rejects {rejects}: no folder {target.parent}")


def _platform(app, path, profile, encoding, dry_run, keep_going, rejects, fmt):
    import json
    import os
    import sys
    from pathlib import Path

    from ..errors import InputError
    from ..platforms import import_export, write_rejects
    from ..render import problems as render_problems

    ws = app.ws()
    policy = ws.policy
    p = Path(path)
    files = sorted(x for x in p.iterdir() if x.is_file() and x.suffix.lower() in (".csv", ".txt", ".xlsx")) if p.is_dir() else [p]
    if p.is_dir() and not files:
        click.echo(f"{path}: no *.csv file to import", err=True)
        return
    if rejects:
        _check_rejects(ws, rejects)
        if len(files) > 1:
            raise click.UsageError("--rejects takes one FILE, not a folder")
    actor = app.by_opt or os.environ.get("AS_USER") or None
    if actor is not None and actor != "system":  # system: the cron job
        actor = ws.actor()
    f = fmt_of(app, fmt)
    results, failed, worst = [], [], 0
    for x in files:
        try:
            out = import_export(ws.root, policy, x, ws.now, actor, profile=profile, encoding=encoding,
                                write=not dry_run, keep_going=keep_going, progress_stream=sys.stderr)
        except InputError as e:
            if len(files) == 1:
                raise
            click.echo(f"error: {e.message}", err=True)
            failed.append(str(x))
            worst = 2
            continue
        results.append(out)
        if out.problems:
            click.echo(render_problems(out.problems[:200], "table"), nl=False, err=True)
            if len(out.problems) > 200:
                click.echo(f"... and {len(out.problems) - 200} more", err=True)
            if keep_going:
                if not dry_run:
                    write_rejects(out, rejects)
                worst = max(worst, 1)
            else:
                worst = 2
        if f == "table":
            click.echo(_summary(out, dry_run, keep_going, rejects))
    if f == "json":
        click.echo(json.dumps([o.as_dict() for o in results], ensure_ascii=False, indent=2))
    elif f == "csv":
        from ..render import listing

        rows = []
        for o in results:
            d = o.as_dict()
            rows.append({"file": d["file"], "profile": d["profile"], "rows": d["rows"],
                         **{f"orders_{k}": x for k, x in d["orders"].items()},
                         **{f"shipments_{k}": d["shipments"][k] for k in ("new", "changed")},
                         **{f"tickets_{k}": d["tickets"][k] for k in ("opened", "updated", "unchanged")},
                         "rejected": d["rejected"], "written": d["written"]})
        click.echo(listing(rows, list(rows[0]) if rows else ["file"], "csv"), nl=False)
    if failed:
        click.echo(f"{len(failed)} file{'s' if len(failed) != 1 else ''} not imported: {', '.join(failed)}", err=True)
    if worst:
        click.get_current_context().exit(worst)


def _summary(out, dry_run, keep_going, rejects) -> str:
    pr = out.profile
    head = f"{out.file}: {pr.title} ({pr.name}, {out.encoding}), {out.rows} row{'s' if out.rows != 1 else ''}"
    lines = [head]
    o, s, r = out.orders, out.shipments, out.requests
    if pr.kind == "tracking":
        lines.append(f"  traces: {r.new} new, {r.unchanged} unchanged, {r.rejected} rejected -> ledgers/tracking.csv")
        lines.append(f"  shipments: {s.changed} updated (collected, last update, signed) -> ledgers/shipments.csv")
        r = type(r)()  # no after-sales line
    if pr.kind == "orders":
        lines.append(f"  orders: {o.new} new, {o.changed} changed, {o.unchanged} unchanged, {o.rejected} rejected"
                     f" -> ledgers/orders.csv")
        if s.new or s.changed:
            lines.append(f"  shipments: {s.new} new, {s.changed} changed -> ledgers/shipments.csv")
    if r.new or r.changed or r.unchanged or r.rejected or pr.kind == "refunds":
        lines.append(f"  after-sales requests: {r.new} new (tickets opened), {r.changed} changed (tickets updated), "
                     f"{r.unchanged} unchanged, {r.rejected} rejected -> ledgers/tickets.csv")
    n = len(out.problems)
    if dry_run:
        lines.append("  dry run: nothing written")
    elif n and not keep_going:
        lines.append(f"  {n} row{'s are' if n != 1 else ' is'} bad; nothing was imported (fix them, or --keep-going --rejects FILE)")
    elif n:
        lines.append(f"  {n} rejected row{'s' if n != 1 else ''} written to {rejects} with their reasons")
    return "\n".join(lines)
