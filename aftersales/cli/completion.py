"""`as completion SHELL`: tab completion for bash, zsh and fish, with the shop's own values.

click completes commands and options by itself; `attach` adds the values that come from
the shop: ticket IDs (open tickets first), staff IDs, categories, reply scripts, remark
formats. It is applied only while a shell asks for completions (the _AS_COMPLETE or
_AFTERSALES_COMPLETE variable is set), so ordinary runs never pay for it.
"""

import os

import click

SHELLS = ("bash", "zsh", "fish")


def active() -> bool:
    return bool(os.environ.get("_AS_COMPLETE") or os.environ.get("_AFTERSALES_COMPLETE"))


def _workspace(ctx):
    from ..workspace import Workspace

    root = ctx.find_root()
    try:
        return Workspace.find(root.params.get("workspace"))
    except Exception:  # no workspace here: nothing to offer
        return None


def _items(values):
    from click.shell_completion import CompletionItem

    return [CompletionItem(v, help=h) if h else CompletionItem(v) for v, h in values]


def tickets(ctx, param, incomplete):
    from .. import search

    ws = _workspace(ctx)
    if ws is None:
        return []
    try:
        return _items((t, "") for t in search.complete_ids(ws.root, incomplete))
    except Exception:
        return []


def _policy_values(ctx, incomplete, pick):
    ws = _workspace(ctx)
    if ws is None:
        return []
    try:
        values = pick(ws.policy)
    except Exception:
        return []
    low = incomplete.lower()
    return _items((k, h) for k, h in values if k.lower().startswith(low))


def staff(ctx, param, incomplete):
    return _policy_values(ctx, incomplete, lambda p: [(s.id, f"{s.name} ({s.role})") for s in p.staff if s.active])


def categories(ctx, param, incomplete):
    return _policy_values(ctx, incomplete, lambda p: [(k, v.name) for k, v in p.categories.items()])


def scripts(ctx, param, incomplete):
    return _policy_values(ctx, incomplete, lambda p: [(k, v.name) for k, v in p.scripts.items()])


def remarks(ctx, param, incomplete):
    return _policy_values(ctx, incomplete, lambda p: [(k, v.name) for k, v in p.remarks.items()])


#: parameter name -> completer; (command name, parameter name) for ones that depend on the command
BY_NAME = {"ticket": tickets, "by": staff, "to": staff, "assignee": staff, "approved_by": staff,
           "category": categories}
BY_COMMAND = {("reply", "template"): scripts, ("remark", "kind"): remarks}


def attach(cmd) -> None:
    """Give `cmd` and its subcommands the shop's completions (idempotent)."""
    for p in cmd.params:
        fn = BY_COMMAND.get((cmd.name, p.name)) or BY_NAME.get(p.name)
        if fn is not None and getattr(p, "_custom_shell_complete", None) is None:
            p._custom_shell_complete = fn
    for sub in getattr(cmd, "commands", {}).values():
        attach(sub)


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.option("--prog", type=click.Choice(["as", "aftersales"]), default="as", show_default=True,
              help="The command name to complete.")
def cli(shell, prog):
    """Print the tab-completion script for bash, zsh or fish.

    Completes commands, options, ticket IDs (open ones first), staff IDs, categories,
    reply scripts and remark formats. Load it once per shell, e.g. in ~/.bashrc:

    \b
      eval "$(aftersales completion bash)"                 # bash
      eval "$(aftersales completion zsh)"                  # zsh
      aftersales completion fish > ~/.config/fish/completions/as.fish
    """
    from click.shell_completion import get_completion_class

    from .root import cli as root

    var = f"_{prog.upper()}_COMPLETE"
    comp = get_completion_class(shell)(root, {}, prog, var)
    click.echo(comp.source())
