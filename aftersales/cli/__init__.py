"""The `as` / `aftersales` command.

This module is all that `as --help` imports besides click: each command group lives in
its own module under aftersales/cli/ and is imported only when it runs (click's LazyGroup
pattern). The short help of each command is kept here so the listing needs no import.

`as` is also the GNU assembler. When this program is called as `as` with arguments that
are not ours (what a compiler passes), it hands them unchanged to the next `as` on PATH
after its own directory and returns that program's exit status.
"""

from __future__ import annotations

import os
import sys

# name -> (module, short help). Keep the help in step with each command's docstring.
COMMANDS = {
    "calendar": ("aftersales.cli.calendar", "Show business calendars; draft China's official holiday schedule."),
    "completion": ("aftersales.cli.completion", "Print the tab-completion script for bash, zsh or fish."),
    "compensate": ("aftersales.cli.compensate", "Record a compensation payment (赔付打款登记) within the policy's authority."),
    "check": ("aftersales.cli.check", "Validate every policy and ledger; list all problems."),
    "correct": ("aftersales.cli.correct", "Correct a mistake: a new row voids or supersedes an earlier record."),
    "init": ("aftersales.cli.init", "Create a new shop workspace with the default policy pack."),
    "survey": ("aftersales.cli.replies:survey", "Satisfaction surveys (seed 002): speed, result and attitude, 1-5."),
    "ticket": ("aftersales.cli.ticket", "Open, update, close and read tickets."),
    "eligibility": ("aftersales.cli.logistics:eligibility", "Say which return and refund options an order qualifies for at --now, and why."),
    "export": ("aftersales.cli.export", "Write a spreadsheet-safe copy of a ledger (UTF-8 with BOM, CRLF) for Excel or WPS."),
    "import": ("aftersales.cli.importer", "Import a platform export, or a CSV file by a policy [imports.MAPPING] entry, all or nothing."),
    "inspect": ("aftersales.cli.inspect", "Quality inspection (质检, seed 001): leads inspect ≥ 40 % of conversations a day; under 90 points, one-to-one."),
    "incident": ("aftersales.cli.incident", "Group tickets that share a cause into an incident graded L1-L3 (seed 002)."),
    "policy": ("aftersales.cli.policy", "Review policy changes: the diff by meaning, and a replay against past ledgers."),
    "remark": ("aftersales.cli.replies:remark", "Print an order remark in the shop's format, with the agent ID and the date."),
    "reply": ("aftersales.cli.replies:reply", "Render a reply script (话术) for a ticket; with --send, record it as sent."),
    "repair": ("aftersales.cli.repair", "Roll back an unfinished write and remove torn last records; shows what it removes."),
    "report": ("aftersales.cli.report", "Reports over a period: time limits, courier claims, KPIs, the weekly brief."),
    "intercept": ("aftersales.cli.registers:intercept", "Record and follow intercepts (拦截登记)."),
    "logistics": ("aftersales.cli.logistics", "Chase parcels (查件/催件, seed 001) from the shipments ledger."),
    "lost": ("aftersales.cli.registers:lost", "Record and follow lost parcels (快递丢件)."),
    "reship": ("aftersales.cli.registers:reship", "Record and follow reshipments (补发)."),
    "short": ("aftersales.cli.registers:short", "Record and follow short and wrong shipments (少发/错发)."),
    "reviews": ("aftersales.cli.reviews", "Follow up bad reviews (评价维护): contact within 1 h, count problems per product."),
    "route": ("aftersales.cli.route", "Apply the routing rules to a ticket (or --all open ones) and record what changes."),
    "sla-check": ("aftersales.cli.sla", "Check every open ticket's time limits at --now; exit 1 if any is breached."),
    # issue 13: notifications, git sync and the one cron line
    "notify": ("aftersales.cli.notify", "Deliver news to WeCom, DingTalk, Feishu, e-mail or a webhook; see the outbox."),
    "sync": ("aftersales.cli.sync", "Commit this workspace's records, pull the others' (ledgers merge by union), push."),
    "cron": ("aftersales.cli.cron", "Sync, route, check time limits and deliver notifications: the one quiet cron line."),
    "orders": ("aftersales.cli.orders", "Orders imported from platform exports: their facts and the platform's ship-by deadline."),
}

_VALUE_OPTIONS = ("--workspace", "-w", "--now", "--format", "--by")
_OUR_FLAGS = ("--help", "-h")  # `as --version` and `as -v` are build probes for the assembler (issue 15)
_ASM_SUFFIXES = (".s", ".S", ".asm", ".o")


def is_ours(args: list) -> bool:
    """True when `args` are meant for aftersales, False when they look like an assembler call."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in _VALUE_OPTIONS:
            i += 2
            continue
        if any(a.startswith(o + "=") for o in _VALUE_OPTIONS if o.startswith("--")) or (a.startswith("-w") and len(a) > 2):
            i += 1
            continue
        if a in _OUR_FLAGS or a in COMMANDS:
            return True
        if a.startswith("-") or a.endswith(_ASM_SUFFIXES) or os.path.isfile(a):
            return False
        return True  # an unknown word: ours, so a typo gets our "no such command" message
    return True


def _next_assembler(me: str):
    """The first `as` on PATH after the directory holding `me`, never `me` itself."""
    exe = "as.exe" if os.name == "nt" else "as"
    mydir = os.path.dirname(os.path.abspath(me))
    after: list[str] = []
    before: list[str] = []
    seen_me = False
    for d in os.environ.get("PATH", "").split(os.pathsep):
        d = d or "."
        try:
            if os.path.samefile(d, mydir):
                seen_me = True
                continue
        except OSError:
            pass
        cand = os.path.join(d, exe)
        if not (os.path.isfile(cand) and os.access(cand, os.X_OK)):
            continue
        try:
            if os.path.samefile(cand, me):
                continue
        except OSError:
            pass
        (after if seen_me else before).append(cand)
    found = after + before
    return found[0] if found else None


def hand_off(args: list) -> None:
    """Run the real assembler with `args`; never returns."""
    me = sys.argv[0]
    if os.environ.get("AFTERSALES_AS_HANDOFF"):
        sys.stderr.write("as: another aftersales `as` is on PATH where the assembler should be; "
                         "put binutils' directory before it\n")
        sys.exit(2)
    target = _next_assembler(me)
    if target is None:
        sys.stderr.write(f"as: no assembler found on PATH after {os.path.dirname(os.path.abspath(me))}; "
                         "install binutils, or call `aftersales` for the after-sales tool\n")
        sys.exit(2)
    os.environ["AFTERSALES_AS_HANDOFF"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # pragma: no cover
        import subprocess

        sys.exit(subprocess.call([target] + list(args)))
    os.execv(target, [target] + list(args))


def _fix_stdio() -> None:
    """Under cron (no LANG) Python may pick ASCII for stdout; Chinese text needs UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", "") or "").lower().replace("-", "").replace("_", "")
        if enc in ("ascii", "ansix3.41968", "646", "usascii", "") and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


def main() -> None:
    args = sys.argv[1:]
    prog = os.path.basename(sys.argv[0])
    if prog.lower() in ("as", "as.exe") and not os.environ.get("_AS_COMPLETE"):  # a shell asking for completions
        # issue 15: `echo nop | as` assembles standard input, as the system assembler does
        if not is_ours(args) or (not args and not _stdin_is_terminal()):
            hand_off(args)
    _fix_stdio()
    from .root import cli

    cli.main(args=args, prog_name=prog if prog in ("as", "aftersales") else "aftersales")
