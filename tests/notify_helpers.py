"""Shared set-up of the notification tests: a shop whose policy points every channel at
the local bots (tests/bots.py) and an aiosmtpd server."""

from __future__ import annotations

import re
from pathlib import Path

import bots as B

PHONES = {"gm": "13900000000", "d01": "13900000001", "l01": "13900000002", "a01": "13900000003",
          "a02": "13900000004", "a03": "13900000005", "e01": "13900000006"}


def add_contacts(shop: Path) -> None:
    p = shop / "policies" / "staff.toml"
    text = p.read_text(encoding="utf-8")

    def repl(m):
        sid = m.group(1)
        extra = f'\nemail = "{sid}@shop.test"\nfeishu_id = "ou_{sid}"'
        if sid in PHONES:
            extra += f'\nphone = "{PHONES[sid]}"'
        return m.group(0) + extra

    p.write_text(re.sub(r'^id = "(\w+)"$', repl, text, flags=re.M), encoding="utf-8")


def notify_toml(base: str, smtp_port: int = 0, news: str = "", channels=("desk", "ding", "fs", "hook", "mail"),
                extra: str = "", overrides: dict | None = None) -> str:
    chans = {
        "desk": f'type = "wecom"\nurl = "{base}/cgi-bin/webhook/send"\ntimeout = 2',
        "ding": f'type = "dingtalk"\nurl = "{base}/robot/send"\ntimeout = 2',
        "fs": f'type = "feishu"\nurl = "{base}/open-apis/bot/v2/hook/"\ntimeout = 2',
        "hook": f'type = "webhook"\nurl = "{base}/hook"\ntimeout = 2',
        "mail": f'type = "email"\nhost = "127.0.0.1"\nport = {smtp_port}\nfrom = "desk@shop.test"\ntls = "none"\ntimeout = 2',
    }
    out = f"[notify]\nretry_minutes = 5\n{extra}\n"
    for c in channels:
        out += f"\n[notify.channels.{c}]\n{chans[c]}\n" + ((overrides or {}).get(c, "") + "\n")
    if not news:
        ch = ", ".join(f'"{c}"' for c in channels)
        news = (f"[notify.news.breach]\nchannels = [{ch}]\n\n[notify.news.escalate]\nchannels = [{ch}]\n\n"
                f"[notify.news.alert]\nchannels = [{ch}]\nurgent = true\n")
    return out + "\n" + news


SECRETS = f"""\
[desk]
key = "{B.WECOM_KEY}"
[ding]
token = "{B.DING_TOKEN}"
secret = "{B.DING_SECRET}"
[fs]
token = "{B.FEISHU_TOKEN}"
secret = "{B.FEISHU_SECRET}"
[hook]
token = "{B.WEBHOOK_TOKEN}"
"""


def setup_shop(shop: Path, base: str, smtp_port: int = 0, secrets: str = SECRETS, **kw) -> None:
    add_contacts(shop)
    (shop / "policies" / "notify.toml").write_text(notify_toml(base, smtp_port, **kw), encoding="utf-8")
    (shop / "secrets.toml").write_text(secrets, encoding="utf-8")


def outbox_rows(shop: Path) -> list:
    import csv

    p = shop / ".aftersales" / "outbox.csv"
    if not p.exists():
        return []
    with open(p, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
