import click

from .common import output_format


@click.command("check")
@output_format
@click.pass_obj
def cli(app, fmt):
    """Validate every policy and ledger; list all problems.

    Prints each problem as FILE:LINE: message, with the record under it, sorted by file
    and line. Exit status 0 when clean, 1 when problems were found, 2 when a file could
    not be read at all.
    """
    from ..checks import run_checks
    from ..render import problems as render_problems

    ws = app.ws()
    problems = run_checks(ws.root)
    fmt = fmt or app.format or "table"
    if problems or fmt != "table":
        click.echo(render_problems(problems, fmt), nl=False)
    if not problems:
        if fmt == "table":
            click.echo(f"ok: {ws.root} has no problems")
        return
    if fmt == "table":
        n = len(problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} found", err=True)
    click.get_current_context().exit(2 if any(p.unreadable for p in problems) else 1)
