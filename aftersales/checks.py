"""`as check`: every policy and ledger problem of a workspace in one run.

Each check is a small function (CheckContext) -> list of Problem, listed in CHECKS; a new
check is a new function. Problems come back sorted by file and line, each with its fix
apart in `hint` and, for a policy, the offending source line in `record`.

Nothing holds a whole ledger: `ctx.rows(name)` streams a ledger again on each call, and
what other checks need to know about tickets (which exist, which were closed when) is
gathered in the one pass over tickets.csv (`ctx.tickets()`), which also makes the ticket
ledger's own checks (tickets.checks.TicketPass).

Each ledger is read a block of records at a time (ledger.LedgerReader.blocks) and its
values checked column by column (ledger.BlockCheck); a block with anything to report is
read again record by record, by the careful reader that words every problem, and a file
that csv.reader or UTF-8 refuses is read that way from the start: the messages are the
careful reader's (tests/test_check_blocks.py).
"""

from __future__ import annotations

import csv
import gc
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import Problem
from .ledger import LEDGERS, TORN, BlockCheck, Irregular, LedgerReader, ledger_path

if TYPE_CHECKING:
    from .policy import Policy


class CheckContext:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.policy: Optional[Policy] = None
        self._bad: dict = {}  # ledger -> lines of the records check_ledgers reported
        self._whole: set = set()  # ledgers read to their end (no torn, malformed or unreadable part)
        self._tickets: Any = None  # tickets.checks.TicketPass, filled by the pass over tickets.csv

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
        """Every problem of the ledger's records alone, in one pass that also makes the checks
        across the records of tickets.csv (TicketPass)."""
        paid = self.paid_tickets() if name == "tickets" else set()
        reader = LedgerReader(self.root, name, strict=False, policy=self.policy, check_values=True)
        try:
            with _no_gc():
                observer = self._observer(name, paid)
                vouch = _Voucher.start(self.root, name, reader, observer)
                try:
                    _read_in_blocks(reader, observer, vouch)
                finally:
                    if vouch is not None:
                        vouch.close()
        except Irregular:  # read it again record by record, which words what stopped the blocks
            reader = LedgerReader(self.root, name, strict=False, policy=self.policy, check_values=True)
            observer = self._observer(name, paid)
            for line, row in reader:
                if observer is not None:
                    observer.see(line, row)
        self._bad[name] = {p.line for p in reader.problems}
        if not any(p.unreadable or p.message == TORN or p.message.startswith(("malformed CSV", "header "))
                   for p in reader.problems):
            self._whole.add(name)  # read to its end: a plain csv.reader sees the same records
        return reader.problems

    def _observer(self, name: str, paid: set):
        """What is given the records of the ledger besides the value checks: for tickets.csv, a new TicketPass."""
        if name != "tickets":
            return None
        from .tickets.checks import TicketPass

        self._tickets = TicketPass(self.root, self.policy, paid)
        return self._tickets

    def tickets(self):
        """The pass over tickets.csv (tickets.checks.TicketPass): the ticket ledger's own problems,
        and what the checks across ledgers need to know of tickets."""
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


@contextmanager
def _no_gc():
    """The cyclic garbage collector off: a pass over a ledger makes a million short-lived lists and
    tuples and no reference cycle, and the collector would look at them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_in_blocks(reader: LedgerReader, observer, vouch: Optional[_Voucher] = None) -> None:
    """Check every record of a ledger a block at a time (LedgerReader.blocks). A block whose values
    BlockCheck passes goes whole to the observer's `block`, which checks the columns it names;
    the rows of any other block, or of one the observer declines, go one by one through the
    reader's `_emit` (check_row, which records their problems), and the good ones to `see`.
    With `vouch`, the values of the blocks it vouches for were checked by another process."""
    skip = observer.COLUMNS if observer is not None else ()
    check = BlockCheck(reader.schema, reader.policy)
    for k, (lines, rows) in enumerate(reader.blocks()):
        said = vouch.verdict(k, lines, rows) if vouch is not None else None
        if said is None:
            cols = check.columns(rows, skip)
            if cols is not None and (observer is None or observer.block(lines, rows, cols, check)):
                continue
        elif said[0]:  # every value right: what BlockCheck.columns would have found, and the observer's
            check.offsets[:], check.ordered[:] = said[1], said[2]
            if observer is None or observer.block(lines, rows, list(zip(*rows)), check, vouched=True):
                continue
        for line, row in zip(lines, rows):
            if row:
                for record in reader._emit(line, row):
                    if observer is not None:
                        observer.see(*record)


class _Voucher:
    """A forked process (cache.fork) that reads the ledger as this one does and checks the
    values of all but one block of every VOUCH_OF (BlockCheck.columns and the observer's
    `values_ok`), sending up a pipe, for each, whether every value is right. This process
    checks the values of the other blocks and follows every block's tickets: csv-reading
    is done twice, but side by side, and the values, most of the work left, are checked
    once. Each answer names its block (first line, last line, records): an answer for
    other records (the file grew meanwhile) is not taken; a block with a value wrong, and
    every block once the child is gone for any reason, is checked here, as without it."""

    def __init__(self, pid: int, r: int):
        import pickle

        self.pid, self.f, self.load = pid, os.fdopen(r, "rb"), pickle.load
        self.got: dict = {}
        self.done = False

    @classmethod
    def start(cls, root: Path, name: str, reader: LedgerReader, observer) -> Optional[_Voucher]:
        from . import cache

        try:
            big = reader.path.stat().st_size >= VOUCH_MIN
        except OSError:
            return None
        if not big or cache.jobs() < 2:
            return None
        r, w = os.pipe()

        def child() -> None:
            import pickle

            os.close(r)
            mine = LedgerReader(root, name, strict=False, policy=reader.policy, check_values=True)
            check = BlockCheck(mine.schema, mine.policy)
            skip = observer.COLUMNS if observer is not None else ()
            with os.fdopen(w, "wb") as out:
                batch: list = []
                for k, (lines, rows) in enumerate(mine.blocks()):
                    if k % VOUCH_OF == 0 or not rows:
                        continue
                    cols = check.columns(rows, skip)
                    ok = cols is not None and (observer is None or observer.values_ok(cols, check))
                    batch.append((k, lines[0], lines[-1], len(rows), ok, list(check.offsets), list(check.ordered)))
                    if len(batch) == 8:
                        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                        out.flush()
                        batch = []
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)

        pid = cache.fork(child)
        os.close(w)
        return cls(pid, r)

    def verdict(self, k: int, lines, rows: list) -> Optional[tuple]:
        """(every value right, BlockCheck.offsets, BlockCheck.ordered) of block k, as the
        child found them; None: check it here."""
        if k % VOUCH_OF == 0 or not rows:
            return None
        while k not in self.got and not self.done:
            try:
                for v in self.load(self.f):
                    self.got[v[0]] = v
            except Exception:  # the end of the pipe: the child is done, or gone
                self.done = True
        v = self.got.pop(k, None)
        if v is None or v[1:4] != (lines[0], lines[-1], len(rows)):
            return None
        return v[4:]

    def close(self) -> None:
        from . import cache

        self.f.close()
        cache.stop(self.pid)


#: a ledger of at least this many bytes is checked by two processes (`_Voucher`)
VOUCH_MIN = 8 << 20
#: the child checks the values of all but one block of every VOUCH_OF (at 1M: five of six
#: leaves both processes about as busy; all six leaves this one waiting)
VOUCH_OF = 6


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
