"""`as check`: every policy and ledger problem of a workspace in one run.

Each check is a small function (CheckContext) -> list of Problem, listed in CHECKS; a new
check is a new function. Problems come back sorted by file and line.
"""

from __future__ import annotations

from pathlib import Path

from .errors import Problem
from .ledger import LEDGERS, scan


class CheckContext:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.policy = None
        self._rows: dict = {}

    def rows(self, name: str) -> list:
        """(line, values) of a ledger's good records; its problems are reported by check_ledgers."""
        if name not in self._rows:
            self._rows[name] = scan(self.root, name, self.policy)
        return self._rows[name][0]

    def ledger_problems(self, name: str) -> list:
        self.rows(name)
        return self._rows[name][1]


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


CHECKS = [check_policies, check_policy_gaps, check_ledgers, check_tickets]


def run_checks(root: Path) -> list:
    ctx = CheckContext(root)
    problems: list = []
    for check in CHECKS:
        problems.extend(check(ctx))
    return sorted(set(problems), key=Problem.sort_key)
