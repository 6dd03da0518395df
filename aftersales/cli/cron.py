"""`aftersales cron`: the one quiet line that does the whole job every five minutes."""

import click


@click.command("cron")
@click.option("--no-sync", is_flag=True, help="Leave git alone (a workspace that is not shared).")
@click.pass_obj
def cli(app, no_sync):
    """Sync, route, check time limits and deliver notifications: the one quiet cron line.

    1. commit this clone's records and pull the others' (`aftersales sync`);
    2. route every open ticket (`route --all`);
    3. record new warnings, breaches and red-header levels (`sla-check --notify`);
    4. commit and push what was recorded;
    5. deliver the news (`notify deliver`).

    Prints nothing and exits 0 when all went well; otherwise one line per problem it
    could not handle, and exit 1. Breaches are news, not problems: they go to the channels.
    """
    from ..notify.cronjob import run

    ws = app.ws()
    problems = run(ws, app, sync=not no_sync)
    for line in problems:
        click.echo(line)
    if problems:
        click.get_current_context().exit(1)
