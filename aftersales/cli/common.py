"""Options and helpers shared by command modules."""

import click

output_format = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
    help="Output format (default: the global --format, else table).",
)


def fmt_of(app, fmt):
    return fmt or app.format or "table"
