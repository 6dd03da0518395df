"""`as check`: every policy and ledger problem of a workspace in one run.

Each check is a small function (CheckContext) -> list of Problem, listed in CHECKS; a new
check is a new function. Problems come back sorted by file and line.
"""

from __future__ import annotations

from pathlib import Path

from .errors import Problem
from .ledger import LEDGERS, LedgerReader


class CheckContext:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.policy = None
        self._bad: dict = {}  # ledger -> lines of the records check_ledgers reported

    def rows(self, name: str):
        """(line, values) of a ledger's good records, read again on each call so a long
        ledger is never held in memory; check_ledgers reports the others."""
        bad = self._bad.get(name)
        if bad is None:
            self.ledger_problems(name)
            bad = self._bad[name]
        reader = LedgerReader(self.root, name, strict=False, policy=self.policy, check_values=False)
        return ((line, row) for line, row in reader if line not in bad)

    def ledger_problems(self, name: str) -> list:
        reader = LedgerReader(self.root, name, strict=False, policy=self.policy, check_values=True)
        for _ in reader:
            pass
        self._bad[name] = {p.line for p in reader.problems}
        return reader.problems


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
        out.append(Problem("policies", 0, "no [timers]: `sla-check` has nothing to check; copy timers.toml from the "
                           "default pack (`aftersales init` writes one)"))
    if not p.rules:
        out.append(Problem("policies", 0, "no [[rules]]: `route` and intake route nothing and raise no alert; copy "
                           "routing.toml from the default pack"))
    return out


def check_ledgers(ctx: CheckContext) -> list:
    out = []
    for name in LEDGERS:
        out.extend(ctx.ledger_problems(name))
    return out


def check_tickets(ctx: CheckContext) -> list:
    from .tickets import check_ticket_ledger

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

CHECKS = [check_policies, check_policy_gaps, check_ledgers, check_tickets, check_platform_profiles]


def run_checks(root: Path) -> list:
    ctx = CheckContext(root)
    problems: list = []
    for check in CHECKS:
        problems.extend(check(ctx))
    return sorted(set(problems), key=Problem.sort_key)
