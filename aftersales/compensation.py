"""Compensation authority (policies: compensation) and what was paid (ledgers/compensations.csv)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, TYPE_CHECKING, Optional

from . import ledger
from .money import CENT, ZERO
from .policy import Cap, Policy

if TYPE_CHECKING:
    import datetime as dt

    from .tickets import Ticket

LEDGER = "compensations"
AGAIN = "[again]"  # starts the note of a payment made with --again inside the duplicate window


def cap_amount(cap: Cap, t) -> Optional[Decimal]:
    """The cap in yuan for ticket `t`; None when the ticket lacks the amount it is a share of."""
    if cap.amount is not None:
        return cap.amount
    assert cap.percent is not None  # a cap is an amount or a share
    raw = t.fields.get(cap.of, "")
    if not isinstance(raw, str):  # a hand-edited data cell holding a list or a number; `as check` names it
        return None
    try:
        return (Decimal(raw) * cap.percent / 100).quantize(CENT) if raw else None
    except ArithmeticError:  # InvalidOperation: a hand-edited cell; `as check` names it
        return None


class Limit(NamedTuple):
    """An amount of money a rule allows (None: no rule gives any), and the rule, in words."""

    amount: Optional[Decimal]
    note: str


class Approver(NamedTuple):
    """The lowest-ranked role whose authority covers an amount (None: no role's), and its rule."""

    role: Optional[str]
    note: str


def authority(policy: Policy, role: str, t, liability: str = "") -> Limit:
    """(the most `role` may pay in total on ticket `t`, the rule that gives it).

    A role may pay up to the highest cap held by it or any lower-ranked role for the
    ticket's category and, for a rule that names liabilities, for a payment with one of
    them (seed 001: a courier or warehouse at fault may be paid more). (None, "") when no
    rule gives the role any authority here.
    """
    comp = policy.compensation
    if comp is None or role not in policy.roles:
        return Limit(None, "")
    rank = policy.roles[role].rank
    best, note = None, ""
    for a in comp.authority:
        if a.categories and t.category not in a.categories:
            continue
        if a.liabilities and liability not in a.liabilities:
            continue
        if policy.roles[a.role].rank > rank or policy.roles[a.role].rank == 0:
            continue
        amount = cap_amount(a.cap, t)
        if amount is not None and (best is None or amount > best):
            best, note = amount, f"{a.role}: {a.cap}"
    return Limit(best, note)


def ticket_limit(policy: Policy, t: Ticket) -> Limit:
    """The ticket's compensation limit: what `abnormal_above_role` may authorise."""
    if policy.compensation is None:
        return Limit(None, "")
    return authority(policy, policy.compensation.abnormal_above_role, t)


def payment_records(root: Path):
    """(line, row) of ledgers/compensations.csv as corrected: voided payments left out,
    superseded values replaced (aftersales/corrections.py)."""
    from .corrections import honour_payments

    return honour_payments(root, ledger.records(root, LEDGER))


def payments(root: Path) -> list:
    """Every payment of ledgers/compensations.csv as corrected, as a dict of its columns,
    with `at` parsed to a time, `amount` to Decimal and `line` its line: the one reader
    of the ledger (authority checks, replay, KPIs, the weekly brief and claims use it)."""
    names = ledger.schema_of(LEDGER).column_names
    ai, ati = names.index("amount"), names.index("at")
    out = []
    try:
        for line, row in payment_records(root):
            p = dict(zip(names, row))
            p["at"] = ledger.parse_time(row[ati])
            p["amount"] = Decimal(row[ai] or "0")
            p["line"] = line
            out.append(p)
    except (ValueError, ArithmeticError):  # a hand-edited cell: the careful reader names it
        ledger.raise_first_problem(root, LEDGER, check_values=True)
        raise
    return out


def paid_by_ticket(root: Path) -> dict:
    """Total paid per ticket ID: the amounts of `payments`, summed as they are read (route --all
    reads every payment of the shop) without making a dict of each payment. A time or an
    amount that cannot be read is named by the careful reader (file, line and column)."""
    names = ledger.schema_of(LEDGER).column_names
    ti, ai, ati = names.index("ticket"), names.index("amount"), names.index("at")
    parse_time = ledger.parse_time
    out: dict = {}
    try:
        for _line, row in payment_records(root):
            parse_time(row[ati])  # read as `payments` reads it: a time it cannot read is an error here too
            out[row[ti]] = out.get(row[ti], ZERO) + Decimal(row[ai] or "0")
    except (ValueError, ArithmeticError):
        ledger.raise_first_problem(root, LEDGER, check_values=True)
        raise
    return out


# ------------------------------------------------------------------ paying


def required_role(policy: Policy, t: Ticket, total: Decimal, liability: str = "") -> Approver:
    """(the lowest-ranked role whose authority covers `total` on ticket `t`, its cap note)."""
    for role, r in sorted(policy.roles.items(), key=lambda kv: kv[1].rank):
        if r.rank == 0:
            continue
        cap, note = authority(policy, role, t, liability)
        if cap is not None and total <= cap:
            return Approver(role, note)
    return Approver(None, "")


def payments_of(root: Path, ticket_id: str) -> list:
    """(at, amount) of the payments already made on a ticket."""
    return [(p["at"], p["amount"]) for p in payments(root) if p["ticket"] == ticket_id]


def check_approver(policy: Policy, actor: str, approved_by: str, own: str):
    """The approver of money, a person of the roster who is active and not `actor`; InputError
    otherwise (`own` says why one cannot approve one's own). Returns their roster entry."""
    from .errors import InputError
    from .schema import closest

    who = policy.staff_member(approved_by)
    if who is None:
        raise InputError(f"--approved-by {approved_by}: unknown staff member; {closest(approved_by, [s.id for s in policy.staff])}")
    if approved_by == actor:
        raise InputError(f"{own}; --approved-by must name someone else")
    if not who.active:
        raise InputError(f"--approved-by {approved_by}: {who.name} is no longer active")
    return who


def plan_payment(policy: Policy, t: Ticket, payments: list, now: dt.datetime, actor: str, amount_text: str, method: str,
                 liability: str, reason: str = "", approved_by: str = "", again: bool = False, note: str = "") -> dict:
    """Check a payment against the policy; return the ledger row, or raise InputError saying why not."""
    from . import ids
    from .errors import InputError
    from .money import parse_amount
    from .schema import closest

    comp = policy.compensation
    if comp is None:
        raise InputError("the policy has no [compensation] section",
                         hint="add one (see the default pack's compensation.toml)")
    try:
        amount = parse_amount(amount_text)
    except ValueError as e:
        raise InputError(f"--amount: {e}") from None
    if method not in comp.methods:
        raise InputError(f"--method {method}: unknown; {closest(method, comp.methods)}")
    if liability not in comp.liabilities:
        raise InputError(f"--liability {liability}: unknown; {closest(liability, comp.liabilities)}")
    if comp.methods[method].discouraged and not reason.strip():
        raise InputError(f"method '{method}' ({comp.methods[method].name}) is discouraged by the policy; "
                         "give --reason why it is necessary")
    if t.status == "closed":
        raise InputError(f"ticket {ids.short(t.id)} is closed; reopen it before paying")
    paid = sum((a for _at, a in payments), ZERO)
    total = paid + amount
    order_amount = t.fields.get("order_amount")
    try:
        order_amount = parse_amount(order_amount, allow_zero=True) if order_amount else None
    except ValueError:
        raise InputError(f"ticket {ids.short(t.id)}: its order_amount '{t.fields['order_amount']}' is not an amount; "
                         "correct it with `aftersales ticket set`") from None
    if order_amount is not None and total > order_amount:
        raise InputError(f"¥{amount} would bring the total paid on ticket {ids.short(t.id)} to ¥{total}, "
                         f"more than the order amount ¥{Decimal(order_amount)}")
    window = comp.duplicate_window.timedelta()
    if any(a == amount and now - window <= at <= now for at, a in payments):
        if not again:
            raise InputError(f"¥{amount} was already paid on ticket {ids.short(t.id)} within {comp.duplicate_window}",
                             hint="if this is a second payment, add --again")
        note = f"{AGAIN} {note}".strip()  # `as check` knows the second payment was meant
    payer = policy.staff_member(actor)
    assert payer is not None  # the actor is checked against the roster (Workspace.actor)
    cap, _note = authority(policy, payer.role, t, liability)
    approver = ""
    if approved_by:  # an approval, needed or not, is a person of the roster other than the payer
        check_approver(policy, actor, approved_by, "the payer cannot approve their own payment")
    if cap is None or total > cap:
        need, need_note = required_role(policy, t, total, liability)
        if need is None:
            missing = [f for f in ("order_amount", "item_amount", "shipping_fee") if not t.fields.get(f)]
            hint = (f"; the ticket has no {', '.join(missing)}, which the caps are shares of "
                    f"(`aftersales ticket set {ids.short(t.id)} order_amount …`)" if missing else "")
            raise InputError(f"no role may pay a total of ¥{total} on ticket {ids.short(t.id)} "
                             f"(category {t.category}){hint}")
        if not approved_by:
            have = f"¥{cap}" if cap is not None else "nothing"
            raise InputError(f"a total of ¥{total} on ticket {ids.short(t.id)} is over {actor}'s authority ({payer.role}: {have})",
                             hint=f"it needs the approval of a {need} ({policy.roles[need].name}, {need_note}): add --approved-by STAFF")
        who = policy.staff_member(approved_by)
        assert who is not None  # checked above: an approver is a person of the roster
        if policy.roles[who.role].rank < policy.roles[need].rank:
            raise InputError(f"--approved-by {approved_by} has the role {who.role} ({policy.roles[who.role].name}); "
                             f"a total of ¥{total} needs a {need} ({policy.roles[need].name}) or higher")
        approver = approved_by
    elif approved_by:
        approver = approved_by  # recorded, though not needed
    return {"id": ids.new_id(), "ticket": t.id, "at": now, "by": actor, "order": t.fields.get("order", ""),
            "amount": amount, "method": method, "liability": liability, "reason": reason.strip(),
            "approved_by": approver, "note": note}
