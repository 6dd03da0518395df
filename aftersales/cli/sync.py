"""`aftersales sync`: commit this workspace's records, pull the others', push."""

import click


@click.command("sync")
@click.option("--no-push", is_flag=True, help="Commit and pull only.")
@click.pass_obj
def cli(app, no_push):
    """Commit this workspace's records, pull the others' (ledgers merge by union), push.

    Records are ledgers/ and evidence/; policies change by review and are never committed
    here. Uses the real git and the clone's remote.

    A failed pull or push loses nothing and is retried next run; a conflict (in policies)
    is backed out and reported in one line. Exit 1 when anything failed.
    """
    from .. import gitsync

    ws = app.ws()
    rep = gitsync.sync(ws.root, ws.now, do_push=not no_push)
    for line in rep.problems:
        click.echo(line)
    if rep.problems:
        click.get_current_context().exit(1)
