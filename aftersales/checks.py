"""`as check`: every policy and ledger problem of a workspace in one run.

Each check is a small function (CheckContext) -> list of Problem, listed in CHECKS; a new
check is a new function. Problems come back sorted by file and line, each with its fix
apart in `hint` and, for a policy, the offending source line in `record`.

Nothing holds a whole ledger: `ctx.rows(name)` streams a ledger again on each call, and
what other checks need to know about tickets (which exist, which were closed when) is
gathered in the one careful pass over tickets.csv (`ctx.tickets()`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import Problem
from .ledger import LEDGERS, TORN, LedgerReader, check_value, ledger_path

if TYPE_CHECKING:
    from .policy import Policy


class CheckContext:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.policy: Optional[Policy] = None
        self._bad: dict = {}  # ledger -> lines of the records check_ledgers reported
        self._whole: set = set()  # ledgers read to their end (no torn, malformed or unreadable part)
        self._tickets: Any = None  # ledger_checks.TicketIndex, filled by the careful pass over tickets.csv

    def rows(self, name: str):
        """(line, values) of a ledger's good records, read again on each call so a long
        ledger is never held in memory; check_ledgers reports the others."""
        bad = self._bad.get(name)
        if bad is None:
            self.ledger_problems(name)
            bad = self._bad[name]
        if name in self._whole:
            return _lean_rows(ledger_path(self.root, name), len(LEDGERS[name].columns), bad)
        reader = LedgerReader(self.root, name, strict=False, policy=self.policy, check_values=False)
        return ((line, row) for line, row in reader if line not in bad)

    def ledger_problems(self, name: str) -> list:
        reader = _CarefulReader(self.root, name, self.policy)
        if name == "tickets":
            from .ledger_checks import TicketIndex

            index = TicketIndex(self.paid_tickets())
            see = index.see
            for line, row in reader:
                see(line, row)
            self._tickets = index
        else:
            for _ in reader:
                pass
        self._bad[name] = {p.line for p in reader.problems}
        if not any(p.unreadable or p.message == TORN or p.message.startswith(("malformed CSV", "header "))
                   for p in reader.problems):
            self._whole.add(name)  # read to its end: a plain csv.reader sees the same records
        return reader.problems

    def tickets(self):
        """The ticket index (ledger_checks.TicketIndex) of the careful pass over tickets.csv."""
        if self._tickets is None:
            self.ledger_problems("tickets")
        return self._tickets

    def whole(self, name: str) -> bool:
        """True when the ledger was read to its end (no torn, malformed or unreadable part):
        only then may a check say that something is missing from it."""
        if name not in self._bad:
            self.ledger_problems(name)
        return name in self._whole

    def paid_tickets(self) -> set:
        """The tickets named in compensations.csv, whose history the money checks need."""
        names = LEDGERS["compensations"].column_names
        ti = names.index("ticket")
        return {row[ti] for _line, row in LedgerReader(self.root, "compensations", strict=False) if len(row) > ti}


_UNSEEN = object()


class _CarefulReader(LedgerReader):
    """LedgerReader(check_values=True) that remembers its verdict on each value of a column
    that holds few values (staff, enums): a ledger repeats them on every row. Free text is
    valid unless a required cell is empty. A row that fails here, or whose ledger orders
    time columns, goes to ledger.check_row, which words every problem; so this stays
    exact as long as check_row is its columns' check_value plus the schema's order."""

    def __init__(self, root: Path, name: str, policy):
        super().__init__(root, name, strict=False, policy=policy, check_values=True)
        cols = self.schema.columns
        self._width = len(cols) if not self.schema.order else -1  # -1: every row to check_row
        if self._width != -1 and _has_nul(ledger_path(root, name)):
            self._width = -1  # free text is not checked on the fast path: a NUL byte must be named by check_row
        self._memo: list = [(i, c, {}) for i, c in enumerate(cols) if c.type in ("staff", "enum")]
        self._required = [i for i, c in enumerate(cols) if c.type == "text" and c.required]
        self._each = [(i, c) for i, c in enumerate(cols) if c.type not in ("staff", "enum", "text")]

    def _emit(self, line: int, row: list):
        """The records to yield: a tuple for a good row (no generator per row), else check_row's verdict."""
        if len(row) == self._width:
            policy = self.policy
            for i, col, memo in self._memo:
                verdict = memo.get(row[i], _UNSEEN)
                if verdict is _UNSEEN:
                    verdict = memo[row[i]] = check_value(col, row[i], policy)
                if verdict is not None:
                    return super()._emit(line, row)
            for i in self._required:
                if not row[i]:
                    return super()._emit(line, row)
            for i, col in self._each:
                if check_value(col, row[i], policy) is not None:
                    return super()._emit(line, row)
            return ((line, row),)
        return super()._emit(line, row)


def _has_nul(path: Path) -> bool:
    """Whether the file holds a NUL byte anywhere (a scan at memchr speed, before the careful read)."""
    import stat

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False  # a FIFO would block the open; the careful read names what it is
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                if b"\x00" in chunk:
                    return True
    except OSError:
        return False  # the careful read names what is wrong with the file
    return False


def _lean_rows(path: Path, width: int, bad: set):
    """The records of a ledger already read carefully once: csv.reader and line numbers only."""
    if not path.exists():
        return
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        prev_end = reader.line_num
        for row in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if start == 1 or not row or start in bad or len(row) != width:
                continue
            yield start, row


def check_policies(ctx: CheckContext) -> list:
    from .policy import check_policy

    policy, problems = check_policy(ctx.root)
    ctx.policy = policy
    return problems


def check_policy_gaps(ctx: CheckContext) -> list:
    """What no command refuses, but leaves a cron job silent."""
    p = ctx.policy
    if p is None:
        return []
    out = []
    if not p.timers:
        out.append(Problem("policies", 0, "no [timers]: `sla-check` has nothing to check",
                           hint="copy timers.toml from the default pack (`aftersales init` writes one)"))
    if not p.rules:
        out.append(Problem("policies", 0, "no [[rules]]: `route` and intake route nothing and raise no alert",
                           hint="copy routing.toml from the default pack"))
    return out


def check_ledgers(ctx: CheckContext) -> list:
    out = []
    for name in LEDGERS:
        out.extend(ctx.ledger_problems(name))
    return out


def check_tickets(ctx: CheckContext) -> list:
    from .tickets.checks import check_ticket_ledger

    return check_ticket_ledger(ctx)


# --- issue 14 (platforms): the orders ledger (declared in platforms.py; merge: move it into
# ledger.LEDGERS) and the shop's platform profiles in policies/platforms/.
def check_platform_profiles(ctx: CheckContext) -> list:
    from .platforms import check_profiles

    return check_profiles(ctx)


def _register_platform_ledgers() -> None:
    from .platforms import register_ledgers

    register_ledgers()


_register_platform_ledgers()
# --- end issue 14


from . import ledger_checks  # noqa: E402  (the checks across ledgers; light: ids, errors, ledger)

CHECKS = [check_policies, check_policy_gaps, check_ledgers, check_tickets, *ledger_checks.CHECKS, check_platform_profiles]


def run_checks(root: Path) -> list:
    ctx = CheckContext(root)
    problems: list = []
    for check in CHECKS:
        problems.extend(check(ctx))
    sources: dict = {}
    return sorted({_finish(ctx.root, p, sources) for p in problems}, key=Problem.sort_key)


def _finish(root: Path, p: Problem, sources: dict) -> Problem:
    """The fix apart from the message, and a policy problem's source line under it."""
    p = p.with_hint()
    if p.is_policy() and not p.record:
        if p.file not in sources:
            try:
                sources[p.file] = (Path(root) / p.file).read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError):
                sources[p.file] = []
        lines = sources[p.file]
        if p.line <= len(lines):
            from dataclasses import replace

            p = replace(p, record=p.source_record(lines[p.line - 1]))
    return p



def check_corrections(ctx: CheckContext) -> list:  # issue 15: corrections that name no record
    from .corrections import check_corrections as check

    return check(ctx)


CHECKS.append(check_corrections)
