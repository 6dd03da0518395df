"""Checks across ledgers for `as check`: the rules the commands apply, re-applied to the
history as it is now — after a merge of two clones too, where each side obeyed the rules
alone and the union of both may not.

Each check is a small function (CheckContext) -> list of Problem, listed in CHECKS:

- every ticket a ledger names exists in tickets.csv;
- no ticket event but a reopen (or a follow-up visit) after the ticket's close;
- registers (intercepts, lost parcels, reshipments, short shipments): each record starts in
  its first status and moves only as registers.SPECS allows;
- payments, per ticket in time order: the running total within the payer's authority or
  approved by a high enough role, no second payment of the same amount within the
  duplicate window unless made with --again, none while the ticket was closed;
- surveys and reviews score 1-5; incidents are opened once, before their other events.

A problem names the file and line, what is wrong, and the fix as its hint.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from . import ids
from .errors import Problem
from .ledger import LEDGERS, parse_time

TICKETS_FILE = LEDGERS["tickets"].file


def _events_after_close(ctx) -> list:
    """(line, ticket, type, close line): the events of the tickets the pass over tickets.csv
    marked unsure (TicketPass.reread), alone, in time order (none on a ledger written in time
    order without such events)."""
    from .tickets.checks import after_close_ok

    index = ctx.tickets()
    index.reread(lambda: ctx.rows("tickets"))
    ok = after_close_ok()
    out: list = []
    for tid, evs in index.unsure_events.items():
        closed = 0
        in_time = sorted(((_time(at) or _EPOCH, line, typ) for at, line, typ in evs), key=lambda e: (e[0], e[1]))
        for _at, line, typ in in_time:
            if closed and typ not in ok:
                out.append((line, tid, typ, closed))
            if typ == "close":
                closed = line
            elif typ == "reopen":
                closed = 0
    return sorted(out)


def _paid_ticket(ctx, tid: str):
    """A paid ticket as the authority rules need it: category, fields, and its close and
    reopen times (from its rows, which the pass over tickets.csv kept)."""
    category, fields, status = "", {}, []
    for line, row in sorted(ctx.tickets().kept.get(tid, ()), key=lambda lr: (_time(lr[1][1]) or _EPOCH, lr[0])):
        _t, at, _by, typ, ref, text, data = row
        if typ == "open":
            try:
                fields = dict(json.loads(data)) if data else {}
            except ValueError:
                fields = {}
            fields["category"] = category = ref
        elif typ == "set":
            if text:
                fields[ref] = text
            else:
                fields.pop(ref, None)
        elif typ in ("close", "reopen"):
            status.append((_time(at), line, typ))
    return SimpleNamespace(id=tid, category=category, fields=fields, status=status)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _time(text: str):
    try:
        return parse_time(text)
    except ValueError:
        return None


def _closed_at(t, at: dt.datetime):
    """The line of the close in force on ticket `t` at time `at`, else 0."""
    line = 0
    for when, ln, typ in t.status:
        if when is None or when > at:
            break
        line = ln if typ == "close" else 0
    return line


# ------------------------------------------------------------------ references

#: ledger -> (column that names a ticket, event types that name it in `ref`)
TICKET_COLUMNS = {name: "ticket" for name, s in LEDGERS.items() if name != "tickets" and "ticket" in s.column_names}


def check_ticket_references(ctx) -> list:
    """Every ticket another ledger names is opened in tickets.csv."""
    if not ctx.whole("tickets"):
        return []  # tickets.csv could not be read to its end: check_ledgers names where it stops
    index = ctx.tickets()
    opened = index.with_rows
    out = []
    for name, column in sorted(TICKET_COLUMNS.items()):
        schema = LEDGERS[name]
        i = schema.column_names.index(column)
        what = "payment" if name == "compensations" else "record"
        for line, row in ctx.rows(name):
            tid = row[i]
            if tid and tid not in opened:
                out.append(Problem(schema.file, line, f"{what} for ticket {tid}, which is not in {TICKETS_FILE}",
                                   row_text(row),
                                   hint=f"correct the ticket ID in the {column} column, or pull the clone that opened it"))
    inc = LEDGERS["incidents"]
    for line, row in ctx.rows("incidents"):
        if row[3] == "join" and row[4] and row[4] not in opened:
            out.append(Problem(inc.file, line, f"incident {row[0]} joins ticket {row[4]}, which is not in {TICKETS_FILE}",
                               row_text(row), hint="correct the ticket ID in the ref column"))
    return out


def check_events_after_close(ctx) -> list:
    """A closed ticket takes only a reopen (or a follow-up visit): anything else after its close
    was written by a clone that did not know of the close, or by hand."""
    out: list = []
    if not ctx.whole("tickets"):
        return out
    for line, tid, typ, close_line in _events_after_close(ctx):
        out.append(Problem(TICKETS_FILE, line, f"{typ} on ticket {tid} after its close (line {close_line})",
                           hint=f"reopen the ticket before this event (`aftersales ticket reopen {ids.short(tid)}`), "
                                "or remove the event if the close was right"))
    return out


# ------------------------------------------------------------------ registers


def check_registers(ctx) -> list:
    """Each register record starts in its first status and changes status only as its spec allows."""
    from .registers import SPECS

    out = []
    for spec in SPECS.values():
        schema = LEDGERS[spec.ledger]
        names = schema.column_names
        ii, ai, si = names.index("id"), names.index("at"), names.index("status")
        mi = names.index("amount") if "amount" in names else None
        needed = [(c, names.index(c)) for c, required, _h in spec.new_fields if required]
        records: dict = {}
        for line, row in ctx.rows(spec.ledger):
            missing = [c for c, i in needed if not row[i]]
            if missing:
                out.append(Problem(schema.file, line, f"{spec.name} {row[ii]} has no {', '.join(missing)}",
                                   row_text(row), hint=f"fill in what `aftersales {spec.name} new` asks for"))
            records.setdefault(row[ii], []).append((_time(row[ai]) or _EPOCH, line, row[si], row[mi] if mi is not None else ""))
        for rid, hist in records.items():
            hist.sort()
            _at, line, status, amount = hist[0]
            if status != spec.first:
                out.append(Problem(schema.file, line, f"{spec.name} {rid} starts as {status}; a new record is {spec.first}",
                                   hint=f"record it as {spec.first} first (`aftersales {spec.name} new`), "
                                        f"then each change with `aftersales {spec.name} update`"))
            claimed = amount
            for (_a, _l, cur, _m), (_at, line, status, amount) in zip(hist, hist[1:]):
                if cur in spec.next and status not in spec.next[cur]:
                    why = spec.why_not.get((cur, status))
                    allowed = ", ".join(spec.next[cur]) or "none (it is final)"
                    out.append(Problem(schema.file, line, f"{spec.name} {rid} goes from {cur} to {status}"
                                       + (f": {why}" if why else ""),
                                       hint=f"after {cur} comes {allowed}; remove this row or record the missing step"))
                if "amount" in spec.needs.get(status, ()) and not amount:
                    out.append(Problem(schema.file, line, f"{spec.name} {rid} is {status} without an amount",
                                       hint="give the amount the courier accepted in the amount column"))
                if status == "settled" and amount and claimed and _money(amount) > _money(claimed):
                    out.append(Problem(schema.file, line, f"{spec.name} {rid}: settled ¥{amount} is more than the "
                                       f"¥{claimed} claimed", hint="correct the amount"))
                if status == "claimed" and amount:
                    claimed = amount
    return out


def _money(text: str) -> Decimal:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return Decimal(0)


# ------------------------------------------------------------------ money


def _effective(ctx, payments: dict) -> dict:
    """The payments that count, per ticket: those compensation.payments_of still returns (a
    payment voided by a correction is left out there), asked only for tickets whose total
    differs from compensation.paid_by_ticket."""
    from . import compensation
    from .errors import InputError

    try:
        totals = compensation.paid_by_ticket(ctx.root)
    except (InputError, ArithmeticError):  # a bad record: check_ledgers names it; count every good payment
        return payments
    out = {}
    for tid, pays in payments.items():
        if sum((p.amount for p in pays), Decimal("0.00")) == totals.get(tid, Decimal("0.00")):
            out[tid] = pays
            continue
        left = [(at, Decimal(a)) for at, a in compensation.payments_of(ctx.root, tid)]
        keep = []
        for p in pays:
            if (p.at, p.amount) in left:
                left.remove((p.at, p.amount))
                keep.append(p)
        out[tid] = keep
    return out


def check_payments(ctx) -> list:
    """Each ticket's payments in time order, re-checked against the policy's compensation rules."""
    from .compensation import AGAIN, authority, required_role

    policy = ctx.policy
    if policy is None or policy.compensation is None:
        return []
    schema = LEDGERS["compensations"]
    names = schema.column_names
    col = {n: names.index(n) for n in names}
    payments: dict = {}
    opened = ctx.tickets().with_rows
    for line, row in ctx.rows("compensations"):
        tid, at = row[col["ticket"]], _time(row[col["at"]])
        if tid not in opened or at is None:
            continue  # named by check_ticket_references / check_ledgers
        payments.setdefault(tid, []).append(SimpleNamespace(
            line=line, at=at, by=row[col["by"]], amount=_money(row[col["amount"]]),
            approved_by=row[col["approved_by"]], again=row[col["note"]].startswith(AGAIN), row=row))
    comp = policy.compensation
    window = comp.duplicate_window.timedelta()
    out = []
    for tid, pays in _effective(ctx, payments).items():
        t = _paid_ticket(ctx, tid)
        pays.sort(key=lambda p: (p.at, p.line))
        total = Decimal("0.00")
        for i, p in enumerate(pays):
            total += p.amount
            earlier = pays[:i]
            close_line = _closed_at(t, p.at)
            if close_line:
                out.append(Problem(schema.file, p.line, f"¥{p.amount} paid on ticket {tid} while it was closed "
                                   f"({TICKETS_FILE}:{close_line})", row_text(p.row),
                                   hint="void the payment, or reopen the ticket if it was meant"))
            dup = [q for q in earlier if q.amount == p.amount and p.at - window <= q.at <= p.at]
            if dup and not p.again:
                out.append(Problem(schema.file, p.line, f"¥{p.amount} paid on ticket {tid} again within "
                                   f"{comp.duplicate_window} of line {dup[-1].line}", row_text(p.row),
                                   hint="void one of the two payments, or note a second payment that was meant "
                                        f"with '{AGAIN}' (what `aftersales compensate --again` writes)"))
            payer = policy.staff_member(p.by)
            if payer is None:
                continue  # unknown staff: check_ledgers names it
            cap, _rule = authority(policy, payer.role, t)
            if cap is not None and total <= cap:
                continue
            lines = ", ".join(str(q.line) for q in pays[: i + 1])
            have = f"¥{cap}" if cap is not None else "nothing"
            need, need_rule = required_role(policy, t, total)
            head = (f"payments on ticket {tid} (lines {lines}) total ¥{total}" if earlier
                    else f"¥{p.amount} paid on ticket {tid}")
            if need is None:
                out.append(Problem(schema.file, p.line, f"{head}, more than any role may pay (category {t.category})",
                                   row_text(p.row), hint="void one of the payments"))
                continue
            role = f"a {need} ({policy.roles[need].name}, {need_rule})"
            two = "one of the two payments" if len(earlier) == 1 else "a payment"
            approver = policy.staff_member(p.approved_by) if p.approved_by else None
            if not p.approved_by:
                out.append(Problem(schema.file, p.line, f"{head}, over {p.by}'s authority ({payer.role}: {have}) "
                                   "without an approval", row_text(p.row),
                                   hint=f"void {two} or record the approval of {role}"))
            elif approver is None:
                continue  # unknown staff: check_ledgers names it
            elif p.approved_by == p.by:
                out.append(Problem(schema.file, p.line, f"{head}, approved by the payer {p.by} themself",
                                   row_text(p.row), hint=f"void {two} or record the approval of {role}"))
            elif policy.roles[approver.role].rank < policy.roles[need].rank:
                out.append(Problem(schema.file, p.line, f"{head}, approved by {p.approved_by} ({approver.role}), "
                                   f"who may not approve it", row_text(p.row),
                                   hint=f"void {two} or record the approval of {role} or higher"))
    return out


# ------------------------------------------------------------------ surveys, reviews, incidents


def check_scores(ctx) -> list:
    """Survey scores (speed, result, attitude) and review scores are 1-5."""
    out = []
    for name, columns in (("surveys", ("speed", "result", "attitude")), ("reviews", ("score",))):
        schema = LEDGERS[name]
        idx = [(c, schema.column_names.index(c)) for c in columns]
        for line, row in ctx.rows(name):
            for c, i in idx:
                if row[i] and row[i].lstrip("-").isdigit() and not 1 <= int(row[i]) <= 5:
                    out.append(Problem(schema.file, line, f"'{c}' is {row[i]}; scores are 1 to 5", row_text(row),
                                       hint="correct the score"))
    return out


def check_incidents(ctx) -> list:
    """An incident is opened once, before anything else is recorded on it; grades name policy levels."""
    schema = LEDGERS["incidents"]
    levels = getattr(ctx.policy, "incident_levels", None) if ctx.policy is not None else None
    opened: dict = {}
    events = []
    out = []
    for line, row in ctx.rows("incidents"):
        iid, at, typ, ref = row[0], _time(row[1]), row[3], row[4]
        if typ == "open":
            if iid in opened:
                out.append(Problem(schema.file, line, f"incident {iid} is opened twice (first at line {opened[iid][1]})",
                                   row_text(row), hint="give one of them a new ID"))
                continue
            opened[iid] = (at, line)
        else:
            events.append((iid, at, line, typ))
        if typ == "grade" and levels and ref not in levels:
            from .schema import closest

            out.append(Problem(schema.file, line, f"incident {iid} is graded '{ref}', not a level of the policy",
                               row_text(row), hint=closest(ref, levels)))
    for iid, at, line, typ in events:
        if iid not in opened:
            out.append(Problem(schema.file, line, f"{typ} for incident {iid}, which was never opened",
                               hint="correct the incident ID, or pull the clone that opened it"))
        elif at is not None and opened[iid][0] is not None and at < opened[iid][0]:
            out.append(Problem(schema.file, line, f"{typ} on incident {iid} before it was opened (line {opened[iid][1]})",
                               hint="correct the time"))
    return out


def row_text(row: list) -> str:
    """A record as its CSV line, shown under the problem."""
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()[:300]


CHECKS = [check_ticket_references, check_events_after_close, check_registers, check_payments, check_scores,
          check_incidents]
