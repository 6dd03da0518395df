"""`as export LEDGER`: a spreadsheet-safe copy of a ledger for Excel or WPS."""

import click


@click.command("export")
@click.argument("ledger_name", metavar="LEDGER")
@click.option("-o", "--output", metavar="FILE", help="Where to write (default: LEDGER-YYYYMMDD.csv here; - for stdout).")
@click.option("--from", "start", metavar="DATE", help="Only rows whose 'at' is on or after this day (shop's zone).")
@click.option("--to", "end", metavar="DATE", help="Only rows whose 'at' is on or before this day (shop's zone).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--full-phone", is_flag=True, help="Write phone numbers in full (tickets; masked by default).")
@click.pass_obj
def cli(app, ledger_name, output, start, end, force, full_phone):
    """Write a spreadsheet-safe copy of a ledger (UTF-8 with BOM, CRLF) for Excel or WPS.

    Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or
    CR) get a leading ' so they show as text; money, int and time cells are left as they
    are. Phone numbers in tickets are masked (138****5678) unless --full-phone is given.
    The ledger itself is only read. --from and --to are days in the shop's zone,
    both inclusive, matched against each row's 'at'.

    \b
    Example:
      aftersales export compensations --from 2026-11-01 --to 2026-11-30 -o 赔付-11月.csv
    """
    from pathlib import Path

    from ..errors import InputError
    from ..ledger import schema_of
    from ..spreadsheet import export_csv, parse_day

    ws = app.ws()
    schema = schema_of(ledger_name)
    first = parse_day(start, "--from") if start else None
    last = parse_day(end, "--to") if end else None
    target = output or f"{schema.name}-{ws.now.astimezone(ws.tz).strftime('%Y%m%d')}.csv"
    if target != "-":
        resolved = Path(target).resolve()
        ws.refuse_inside(resolved, str(target))
    if target != "-" and Path(target).exists() and not force:
        raise InputError(f"{target}: already exists; pass --force to overwrite it, or choose another file with -o")
    data, n = export_csv(ws.root, schema.name, ws.tz, first, last, full_phone=full_phone)
    rows = f"exported {n} row{'' if n == 1 else 's'} of {schema.name} to"
    if target == "-":
        click.echo(data, nl=False)  # bytes go to the binary stream, untouched
        click.echo(f"{rows} stdout", err=True)
        return
    try:
        with open(target, "wb" if force else "xb") as f:
            f.write(data)
    except FileExistsError:
        raise InputError(f"{target}: already exists; pass --force to overwrite it, or choose another file with -o") from None
    except OSError as e:
        raise InputError(f"{target}: cannot write: {e.strerror}") from None
    click.echo(f"{rows} {target}")
