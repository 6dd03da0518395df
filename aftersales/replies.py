"""Reply scripts (话术) and order-remark formats (seeds 001, 003), and satisfaction surveys (seed 002).

A script is a policy template with {field} names. Its fields come from the ticket (the
intake form), from the reshipments register (new_waybill), and from the moment: agent,
agent_name, date, time, shop, ticket. A field the ticket lacks is an error naming it.
"""

from __future__ import annotations

import datetime as dt
import string
from decimal import Decimal
from pathlib import Path

from . import ids, ledger
from .errors import InputError
from .policy import Policy

def moment(policy: Policy, now: dt.datetime, agent: str) -> dict:
    """The fields every script and remark may use besides a ticket's: who, when, which shop,
    and how the shop addresses its customers."""
    member = policy.staff_member(agent)
    local = now.astimezone(policy.tz())
    return {"agent": agent, "agent_name": member.name if member else agent, "date": local.strftime("%Y-%m-%d"),
            "time": local.strftime("%H:%M"), "shop": policy.shop.name,
            "form_of_address": policy.shop.form_of_address}


def fields_for(policy: Policy, root: Path, t, now: dt.datetime, agent: str) -> dict:
    f = {k: v for k, v in t.fields.items() if v}
    f["ticket"] = ids.short(t.id)
    f.update(moment(policy, now, agent))
    from . import registers

    for rec in registers.load(root, registers.SPECS["reship"]).values():  # the latest reshipment of the ticket
        if rec.row.get("ticket") == t.id and rec.row.get("new_waybill"):
            f["new_waybill"] = rec.row["new_waybill"]
    return f


def render(text: str, values: dict, what: str) -> str:
    """Fill a template; InputError naming the first field that has no value."""
    missing = [n for _, n, _, _ in string.Formatter().parse(text) if n and not values.get(n)]
    if missing:
        raise InputError(f"{what} needs {{{missing[0]}}}, which is not known here"
                         + (f" (nor {', '.join('{' + m + '}' for m in missing[1:])})" if len(missing) > 1 else "")
                         + "; give it as an option or with `aftersales ticket set`")
    return text.format(**values)


def check_fields(s, values: dict, what: str) -> None:
    """The filled fields against the format's checks (seed 001 remark formats); InputError
    naming the option and what it lacks."""
    import re

    for c in s.checks:
        value = values.get(c.field, "")
        if not value or (c.when and not re.search(c.when, value)):
            continue
        if not re.search(c.pattern, value):
            raise InputError(f"{what}: --{c.field.replace('_', '-')} '{value}' lacks {c.says}; "
                             f"the remark format ({s.name}) asks for it")


def script(policy: Policy, name: str):
    from .schema import closest

    if name not in policy.scripts:
        raise InputError(f"unknown reply script '{name}'; {closest(name, policy.scripts)}")
    return policy.scripts[name]


def remark(policy: Policy, kind: str):
    from .schema import closest

    if kind not in policy.remarks:
        raise InputError(f"unknown remark format '{kind}'; {closest(kind, policy.remarks)}")
    return policy.remarks[kind]


# ------------------------------------------------------------------ surveys


def satisfied(policy: Policy, speed: int, result: int, attitude: int) -> bool:
    """A customer is satisfied when the mean of the three scores reaches kpi.satisfied_at (4)."""
    return Decimal(speed + result + attitude) / 3 >= policy.kpi.satisfied_at


def satisfaction_by_level(policy: Policy, surveys: list, incidents) -> list:
    """Per incident level (and "-" for tickets in no incident): surveys, satisfied, the
    share and its target (seed 002: L1 90 %, L2 85 %, L3 80 %; otherwise kpi.csat)."""
    level_of = {tid: inc.level for inc in incidents for tid in inc.tickets}
    groups: dict = {}
    for r in surveys:
        g = groups.setdefault(level_of.get(r["ticket"], "-"), [0, 0])
        g[1] += 1
        g[0] += satisfied(policy, r["speed"], r["result"], r["attitude"])
    out = []
    for lv in list(policy.incident_levels) + ["-"]:
        if lv not in groups:
            continue
        ok, n = groups[lv]
        target = policy.incident_levels[lv].satisfaction if lv in policy.incident_levels else policy.kpi.csat
        share = ok / n
        out.append({"level": lv, "surveys": n, "satisfied": ok, "share": round(share, 4), "target": target,
                    "verdict": "met" if share >= target else "BELOW"})
    return out


def surveys(root: Path) -> list:
    names = ledger.schema_of("surveys").column_names
    out = []
    for _l, row in ledger.records(root, "surveys"):
        r = dict(zip(names, row))
        r["at"] = ledger.parse_time(r["at"])
        for k in ("speed", "result", "attitude"):
            r[k] = int(r[k])
        out.append(r)
    return out


def check_scores(**scores) -> None:
    for k, v in scores.items():
        if not 1 <= v <= 5:
            raise InputError(f"--{k} {v}: scores go from 1 (very unhappy) to 5 (very happy)")
