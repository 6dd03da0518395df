"""The cron job's steps, each one guarded: a failed step is one line, the rest still run."""

from __future__ import annotations

import contextlib
import hashlib
import io


def _quietly(ctx_obj, command, **params) -> tuple:
    """Run a click command in-process with its output captured: (exit code, stdout, error line)."""
    import click

    from ..errors import InputError

    out = io.StringIO()
    code, err = 0, ""
    with click.Context(command, obj=ctx_obj) as ctx, contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            ctx.invoke(command, **params)
        except click.exceptions.Exit as e:
            code = e.exit_code
        except InputError as e:
            code, err = 2, e.message
        except click.ClickException as e:
            code, err = 2, e.format_message()
    return code, out.getvalue(), err


def run(ws, app, sync: bool = True) -> list:
    """The whole job; an overlapping run (the previous one still busy) does nothing."""
    from .outbox import exclusive

    with exclusive(ws.root, "cron") as mine:
        return _run(ws, app, sync) if mine else []


def _run(ws, app, sync: bool = True) -> list:
    from .. import gitsync
    from ..cli.route import cli as route_cmd
    from ..cli.sla import cli as sla_cmd
    from . import deliver
    from .news import News

    problems: list = []
    extra: list = []
    now = ws.now
    shared = sync and gitsync.is_repo(ws.root)
    if shared:
        rep = gitsync.SyncReport()
        gitsync.commit(ws.root, now, rep)
        gitsync.pull(ws.root, rep)
        sync_problems = list(rep.problems)
        if rep.conflict:
            text = "与远程仓库冲突: " + "、".join(rep.conflict) + "；需人工处理（git pull 后修改、提交、推送）"
            nid = hashlib.sha256(("sync\x1f" + "\x1f".join(rep.conflict) + now.date().isoformat()).encode()).hexdigest()[:16]
            extra.append(News(nid, "sync", now, text=text))
        ws._policy = None  # the pull may have brought a policy change: read it again
    code, out, err = _quietly(app, route_cmd, ticket=None, all_=True, explain=False, dry_run=False, fmt="table", quiet=True)
    if err:
        problems.append(f"route: {err}")
    elif out.strip():  # a missing field is a problem for a person when routing first asks for it, not every run
        changed = {ln.split(":", 1)[0] for ln in out.splitlines() if ": set " in ln}
        problems += [f"route: {ln}" for ln in out.splitlines() if "needs:" in ln and ln.split(":", 1)[0] in changed]
    code, out, err = _quietly(app, sla_cmd, notify=True, states=(), fmt="json")
    if err:
        problems.append(f"sla-check: {err}")
    if shared:
        rep = gitsync.SyncReport()
        gitsync.commit(ws.root, now, rep)
        if not sync_problems:
            gitsync.push(ws.root, rep)
        sync_problems += rep.problems
        problems = _once(ws.root, now, sync_problems) + problems
    try:
        sent = deliver.run(ws.root, ws.policy, now, extra=extra)
        problems += sent.problems
    except Exception as e:  # an InputError (bad secrets.toml ...) is one line; anything else is a bug
        from ..errors import InputError

        if not isinstance(e, InputError):
            raise
        problems.append(f"notify: {e.message}")
    return problems


def _once(root, now, lines: list) -> list:
    """Sync problems as cron should print them: the first run of a streak of the same
    trouble says it; the runs after it are quiet until it is over (the outbox keeps the
    streak as `git` rows, written only when the state changes)."""
    from . import outbox

    last = None
    for r in outbox.read(root):
        if r["channel"] == "git":
            last = r
    kinds = sorted({ln.split("(", 1)[0].split(";", 1)[0].strip() for ln in lines})
    key = " | ".join(kinds)
    was = last["detail"] if last is not None and last["state"] == "failed" else ""
    if key == was:
        return []
    if lines:
        outbox.append(root, [{"at": now, "channel": "git", "state": "failed", "detail": key}])
    elif was:
        outbox.append(root, [{"at": now, "channel": "git", "state": "sent", "detail": "ok"}])
    return lines
