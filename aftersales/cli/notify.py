"""`aftersales notify`: deliver news to the shop's chat bots and mailboxes, and see the outbox."""

import click

from .common import fmt_of, output_format

STATUS_COLUMNS = ["channel", "state", "kind", "ticket", "queued", "detail"]


@click.group("notify")
def cli():
    """Deliver news to WeCom, DingTalk, Feishu, e-mail or a webhook; see the outbox.

    News: time-limit warnings and breaches, red-header levels, sensitive words, abnormal
    tickets, incidents, bad reviews; policies/ [notify] says which goes where.

    `aftersales cron` runs `notify deliver` on every run; secrets come from the
    environment or secrets.toml (untracked). See README: Notifications.
    """


def _policy_with_notify(ws):
    policy = ws.policy
    if policy.notify is None or not policy.notify.channels:
        from ..errors import InputError

        raise InputError("policies declare no notification channels; add a [notify.channels.NAME] table "
                         "(see README: Notifications)")
    return policy


@cli.command("deliver")
@click.option("--channel", metavar="NAME", help="Only this channel.")
@click.pass_obj
def deliver(app, channel):
    """Queue what is new in the ledgers, then send one digest per channel.

    Prints nothing when all went well; one line per problem otherwise (exit 1).
    """
    from ..notify import deliver as d

    ws = app.ws()
    policy = _policy_with_notify(ws)
    if channel and channel not in policy.notify.channels:
        from ..errors import InputError
        from ..schema import closest

        raise InputError(f"--channel {channel}: unknown channel; {closest(channel, policy.notify.channels)}")
    rep = d.run(ws.root, policy, ws.now, only=channel)
    for line in rep.problems:
        click.echo(line)
    if rep.problems:
        click.get_current_context().exit(1)


@cli.command("status")
@output_format
@click.pass_obj
def status(app, fmt):
    """List the news waiting (pending, held by quiet hours) or failed, per channel; exit 1 if a channel fails."""
    from ..notify import deliver as d
    from ..render import listing

    ws = app.ws()
    policy = _policy_with_notify(ws)
    rows = d.status(ws.root, policy, ws.now)
    f = fmt_of(app, fmt)
    text = listing(rows, STATUS_COLUMNS, f)
    if f == "table" and not rows:
        text = "nothing waits: every news item was delivered\n"
    click.echo(text, nl=False)
    if any(r["state"] in ("failed", "refused") for r in rows):
        click.get_current_context().exit(1)


@cli.command("test")
@click.argument("channel")
@click.option("--to", "to", multiple=True, metavar="STAFF", help="Staff to @-mention (or mail) in the test.")
@click.pass_obj
def test(app, channel, to):
    """Send a test message to CHANNEL now (the outbox is not used); exit 1 on failure."""
    from ..errors import InputError
    from ..notify import channels as chans, message, secrets as sec
    from ..notify.config import env_name
    from ..schema import closest

    ws = app.ws()
    policy = _policy_with_notify(ws)
    ch = policy.notify.channels.get(channel)
    if ch is None:
        raise InputError(f"unknown channel '{channel}'; {closest(channel, policy.notify.channels)}")
    people = []
    for sid in to:
        s = policy.staff_member(sid)
        if s is None:
            raise InputError(f"--to {sid}: unknown staff member; {closest(sid, [s.id for s in policy.staff])}")
        people.append(s)
    values = sec.for_channel(ws.root, channel, ch.type)
    miss = sec.missing(ch.type, values)
    if miss:
        raise InputError(f"channel {channel}: no {', '.join(miss)}; set {', '.join(env_name(channel, m) for m in miss)} "
                         f"or write [{channel}] {miss[0]} = \"…\" in secrets.toml (untracked)")
    text = (message.header(policy, ws.now, 1, keyword=ch.keyword) + "\n【测试】通知渠道 " + channel
            + " 工作正常。收到这条消息说明设置正确。")
    out = chans.send(ch, channel, values, text, people, f"【售后提醒】{policy.shop.name} 测试", [s.email for s in people if s.email])
    if out.ok:
        click.echo(f"{channel}: test message delivered")
        return
    click.echo(f"{channel}: not delivered: {out.error}" + (f"; fix: {out.fix}" if out.fix else "")
               + ("; a temporary problem, try again later" if out.retry else ""))
    click.get_current_context().exit(1)
