"""The root click group: global options and lazy loading of command groups."""

from __future__ import annotations

import importlib
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
        return getattr(importlib.import_module(module), attr or "cli")

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
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx is not None else (prog_name or "as")
            msg = e.format_message()
            msg = msg[:-1] if msg.endswith(".") else msg  # click ends its sentences; ours go on
            click.echo(f"error: {msg}; see '{cmd} --help'", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


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
@click.version_option(__version__, "--version", prog_name="aftersales")
@click.pass_context
def cli(ctx, workspace, now, fmt, by):
    """Run a shop's after-sales desk from TOML policies and append-only CSV ledgers.

    In cron jobs and scripts call it as `aftersales` (`as` is also the system assembler).
    Exit status: 0 fine, 1 the data shows a problem, 2 bad usage or unreadable input.
    """
    ctx.obj = App(workspace, now, fmt, by)
