"""One delivery run: queue what is new, then one digest per channel, paced, retried.

Every decision is a function of (policies, ledgers, outbox, now): which news is due
(quiet hours, urgency), which channel waits (backoff after a failure, a refusal that
stands until its secret changes, the rate limit over the last minute). Only the
signature's timestamp uses the real clock, as the platforms require.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import channels as chans
from . import message, outbox, secrets as sec
from .config import NewsRoute

MAX_BACKOFF = dt.timedelta(hours=6)
ORDER = ("sync", "alert", "escalate", "breach", "abnormal", "incident", "review", "warning")  # in a digest


@dataclass
class Report:
    problems: list = field(default_factory=list)  # one line each, for people
    queued: int = 0
    delivered: dict = field(default_factory=dict)  # channel -> news delivered this run
    parts: dict = field(default_factory=dict)  # channel -> messages sent this run
    sizes: dict = field(default_factory=dict)  # channel -> measured bytes of each part sent


def business_open(policy, ch, now: dt.datetime):
    """(open?, next opening) for a channel's quiet hours at `now`."""
    cal = ch.calendar or policy.shop.calendar
    if not ch.quiet_hours or not cal or cal not in policy.calendars:
        return True, None
    from ..calendar import clock_for

    clock = clock_for(policy, cal)
    day = now.astimezone(clock.tz).date()
    for i in range(400):
        for a, b in clock.working_intervals(day + dt.timedelta(days=i)):
            if a <= now < b:
                return True, None
            if a > now:
                return False, a
    return True, None


def route_of(policy, kind: str, level: int = 0) -> NewsRoute:
    r = policy.notify.news.get(f"{kind}{level}") if kind == "escalate" and level else None
    r = r or policy.notify.news.get(kind)
    if r is None and kind == "sync":  # trouble with the shop's own records reaches every channel
        return NewsRoute(channels=tuple(policy.notify.channels))
    return r or NewsRoute()


def urgent(policy, n, t) -> bool:
    if route_of(policy, n.kind, n.level).urgent:
        return True
    return t is not None and t.priority in policy.notify.urgent_priorities


def _tickets(root, ids):
    from .. import tickets

    ids = {i for i in ids if i}
    return tickets.fold(tickets.iter_events(root, only=ids)) if ids else {}


def _mentions(policy, items) -> list:
    seen, out = set(), []
    for n in items:
        r = route_of(policy, n.kind, n.level)
        named = n.copied if n.kind == "escalate" else n.people
        for sid in (tuple(named) if r.mention else ()) + tuple(r.people):
            s = policy.staff_member(sid)
            if s is not None and sid not in seen:
                seen.add(sid)
                out.append(s)
    return out


def _recipients(policy, items) -> list:
    out = []
    for n in items:
        r = route_of(policy, n.kind, n.level)
        for sid in tuple(n.people) + tuple(r.people):
            s = policy.staff_member(sid)
            if s is not None and s.email and s.email not in out:
                out.append(s.email)
    return out


def _backoff(policy, fails: int) -> dt.timedelta:
    base = dt.timedelta(minutes=policy.notify.retry_minutes)
    return min(MAX_BACKOFF, base * (2 ** min(fails, 12)))


def due(policy, root: Path, now: dt.datetime, extra=()) -> tuple:
    """(news by id, the outbox rows so far, the rows that queue what is new at `now`)."""
    from .news import collect, live

    news = collect(root, policy, until=now) + live(root, policy, now) + list(extra)
    by_id = {n.id: n for n in news}
    rows = outbox.read(root)
    st = outbox.states(rows)
    stale = now - dt.timedelta(hours=policy.notify.stale_hours)
    new_rows, seen = [], set()
    for n in news:
        for cid in route_of(policy, n.kind, n.level).channels:
            if cid not in policy.notify.channels:
                continue
            if n.id in st.get(cid, outbox.ChannelState()).queued or n.at < stale or (cid, n.id) in seen:
                continue
            seen.add((cid, n.id))
            new_rows.append({"at": now, "channel": cid, "state": "queued", "news": n.id, "kind": n.kind,
                             "ticket": n.ticket, "detail": n.text or n.timer or (f"level {n.level}" if n.level else "")})
    return by_id, rows, new_rows


def run(root: Path, policy, now: dt.datetime, extra=(), only=None, sleep=time.sleep) -> Report:
    rep = Report()
    if policy.notify is None or not policy.notify.channels:
        return rep
    with outbox.exclusive(root, "deliver") as mine:
        if mine:  # else an overlapping run is delivering: sending too would repeat its messages
            _run(root, policy, now, extra, only, sleep, rep)
    return rep


def _run(root, policy, now, extra, only, sleep, rep) -> None:
    by_id, rows, new_rows = due(policy, root, now, extra)
    outbox.append(root, new_rows)
    rep.queued = len(new_rows)
    states = outbox.states(rows + [{k: outbox.encode_value(v) for k, v in r.items()} for r in new_rows])
    file_secrets = sec.read_file(root)
    pending_ids = {nid for s in states.values() for nid in s.queued if nid not in s.sent}
    tix = _tickets(root, {by_id[i].ticket for i in pending_ids if i in by_id})
    for cid in sorted(policy.notify.channels):
        if only and cid != only:
            continue
        st = states.get(cid)
        if st is None or not st.pending():
            continue
        _deliver_channel(root, policy, now, cid, st, by_id, tix, file_secrets, rep, sleep)


def plan(ctype: str, limit: int, head, entries: list, mentions_of) -> tuple:
    """(entries, parts, text_of): an entry too large on its own is cut to fit, then the
    entries are packed in order into parts whose message stays within `limit` bytes as
    the platform counts them. head(count, part, parts) is a part's first line;
    mentions_of(indexes) the staff a part @-mentions; text_of(indexes, k, n) a part's text."""
    entries = list(entries)

    def text_of(idx, part=999, parts=999):  # numbered as wide as it can get while packing
        return head(len(idx), part, parts) + "\n" + "\n".join(entries[i] for i in idx)

    def fits(idx):
        return chans.measure(ctype, text_of(idx), mentions_of(idx)) <= limit

    for i in range(len(entries)):
        if not fits([i]):
            entries[i] = message.cut(entries[i], lambda s, i=i: chans.measure(
                ctype, head(1, 999, 999) + "\n" + s, mentions_of([i])) <= limit)
    return entries, message.pack(entries, fits), text_of


def _from_row(r):
    """News no longer derivable (a sync alert of an earlier run), rebuilt from its queued row."""
    from ..ledger import parse_time
    from .news import News

    return News(r["news"], r["kind"], parse_time(r["at"]), r["ticket"], text=r["detail"])


def _deliver_channel(root, policy, now, cid, st, by_id, tix, file_secrets, rep, sleep):
    ch = policy.notify.channels[cid]
    values = sec.for_channel(root, cid, ch.type, file_secrets)
    missing = sec.missing(ch.type, values)
    fp = "missing:" + ",".join(missing) if missing else sec.fingerprint(values)
    if st.refused is not None and st.refused.get("message") == fp:
        return  # reported once already; waits until the secret changes
    if st.next_at is not None and now < st.next_at:
        return  # backoff after a failure, or a platform's rate-limit block
    pending = [by_id.get(r["news"]) or _from_row(r) for r in st.pending()]
    if missing:
        from .config import env_name

        detail = (f"no {', '.join(missing)} for this channel; set {', '.join(env_name(cid, m) for m in missing)} "
                  f"or write [{cid}] {missing[0]} = \"…\" in secrets.toml (untracked)")
        outbox.append(root, [{"at": now, "channel": cid, "state": "refused", "message": fp, "detail": detail}])
        rep.problems.append(f"notify: channel {cid} ({ch.type}): {detail}; {len(pending)} news wait")
        return
    is_open, _ = business_open(policy, ch, now)
    items = [n for n in pending if is_open or urgent(policy, n, tix.get(n.ticket))]
    if not items:
        return
    riders: dict = {}  # a breach carries the warning of the same limit, which then need not be said
    breach_of = {(n.ticket, n.timer): n.id for n in items if n.kind == "breach"}
    for n in [n for n in items if n.kind == "warning" and (n.ticket, n.timer) in breach_of]:
        riders.setdefault(breach_of[(n.ticket, n.timer)], []).append(n)
        items.remove(n)
    items.sort(key=lambda n: (not urgent(policy, n, tix.get(n.ticket)), ORDER.index(n.kind) if n.kind in ORDER else 99,
                              n.deadline or n.at, n.ticket, n.id))
    entries = [message.entry(policy, n, tix.get(n.ticket), now) for n in items]
    entries, parts, text_of = plan(
        ch.type, ch.limit_bytes, lambda count, part, parts: message.header(policy, now, count, part, parts, ch.keyword),
        entries, lambda idx: _mentions(policy, [items[i] for i in idx]))
    window = now - dt.timedelta(minutes=1)
    allowance = ch.rate - len({m for at, m in st.messages if at > window})
    for k, idx in enumerate(parts, 1):
        if allowance <= 0:
            break  # paced: the rest goes on a later run
        part_items = [items[i] for i in idx]
        text = text_of(idx, k, len(parts))
        mentions = _mentions(policy, part_items)
        subject = f"【售后提醒】{policy.shop.name} 共{len(part_items)}条" + (f"（{k}/{len(parts)}）" if len(parts) > 1 else "")
        if ch.type == "feishu" and k > 1:
            sleep(0.25)  # Feishu: at most 5 a second
        if ch.type == "feishu" and int(time.time()) % 30 == 0:
            sleep(1)  # Feishu asks bots to avoid exactly :00 and :30 (code 11232), when every cron job fires
        out = chans.send(ch, cid, values, text, mentions, subject, _recipients(policy, part_items))
        if out.ok:
            mid = hashlib.sha256(("\x1f".join(n.id for n in part_items) + now.isoformat()).encode()).hexdigest()[:12]
            outbox.append(root, [{"at": now, "channel": cid, "state": "sent", "news": n.id, "kind": n.kind,
                                  "ticket": n.ticket, "message": mid}
                                 for n in part_items + [w for p in part_items for w in riders.get(p.id, ())]])
            allowance -= 1
            rep.delivered[cid] = rep.delivered.get(cid, 0) + len(part_items)
            rep.parts[cid] = rep.parts.get(cid, 0) + 1
            rep.sizes.setdefault(cid, []).append(chans.measure(ch.type, text, mentions))
            continue
        waiting = len(items) - sum(len(p) for p in parts[: k - 1])
        if out.retry:
            nxt = now + max(dt.timedelta(seconds=out.wait), _backoff(policy, st.fails))
            outbox.append(root, [{"at": now, "channel": cid, "state": "failed", "next_at": nxt, "detail": out.error}])
            if st.fails == 0 and out.wait == 0:  # the first failure of a streak; rate limits are routine
                tz = policy.tz()
                rep.problems.append(f"notify: channel {cid} ({ch.type}): cannot deliver now ({out.error}); "
                                    f"{waiting} news wait, next try after {nxt.astimezone(tz):%m-%d %H:%M}")
        else:
            detail = out.error + (f"; fix: {out.fix}" if out.fix else "")
            outbox.append(root, [{"at": now, "channel": cid, "state": "refused", "message": fp, "detail": detail}])
            rep.problems.append(f"notify: channel {cid} ({ch.type}) REFUSED: {detail}; {waiting} news wait "
                                f"and go out once it is fixed (`aftersales notify test {cid}` to try)")
        return


def status(root: Path, policy, now: dt.datetime) -> list:
    """Rows for `notify status`: each news waiting or failed, and each channel's trouble."""
    if policy.notify is None:
        return []
    by_id, rows, new_rows = due(policy, root, now)
    states = outbox.states(rows + [{k: outbox.encode_value(v) for k, v in r.items()} for r in new_rows])
    tz = policy.tz()
    pending_ids = {nid for s in states.values() for nid in s.queued if nid not in s.sent}
    tix = _tickets(root, {by_id[i].ticket for i in pending_ids if i in by_id})
    file_secrets = sec.read_file(root)
    out = []
    for cid in sorted(policy.notify.channels):
        ch = policy.notify.channels[cid]
        st = states.get(cid, outbox.ChannelState())
        values = sec.for_channel(root, cid, ch.type, file_secrets)
        miss = sec.missing(ch.type, values)
        fp = "missing:" + ",".join(miss) if miss else sec.fingerprint(values)
        trouble = ""
        if st.refused is not None and st.refused.get("message") == fp:
            trouble = "refused"
        elif st.next_at is not None and now < st.next_at:
            trouble = f"retry after {st.next_at.astimezone(tz):%m-%d %H:%M}"
        elif miss:
            trouble = "refused"
        if trouble:
            out.append({"channel": cid, "state": "refused" if trouble == "refused" else "failed", "kind": "", "ticket": "",
                        "queued": "", "detail": st.last_error or f"no {', '.join(miss)}"})
        is_open, opens = business_open(policy, ch, now)
        for r in st.pending():
            n = by_id.get(r["news"])
            t = tix.get(n.ticket) if n else None
            if trouble:
                state = "refused" if trouble == "refused" else "failed"
            elif n is not None and not is_open and not urgent(policy, n, t):
                state = f"held until {opens.astimezone(tz):%m-%d %H:%M}" if opens else "held"
            else:
                state = "pending"
            from ..ids import short

            out.append({"channel": cid, "state": state, "kind": r["kind"], "ticket": short(r["ticket"]) if r["ticket"] else "",
                        "queued": r["at"], "detail": message.line(policy, n, t, now) if n else r["detail"]})
    return out
