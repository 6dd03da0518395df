"""Notifications reach people: digests within each platform's limits, delivered once."""

from __future__ import annotations

import json
import re

import pytest

import bots as B
from conftest import MON_0900
from notify_helpers import outbox_rows, setup_shop


@pytest.fixture
def bots():
    b = B.Bots()
    yield b
    b.close()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.original_content or envelope.content,
                                                                          policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    import socket

    with socket.socket() as s:  # a free port (the controller cannot start on port 0)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    c = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=5)
    c.start()
    box.port = port
    yield box
    c.stop()


def thirty(run, n=30):
    return [run.new(customer=f"客户{i:02d}", phone=f"1381234{i:04d}", order=f"TB2026112300{i:02d}") for i in range(n)]


def short_ids_in(texts) -> list:
    return [m for t in texts for m in re.findall(r"^【[^】]+】(\w{7}) ", t, flags=re.M)]


def test_thirty_breaches_fit_every_platform_and_none_is_refused(run, shop, bots, smtp, capsys):
    setup_shop(shop, bots.base, smtp.port)
    ids = thirty(run)
    r = run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 1  # breaches stand
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    assert [a for a in bots.answers if a[1] != 0] == []
    shorts = sorted(t[:7] for t in ids)
    figures = {}
    for p in ("wecom", "dingtalk", "feishu", "webhook"):
        texts = bots.texts(p)
        assert sorted(short_ids_in(texts)) == shorts, p  # each breach exactly once
        sizes = [m["bytes"] for m in bots.received if m["platform"] == p]
        assert all(s <= B.LIMITS.get(p, 20000) for s in sizes)
        figures[p] = (len(texts), sizes)
    assert len(smtp.messages) == 1
    rcpt, mail = smtp.messages[0]
    body = mail.get_content()
    assert sorted(short_ids_in([body])) == shorts
    assert mail["Subject"] == "【售后提醒】示例小店 共30条"
    assert "a01@shop.test" in rcpt
    figures["email"] = (1, [len(body.encode())])
    assert figures["wecom"][0] > 1  # 30 lines do not fit 2,048 bytes: split
    assert figures["dingtalk"][0] == figures["feishu"][0] == 1
    with capsys.disabled():
        print("\n30 breaches:", {p: f"{n} message(s), bytes {s}" for p, (n, s) in figures.items()})
    # nothing new: a second run sends nothing and prints nothing
    n = len(bots.received)
    r = run("notify", "deliver", now="2026-11-23T10:05:00+08:00")
    assert (r.exit_code, r.stdout, len(bots.received)) == (0, "", n)
