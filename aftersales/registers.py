"""Seed 001's shared spreadsheets as ledgers: intercepts, lost parcels, reshipments, short
and wrong shipments.

Every register works the same way, so one spec describes each: the fields a new record
takes, its first status, which status may follow which, and what a status needs. A
record is the rows sharing its id; each update is a new row that carries the record's
fields forward with the new status. The current state is the latest row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from . import ids, ledger
from .errors import InputError, input_error
from .policy import Policy


@dataclass(frozen=True)
class RegisterSpec:
    name: str  # the command: intercept, lost, reship, short
    ledger: str
    title: str
    new_fields: tuple  # (column, required, help)
    first: str  # the status of a new record
    next: dict  # status -> statuses that may follow it
    needs: dict = field(default_factory=dict)  # status -> columns an update to it must give
    why_not: dict = field(default_factory=dict)  # (from, to) -> the rule that forbids it
    script: str = ""  # reply script printed for a new record


SPECS = {s.name: s for s in (
    RegisterSpec(
        "intercept", "intercepts", "intercepts (拦截登记)",
        (("order", True, "Order number."), ("waybill", True, "Waybill number."),
         ("courier", True, "Courier (policies: logistics.couriers)."), ("reason", False, "Why it is recalled.")),
        "requested",
        {"requested": ("intercepted", "failed", "out_for_delivery"), "intercepted": ("refunded",),
         "failed": (), "out_for_delivery": (), "refunded": ()},
        why_not={("requested", "refunded"): "a refund is recorded only after a successful intercept",
                 ("out_for_delivery", "refunded"): "a parcel out for delivery cannot be refunded",
                 ("failed", "refunded"): "the intercept failed; claim it from the courier at the monthly reconciliation"},
    ),
    RegisterSpec(
        "lost", "lost_parcels", "lost parcels (快递丢件)",
        (("order", True, "Order number."), ("waybill", True, "Waybill number."),
         ("courier", True, "Courier (policies: logistics.couriers)."), ("amount", False, "Value of the parcel.")),
        "reported",
        {"reported": ("claimed", "rejected"), "claimed": ("settled", "rejected"), "settled": (), "rejected": ()},
        needs={"claimed": ("amount",), "settled": ("amount",)},
    ),
    RegisterSpec(
        "reship", "reshipments", "reshipments (补发)",
        (("order", True, "Order number."), ("new_waybill", True, "The new waybill number."),
         ("courier", True, "Courier (policies: logistics.couriers)."), ("reason", True, "Why it is reshipped."),
         ("responsible", True, "Who answers for it (a person, the courier, the warehouse).")),
        "shipped",
        {"shipped": ("delivered", "cancelled"), "delivered": (), "cancelled": ()},
        script="reship_notice",
    ),
    RegisterSpec(
        "short", "short_shipments", "short and wrong shipments (少发/错发)",
        (("order", True, "Order number."), ("kind", True, "short or wrong."),
         ("items", True, "What was missing or wrong."), ("responsible", True, "The person responsible.")),
        "reported",
        {"reported": ("resolved",), "resolved": ()},
    ),
)}


@dataclass
class Record:
    id: str
    row: dict  # the latest row
    history: list  # every row, oldest first
    line: int = 0


def load(root: Path, spec: RegisterSpec) -> dict:
    names = ledger.schema_of(spec.ledger).column_names
    rows = []
    for line, values in ledger.records(root, spec.ledger):
        row = dict(zip(names, values))
        rows.append((ledger.parse_time(row["at"]), line, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    out: dict = {}
    for _at, line, row in rows:
        rec = out.get(row["id"])
        if rec is None:
            out[row["id"]] = Record(row["id"], row, [row], line)
        else:
            rec.row = row
            rec.history.append(row)
    return out


def find(root: Path, spec: RegisterSpec, typed: str) -> Record:
    records = load(root, spec)
    try:
        return records[ids.resolve(typed, records, f"{spec.name} record", f"aftersales {spec.name} list --all")]
    except ValueError as e:
        raise input_error(str(e)) from None


def new_row(policy: Policy, spec: RegisterSpec, values: dict, now: dt.datetime, by: str, ticket: str = "") -> dict:
    from .money import parse_amount
    from .schema import closest

    missing = [c for c, required, _h in spec.new_fields if required and not (values.get(c) or "").strip()]
    if missing:
        raise InputError(f"a new {spec.name} record needs: " + ", ".join("--" + c.replace("_", "-") for c in missing))
    row = {"id": ids.new_id(8), "at": now, "by": by, "ticket": ticket, "status": spec.first}
    for c, _required, _h in spec.new_fields:
        v = (values.get(c) or "").strip()
        if c == "courier" and v and policy.logistics and v not in policy.logistics.couriers:
            raise InputError(f"--courier {v}: unknown; {closest(v, policy.logistics.couriers)}")
        if c == "kind" and v not in ("short", "wrong"):
            raise InputError(f"--kind {v}: use short (少发) or wrong (错发)")
        if c == "amount" and v:
            try:
                v = str(parse_amount(v))
            except ValueError as e:
                raise InputError(f"--amount: {e}") from None
        row[c] = v
    return row


def update_row(spec: RegisterSpec, rec: Record, status: str, now: dt.datetime, by: str,
               amount: str = "", note: str = "") -> dict:
    from .money import parse_amount

    cur = rec.row["status"]
    if status not in spec.next:
        raise InputError(f"unknown status '{status}'; {spec.name} statuses: {', '.join(spec.next)}")
    if status not in spec.next[cur]:
        why = spec.why_not.get((cur, status))
        allowed = ", ".join(spec.next[cur]) or "none (it is final)"
        raise InputError(f"{spec.name} {rec.id} is {cur}; cannot become {status}" + (f": {why}" if why else ""),
                         hint=f"next allowed: {allowed}")
    if now < ledger.parse_time(rec.row["at"]):
        raise InputError(f"--now is before the record's last update ({rec.row['at']})")
    row = dict(rec.row, at=now, by=by, status=status, note=note)
    if "amount" in spec.needs.get(status, ()):
        if not amount:
            raise InputError(f"status {status} needs --amount")
        try:
            row["amount"] = str(parse_amount(amount))
        except ValueError as e:
            raise InputError(f"--amount: {e}") from None
        claimed = rec.row.get("amount", "")
        if status == "settled" and claimed and parse_amount(row["amount"]) > parse_amount(claimed):
            raise InputError(f"{spec.name} {rec.id}: settled ¥{row['amount']} is more than the ¥{claimed} claimed")
    elif amount:
        raise InputError(f"status {status} takes no --amount")
    return row
