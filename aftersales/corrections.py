"""Corrections (更正): a mistake is undone by a new row, never by editing history.

Every record has a stable reference:

- a payment: its `id` column (random, written at payment time);
- a ticket event: `TICKET.HASH`, where HASH is eight base32 characters of the SHA-256 of the
  event's own values (ticket, time, actor, type, ref, text, data). It is derived, not
  stored, so the 1,000,000-row ticket ledger keeps its columns and every old row has a
  reference too; it does not depend on the row's position, so it survives a `git pull`
  that interleaves two clones' rows, and no clone has to agree with another on a number.
  Identical events (same second, actor, type and text) share a reference; two different
  events of one ticket sharing one (40 bits: about one ticket in 10^10) are refused as
  ambiguous when corrected;
- a correction: its `id` column (12 random base32 characters, like a ticket ID).

A correction is a row of ledgers/corrections.csv: who, when, why, what it corrects
(`ledger`, `target`), and whether it voids the record or supersedes some of its values
(`data`). A correction can itself be voided (which restores what it corrected). For each
record the latest correction still in force decides. History keeps both rows: readers
that want the record as corrected go through `honour_payments` / `honour_events`, which
every fold, report and authority check does (compensation.payment_records,
tickets.iter_events, tickets.load_open_tickets).

Authority: correcting money needs the authority that paying it needed, judged on the
running total of the ticket at that payment (before and after the correction, whichever
is higher), with an approver of the required role otherwise, as for a payment.
Correcting a ticket event someone else recorded needs the role that may force a close.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Optional

from . import ids, ledger
from .errors import InputError

LEDGER = "corrections"
HASH_LEN = 8
#: payment values a supersede may replace
PAYMENT_FIELDS = ("amount", "method", "liability", "reason")


@dataclass
class Correction:
    id: str
    at: dt.datetime
    by: str
    ledger: str
    target: str
    action: str
    ticket: str = ""
    reason: str = ""
    approved_by: str = ""
    data: dict = field(default_factory=dict)
    line: int = 0

    def row(self) -> dict:
        return {"id": self.id, "at": self.at, "by": self.by, "ledger": self.ledger, "target": self.target,
                "action": self.action, "ticket": self.ticket, "reason": self.reason,
                "approved_by": self.approved_by, "data": self.data}


# ------------------------------------------------------------------ references


def _b32(digest: bytes, n: int) -> str:
    v = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(n):
        out.append(ids.ALPHABET[v & 31])
        v >>= 5
    return "".join(out)


def event_hash(e) -> str:
    """The eight-character content reference of a ticket event read from the ledger."""
    raw = e._raw if e._raw or e._data is None else ledger.format_value(e._data)
    text = "\x1f".join((e.ticket, e.at.isoformat(), e.by, e.type, e.ref, e.text, raw))
    return _b32(hashlib.sha256(text.encode("utf-8")).digest(), HASH_LEN)


def event_ref(e, short: bool = False) -> str:
    return f"{ids.short(e.ticket) if short else e.ticket}.{event_hash(e)}"


# ------------------------------------------------------------------ reading


def load(root: Path) -> list:
    """Every correction in the ledger, in file order (JSON data parsed)."""
    import json

    names = ledger.schema_of(LEDGER).column_names
    out = []
    for line, row in ledger.records(root, LEDGER):
        r = dict(zip(names, row))
        try:
            data = json.loads(r["data"]) if r["data"] else {}
        except ValueError:
            raise InputError(f"{ledger.schema_of(LEDGER).file}:{line}: 'data' is not JSON; run `aftersales check`") from None
        out.append(Correction(r["id"], ledger.parse_time(r["at"]), r["by"], r["ledger"], r["target"], r["action"],
                              r["ticket"], r["reason"], r["approved_by"], data if isinstance(data, dict) else {}, line))
    return out


class State:
    """The corrections in force: for each corrected record, the latest one still in force."""

    def __init__(self, corrections: list):
        self.all = corrections
        order = sorted(corrections, key=lambda c: (c.at, c.line))
        voided: dict = {}  # correction id -> the correction that voids it
        self.active: list = []
        for c in reversed(order):  # a correction is in force unless a later one in force voids it
            if c.id in voided:
                continue
            self.active.append(c)
            if c.ledger == LEDGER and c.action == "void":
                voided.setdefault(c.target, c)
        self.active.reverse()
        self.voided_corrections = voided
        self.payments: dict = {}  # payment id -> latest correction in force
        self.events: dict = {}  # ticket id -> {hash -> latest correction in force}
        for c in self.active:
            if c.ledger == "compensations":
                self.payments[c.target] = c
            elif c.ledger == "tickets":
                tid, _, h = c.target.partition(".")
                self.events.setdefault(tid, {})[h] = c

    def of_ticket(self, tid: str) -> list:
        return [c for c in self.all if c.ticket == tid]


def state(root: Path) -> State:
    path = ledger.ledger_path(root, LEDGER)
    if not path.exists() or path.stat().st_size <= len(ledger.schema_of(LEDGER).header):
        return State([])
    return State(load(root))


def honour_events(root: Path, events: Iterable, st: Optional[State] = None) -> Iterable:
    """Ticket events as corrected: voided ones left out, superseded text replaced."""
    st = st if st is not None else state(root)
    if not st.events:
        return events
    return _honour_events(events, st.events)


def _honour_events(events, corrected):
    for e in events:
        by_hash = corrected.get(e.ticket)
        if by_hash:
            c = by_hash.get(event_hash(e))
            if c is not None:
                if c.action == "void":
                    continue
                if "text" in c.data:
                    e.text = c.data["text"]
        yield e


def corrected_tickets(root: Path) -> set:
    """IDs of the tickets that have event corrections in force."""
    return set(state(root).events)


def honour_payments(root: Path, records: Iterable, st: Optional[State] = None) -> Iterable:
    """(line, row) of compensations.csv as corrected: voided payments left out, superseded values replaced."""
    st = st if st is not None else state(root)
    if not st.payments:
        return records
    return _honour_payments(records, st.payments)


def _honour_payments(records, corrected):
    names = ledger.schema_of("compensations").column_names
    for line, row in records:
        c = corrected.get(row[0])
        if c is not None:
            if c.action == "void":
                continue
            row = list(row)
            for k in PAYMENT_FIELDS:
                if k in c.data:
                    row[names.index(k)] = c.data[k]
        yield line, row


# ------------------------------------------------------------------ resolving a typed reference


@dataclass
class Target:
    ledger: str
    ref: str  # the canonical reference stored in the correction's `target`
    ticket: str
    payment: Optional[dict] = None
    event: Any = None  # a tickets.Event
    correction: Optional[Correction] = None


def _payments_raw(root: Path) -> list:
    names = ledger.schema_of("compensations").column_names
    return [dict(zip(names, row), _line=line) for line, row in ledger.records(root, "compensations")]


def raw_events(root: Path, tid: str) -> list:
    """The ticket's events as written, corrected or not, in time order."""
    from . import tickets

    import csv

    from .search import records_of

    rel = ledger.schema_of("tickets").file
    path = ledger.ledger_path(root, "tickets")
    try:  # the ticket's records only, found as bytes (search.py): fast on a long ledger
        evs = [tickets._event(0, row, rel) for row in csv.reader(records_of(path, {tid.encode()}), strict=True) if row]
    except (csv.Error, ValueError, UnicodeDecodeError):
        ledger.raise_first_problem(root, "tickets", check_values=True)
        raise
    evs.sort(key=lambda e: e.at)
    return evs


def resolve(root: Path, typed: str) -> Target:
    """What a typed reference names: a payment ID, TICKET.EVENT (from `ticket show`), or a correction ID."""
    text = typed.strip()
    if "." in text:
        tpart, _, hpart = text.partition(".")
        from .search import resolve_id

        tid = resolve_id(root, tpart)
        h = ids.normalize(hpart)
        found = [e for e in raw_events(root, tid) if event_hash(e).startswith(h)] if len(h) >= 4 else []
        if len(found) != 1:
            why = "no event of that ticket has it" if not found else "it is ambiguous"
            if len(h) < 4:
                why = "type at least 4 characters of it"
            raise InputError(f"'{typed}': {why}; `aftersales ticket show {ids.short(tid)}` lists each event's reference")
        e = found[0]
        return Target("tickets", f"{tid}.{event_hash(e)}", tid, event=e)
    key = ids.normalize(text)
    if len(key) < 4 or not ids.is_valid(key):
        raise InputError(f"'{typed}' is not a reference; give a payment ID, TICKET.EVENT as `ticket show` prints it, "
                         "or a correction ID")
    pays = [p for p in _payments_raw(root) if p["id"].upper().startswith(key)]
    corrs = [c for c in (load(root) if ledger.ledger_path(root, LEDGER).exists() else []) if c.id.upper().startswith(key)]
    found = [("p", p) for p in pays] + [("c", c) for c in corrs]
    if not found:
        raise InputError(f"unknown reference '{typed}'; payment IDs are in `aftersales ticket show TICKET` "
                         "and ledgers/compensations.csv, correction IDs in `aftersales correct list`")
    if len(found) > 1:
        raise InputError(f"reference '{typed}' is ambiguous ({len(found)} records start so); type more characters")
    kind, rec = found[0]
    if kind == "p":
        return Target("compensations", rec["id"], rec["ticket"], payment=rec)
    return Target(LEDGER, rec.id, rec.ticket, correction=rec)


# ------------------------------------------------------------------ planning a correction


def _effective_payments(raw: list, st: State, tid: str) -> list:
    """[(id, at, amount, line)] of the ticket's payments in force, in time order."""
    out = []
    for p in raw:
        if p["ticket"] != tid:
            continue
        c = st.payments.get(p["id"])
        if c is not None and c.action == "void":
            continue
        amount = c.data.get("amount", p["amount"]) if c is not None else p["amount"]
        out.append((p["id"], ledger.parse_time(p["at"]), Decimal(amount), p["_line"]))
    out.sort(key=lambda x: (x[1], x[3]))
    return out


def _running(pays: list, pid: str) -> Optional[Decimal]:
    total = Decimal("0.00")
    for p in pays:
        total += p[2]
        if p[0] == pid:
            return total
    return None


def _payment_of(target: Target, before: State) -> Optional[str]:
    """The payment a correction of `target` changes, if any."""
    if target.ledger == "compensations":
        return target.ref
    c = target.correction
    while c is not None and c.ledger == LEDGER:  # a void of a void of ...: find what it finally corrects
        c = next((x for x in before.all if x.id == c.target), None)
    return c.target if c is not None and c.ledger == "compensations" else None


def _check_approval(policy, t, actor: str, approved_by: str, need_total: Decimal, what: str) -> str:
    """The approver to record; InputError when `actor` lacks the authority for `need_total` on `t`."""
    from . import compensation

    payer = policy.staff_member(actor)
    cap, _ = compensation.authority(policy, payer.role, t)
    if cap is not None and need_total <= cap:
        return approved_by
    need, need_note = compensation.required_role(policy, t, need_total)
    if need is None:
        raise InputError(f"{what}: no role may handle a total of ¥{need_total} on ticket {ids.short(t.id)} "
                         f"(category {t.category})")
    if not approved_by:
        have = f"¥{cap}" if cap is not None else "nothing"
        raise InputError(f"{what} concerns a total of ¥{need_total} on ticket {ids.short(t.id)}, over {actor}'s authority "
                         f"({payer.role}: {have}); it needs the approval of a {need} ({policy.roles[need].name}, "
                         f"{need_note}): add --approved-by STAFF")
    from .compensation import check_approver

    who = check_approver(policy, actor, approved_by, "you cannot approve your own correction")
    if policy.roles[who.role].rank < policy.roles[need].rank:
        raise InputError(f"--approved-by {approved_by} has the role {who.role} ({policy.roles[who.role].name}); "
                         f"a total of ¥{need_total} needs a {need} ({policy.roles[need].name}) or higher")
    return approved_by


def plan(root: Path, policy, now: dt.datetime, actor: str, typed: str, action: str, reason: str,
         values: Optional[dict] = None, approved_by: str = "") -> tuple:
    """Check a correction; return (the Correction to append, a one-line description) or raise InputError."""
    from . import tickets
    from .money import parse_amount
    from .schema import closest

    if not reason.strip():
        raise InputError("--reason is required: say why the record is corrected (it is kept with the correction)")
    values = {k: v for k, v in (values or {}).items() if v not in (None, "")}
    if approved_by and policy.staff_member(approved_by) is None:
        raise InputError(f"--approved-by {approved_by}: unknown staff member; "
                         f"{closest(approved_by, [s.id for s in policy.staff])}")
    target = resolve(root, typed)
    if action == "supersede" and target.ledger == "compensations" and "text" in values:
        raise InputError(f"{typed} is a payment; correct it with `aftersales correct payment {typed} --amount …`")
    if action == "supersede" and target.ledger == "tickets" and set(values) - {"text"}:
        raise InputError(f"{typed} is a ticket event; correct its text with `aftersales correct event {typed} --text …`")
    before = state(root)
    current = before.payments.get(target.ref) if target.ledger == "compensations" else (
        before.events.get(target.ticket, {}).get(target.ref.partition(".")[2]) if target.ledger == "tickets" else None)
    if target.ledger == LEDGER:
        c = target.correction
        assert c is not None  # resolve() sets it for a correction's reference
        if action != "void":
            raise InputError(f"a correction ({c.id}) can only be voided; to change it, void it and correct the record again")
        if c.id in before.voided_corrections:
            raise InputError(f"correction {c.id} is already voided (by {before.voided_corrections[c.id].id})")
        rec_at = c.at
    elif current is not None and current.action == "void":
        raise InputError(f"{typed} is already voided (correction {current.id}); void that correction to restore it")
    if target.ledger == "compensations":
        assert target.payment is not None  # resolve() sets it for a payment's reference
        rec_at = ledger.parse_time(target.payment["at"])
    elif target.ledger == "tickets":
        rec_at = target.event.at
    if now < rec_at:
        raise InputError(f"the time {now.isoformat()} is before the record it corrects ({rec_at.isoformat()}); check --now")
    data: dict = {}
    if action == "supersede":
        if not values:
            raise InputError("say what replaces the record's value: " + (
                "--amount, --method, --liability or --payment-reason" if target.ledger == "compensations" else "--text"))
        if target.ledger == "compensations":
            comp = policy.compensation
            if "amount" in values:
                try:
                    data["amount"] = str(parse_amount(values["amount"]))
                except ValueError as e:
                    raise InputError(f"--amount: {e}; to cancel a payment, void it") from None
            if "method" in values:
                if comp is None or values["method"] not in comp.methods:
                    raise InputError(f"--method {values['method']}: unknown; {closest(values['method'], comp.methods if comp else {})}")
                data["method"] = values["method"]
            if "liability" in values:
                if comp is None or values["liability"] not in comp.liabilities:
                    raise InputError(f"--liability {values['liability']}: unknown; "
                                     f"{closest(values['liability'], comp.liabilities if comp else {})}")
                data["liability"] = values["liability"]
            if "reason" in values:
                data["reason"] = values["reason"].strip()
            if current is not None:  # supersede a supersede: keep what it replaced and is not replaced again
                data = {**current.data, **data}
        else:
            if target.event.type == "open":
                raise InputError("an opening's fields are corrected with `aftersales ticket set`")
            data["text"] = values.get("text", "")
            if not data["text"].strip():
                raise InputError("--text cannot be empty; to withdraw the event, void it")
    elif values:
        raise InputError("a void replaces nothing; leave out --amount, --method, --liability and --text")
    corr = Correction(ids.new_id(), now, actor, target.ledger, target.ref, action, target.ticket, reason.strip(), "", data)
    after = State(before.all + [corr])
    pid = _payment_of(target, before)
    if pid is not None:
        t = tickets.load_ticket(root, target.ticket)
        raw = _payments_raw(root)
        pays_before = _effective_payments(raw, before, target.ticket)
        pays_after = _effective_payments(raw, after, target.ticket)
        need = max([x for x in (_running(pays_before, pid), _running(pays_after, pid)) if x is not None],
                   default=Decimal("0.00"))
        total_after = sum((p[2] for p in pays_after), Decimal("0.00"))
        order_amount = t.fields.get("order_amount")
        if order_amount and total_after > Decimal(order_amount):
            raise InputError(f"the correction would bring the total paid on ticket {ids.short(t.id)} to ¥{total_after}, "
                             f"more than the order amount ¥{order_amount}")
        what = f"correcting payment {pid}" if target.ledger == "compensations" else f"voiding correction {target.ref}"
        corr.approved_by = _check_approval(policy, t, actor, approved_by, need, what)
        total_before = sum((p[2] for p in pays_before), Decimal("0.00"))
        desc = f"total paid on {ids.short(t.id)} ¥{total_before} -> ¥{total_after}"
    else:
        original_by = target.event.by if target.ledger == "tickets" else (target.correction.by if target.correction else "")
        if original_by != actor:
            need_role = policy.closing.force_role
            if policy.rank(actor) < policy.roles[need_role].rank:
                raise InputError(f"{typed} was recorded by {original_by}; correcting someone else's record needs a "
                                 f"{need_role} ({policy.roles[need_role].name}) or higher; {actor} is "
                                 f"{policy.staff_member(actor).role}")
        if target.ledger == "tickets" and target.event.type == "open" and action == "void":
            raise InputError("a ticket's opening cannot be voided; close the ticket with --force REASON instead")
        corr.approved_by = approved_by
        desc = f"{target.event.type} event of {ids.short(target.ticket)}" if target.ledger == "tickets" else "a correction"
    return corr, desc


def append(root: Path, corr: Correction, policy) -> None:
    ledger.append(root, LEDGER, [corr.row()], policy)


# ------------------------------------------------------------------ checks


def check_corrections(ctx) -> list:
    """Corrections whose target is not in the ledgers (hand-edited or lost rows), for `as check`."""
    from .errors import Problem

    rel = ledger.schema_of(LEDGER).file
    names = ledger.schema_of(LEDGER).column_names
    rows = list(ctx.rows(LEDGER))
    if not rows:
        return []
    pay_ids = {row[0] for _l, row in ctx.rows("compensations")}
    corr_ids = {row[0] for _l, row in rows}
    wanted = {dict(zip(names, row))["target"].partition(".")[0] for _l, row in rows}
    hashes: dict = {}
    if any(dict(zip(names, row))["ledger"] == "tickets" for _l, row in rows):
        from . import tickets

        for line, row in ctx.rows("tickets"):
            if row[0] in wanted:
                hashes.setdefault(row[0], set()).add(event_hash(tickets._event(line, row, "tickets")))
    out = []
    for line, row in rows:
        r = dict(zip(names, row))
        ok = (r["target"] in pay_ids if r["ledger"] == "compensations" else
              r["target"] in corr_ids if r["ledger"] == LEDGER else
              r["target"].partition(".")[2] in hashes.get(r["target"].partition(".")[0], ()))
        if not ok:
            out.append(Problem(rel, line, f"correction {r['id']} names {r['ledger']} record '{r['target']}', which is not "
                               "there; restore the record from git, or void this correction"))
    return out


# ------------------------------------------------------------------ one ticket, for `ticket show`


def ticket_history(root: Path, typed: str) -> tuple:
    """(the ticket as corrected, its events as written with their references and corrections,
    its payments as written with their corrections, the corrections that concern it)."""
    from . import tickets
    from .search import resolve_id

    tid = resolve_id(root, typed)
    st = state(root)
    raw = raw_events(root, tid)
    by_hash = st.events.get(tid, {})
    timeline, kept = [], []
    for e in raw:
        h = event_hash(e)
        c = by_hash.get(h)
        timeline.append({"event": e, "record": f"{tid}.{h}", "correction": c, "text": e.text})
        if c is not None and c.action == "void":
            continue
        if c is not None and "text" in c.data:
            e = tickets.Event(e.ticket, e.at, e.by, e.type, e.ref, c.data["text"], None if e._raw else {},
                              e.line, e._raw)
        kept.append(e)
    t = tickets.fold(kept).get(tid)
    pays = []
    for p in _payments_raw(root):
        if p["ticket"] == tid:
            c = st.payments.get(p["id"])
            eff = None if c is not None and c.action == "void" else dict(p, **{k: v for k, v in (c.data if c else {}).items()
                                                                               if k in PAYMENT_FIELDS})
            pays.append({"payment": p, "correction": c, "effective": eff})
    active = {c.id for c in st.active}
    corrs = [(c, c.id in active) for c in st.of_ticket(tid)]
    return t, timeline, pays, corrs
