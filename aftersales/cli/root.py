"""The root click group: global options and lazy loading of command groups."""

from __future__ import annotations

import importlib
import os
import sys

import click

from . import COMMANDS
from .. import __version__


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, _, attr = entry[0].partition(":")
        cmd = getattr(importlib.import_module(module), attr or "cli")
        if any(k.endswith("_COMPLETE") for k in os.environ):  # issue 15: the shop's values complete
            from .completion import active, attach

            if active():
                attach(cmd)
                attach(self)
        return cmd

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            match = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" Did you mean '{match[0]}'?" if match else f" Commands: {', '.join(sorted(COMMANDS))}."
            raise click.UsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (OverflowError, UnicodeEncodeError) as e:  # a date past year 9999; bytes that are not UTF-8
            what = ("a date or duration is out of range; check --now and the dates given"
                    if isinstance(e, OverflowError) else "an argument is not valid UTF-8 text; check the terminal's encoding")
            click.echo(f"error: {what}", err=True)
            ctx.exit(2)
        except Exception as e:  # only our InputError becomes a one-line message
            from ..errors import InputError

            if not isinstance(e, InputError):
                raise
            click.echo(e.render(), err=True)  # error: ... and, when it has one, hint: ...
            ctx.exit(2)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage errors as one line on stderr (`error: ...; see 'as CMD --help'`), exit 2."""
        if any(k.endswith("_COMPLETE") for k in os.environ):  # issue 15: --by completes staff IDs
            from .completion import active, attach

            if active():
                attach(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # issue 15: `as` alone: a short usage, not the whole help
            if e.ctx is None or e.ctx.parent is not None:
                click.echo(e.ctx.get_usage() if e.ctx is not None else "", err=True)
                subs = e.ctx.command.list_commands(e.ctx) if e.ctx is not None and hasattr(e.ctx.command, "list_commands") else []
                if subs:
                    click.echo(f"commands: {', '.join(subs)}", err=True)
                click.echo(f"see '{e.ctx.command_path if e.ctx else prog_name} --help'", err=True)
            else:
                click.echo(SHORT_USAGE.format(prog=prog_name or "as"), err=True, nl=False)
            sys.exit(2)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx is not None else (prog_name or "as")
            click.echo(f"error: {_usage_message(e)}; see '{cmd} --help'", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


SHORT_USAGE = """usage: {prog} [-w DIR] [--now TIME] [--by STAFF] [--format table|json|csv] COMMAND [ARGS]...
  {prog} check                      validate policies and ledgers
  {prog} sla-check                  every running time limit; exit 1 on a breach
  {prog} ticket search ORDER|PHONE  find a ticket;  {prog} ticket show ID;  {prog} ticket list
  {prog} --help                     every command;  {prog} COMMAND --help: its options
Global options go before COMMAND. In scripts call it `aftersales`: `as` is also the assembler.
"""

_GLOBAL_OPTIONS = ("--now", "--by", "--workspace", "-w", "--format", "--no-cache")


def _usage_message(e) -> str:
    """click's message without its closing full stop, and the fix when a global option came too late."""
    msg = e.format_message().rstrip()
    if msg.endswith(".") and not msg.endswith(".."):
        msg = msg[:-1]
    name = getattr(e, "option_name", "") or ""
    if isinstance(e, click.NoSuchOption) and name.split("=")[0] in _GLOBAL_OPTIONS and e.ctx is not None \
            and e.ctx.parent is not None:
        root = e.ctx.find_root()
        rest = e.ctx.command_path[len(root.command_path):].strip()
        msg += (f"; {name.split('=')[0]} is a global option: put it before the command, "
                f"e.g. `{root.command_path} {name.split('=')[0]} ... {rest} ...`")
    return msg


class App:
    """What the global options say; the workspace, policy and clock are found lazily."""

    def __init__(self, workspace, now, fmt, by):
        self.workspace_opt = workspace
        self.now_opt = now
        self.format = fmt
        self.by_opt = by
        self._ws = None

    def ws(self):
        if self._ws is None:
            from ..workspace import Workspace

            self._ws = Workspace.find(self.workspace_opt, now=self.now_opt, by=self.by_opt)
        return self._ws


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-w", "--workspace", metavar="DIR", help="Shop workspace (default: $AFTERSALES_WORKSPACE, "
              "else the nearest folder upward holding policies/ and ledgers/).")
@click.option("--now", metavar="TIME", help="Act as if it were this ISO-8601 time (default: the clock).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Output format of listings (default: table).")
@click.option("--by", metavar="STAFF", help="Staff ID of the person acting (default: $AS_USER).")
@click.option("--no-cache", is_flag=True, help="Read the ledgers cold: neither use nor write the derived cache "
              "(.aftersales/cache/; also AFTERSALES_NO_CACHE=1).")
@click.version_option(__version__, "--version", prog_name="aftersales")
@click.pass_context
def cli(ctx, workspace, now, fmt, by, no_cache):
    """Run a shop's after-sales desk from TOML policies and append-only CSV ledgers.

    In cron jobs and scripts call it as `aftersales` (`as` is also the system assembler).
    Exit status: 0 fine, 1 the data shows a problem, 2 bad usage or unreadable input.
    """
    ctx.obj = App(workspace, now, fmt, by)
    ctx.call_on_close(_settle)
    if no_cache or "aftersales.cache" in sys.modules:  # the flag holds for this invocation only
        from .. import cache

        cache.enabled = not no_cache and cache.env_enabled()


def _settle() -> None:
    """At the end of a command: wait for the cache writes it left running (cache.in_background)."""
    cache = sys.modules.get("aftersales.cache")
    if cache is not None:
        cache.settle()
