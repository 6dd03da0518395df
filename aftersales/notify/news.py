"""What is worth telling people, derived from the ledgers: a pure function of them.

Each piece of news comes from a ledger row (a ticket's `sla`, `escalate`, `alert` or
`abnormal` event, an incident opened or regraded, a bad review first recorded); its ID is
a digest of what happened (ticket, timer, cycle, state ...), so it is the same in every
clone and after any merge, and two clones recording the same breach make one news item.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class News:
    id: str
    kind: str  # a key of config.NEWS_KINDS
    at: dt.datetime
    ticket: str = ""
    level: int = 0  # red-header level
    people: tuple = ()  # staff the news names (to be told / copied)
    copied: tuple = ()  # escalate: the superiors this level copies
    priority: str = ""
    timer: str = ""
    deadline: Optional[dt.datetime] = None
    text: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


#: The seed's three reasons for an abnormal ticket (000 §3), as people read them.
ABNORMAL = {"unresolved_48h": "超48小时未解决", "compensation_over_limit": "赔付超出权限", "brand_risk": "品牌舆情风险"}


def _id(ledger: str, row) -> str:
    return hashlib.sha256((ledger + "\x1f" + "\x1f".join(row)).encode("utf-8")).hexdigest()[:16]


def collect(root: Path, policy, since: Optional[dt.datetime] = None, until: Optional[dt.datetime] = None) -> list:
    """Every piece of news recorded in (since, until], oldest first."""
    from .. import ledger

    def within(at):
        return (since is None or at > since) and (until is None or at <= until)

    out = []
    seen: set = set()
    names = ledger.schema_of("tickets").column_names
    for _line, row in ledger.records(root, "tickets"):
        typ = row[3]
        if typ not in ("sla", "escalate", "alert", "abnormal"):
            continue
        at = ledger.parse_time(row[1])
        if not within(at):
            continue
        rec: dict[str, str] = dict(zip(names, row))
        import json

        data = json.loads(rec["data"]) if rec["data"] else {}
        # The ID names what happened, not the row: two clones that both recorded the same
        # breach before syncing hold two rows after the union merge, and it is one piece of news.
        key = {"sla": (rec["ref"], data.get("start", ""), rec["text"]),
               "escalate": (data.get("since", ""), rec["ref"]),
               "alert": (data.get("rule", ""), rec["text"]),
               "abnormal": (rec["ref"], data.get("since", ""))}[typ]
        nid = _id(typ, (rec["ticket"],) + tuple(str(k) for k in key))
        if nid in seen:
            continue
        seen.add(nid)
        if typ == "sla":
            if rec["text"] not in ("warning", "breached"):
                continue
            dl = data.get("deadline")
            out.append(News(nid, "breach" if rec["text"] == "breached" else "warning", at, rec["ticket"],
                            people=tuple(data.get("tell") or ()), timer=rec["ref"],
                            deadline=ledger.parse_time(dl) if dl else None))
        elif typ == "escalate":
            to = tuple(data.get("to") or ())
            lvl = int(rec["ref"]) if rec["ref"].isdigit() else 0
            since_ = data.get("since")
            out.append(News(nid, "escalate", at, rec["ticket"], level=lvl, people=to, copied=to[-1:] if lvl else (),
                            deadline=ledger.parse_time(since_) if since_ else None))
        elif typ == "alert":
            out.append(News(nid, "alert", at, rec["ticket"], text=rec["text"]))
        else:
            out.append(News(nid, "abnormal", at, rec["ticket"], text=ABNORMAL.get(rec["ref"], rec["ref"])))
    out += _incidents(root, policy, within)
    out += _reviews(root, policy, within)
    out.sort(key=lambda n: (n.at, n.id))
    return out


def _incidents(root, policy, within):
    from .. import ledger

    out = []
    titles, opened = {}, {}
    for _line, row in ledger.records(root, "incidents"):
        iid, at_s, _by, typ, ref, text = row[:6]
        at = ledger.parse_time(at_s)
        if typ == "open":
            titles[iid] = text
            opened[iid] = at
            if within(at):
                out.append(News(_id("incidents", row), "incident", at, text=f"新事件「{text}」", extra={"incident": iid}))
        elif typ == "grade" and within(at):
            what = f"「{titles.get(iid, iid)}」定级 {ref}" + (f"（{text}）" if text else "")
            if opened.get(iid) == at and out and out[-1].extra.get("incident") == iid:
                prev = out.pop()
                out.append(News(prev.id, "incident", at, text=f"新事件{what}", extra=prev.extra))
            else:
                out.append(News(_id("incidents", row), "incident", at, text=f"事件{what}", extra={"incident": iid}))
    return out


def _reviews(root, policy, within):
    from .. import ledger

    out = []
    seen = set()
    names = ledger.schema_of("reviews").column_names
    for _line, row in ledger.records(root, "reviews"):
        rec = dict(zip(names, row))
        if rec["review"] in seen:
            continue
        seen.add(rec["review"])
        at = ledger.parse_time(rec["at"])
        try:
            bad = int(rec["score"]) <= policy.reviews.bad_at_most
        except ValueError:
            bad = False
        if bad and within(at):
            what = " ".join(x for x in (rec["product"], f"{rec['score']}分", f"“{rec['comment']}”" if rec["comment"] else "") if x)
            out.append(News(_id("reviews", (rec["review"],)), "review", at, ticket=rec["ticket"], text=what,
                            extra={"order": rec["order"], "review": rec["review"]}))
    return out


def live(root: Path, policy, now: dt.datetime) -> list:
    """News that is a condition at `now` rather than a recorded event: the parcels to
    chase, and the weekly brief once it is due. Computed only when policy routes it."""
    routes = policy.notify.news if policy.notify else {}
    out = []
    if "chase" in routes and policy.logistics is not None:
        from .. import logistics

        todo, _unzoned = logistics.chase(policy, logistics.parcels(root, now), now)
        for c in todo:
            nid = _id("chase", (c.waybill, c.rule, c.since.isoformat()))
            courier = policy.logistics.couriers.get(c.courier)
            text = f"{courier.name if courier else c.courier} {c.waybill} 订单 {c.order}：{_chase_why(c, now)}"
            out.append(News(nid, "chase", now, text=text, extra={"waybill": c.waybill}))
    if "weekly" in routes:
        from .config import weekly_time

        wd, hh, mm = weekly_time(policy.notify.weekly_brief)
        local = now.astimezone(policy.tz())
        due = (local - dt.timedelta(days=(local.weekday() - wd) % 7)).replace(hour=hh, minute=mm, second=0, microsecond=0)
        if due > local:
            due -= dt.timedelta(days=7)
        year, week, _ = due.isocalendar()
        label = f"{year}-W{week:02d}"
        out.append(News(_id("weekly", (label,)), "weekly", due,
                        text=f"{label} 售后问题周报可以生成了：aftersales report weekly --week {label}"))
    return out


def _chase_why(c, now) -> str:
    from .message import zh_span

    late = zh_span(now - c.since)
    return {
        "not_collected": f"发货{late}仍未揽收，请催快递揽收",
        "no_update": f"{late}无物流更新，请联系快递催件",
        "verify_signer": "他人代签，请与快递核实签收人",
        "report_lost": "代签核实无回复，请登记丢件（aftersales lost new）",
    }.get(c.rule, c.why)
