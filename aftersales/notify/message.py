"""The text people read: short Chinese lines, one per piece of news, packed into digests
that fit each platform's limit in UTF-8 bytes."""

from __future__ import annotations

import datetime as dt

from .config import NEWS_KINDS


def zh_span(delta: dt.timedelta) -> str:
    """12分钟, 3小时5分, 2天4小时."""
    s = max(0, int(delta.total_seconds()))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m = s // 60
    if d:
        return f"{d}天{h}小时" if h else f"{d}天"
    if h:
        return f"{h}小时{m}分" if m else f"{h}小时"
    return f"{m}分钟"


def _name(policy, sid: str) -> str:
    s = policy.staff_member(sid)
    return s.name if s else sid


def open_hint(policy, ticket: str) -> str:
    from ..ids import short

    link = policy.notify.link if policy.notify else ""
    if link:
        return link.replace("{ticket}", ticket).replace("{short}", short(ticket))
    return f"aftersales ticket show {short(ticket)}"


def line(policy, n, t, now: dt.datetime) -> str:
    """One piece of news as one line (the ticket's `t` may be None)."""
    from ..ids import short
    from ..tickets import mask_phone

    tz = policy.tz()
    label = NEWS_KINDS.get(n.kind, n.kind)
    if n.kind == "escalate":
        label = f"{label}·{n.level}级"
    parts = [f"【{label}】" + (short(n.ticket) if n.ticket else "")]
    if n.ticket:
        if t is not None:
            who = t.fields.get("customer", "")
            phone = t.fields.get("phone", "")
            cust = " ".join(x for x in (who, mask_phone(phone) if phone else "") if x)
            if cust:
                parts.append(cust)
    if n.kind in ("warning", "breach"):
        timer = policy.timers.get(n.timer)
        what = timer.name if timer else n.timer
        if n.deadline is not None and n.kind == "breach":
            parts.append(f"{what} 已超时{zh_span(now - n.deadline)}（时限 {n.deadline.astimezone(tz):%m-%d %H:%M}）")
        elif n.deadline is not None:
            left = n.deadline - now
            parts.append(f"{what} 剩余{zh_span(left)}（时限 {n.deadline.astimezone(tz):%m-%d %H:%M}）" if left.total_seconds() > 0
                         else f"{what} 已到时限 {n.deadline.astimezone(tz):%m-%d %H:%M}")
        else:
            parts.append(what)
    elif n.kind == "escalate":
        late = f"超时{zh_span(now - n.deadline)}，" if n.deadline is not None else ""
        parts.append(f"{late}抄送 " + "、".join(_name(policy, s) for s in n.copied))
    elif n.text and not n.ticket:
        parts[0] += n.text
    elif n.text:
        parts.append(n.text)
    if t is not None and n.kind not in ("review",):
        cat = policy.categories.get(t.category)
        bits = [t.priority, cat.name if cat else ""]
        if t.assignee:
            bits.append(f"负责 {_name(policy, t.assignee)}")
        elif t.department and t.department in policy.departments:
            bits.append(policy.departments[t.department].name + " 未分派")
        else:
            bits.append("未分派")
        parts.append("· " + " ".join(b for b in bits if b))
    return " ".join(p for p in parts if p)


def header(policy, now: dt.datetime, count: int, part: int = 0, parts: int = 0, keyword: str = "") -> str:
    tz = policy.tz()
    pp = f"（{part}/{parts}）" if parts > 1 else ""
    kw = f"{keyword} " if keyword and keyword not in "售后提醒" else ""
    return f"{kw}【售后提醒】{policy.shop.name} {now.astimezone(tz):%m-%d %H:%M} 共{count}条{pp}"


def entry(policy, n, t, now) -> str:
    """A news line and, under it, how to open the ticket."""
    text = line(policy, n, t, now)
    if n.ticket:
        text += "\n  查看: " + open_hint(policy, n.ticket)
    return text


def pack(entries: list, fits) -> list:
    """Split entries into parts (lists of indexes) so that fits(indexes) holds for each;
    an entry too large on its own is cut to fit (`fits` is then asked about the cut text)."""
    parts: list = []
    cur: list = []
    for i in range(len(entries)):
        if fits(cur + [i]):
            cur.append(i)
            continue
        if cur:
            parts.append(cur)
        cur = [i]
    if cur:
        parts.append(cur)
    return parts


def cut(text: str, fits_text) -> str:
    """The longest prefix of `text` (ending in …) for which fits_text holds."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits_text(text[:mid] + "…"):
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"
