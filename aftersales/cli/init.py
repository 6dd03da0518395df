import click


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def cli(directory):
    """Create a new shop workspace with the default policy pack.

    DIRECTORY gets policies/ (the default pack), ledgers/ (every ledger with its header
    row), a .gitattributes that merges ledgers with merge=union, and a short README.
    `aftersales check` passes on it at once.
    """
    from ..scaffold import init_workspace

    created = init_workspace(directory)
    click.echo(f"created shop workspace {directory} ({len(created)} files)")
    click.echo(f"next: cd {directory} && git init && aftersales check")
