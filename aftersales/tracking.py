"""Tracking states: the status codes of 快递100 and 快递鸟 on canonical shipment states, the
tracking ledger, and the chase rules they add.

A tracking feed (快递100's push `lastResult`, 快递鸟's push `Traces`, flattened to one row
per trace by whoever receives the push) is imported like a platform export, by a profile
of kind "tracking" (`pack/profiles/kuaidi100.toml`, `kdniao.toml`). Each new trace is a
row of `ledgers/tracking.csv`; what it says about the parcel (collected, last update,
signed and by whom) is also written to `ledgers/shipments.csv`, so the chase list's
rules (no update, not collected, verify a 代签) work on it unchanged. The canonical state
adds rules of its own (`chase_states`):

- tracking_problem / tracking_refused / tracking_returning / tracking_returned: at once;
- locker_reminder: in a locker or 驿站 longer than the profile's `locker_remind_after`
  (24 h), or 快递鸟 412 (柜/驿站超时未取): remind the customer to pick it up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

from .errors import InputError, Problem

STATES = ("not_collected", "in_transit", "out_for_delivery", "at_locker", "delivered", "delivered_proxy",
          "delivered_locker", "problem", "refused", "returning", "returned", "intercepted")
NAMES = {"not_collected": "未揽收", "in_transit": "运输中", "out_for_delivery": "派件中", "at_locker": "已入柜/驿站",
         "delivered": "本人签收", "delivered_proxy": "代签", "delivered_locker": "柜/驿站签收", "problem": "问题件",
         "refused": "拒收", "returning": "退回中", "returned": "已退回", "intercepted": "已拦截"}
DELIVERED = {"delivered": "本人", "delivered_proxy": "代签", "delivered_locker": "快递柜/驿站"}
ALERT = ("problem", "refused", "returning", "returned")

#: 快递100: `state` (main) and `resultv2` detailed codes (the `statusCode` of a trace).
KUAIDI100 = {
    "0": ("in_transit", "在途"), "1": ("in_transit", "揽收"), "2": ("problem", "疑难"), "3": ("delivered", "签收"),
    "4": ("returned", "退签"), "5": ("out_for_delivery", "派件"), "6": ("returning", "退回"), "7": ("in_transit", "转投"),
    "8": ("in_transit", "清关"), "14": ("refused", "拒签"),
    "101": ("not_collected", "已下单"), "102": ("not_collected", "待揽收"), "103": ("in_transit", "已揽收"),
    "1001": ("in_transit", "到达派件城市"), "1002": ("in_transit", "干线"), "1003": ("in_transit", "转递"),
    "501": ("at_locker", "投柜或驿站"), "301": ("delivered", "本人签收"), "302": ("delivered", "派件异常后签收"),
    "303": ("delivered_proxy", "代签"), "304": ("delivered_locker", "投柜或站签收"), "401": ("problem", "已销单"),
}
#: 快递鸟: `State` and `StateEx`.
KDNIAO = {
    "0": ("not_collected", "无轨迹"), "1": ("in_transit", "揽收"), "2": ("in_transit", "在途"), "3": ("delivered", "签收"),
    "4": ("problem", "问题件"), "5": ("in_transit", "转寄"), "6": ("in_transit", "清关"), "10": ("not_collected", "待揽件"),
    "201": ("in_transit", "到达派件城市"), "202": ("out_for_delivery", "派件中"), "204": ("in_transit", "到达转运中心"),
    "205": ("in_transit", "到达派件网点"), "211": ("at_locker", "入柜/驿站"), "301": ("delivered", "正常签收"),
    "302": ("delivered", "异常后签收"), "304": ("delivered_proxy", "代收"), "311": ("delivered_locker", "柜/驿站签收"),
    "401": ("problem", "发货无信息"), "402": ("problem", "超时未签收"), "403": ("problem", "超时未更新"),
    "404": ("refused", "拒收"), "405": ("problem", "派件异常"), "406": ("returned", "退货签收"),
    "407": ("returning", "退货未签收"), "412": ("at_locker", "柜/驿站超时未取"), "413": ("intercepted", "单号已拦截"),
    "414": ("problem", "破损"), "415": ("problem", "取消发货"), "416": ("problem", "无法联系"), "417": ("problem", "配送延迟"),
    "419": ("out_for_delivery", "重新派送"), "420": ("problem", "地址不详"), "421": ("problem", "电话错误"),
    "422": ("problem", "错分"), "423": ("problem", "超区"),
}
CODES = {"kuaidi100": KUAIDI100, "kdniao": KDNIAO}
PROVIDER_NAMES = {"kuaidi100": "快递100", "kdniao": "快递鸟"}
#: Codes that say the parcel has waited in a locker too long already.
LOCKER_OVERDUE = {("kdniao", "412")}


def canonical(provider: str, code: str) -> Optional[tuple]:
    """(state, the provider's name for the code) for a status code, or None when unknown."""
    return CODES[provider].get(str(code).strip())


# ------------------------------------------------------------------ the ledger


def _schema():
    from .ledger import Schema, _c

    return Schema("tracking", (
        _c("waybill", required=True), _c("at", "time", True), _c("provider", "enum", True, choices=tuple(CODES)),
        _c("code", required=True), _c("state", "enum", True, choices=STATES), _c("event_at", "time", True),
        _c("courier"), _c("text"), _c("source"),
    ), "tracking traces (物流轨迹) from 快递100 / 快递鸟, one row per trace, with the canonical state")


def register_ledger() -> None:
    """Declare the `tracking` ledger (merge note: move it into ledger.LEDGERS)."""
    from . import ledger

    s = _schema()
    ledger.LEDGERS.setdefault(s.name, s)


def _known(root: Path) -> set:
    from . import ledger

    out: set = set()
    if ledger.ledger_path(root, "tracking").exists():
        for _line, row in ledger.records(root, "tracking"):
            out.add(hash((row[0], row[2], row[3], row[5])))
    return out


def _shipments_of(root: Path, waybills: set) -> dict:
    from . import ledger

    out: dict = {}
    if not waybills or not ledger.ledger_path(root, "shipments").exists():
        return out
    names = ledger.schema_of("shipments").column_names
    for _line, row in ledger.records(root, "shipments"):
        if row[0] in waybills:
            rec = dict(zip(names, row))
            if row[0] in out:
                out[row[0]].update({k: v for k, v in rec.items() if v})
            else:
                out[row[0]] = rec
    return out


def import_tracking(root: Path, policy, op, out, now: dt.datetime, *, write: bool, keep_going: bool, progress):
    """Import a tracking feed (see the module doc); counts in `out.shipments` (traces: new,
    unchanged) and `out.orders.changed` stays 0. Returns `out`."""
    from . import ledger
    from .ledger import check_row, format_time, parse_time
    from .platforms import _csv_text, read_row

    register_ledger()
    prof = op.profile
    provider = prof.provider
    tz = policy.tz()
    now_text = format_time(now)
    known = _known(root)
    traces, seen = [], set()
    rows = 0
    for line, raw in op.rows:
        rows += 1
        if rows % 4096 == 0:
            progress.update(rows, op.position())
        rec = read_row(op, line, raw, tz)
        v, msgs = rec.values, list(rec.problems)
        code = v.get("detail") or v.get("state", "")
        found = canonical(provider, code) if code else None
        if not msgs and found is None:
            col = op.names.get("detail") if v.get("detail") else op.names.get("state", "state")
            msgs.append(f"column {col}: unknown {PROVIDER_NAMES[provider]} status code '{code}'; known: "
                        f"{', '.join(CODES[provider])}")
        if msgs:
            msg = "; ".join(msgs)
            out.problems.append(Problem(op.file, line, msg, _csv_text(raw)))
            out.rejected_rows.append((line, raw, msg))
            out.requests.rejected += 1
            continue
        key = hash((v["waybill"], provider, code, v["time"]))
        if key in known or key in seen:
            out.requests.unchanged += 1
            continue
        seen.add(key)
        out.requests.new += 1
        assert found is not None  # an unknown code was rejected above
        traces.append((line, raw, {"waybill": v["waybill"], "at": now_text, "provider": provider, "code": code,
                                   "state": found[0], "event_at": v["time"], "courier": v.get("courier", ""),
                                   "text": v.get("context") or found[1], "source": prof.name}))
    out.rows = rows
    progress.done()
    # what the new traces say about each parcel, for the shipments ledger
    ships = _shipments_of(root, {t["waybill"] for _l, _r, t in traces})
    updates: dict = {}
    for line, raw, t in sorted(traces, key=lambda x: (x[2]["waybill"], x[2]["event_at"])):
        cur = ships.get(t["waybill"])
        if cur is None:
            continue  # a waybill no shipment has: kept in the tracking ledger only
        u = updates.setdefault(t["waybill"], {"line": line, "raw": raw, **{k: "" for k in ("collected_at", "last_update_at", "signed_at", "signed_by")}})
        at = t["event_at"]
        if t["state"] not in ("not_collected",) and not cur["collected_at"] and not u["collected_at"]:
            u["collected_at"] = at
        last = u["last_update_at"] or cur["last_update_at"]
        if not last or parse_time(at) > parse_time(last):
            u["last_update_at"] = at
        if t["state"] in DELIVERED:
            if not cur["signed_at"] and not u["signed_at"]:
                u["signed_at"] = at
            if not cur["signed_by"] and not u["signed_by"]:
                u["signed_by"] = DELIVERED[t["state"]]
    s_schema = ledger.schema_of("shipments")
    ship_rows = []
    for wb, u in updates.items():
        cur = ships[wb]
        row = {"waybill": wb, "at": now_text, "order": cur["order"], "courier": cur["courier"] or "",
               "destination": "", "shipped_at": "", "collected_at": u["collected_at"],
               "last_update_at": u["last_update_at"], "signed_at": u["signed_at"], "signed_by": u["signed_by"],
               "source": prof.name}
        if not any(row[k] for k in ("collected_at", "last_update_at", "signed_at", "signed_by")):
            continue
        merged = {**cur, **{k: x for k, x in row.items() if x}}
        msgs = check_row(s_schema, [merged[c] for c in s_schema.column_names], policy)
        if msgs:
            out.problems.append(Problem(op.file, u["line"], f"waybill {wb}: {msgs[0]}", _csv_text(u["raw"])))
            out.rejected_rows.append((u["line"], u["raw"], msgs[0]))
            continue
        ship_rows.append(row)
    out.shipments.changed = len(ship_rows)
    out.problems.sort(key=Problem.sort_key)
    if not write or (out.problems and not keep_going):
        return out
    with ledger.locked(root):  # the traces and the shipments they update: one batch, all or nothing
        if traces:
            ledger.append(root, "tracking", [t for _l, _r, t in traces], policy)
        if ship_rows:
            ledger.append(root, "shipments", ship_rows, policy)
    out.written = True
    return out


# ------------------------------------------------------------------ the chase list


def attach_states(root: Path, parcels: dict, until=None) -> None:
    """Put each parcel's latest tracking state (as known at `until`) on it: tracking_state,
    tracking_code, tracking_provider, tracking_since (when that state began), locker_after."""
    register_ledger()
    if not parcels:
        return
    states = read_states(root, until, parcels)
    if states:
        locker = _locker_limits(root)
        for wb, st in states.items():
            put_state(parcels[wb], st, locker)


def read_states(root: Path, until=None, only=None) -> dict:
    """waybill -> its latest tracking state as known at `until` (for `put_state`), for the
    waybills in `only` (any container) or every waybill the tracking ledger names."""
    from . import ledger
    from .ledger import parse_time

    register_ledger()
    latest: dict = {}
    if not ledger.ledger_path(root, "tracking").exists():
        return latest
    for _line, row in ledger.records(root, "tracking"):
        wb, at, provider, code, state, event_at = row[:6]
        if only is not None and wb not in only:
            continue
        try:
            t = parse_time(event_at)
            if until is not None and (parse_time(at) > until or t > until):
                continue
        except ValueError:  # a time that does not parse: name its file and line
            ledger.raise_first_problem(root, "tracking", check_values=True)
            raise
        cur = latest.get(wb)
        collected = cur[5] if cur is not None else None
        if state != "not_collected" and (collected is None or t < collected):
            collected = t
        if cur is None or t >= cur[3]:
            since = cur[4] if cur is not None and cur[2] == state else event_at
            latest[wb] = (provider, code, state, t, since, collected)
        elif collected != cur[5]:
            latest[wb] = cur[:5] + (collected,)
    return latest


def put_state(p: dict, st: tuple, locker: dict) -> None:
    """Put a tracking state from `read_states` on a parcel; `locker` is `_locker_limits(root)`."""
    from .ledger import format_time, parse_time

    provider, code, state, t, since, collected = st
    p["tracking_provider"], p["tracking_code"], p["tracking_state"], p["tracking_since"] = provider, code, state, since
    p["locker_after"] = locker.get(provider, dt.timedelta(hours=24))
    # what the traces say, whether or not the shipments ledger has it yet (a feed imported first)
    if not p.get("last_update_at") or parse_time(p["last_update_at"]) < t:
        p["last_update_at"] = format_time(t)
    if collected is not None and not p.get("collected_at"):
        p["collected_at"] = format_time(collected)
    if state in DELIVERED:
        p["signed_at"] = p.get("signed_at") or format_time(t)
        p["signed_by"] = p.get("signed_by") or DELIVERED[state]


def _locker_limits(root: Path) -> dict:
    from .platforms import load_profiles
    from .policy import Duration

    out: dict = {}
    try:
        profiles = load_profiles(root)
    except InputError:
        return out
    for p in profiles.values():
        if p.kind == "tracking" and p.provider not in out:
            try:
                out[p.provider] = Duration.from_toml(p.locker_remind_after).timedelta()
            except ValueError:
                pass
    return out


def chase_state(policy, wb: str, p: dict, now: dt.datetime, make):
    """The chase entry a parcel's tracking state calls for at `now`, or None;
    `make(p, wb, rule, why, since)` builds it."""
    from .ledger import parse_time

    state = p.get("tracking_state")
    if not state:
        return None
    provider, code = p["tracking_provider"], p["tracking_code"]
    since = parse_time(p["tracking_since"])
    name = canonical(provider, code)
    label = f"{PROVIDER_NAMES[provider]} {code} {name[1] if name else ''}".strip()
    if state in ALERT:
        return make(p, wb, f"tracking_{state}", f"{label} ({NAMES[state]}) since "
                    f"{since.astimezone(policy.tz()):%m-%d %H:%M}: call the courier and tell the customer", since)
    if state == "at_locker":
        limit = p.get("locker_after") or dt.timedelta(hours=24)
        if now - since > limit or (provider, code) in LOCKER_OVERDUE:
            h = (now - since).total_seconds() / 3600
            return make(p, wb, "locker_reminder", f"{label}: in a locker/驿站 for {h:.0f} h (limit "
                        f"{limit.total_seconds() / 3600:.0f}h): remind the customer to pick it up", since)
    return None
