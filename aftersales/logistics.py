"""The logistics chase (查件/催件, seed 001) and return eligibility, from the shipments ledger.

A parcel is the latest state of the rows sharing its waybill: a later row fills in or
corrects what an earlier one said. `chase` lists at `now` every parcel to chase, with
the rule and the times that decided it:

- no_update: not signed, and no tracking update for longer than its zone allows (zone 1
  24 h, zones 2-3 48 h); the last update is the latest of last_update_at, collected_at
  and shipped_at;
- not_collected: shipped but not collected by the courier 24 h later, except while a
  promotion period (大促) of the logistics calendar runs;
- verify_signer: signed by someone other than the customer (代签): verify with the
  courier within 24 h of the signing;
- report_lost: signed by someone else and 24 h more have passed without an answer:
  report it lost, unless it is in the lost-parcels register already.

From the open tickets (`ticket_chases`, the categories in policies: logistics):

- asked_again: the customer asks a second time (二次进线催促: a message after the opening);
- out_of_stock: a confirmed out-of-stock order (确定缺货订单);
- bad_address: an address that cannot be shipped to (确认地址异常无法发货订单);
- signature_slip: signed by the customer (not 代签) but not received: ask the courier
  for the signature slip (底单); report_lost once `report_lost_after` has passed since
  the ticket was opened without the ticket being resolved, unless reported already.

And from the reshipments register: send_waybill, a reshipment whose new waybill number
has not yet been sent to the customer (seed 001: 一定要将补发单号主动留言给客户): owed
until a reply on its ticket carries the number, or the record is delivered or cancelled.

`logistics check` reads big ledgers without holding them (issue 18): `chase_ledger` judges
each parcel as soon as its state is known, and the tickets come from the fast scan of
open tickets (`open_tickets`), not from folding the whole ticket ledger.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Iterator, Optional

from . import ledger
from .policy import Policy


@dataclass
class Chase:
    waybill: str
    order: str
    courier: str
    destination: str
    zone: str
    rule: str
    why: str
    since: dt.datetime  # the time the rule counts from
    ticket: str = ""  # the ticket that put it on the list, if any


def parcels(root: Path, until: Optional[dt.datetime] = None) -> dict:
    """waybill -> its state (a dict by column) as known at `until`, later rows filling in earlier ones."""
    out = ledger.latest(root, "shipments", "waybill", until)
    # --- issue 14 (platforms): each parcel's canonical tracking state (快递100 / 快递鸟).
    from .tracking import attach_states

    attach_states(root, out, until)
    # --- end issue 14
    return out


def each_parcel(root: Path, until: Optional[dt.datetime] = None) -> Iterator[tuple]:
    """(line of its first row, waybill, state) for each parcel, the state as `parcels` gives
    it, one parcel at a time (`ledger.latest_each`): memory does not follow the ledger."""
    from .tracking import _locker_limits, put_state, read_states

    states: Optional[dict] = None
    locker: dict = {}
    for line, wb, p in ledger.latest_each(root, "shipments", "waybill", until):
        if states is None:  # read after the shipments ledger, as `parcels` does
            states = read_states(root, until)
            locker = _locker_limits(root) if states else {}
        st = states.get(wb)
        if st is not None:
            put_state(p, st, locker)
        yield line, wb, p


def zone_of(policy: Policy, destination: str) -> Optional[str]:
    lg = policy.logistics
    assert lg is not None  # callers check the policy has a [logistics] section
    for zid, zone in lg.zones.items():
        for region in zone.regions:
            if destination == region or (len(region) > 1 and destination.startswith(region)):
                return zid
    return lg.default_zone or None


def _t(text: str) -> Optional[dt.datetime]:
    return ledger.parse_time(text) if text else None


def _upto(text: str, now: dt.datetime) -> Optional[dt.datetime]:
    if not text:
        return None
    t = ledger.parse_time(text)
    return t if t <= now else None


def _hours(delta: dt.timedelta) -> str:
    h = delta.total_seconds() / 3600
    return f"{h:.0f} h" if h < 48 else f"{h / 24:.1f} d"


class _Judge:
    """Judges one parcel at a time at `now` (see `chase`), with the policy's limits read once:
    `judge(wb, p)` is (the chase entry or None, whether its destination has no zone)."""

    def __init__(self, policy: Policy, now: dt.datetime, lost_waybills):
        from .sla import clock

        lg = policy.logistics
        assert lg is not None  # callers check the policy has a [logistics] section
        self.policy, self.lg, self.now, self.lost = policy, lg, now, lost_waybills
        self.cal = clock(policy, lg.calendar) if lg.calendar else None
        self.verify = lg.verify_signed_within.timedelta()
        self.report_lost = self.verify + lg.report_lost_after.timedelta()
        self.uncollected = lg.uncollected_after.timedelta()
        self.stale = {zid: zone.stale_after.timedelta() for zid, zone in lg.zones.items()}
        self.zones: dict = {}  # destination -> zone_of(policy, destination)
        self._promo: Optional[tuple] = None  # (the promotion period at `now` or None,) once asked

    def zone(self, destination: str) -> Optional[str]:
        try:
            return self.zones[destination]
        except KeyError:
            zid = self.zones[destination] = zone_of(self.policy, destination)
            return zid

    def promotion(self):
        if self._promo is None:
            cal = self.cal
            self._promo = (cal.promotion_at(self.now) if cal is not None and self.lg.suspend_uncollected_in_promotions
                           else None,)
        return self._promo[0]

    def make(self, p: dict, wb: str, rule: str, why: str, since: dt.datetime) -> Chase:
        return Chase(wb, p["order"], p["courier"], p["destination"], self.zone(p["destination"]) or "", rule, why, since)

    def __call__(self, wb: str, p: dict) -> tuple:
        # what was known at `now`: a later signing or update had not happened yet (replays)
        now, lg = self.now, self.lg
        found, unzoned = None, False
        signed = _upto(p["signed_at"], now)
        if signed is not None:
            by = p["signed_by"]
            if by and by not in lg.self_signed:
                if now - signed <= self.verify:
                    found = self.make(p, wb, "verify_signer", f"signed by {by} at "
                                      f"{signed.astimezone(self.policy.tz()):%m-%d %H:%M}: verify with the courier "
                                      f"within {lg.verify_signed_within}", signed)
                elif now - signed > self.report_lost and wb not in self.lost:
                    found = self.make(p, wb, "report_lost", f"signed by {by}, no answer "
                                      f"{_hours(now - signed - self.verify)} after the verification was due: report "
                                      "it lost (`aftersales lost new`)", signed)
                elif wb not in self.lost:
                    found = self.make(p, wb, "verify_signer", f"signed by {by}: verification overdue; report lost "
                                      f"if the courier does not answer within {lg.report_lost_after}", signed)
        elif (shipped := _upto(p["shipped_at"], now)) is not None:
            collected = _upto(p["collected_at"], now)
            if collected is None:
                if now - shipped > self.uncollected and self.promotion() is None:
                    found = self.make(p, wb, "not_collected", f"shipped {_hours(now - shipped)} ago and not "
                                      f"collected by the courier (limit {lg.uncollected_after})", shipped)
            else:
                update = _upto(p["last_update_at"], now)
                last = max(collected, shipped) if update is None else max(update, collected, shipped)
                zid = self.zone(p["destination"])
                if zid is None:
                    unzoned = True
                elif now - last > self.stale[zid]:
                    zone = lg.zones[zid]
                    found = self.make(p, wb, "no_update", f"{zone.name}: no tracking update for {_hours(now - last)} "
                                      f"(limit {zone.stale_after})", last)
        # --- issue 14 (platforms): a tracking state adds its rule and replaces the generic one.
        if "tracking_state" in p:
            from .tracking import chase_state

            found = chase_state(self.policy, wb, p, now, self.make) or found
        # --- end issue 14
        return found, unzoned


def chase(policy: Policy, parcels_: dict, now: dt.datetime, lost_waybills: set | frozenset = frozenset()) -> tuple:
    """(parcels to chase, parcels whose destination has no zone) at `now`."""
    judge = _Judge(policy, now, lost_waybills)
    out, unzoned = [], []
    for wb, p in parcels_.items():
        found, nozone = judge(wb, p)
        if found is not None:
            out.append(found)
        if nozone:
            unzoned.append(p)
    out.sort(key=lambda c: (c.since, c.waybill))
    return out, unzoned


def chase_ledger(root: Path, policy: Policy, now: dt.datetime, lost_waybills: set | frozenset = frozenset(),
                 keep=frozenset(), noted: Optional[dict] = None) -> tuple:
    """`chase(policy, parcels(root, now), now, lost_waybills)` without holding every parcel:
    each is judged as soon as its state is known (`each_parcel`). Returns (parcels to chase,
    parcels whose destination has no zone, in ledger order, {waybill: state} of the parcels
    whose waybill is in `keep`). With `noted`, what `ticket_chases` reads of a parcel
    (_NOTED) is put in it for each waybill, a tuple of values."""
    judge = _Judge(policy, now, lost_waybills)
    out, unzoned, kept = [], [], {}
    try:
        for line, wb, p in each_parcel(root, now):
            found, nozone = judge(wb, p)
            if found is not None:
                out.append(found)
            if nozone:
                unzoned.append((line, p))
            if wb in keep:
                kept[wb] = p
            if noted is not None:
                noted[wb] = tuple(map(sys.intern, _noted(p)))  # a few couriers and places, each kept once
    except ValueError:  # a time that does not parse: name its file and line
        ledger.raise_first_problem(root, "shipments", check_values=True)
        raise
    out.sort(key=lambda c: (c.since, c.waybill))
    unzoned.sort(key=lambda x: x[0])
    return out, [p for _line, p in unzoned], kept


#: what ticket_chases reads of the parcel of a ticket's waybill
_NOTED = ("courier", "destination", "signed_by")
_noted = itemgetter(*_NOTED)


class ChaseBeside:
    """`chase_ledger(root, policy, now, lost_waybills, keep)` begun in a forked process while
    this one goes on (given a second processor: cache.jobs), for a `keep` known only later:
    calling it with `keep` gives the answer, the kept parcels with what ticket_chases reads
    of them (the child notes that of every parcel and is told `keep` at the end). A child
    that fails costs only time: chase_ledger runs here then, and names any error. `abandon`
    when the answer is no longer wanted (this process failed first)."""

    def __init__(self, root: Path, policy: Policy, now: dt.datetime, lost_waybills: set | frozenset = frozenset()):
        import os
        import pickle

        from . import cache

        self.args = (root, policy, now, lost_waybills)
        self.pid = 0
        if cache.jobs() < 2:
            return
        keep_r, self.keep_w = os.pipe()
        self.answer_r, answer_w = os.pipe()

        def child() -> None:  # writes only into its pipe (cache.fork)
            os.close(self.keep_w)
            os.close(self.answer_r)
            noted: dict = {}
            todo, unzoned, _kept = chase_ledger(*self.args, noted=noted)
            with os.fdopen(keep_r, "rb") as f:
                keep = pickle.loads(f.read())
            kept = {wb: dict(zip(_NOTED, noted[wb])) for wb in keep if wb in noted}
            with os.fdopen(answer_w, "wb") as f:
                f.write(pickle.dumps((todo, unzoned, kept)))

        self.pid = cache.fork(child)
        os.close(keep_r)
        os.close(answer_w)

    def __call__(self, keep) -> tuple:
        import os
        import pickle

        if not self.pid:
            return chase_ledger(*self.args, keep=keep)
        data = b""
        try:
            try:
                with os.fdopen(self.keep_w, "wb") as f:
                    f.write(pickle.dumps(set(keep)))
            except OSError:
                pass  # the child is gone: its answer is missing below
            with os.fdopen(self.answer_r, "rb") as f:
                data = f.read()
        finally:
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
        if status == 0 and data:
            try:
                return pickle.loads(data)
            except Exception:
                pass
        return chase_ledger(*self.args, keep=keep)

    def abandon(self) -> None:
        import os

        from . import cache

        if self.pid:
            for fd in (self.keep_w, self.answer_r):
                os.close(fd)
            cache.stop(self.pid)
            self.pid = 0


def open_tickets(root: Path, now: dt.datetime) -> tuple:
    """(the tickets open at `now`, every ticket known at `now` that was read) with the fast scan
    of open tickets (`tickets.load_open_tickets`) instead of folding the whole ledger: each
    ticket as folding its events up to `now` gives it; the open ones in the order they were
    opened (by ID within a second)."""
    from . import tickets

    known = {}
    for t in tickets.load_open_tickets(root, closed_after=now).values():
        t = _as_of(t, now)
        if t is not None:
            known[t.id] = t
    return sorted((t for t in known.values() if t.is_open), key=lambda t: (t.events[0].at, t.id)), known


def tickets_at(root: Path, ids: set, now: dt.datetime) -> dict:
    """The tickets `ids` as known at `now`, read from their own records only."""
    if not ids:
        return {}
    from . import search

    return {tid: t for tid, t in ((tid, _as_of(t, now)) for tid, t in search.load(root, ids).items()) if t is not None}


def _as_of(t, now: dt.datetime):
    """A folded ticket as it was at `now` (None if not opened by then): its events are in time order."""
    from . import tickets

    if t.events and t.events[-1].at <= now:
        return t
    t = tickets.fold([e for e in t.events if e.at <= now]).get(t.id)
    return t if t is not None and t.opened_at is not None else None


def chased_tickets(policy: Policy, open_tickets) -> list:
    """Those of `open_tickets` that `ticket_chases` looks at: of the categories the policy's
    [logistics] names. The intake form of each is checked in order as reading it would (a
    bad data cell is named), without parsing those written as the ledger writes them."""
    lg = policy.logistics
    assert lg is not None  # the command refuses a policy without [logistics] first
    cats = {*lg.asked_again_categories, *lg.out_of_stock_categories, *lg.bad_address_categories,
            *lg.not_received_categories}
    out = []
    for t in open_tickets:
        if not all(e._data is not None or ledger.plain_object(e._raw) for e in t._field_events if e.type == "open"):
            t.fields  # noqa: B018  (an open row's data that is not a JSON object is named here)
        if t.category in cats:
            out.append(t)
    return out


def ticket_chases(policy: Policy, open_tickets, parcels_: dict, now: dt.datetime,
                  lost_waybills: set | frozenset = frozenset()) -> list:
    """What the open tickets put on the chase list at `now` (see the module's docstring)."""
    from . import events as _events

    lg = policy.logistics
    assert lg is not None  # the command refuses a policy without [logistics] first
    out = []
    tz = policy.tz()
    for t in open_tickets:
        if t.opened_at is None or t.opened_at > now or not t.is_open:
            continue
        f = t.fields
        wb, order = f.get("waybill", ""), f.get("order", "")
        p = parcels_.get(wb) if wb else None
        courier = f.get("courier", "") or (p["courier"] if p else "")
        dest = p["destination"] if p else ""
        zid = (zone_of(policy, dest) or "") if p else ""

        def hit(rule, why, since):
            out.append(Chase(wb, order, courier, dest, zid, rule, why, since, t.id))

        cat = t.category
        if cat in lg.asked_again_categories:
            again = next((e for e in t.events if e.type == "message" and now >= e.at), None)
            if again is not None:
                hit("asked_again", f"the customer asked again at {again.at.astimezone(tz):%m-%d %H:%M} (二次进线催促)",
                    again.at)
        if cat in lg.out_of_stock_categories:
            hit("out_of_stock", "confirmed out of stock (确定缺货订单): chase the arrival date, tell the customer",
                t.opened_at)
        if cat in lg.bad_address_categories:
            hit("bad_address", "the address cannot be shipped to (地址异常无法发货): confirm it with the customer",
                t.opened_at)
        if cat in lg.not_received_categories:
            signer = p["signed_by"] if p else ""
            if signer and signer not in lg.self_signed:
                continue  # 代签: the parcel's own verify_signer rule covers it
            due = t.opened_at + lg.report_lost_after.timedelta()
            resolved = any(e.type in _events.stopping("resolved") and e.at <= now for e in t.events)
            if now > due and not resolved:
                if wb not in lost_waybills:
                    hit("report_lost", f"signed but not received; no answer on the signature slip (底单) "
                        f"{_hours(now - t.opened_at)} after asking: report it lost (`aftersales lost new`)", due)
            elif not resolved:
                hit("signature_slip", f"signed but not received, not 代签: ask the courier for the signature slip "
                    f"(底单) and check the signer with the customer; report lost after {lg.report_lost_after}",
                    t.opened_at)
    return out


def waybills_owed(policy: Policy, reshipments: dict, tickets_: dict, now: dt.datetime) -> list:
    """Reshipments whose new waybill number is owed to the customer at `now` (seed 001)."""
    from . import events as _events
    from . import ledger as _ledger

    out = []
    for rec in reshipments.values():
        rows = _shipped(rec, now)
        if rows is None:
            continue
        first = _ledger.parse_time(rows[0]["at"])
        wb = rows[-1]["new_waybill"]
        t = tickets_.get(rows[-1]["ticket"]) if rows[-1]["ticket"] else None
        if t is not None and any(e.type == "reply" and _events.counts(e) and first <= e.at <= now and wb in e.text
                                 for e in t.events):
            continue
        out.append(Chase(wb, rows[-1]["order"], rows[-1]["courier"], "", "", "send_waybill",
                         f"reshipped as {wb}: send the new waybill number to the customer (一定要将补发单号主动留言给客户)"
                         + ("" if t is not None else "; no ticket to record it on"), first, t.id if t is not None else ""))
    return out


def _shipped(rec, now: dt.datetime) -> Optional[list]:
    """A reshipment's rows up to `now` if the last says shipped with a new waybill, else None."""
    rows = [r for r in rec.history if ledger.parse_time(r["at"]) <= now]
    return rows if rows and rows[-1]["status"] == "shipped" and rows[-1]["new_waybill"] else None


def owed_tickets(reshipments: dict, now: dt.datetime) -> set:
    """The tickets `waybills_owed` looks at: those of the reshipments shipped at `now`."""
    return {rows[-1]["ticket"] for rows in (_shipped(rec, now) for rec in reshipments.values())
            if rows is not None and rows[-1]["ticket"]}


# ------------------------------------------------------------------ return eligibility


@dataclass
class Verdict:
    rule: str
    verdict: str  # yes | no | n/a
    why: str


def _days_since(policy: Policy, then: dt.datetime, now: dt.datetime) -> int:
    """Whole calendar days from `then` to `now` in the shop's zone: the day of signing is day 0."""
    tz = policy.tz()
    return (now.astimezone(tz).date() - then.astimezone(tz).date()).days


def eligibility(policy: Policy, now: dt.datetime, signed: Optional[dt.datetime], fields: dict,
                fault: str = "", category: str = "") -> list:
    """The after-sales options an order qualifies for at `now`, each with the rule and dates."""
    r = policy.returns
    out = []
    if signed is not None and signed > now:
        signed = None  # signed later: not known yet at `now`
    for rule, days, name in (("no_reason_return", r.no_reason_days, "7-day no-reason return (七天无理由)"),
                             ("price_difference", r.price_difference_days, "price-difference refund")):
        if signed is None:
            out.append(Verdict(rule, "no", f"{name}: not signed yet, the {days} days start at signing"))
            continue
        n = _days_since(policy, signed, now)
        last = (signed.astimezone(policy.tz()) + dt.timedelta(days=days)).date()
        if 0 <= n <= days:
            out.append(Verdict(rule, "yes", f"{name}: signed {signed.astimezone(policy.tz()):%Y-%m-%d}, today is day {n} "
                               f"of {days} (last day {last})"))
        else:
            out.append(Verdict(rule, "no", f"{name}: signed {signed.astimezone(policy.tz()):%Y-%m-%d}, today is day {n}; "
                               f"the last day was {last}"))
    amount = fields.get("order_amount", "")
    level = fields.get("member_level", "")
    if r.fast_refund_max is None:
        out.append(Verdict("fast_refund", "n/a", "fast refund (极速退款): the policy sets no limit"))
    elif not amount:
        out.append(Verdict("fast_refund", "no", "fast refund (极速退款): the order amount is unknown"))
    else:
        from decimal import Decimal

        ok_amount = Decimal(amount) <= r.fast_refund_max
        ok_level = not r.fast_refund_member_levels or level in r.fast_refund_member_levels
        why = (f"fast refund (极速退款): order ¥{Decimal(amount):.2f} {'≤' if ok_amount else '>'} ¥{r.fast_refund_max}; "
               f"member level {level or '(none)'} {'is' if ok_level else 'is not'} one of "
               f"{', '.join(r.fast_refund_member_levels) or 'any'}")
        out.append(Verdict("fast_refund", "yes" if ok_amount and ok_level else "no", why))
    payer = {"customer": "the customer", "shop": "the shop"}.get(r.return_shipping.get(fault or "", ""))
    if payer == "the shop" and fault == "courier":
        payer += " (and claims it from the courier)"
    if payer is None:
        out.append(Verdict("return_shipping", "n/a", "who pays return shipping depends on the fault: give --fault "
                           "customer|shop|warehouse|courier"))
    else:
        out.append(Verdict("return_shipping", "yes", f"return shipping: paid by {payer} ({fault}'s fault; seed 001)"))
    if category == "out_of_stock" or fields.get("category") == "out_of_stock":
        from types import SimpleNamespace

        from .compensation import authority

        from .compensation import cap_amount

        t = SimpleNamespace(category="out_of_stock", fields=fields)
        rules = [a for a in (policy.compensation.authority if policy.compensation else ())
                 if "out_of_stock" in a.categories and a.cap.amount is None]  # the share-of-order rule (seed 001 v1)
        low = f"a ¥{r.out_of_stock_coupon} coupon" if r.out_of_stock_coupon is not None else "a coupon"
        if rules:
            cap = cap_amount(rules[0].cap, t)
            high = (f"up to ¥{cap} ({rules[0].role}: {rules[0].cap})" if cap is not None
                    else f"{rules[0].cap} (the order amount is unknown here)")
        else:
            cap, note = authority(policy, "lead", t)
            high = f"up to ¥{cap} ({note})" if cap is not None else "(no cap in the policy)"
        out.append(Verdict("out_of_stock", "yes", f"out-of-stock compensation: from {low} to {high}, by the delay"))
    return out
