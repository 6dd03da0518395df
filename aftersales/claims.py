"""Monthly courier claims (seed 001): what the shop claims back from each courier.

Per courier, for a period: compensations the shop paid in it whose liability is
claimable (the courier's fault), lost parcels claimed or settled in it, and intercepts
that failed in it (claimed at the monthly reconciliation). `claimed` sums what was
claimed in the period, `settled` what the courier paid in it. The courier of a
compensation is its ticket's, else the courier of a register record of that ticket.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from . import compensation, ledger, registers, tickets
from .policy import Policy

ZERO = Decimal("0.00")


def _in(at_text: str, start, end) -> bool:
    return start <= ledger.parse_time(at_text) < end


def claims(policy: Policy, root: Path, start, end) -> dict:
    comp = policy.compensation
    claimable = {k for k, v in comp.liabilities.items() if v.claimable} if comp else set()
    out: dict = {}

    def courier(c):
        return out.setdefault(c or "unknown", {"compensations": [], "lost": [], "failed_intercepts": [],
                                               "claimed": ZERO, "settled": ZERO})

    names = ledger.schema_of("compensations").column_names
    pays = [dict(zip(names, r)) for _l, r in compensation.payment_records(root)]  # issue 15: as corrected
    pays = [p for p in pays if p["liability"] in claimable and _in(p["at"], start, end)]
    ticket_of = tickets.fold(tickets.iter_events(root, only={p["ticket"] for p in pays})) if pays else {}
    by_ticket: dict = {}  # the courier of each ticket's register records
    for spec in ("lost", "reship", "intercept"):
        for rec in registers.load(root, registers.SPECS[spec]).values():
            if rec.row.get("ticket") and rec.row.get("courier"):
                by_ticket.setdefault(rec.row["ticket"], rec.row["courier"])
    for p in pays:
        t = ticket_of.get(p["ticket"])
        c = courier((t.fields.get("courier", "") if t else "") or by_ticket.get(p["ticket"], ""))
        c["compensations"].append(p)
        c["claimed"] += Decimal(p["amount"])
    for rec in registers.load(root, registers.SPECS["lost"]).values():
        touched = [r for r in rec.history if _in(r["at"], start, end)]
        if not touched:
            continue
        c = courier(rec.row["courier"])
        c["lost"].append(rec.row)
        for r in touched:
            if r["status"] == "claimed" and r["amount"]:
                c["claimed"] += Decimal(r["amount"])
            if r["status"] == "settled" and r["amount"]:
                c["settled"] += Decimal(r["amount"])
    for rec in registers.load(root, registers.SPECS["intercept"]).values():
        if any(r["status"] == "failed" and _in(r["at"], start, end) for r in rec.history):
            courier(rec.row["courier"])["failed_intercepts"].append(rec.row)
    return dict(sorted(out.items()))


def statement(policy: Policy, courier_id: str, c: dict, label: str) -> str:
    """A plain statement the shop can send to the courier."""
    name = policy.logistics.couriers[courier_id].name if policy.logistics and courier_id in policy.logistics.couriers else courier_id
    lines = [f"{policy.shop.name} 致 {name}: {label} 理赔对账单", ""]
    if c["compensations"]:
        lines.append("一、因快递责任产生的客户赔付")
        for p in c["compensations"]:
            lines.append(f"  {p['at'][:10]}  订单 {p['order'] or '-'}  ¥{p['amount']}  {p['reason']}".rstrip())
    if c["lost"]:
        lines.append("二、快递丢件")
        for r in c["lost"]:
            amt = f"¥{r['amount']}" if r["amount"] else ""
            lines.append(f"  运单 {r['waybill']}  订单 {r['order']}  {r['status']}  {amt}".rstrip())
    if c["failed_intercepts"]:
        lines.append("三、拦截失败")
        for r in c["failed_intercepts"]:
            lines.append(f"  运单 {r['waybill']}  订单 {r['order']}  {r['reason']}".rstrip())
    lines += ["", f"本期索赔合计 ¥{c['claimed']}, 本期已结算 ¥{c['settled']}"]
    return "\n".join(lines)
