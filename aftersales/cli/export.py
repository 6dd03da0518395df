"""`as export LEDGER`: a spreadsheet-safe copy of a ledger for Excel or WPS."""

import click


@click.command("export")
@click.argument("ledger_name", metavar="LEDGER")
@click.option("-o", "--output", metavar="FILE", help="Where to write (default: LEDGER-YYYYMMDD.csv here; - for stdout).")
@click.option("--from", "start", metavar="DATE", help="Only rows whose 'at' is on or after this day (shop's zone).")
@click.option("--to", "end", metavar="DATE", help="Only rows whose 'at' is on or before this day (shop's zone).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--full-phone", is_flag=True, help="Write phone numbers in full (default: masked, 138****5678).")
@click.option("--events", is_flag=True, help="tickets: the raw events, one row each, instead of one row per ticket.")
@click.pass_obj
def cli(app, ledger_name, output, start, end, force, full_phone, events):
    """Write a spreadsheet-safe copy of a ledger (UTF-8 with BOM, CRLF) for Excel or WPS.

    Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or
    CR) get a leading ' so they show as text; money, int and time cells are left as they
    are; long digit strings (order numbers, waybills) are written as ="…" so a
    spreadsheet keeps every digit and leading zero. The ledger itself is only read.
    --from and --to are days in the shop's zone, both inclusive, matched against each
    row's 'at' (for tickets: the opening). `export tickets` writes one row per ticket
    with its current state (--events for the raw events). Phones are masked unless
    --full-phone.

    A FILE ending in .xlsx is written as an Excel workbook (needs
    `pip install 'aftersales[xlsx]'`): IDs, waybills and phones are text cells, times
    are times, amounts numbers with two decimals, nothing is a formula.

    \b
    Example:
      aftersales export compensations --from 2026-11-01 --to 2026-11-30 -o 赔付-11月.csv
      aftersales export tickets -o 工单.xlsx
    """
    from pathlib import Path

    from ..errors import InputError
    from ..ledger import schema_of
    from ..spreadsheet import ledger_table, parse_day, table_csv, table_xlsx, ticket_table

    from ..platforms import register_ledgers

    register_ledgers()  # issue 14: the orders ledger
    ws = app.ws()
    schema = schema_of(ledger_name)
    first = parse_day(start, "--from") if start else None
    last = parse_day(end, "--to") if end else None
    target = output or f"{schema.name}-{ws.now.astimezone(ws.tz).strftime('%Y%m%d')}.csv"
    xlsx = target != "-" and target.lower().endswith(".xlsx")
    if target != "-":
        resolved = Path(target).resolve()
        ws.refuse_inside(resolved, str(target))
    if target != "-" and Path(target).exists() and not force:
        raise InputError(f"{target}: already exists; pass --force to overwrite it, or choose another file with -o")
    if xlsx:
        try:
            import openpyxl  # noqa: F401  (is it installed? say so before reading anything)
        except ImportError:
            from ..spreadsheet import XLSX_MISSING

            raise InputError(XLSX_MISSING) from None
    if schema.name == "tickets" and not events:
        columns, rows = ticket_table(ws.root, ws.tz, first, last, full_phone)
    else:
        columns, rows = ledger_table(ws.root, schema.name, ws.tz, first, last, full_phone)
    what = f"of {schema.name}"
    if xlsx:
        tmp = Path(target).with_name(Path(target).name + ".tmp.xlsx")
        try:
            n = table_xlsx(columns, rows, tmp, ws.tz, schema.name)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        click.echo(f"exported {n} row{'' if n == 1 else 's'} {what} to {target}")
        return
    data, n = table_csv(columns, rows)
    rows = f"exported {n} row{'' if n == 1 else 's'} {what} to"
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
