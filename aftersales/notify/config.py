"""The policy's [notify] section: channels, which news goes where, quiet hours.

Secrets never live here: a key, token, signing secret or password written into a policy
file is refused with the place it belongs (environment or the untracked secrets.toml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

CHANNEL_TYPES = ("wecom", "dingtalk", "feishu", "email", "webhook")

#: Kinds of news, and how they read in a message.
NEWS_KINDS = {
    "warning": "预警",
    "breach": "超时",
    "escalate": "红头工单",
    "alert": "敏感词",
    "abnormal": "异常工单",
    "incident": "应急事件",
    "review": "差评",
    "chase": "查件",
    "weekly": "周报",
    "sync": "同步问题",
    "test": "测试",
}

#: Each platform's published limits (PLATFORMS.md): bytes of what is measured, messages per minute.
LIMITS = {
    "wecom": {"max_bytes": 2048, "per_minute": 20},    # text content, errcode 40058
    "dingtalk": {"max_bytes": 20000, "per_minute": 20},  # request body, errcode 460101; 130101 blocks 10 min
    "feishu": {"max_bytes": 20000, "per_minute": 100},   # request body, code 9499; also 5 per second
    "email": {"max_bytes": 200000, "per_minute": 20},
    "webhook": {"max_bytes": 20000, "per_minute": 60},
}

DEFAULT_URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
    "dingtalk": "https://oapi.dingtalk.com/robot/send",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/",
    "email": "",
    "webhook": "",
}

#: Secrets each channel type reads (name -> required).
SECRETS = {
    "wecom": {"key": True},
    "dingtalk": {"token": True, "secret": True},
    "feishu": {"token": True, "secret": False},
    "email": {"password": False},
    "webhook": {"token": False},
}

_SECRET_WORDS = ("key", "token", "secret", "password", "access_token", "sign", "webhook_key", "passwd")
_URL_SECRET = re.compile(r"[?&](key|access_token|token|sign|secret)=|/hook/[0-9a-zA-Z-]{8,}|//[^/@]*:[^/@]*@")
_SECRET_VALUE = re.compile(r"\bSEC[0-9a-f]{20,}\b")


#: A news kind, or `escalate` with a level ("escalate3": the third red-header level only).
ROUTABLE = re.compile(r"[a-z]+|escalate[1-9]")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_time(text: str):
    """(weekday 0-6, hour, minute) of "fri 17:00", or None."""
    m = re.fullmatch(r"\s*(mon|tue|wed|thu|fri|sat|sun)\s+([01]?\d|2[0-3]):([0-5]\d)\s*", text or "")
    return (WEEKDAYS.index(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def env_name(channel: str, name: str) -> str:
    """The environment variable holding secret `name` of `channel`: AFTERSALES_DESK_KEY."""
    return "AFTERSALES_" + re.sub(r"[^A-Za-z0-9]", "_", channel).upper() + "_" + name.upper()


def where_secret_goes(channel: str, name: str) -> str:
    return (f"secrets never go in policies (they are in git): set {env_name(channel, name)} in the cron "
            f"environment, or write `[{channel}] {name} = \"…\"` in secrets.toml (untracked)")


@dataclass(frozen=True)
class Channel:
    type: Literal["wecom", "dingtalk", "feishu", "email", "webhook"]
    url: str = ""  # default: the platform's; for a webhook, required
    quiet_hours: bool = True  # hold news that is not urgent outside business hours
    calendar: str = ""  # the business calendar of quiet hours (default: the shop's)
    per_minute: int = 0  # 0: the platform's limit
    max_bytes: int = 0  # 0: the platform's limit
    timeout: float = 10.0  # seconds per request
    keyword: str = ""  # a bot's keyword security: every message starts with it
    # e-mail
    host: str = ""
    port: int = 0  # default 587 (starttls), 465 (ssl), 25 (none)
    user: str = ""
    sender: str = field(default="", metadata={"key": "from"})
    to: tuple[str, ...] = ()  # fixed addresses, besides the people the news names
    tls: Literal["starttls", "ssl", "none"] = "starttls"

    MISPLACED = {w: ("secrets never go in policies (they are in git): set AFTERSALES_<CHANNEL>_" + w.upper()
                     + " in the cron environment, or write it in secrets.toml (untracked); see README: Notifications")
                 for w in _SECRET_WORDS}

    def validate(self):
        if _URL_SECRET.search(self.url or ""):
            yield ("url",), ("the URL carries a secret (key, token or hook id); write the URL without it and "
                             "keep the secret in the environment or secrets.toml (see README: Notifications)")
        if self.type == "webhook" and not self.url:
            yield (), "a webhook channel needs url = \"https://…\""
        if self.type == "email" and not (self.host and self.sender):
            yield (), 'an email channel needs host = "smtp.example.com" and from = "desk@example.com"'
        if self.per_minute < 0 or self.max_bytes < 0 or self.timeout <= 0:
            yield (), "per_minute and max_bytes must be 0 or more, timeout more than 0"
        if self.max_bytes and self.max_bytes < 200:
            yield ("max_bytes",), "max_bytes below 200 leaves no room for a message"

    @property
    def limit_bytes(self) -> int:
        return self.max_bytes or LIMITS[self.type]["max_bytes"]

    @property
    def rate(self) -> int:
        return self.per_minute or LIMITS[self.type]["per_minute"]

    @property
    def endpoint(self) -> str:
        return self.url or DEFAULT_URLS[self.type]


@dataclass(frozen=True)
class NewsRoute:
    channels: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # staff told of every such news (besides those the news names)
    mention: bool = True  # @-mention the people the news names (assignee, the superior a red header copies)
    urgent: bool = False  # delivered at once, even outside business hours


@dataclass(frozen=True)
class Notify:
    channels: Mapping[str, Channel] = field(default_factory=dict)
    news: Mapping[str, NewsRoute] = field(default_factory=dict)
    urgent_priorities: tuple[str, ...] = ("P0",)  # tickets of these priorities are always urgent
    link: str = ""  # "https://erp.example.com/tickets/{ticket}"; default: the command that opens it
    stale_hours: int = 48  # news older than this when first seen (a new clone) is not sent
    retry_minutes: int = 5  # first retry after a failure; doubles up to 6 h
    weekly_brief: str = "fri 17:00"  # when the weekly brief is due (seeds: Friday 17:00), for `weekly` news

    def validate(self):
        for kind in self.news:
            if not ROUTABLE.fullmatch(kind) or kind.rstrip("0123456789") not in NEWS_KINDS or kind == "test":
                from ..schema import closest

                yield ("news", kind), (f"unknown kind of news '{kind}'; "
                                       f"{closest(kind, [k for k in NEWS_KINDS if k != 'test'] + ['escalate1', 'escalate2'])}")
        for kind, route in self.news.items():
            for i, c in enumerate(route.channels):
                if c not in self.channels:
                    from ..schema import closest

                    yield ("news", kind, "channels", i), f"unknown channel '{c}'; {closest(c, self.channels)}"
        if "git" in self.channels:
            yield ("channels", "git"), "the channel name 'git' is reserved (the outbox keeps sync trouble under it); choose another"
        if self.stale_hours < 1 or self.retry_minutes < 1:
            yield (), "stale_hours and retry_minutes must be 1 or more"
        if weekly_time(self.weekly_brief) is None:
            yield ("weekly_brief",), f'"{self.weekly_brief}" is not a weekday and time; write it like "fri 17:00"'


def check_notify(p, src):
    """Reference checks of [notify] against the rest of the policy (staff, calendars, priorities)."""
    n = getattr(p, "notify", None)
    if n is None:
        return
    from ..schema import closest

    ids = [s.id for s in p.staff]
    for kind, route in n.news.items():
        for i, who in enumerate(route.people):
            if who not in ids:
                yield src.problem("notify", ("news", kind, "people", i), f"unknown staff member '{who}'; {closest(who, ids)}")
    for cid, ch in n.channels.items():
        if ch.calendar and ch.calendar not in p.calendars:
            yield src.problem("notify", ("channels", cid, "calendar"), f"unknown calendar '{ch.calendar}'; {closest(ch.calendar, p.calendars)}")
    for i, pr in enumerate(n.urgent_priorities):
        if pr not in p.priorities:
            yield src.problem("notify", ("urgent_priorities", i), f"unknown priority '{pr}'; {closest(pr, p.priorities)}")


def check_secret_values(p, src):
    """Problems for secret-looking values anywhere in policy files (a DingTalk SEC… secret)."""
    from ..errors import Problem

    out = []
    seen = set()
    for doc in src.docs.values():
        if id(doc) in seen:
            continue
        seen.add(id(doc))
        for path, value in _walk(doc.data, ()):
            if isinstance(value, str) and _SECRET_VALUE.search(value):
                out.append(Problem(doc.file, doc.line_of(path), "this looks like a DingTalk signing secret (SEC…); "
                                   "secrets never go in policies: move it to the environment or secrets.toml "
                                   "(untracked), and change the secret on DingTalk: it is in git history now"))
    return out


def _walk(obj, path):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (i,))
    else:
        yield path, obj
