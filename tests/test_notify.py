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


def delivered_once(bots, platform, shorts):
    got = sorted(short_ids_in(bots.texts(platform)))
    assert got == sorted(shorts), platform


def test_network_down_for_three_runs_then_back_delivers_everything_exactly_once(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk", "ding", "fs", "hook"))
    first = [run.new(customer=f"客户{i}") for i in range(3)]
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    bots.down = True
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all("cannot deliver now (network" in ln and "3 news wait" in ln for ln in lines)
    # two more runs fail quietly (the first failure was reported), with backoff between them
    attempts = []
    for at in ("10:05", "10:10", "10:15"):
        before = bots.requests
        r = run("notify", "deliver", now=f"2026-11-23T{at}:00+08:00")
        assert (r.exit_code, r.stdout) == (0, "")
        attempts.append(bots.requests - before)
    assert attempts == [4, 0, 4]  # 10:05 tried, 10:10 waits (backoff 10 min), 10:15 tried
    later = run.new(customer="新客户", now="2026-11-23T10:00:00+08:00")
    run("sla-check", "--notify", now="2026-11-23T10:31:00+08:00")  # news while the network is down
    r = run("notify", "status", "--format", "json", now="2026-11-23T10:31:00+08:00")
    assert r.exit_code == 1 and {x["state"] for x in json.loads(r.stdout)} == {"failed"}
    bots.down = False
    assert run("notify", "deliver", now="2026-11-23T10:31:00+08:00").stdout == ""  # 10:35 is the next try
    assert bots.received == []
    r = run("notify", "deliver", now="2026-11-23T10:35:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    shorts = [t[:7] for t in first + [later]]
    for p in ("wecom", "dingtalk", "feishu", "webhook"):
        delivered_once(bots, p, shorts)
    for at in ("10:40", "11:00"):
        assert run("notify", "deliver", now=f"2026-11-23T{at}:00+08:00").stdout == ""
    for p in ("wecom", "dingtalk", "feishu", "webhook"):
        delivered_once(bots, p, shorts)
    r = run("notify", "status", now="2026-11-23T11:00:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "nothing waits: every news item was delivered\n")


def test_a_dingtalk_rate_limit_answer_waits_ten_minutes_then_delivers(run, shop, bots):
    setup_shop(shop, bots.base, channels=("ding",))
    ids = [run.new(customer=f"客户{i}") for i in range(2)]
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    bots.fail_next["dingtalk"] = [130101]
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")  # a rate limit is routine, not a problem for a person
    failed = [x for x in outbox_rows(shop) if x["state"] == "failed"]
    assert [(x["channel"], x["next_at"]) for x in failed] == [("ding", "2026-11-23T10:10:00+08:00")]
    before = bots.requests
    assert run("notify", "deliver", now="2026-11-23T10:05:00+08:00").stdout == ""
    assert bots.requests == before  # blocked for 10 minutes: not even tried
    run("notify", "deliver", now="2026-11-23T10:10:00+08:00")
    delivered_once(bots, "dingtalk", [t[:7] for t in ids])


def test_digests_are_paced_within_the_rate_limit(run, shop, bots):
    setup_shop(shop, bots.base, channels=("ding",), overrides={"ding": "per_minute = 2\nmax_bytes = 700"})
    ids = [run.new(customer=f"客户{i}") for i in range(8)]
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    sent_per_run = []
    for minute in range(6):
        n = len(bots.received)
        run("notify", "deliver", now=f"2026-11-23T10:0{minute}:00+08:00")
        run("notify", "deliver", now=f"2026-11-23T10:0{minute}:30+08:00")  # same minute: nothing more
        sent_per_run.append(len(bots.received) - n)
    assert max(sent_per_run) == 2 and sum(sent_per_run) == len(bots.received) > 2
    assert all(m["bytes"] <= 700 for m in bots.received)
    assert [a for a in bots.answers if a[1] != 0] == []
    delivered_once(bots, "dingtalk", [t[:7] for t in ids])
    first = re.search(r"（(\d+)/(\d+)）", bots.received[0]["text"]).groups()
    assert first[0] == "1" and int(first[1]) > 2  # the first run's digest, in numbered parts


def test_a_wrong_secret_is_one_clear_error_and_nothing_is_lost(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",), secrets='[desk]\nkey = "wrong"\n')
    ids = [run.new(customer=f"客户{i}") for i in range(2)]
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 1
    assert r.stdout == ("notify: channel desk (wecom) REFUSED: wecom error 93000: invalid webhook key (error); "
                        "fix: copy the key from the group's 消息推送/群机器人 settings into AFTERSALES_DESK_KEY; "
                        "2 news wait and go out once it is fixed (`aftersales notify test desk` to try)\n")
    n = bots.requests
    for at in ("10:05", "12:00"):  # reported once; not retried with the same key
        r = run("notify", "deliver", now=f"2026-11-23T{at}:00+08:00")
        assert (r.exit_code, r.stdout) == (0, "")
    assert bots.requests == n
    r = run("notify", "status", "--format", "csv", now="2026-11-23T12:00:00+08:00")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0] == "channel,state,kind,ticket,queued,detail"
    assert [ln.split(",")[1] for ln in r.stdout.splitlines()[1:]] == ["refused"] * 3
    # the fix: the right key in the environment
    r = run("notify", "deliver", now="2026-11-23T13:35:00+08:00", env={"AFTERSALES_DESK_KEY": B.WECOM_KEY})
    assert (r.exit_code, r.stdout) == (0, "")
    delivered_once(bots, "wecom", [t[:7] for t in ids])


def test_a_missing_secret_is_reported_once_with_where_it_goes(run, shop, bots):
    setup_shop(shop, bots.base, channels=("ding",), secrets="")
    run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert r.stdout == ("notify: channel ding (dingtalk): no token, secret for this channel; set AFTERSALES_DING_TOKEN, "
                        "AFTERSALES_DING_SECRET or write [ding] token = \"…\" in secrets.toml (untracked); 1 news wait\n")
    assert run("notify", "deliver", now="2026-11-23T10:05:00+08:00").stdout == ""
    assert bots.requests == 0


def test_quiet_hours_hold_news_until_opening_but_not_what_is_urgent(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",))
    late = run.new(customer="晚上客户", now="2026-11-23T17:00:00+08:00")
    run("sla-check", "--notify", now="2026-11-23T19:00:00+08:00")  # first contact breached at 17:30
    assert run("notify", "deliver", now="2026-11-23T19:00:00+08:00").stdout == ""
    assert bots.received == []
    r = run("notify", "status", "--format", "json", now="2026-11-23T19:00:00+08:00")
    assert (r.exit_code, [x["state"] for x in json.loads(r.stdout)]) == (0, ["held until 11-24 09:00"])
    angry = run.new(customer="愤怒客户", summary="再不处理我就找媒体曝光", now="2026-11-23T19:10:00+08:00")
    run("notify", "deliver", now="2026-11-23T19:10:00+08:00")
    assert short_ids_in(bots.texts("wecom")) == [angry[:7]]  # a sensitive word goes at once
    assert "【敏感词】" in bots.texts("wecom")[0]
    run("notify", "deliver", now="2026-11-24T08:55:00+08:00")
    assert len(bots.received) == 1
    run("notify", "deliver", now="2026-11-24T09:00:00+08:00")
    assert short_ids_in(bots.texts("wecom")[1:]) == [late[:7]]


def test_a_red_header_copy_mentions_the_superior_it_copies(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk", "ding", "fs"))
    tid = run.new(customer="王女士", phone="13812345678")
    run("ticket", "assign", tid, "--department", "warehouse", now="2026-11-23T09:04:00+08:00")
    run("ticket", "assign", tid, "--to", "a03", now="2026-11-23T09:05:00+08:00")
    run("sla-check", "--notify", now="2026-11-23T11:40:00+08:00")  # first contact (09:30) late 2 h 10 m: level 1
    r = run("notify", "deliver", now="2026-11-23T11:45:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    wecom = [m["json"] for m in bots.received if m["platform"] == "wecom"][0]
    text = wecom["text"]["content"]
    assert f"【红头工单·1级】{tid[:7]} 王女士 138****5678 超时" in text and "抄送 李组长" in text
    assert "负责 刘芳" in text and f"查看: aftersales ticket show {tid[:7]}" in text
    assert "13900000002" in wecom["text"]["mentioned_mobile_list"]  # l01, the superior copied
    ding = [m["json"] for m in bots.received if m["platform"] == "dingtalk"][0]
    assert "13900000002" in ding["at"]["atMobiles"] and "@13900000002" in ding["text"]["content"]
    fs = [m["json"] for m in bots.received if m["platform"] == "feishu"][0]
    assert '<at user_id="ou_l01">李组长</at>' in fs["content"]["text"]


def test_a_link_template_replaces_the_command(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",), extra='link = "https://erp.example.com/t/{ticket}"')
    tid = run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert f"查看: https://erp.example.com/t/{tid}" in bots.texts("wecom")[0]


def test_notify_test_sends_one_message_and_says_what_is_wrong(run, shop, bots):
    setup_shop(shop, bots.base, channels=("fs",))
    r = run("notify", "test", "fs", "--to", "l01")
    assert (r.exit_code, r.stdout) == (0, "fs: test message delivered\n")
    assert "【测试】" in bots.texts("feishu")[0] and '<at user_id="ou_l01">' in bots.texts("feishu")[0]
    r = run("notify", "test", "fs", env={"AFTERSALES_FS_SECRET": "not-the-secret"})
    assert r.exit_code == 1
    assert r.stdout.startswith("fs: not delivered: feishu error 19021: signature check failed")
    assert "AFTERSALES_FS_SECRET" in r.stdout
    r = run("notify", "test", "nope")
    assert r.exit_code == 2 and r.stderr.startswith("error: unknown channel 'nope'")


def test_cron_is_silent_when_nothing_is_new_and_delivers_what_is(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",))
    r = run("cron", "--no-sync", now="2026-11-23T09:00:00+08:00")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    tid = run.new()
    for at in ("09:05", "09:10"):
        r = run("cron", "--no-sync", now=f"2026-11-23T{at}:00+08:00")
        assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert bots.received == []
    r = run("cron", "--no-sync", now="2026-11-23T09:35:00+08:00")  # first contact breached: news, not a problem
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert short_ids_in(bots.texts("wecom")) == [tid[:7]]
    r = run("cron", "--no-sync", now="2026-11-23T09:40:00+08:00")
    assert (r.exit_code, r.stdout, len(bots.received)) == (0, "", 1)


def test_route_all_quiet_prints_nothing_when_nothing_changed(run, shop):
    run.new()
    r = run("route", "--all", "--quiet", now="2026-11-23T09:05:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    assert run("route", "--all", now="2026-11-23T09:05:00+08:00").stdout == "1 open ticket routed, 0 changed\n"


@pytest.mark.parametrize("line,message", [
    ('key = "abc123"', "unknown key 'key'\n    key = \"…\"\n    ^^^^^^^^^\nhint: secrets never go in policies (they are in git): set AFTERSALES_<CHANNEL>_KEY"),
    ('url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693b"', "the URL carries a secret"),
    ('keyword = "SEC0123456789abcdef0123456789abcdef"', "looks like a DingTalk signing secret"),
])
def test_check_refuses_a_secret_written_into_a_policy(run, shop, line, message):
    (shop / "policies" / "notify.toml").write_text(f'[notify.channels.desk]\ntype = "wecom"\n{line}\n', encoding="utf-8")
    r = run("check")
    assert r.exit_code == 1
    assert re.search(r"policies/notify\.toml:3: .*" + re.escape(message), r.stdout)
    assert "abc123" not in r.stdout and "693b" not in r.stdout and "SEC0123" not in r.stdout  # not printed again
    r = run("notify", "status")
    assert r.exit_code == 2 and r.stderr.startswith("error: policies/notify.toml:3: ") and "Traceback" not in r.stderr


def test_init_keeps_secrets_and_the_outbox_out_of_git(tmp_path):
    from aftersales.scaffold import init_workspace

    init_workspace(tmp_path / "s")
    ignored = (tmp_path / "s" / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/secrets.toml" in ignored and "/.aftersales/" in ignored


def test_a_bad_news_route_is_named_with_its_line(run, shop):
    (shop / "policies" / "notify.toml").write_text(
        '[notify.channels.desk]\ntype = "wecom"\n\n[notify.news.breech]\nchannels = ["dsk"]\n', encoding="utf-8")
    r = run("check")
    assert "policies/notify.toml:4: unknown kind of news 'breech'\n" in r.stdout
    assert "hint: did you mean 'breach'?\n" in r.stdout
    assert "policies/notify.toml:5: unknown channel 'dsk'\n" in r.stdout
    assert "hint: did you mean 'desk'?\n" in r.stdout


def test_a_breach_carries_the_warning_of_the_same_limit(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",),
               news='[notify.news.warning]\nchannels = ["desk"]\n[notify.news.breach]\nchannels = ["desk"]\n')
    tid = run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")  # records the skipped warning and the breach
    run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    text = bots.texts("wecom")[0]
    assert short_ids_in([text]) == [tid[:7]] and "【超时】" in text and "【预警】" not in text
    assert sorted(x["kind"] for x in outbox_rows(shop) if x["state"] == "sent") == ["breach", "warning"]
    assert run("notify", "deliver", now="2026-11-23T10:05:00+08:00").stdout == "" and len(bots.received) == 1


def test_abnormal_tickets_incidents_and_bad_reviews_are_news(run, shop, bots):
    setup_shop(shop, bots.base, channels=("hook",), news="".join(
        f'[notify.news.{k}]\nchannels = ["hook"]\n' for k in ("abnormal", "incident", "review")))
    tid = run.new(category="usage", summary="不会用", order=None, model=None, demand=None)
    r = run("incident", "open", "--type", "quality", "--title", "K-200 底部裂纹", tid, now="2026-11-23T09:10:00+08:00")
    assert r.exit_code == 0, r.stderr
    run("notify", "deliver", now="2026-11-23T09:10:00+08:00")
    assert "【应急事件】新事件「K-200 底部裂纹」定级 L3" in bots.texts("webhook")[0]
    with open(shop / "ledgers" / "reviews.csv", "a", encoding="utf-8", newline="") as f:
        f.write("R1,2026-11-24T10:00:00+08:00,TB1,K-200 电水壶,1,烧水有异味,,,,,\n")
    run("route", "--all", "--quiet", now="2026-11-25T09:30:00+08:00")  # unresolved 48 h: abnormal
    r = run("notify", "deliver", now="2026-11-25T09:30:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    text = bots.texts("webhook")[1]
    assert "【应急事件】" not in text  # delivered once, two days ago
    assert "【差评】K-200 电水壶 1分 “烧水有异味”" in text
    assert f"【异常工单】{tid[:7]} " in text and "超48小时未解决" in text


def test_the_chase_list_the_weekly_brief_and_one_red_header_level_routed_apart(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk", "hook"), news=(
        '[notify.news.chase]\nchannels = ["hook"]\n[notify.news.weekly]\nchannels = ["hook"]\n'
        '[notify.news.escalate]\nchannels = ["hook"]\n[notify.news.escalate2]\nchannels = ["desk"]\n'))
    with open(shop / "ledgers" / "shipments.csv", "a", encoding="utf-8", newline="") as f:
        f.write("SF100200300,2026-11-22T09:00:00+08:00,TB9,sf,浙江,2026-11-22T09:00:00+08:00,,,,,\n")
    tid = run.new()
    run("ticket", "assign", tid, "--department", "warehouse", now="2026-11-23T09:04:00+08:00")
    run("sla-check", "--notify", now="2026-11-23T11:40:00+08:00")  # red header level 1
    run("notify", "deliver", now="2026-11-23T11:40:00+08:00")
    text = bots.texts("webhook")[0]
    assert "【查件】顺丰速运 SF100200300 订单 TB9：发货1天2小时仍未揽收" in text
    assert "【红头工单·1级】" in text and bots.texts("wecom") == []
    run("sla-check", "--notify", now="2026-11-23T14:40:00+08:00")  # level 2: its own route
    run("notify", "deliver", now="2026-11-23T14:40:00+08:00")
    assert "【红头工单·2级】" in bots.texts("wecom")[0] and len(bots.texts("webhook")) == 1
    run("notify", "deliver", now="2026-11-27T16:59:00+08:00")
    assert not any("【周报】" in t for t in bots.texts("webhook"))
    run("notify", "deliver", now="2026-11-27T17:00:00+08:00")
    assert "【周报】2026-W48 售后问题周报可以生成了：aftersales report weekly --week 2026-W48" in bots.texts("webhook")[-1]
    n = len(bots.received)
    run("notify", "deliver", now="2026-11-27T17:30:00+08:00")
    assert len(bots.received) == n  # each once


def test_an_overlapping_run_does_not_send_again(run, shop, bots):
    from aftersales.notify import outbox

    setup_shop(shop, bots.base, channels=("desk",))
    run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    with outbox.exclusive(shop, "deliver") as mine:  # a slow run still delivering
        assert mine
        r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
        assert (r.exit_code, r.stdout, bots.requests) == (0, "", 0)
    run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert len(bots.received) == 1


def test_bad_secrets_file_is_one_line_exit_2(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",), secrets="[desk\nkey = 1\n")
    run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 2 and r.stderr.startswith("error: secrets.toml: not valid TOML") and r.stderr.count("\n") == 1
    r = run("cron", "--no-sync", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 1 and r.stdout.startswith("notify: secrets.toml: not valid TOML") and r.stdout.count("\n") == 1


def test_sync_outside_git_is_one_line_exit_2(run, shop):
    r = run("sync", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 2 and "not a git repository" in r.stderr and r.stderr.count("\n") == 1


def test_a_breach_recorded_in_two_clones_is_one_news_item(run, shop, bots):
    setup_shop(shop, bots.base, channels=("desk",))
    tid = run.new()
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    path = shop / "ledgers" / "tickets.csv"
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    sla = [r for r in rows if ",sla," in r]
    assert len(sla) == 2  # the warning it skipped and the breach
    # what a union merge leaves when another clone recorded the same at 10:02
    path.write_text("".join(rows) + "".join(r.replace("T10:00:00", "T10:02:00") for r in sla), encoding="utf-8")
    run("notify", "deliver", now="2026-11-23T10:05:00+08:00")
    assert short_ids_in(bots.texts("wecom")) == [tid[:7]]


def test_mail_waits_while_the_smtp_server_is_down_then_goes_once(run, shop, bots, smtp):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket is closed
    setup_shop(shop, bots.base, closed, channels=("mail",))
    ids = [run.new(customer=f"客户{i}") for i in range(2)]
    run("sla-check", "--notify", now="2026-11-23T10:00:00+08:00")
    r = run("notify", "deliver", now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 1 and r.stdout.startswith("notify: channel mail (email): cannot deliver now (network")
    from notify_helpers import notify_toml

    (shop / "policies" / "notify.toml").write_text(notify_toml(bots.base, smtp.port, channels=("mail",)),
                                                   encoding="utf-8")  # the server is back (here: on its port)
    r = run("notify", "deliver", now="2026-11-23T10:05:00+08:00")
    assert (r.exit_code, r.stdout) == (0, "")
    run("notify", "deliver", now="2026-11-23T10:10:00+08:00")
    assert len(smtp.messages) == 1
    rcpt, mail = smtp.messages[0]
    assert sorted(short_ids_in([mail.get_content()])) == sorted(t[:7] for t in ids)


from hypothesis import given, settings, strategies as st  # noqa: E402

_zh = st.text(alphabet=st.sampled_from("超时预警红头工单客户王女士抄送组长查看ABC123 ，。（）\n"), min_size=1, max_size=900)


@settings(max_examples=60, deadline=None)
@given(ctype=st.sampled_from(["wecom", "dingtalk", "feishu", "webhook"]), limit=st.integers(300, 3000),
       entries=st.lists(_zh, min_size=1, max_size=40), mention=st.booleans())
def test_every_part_fits_the_limit_and_keeps_every_entry_in_order(ctype, limit, entries, mention):
    from aftersales.notify import channels
    from aftersales.notify.deliver import plan
    from aftersales.policy import Staff

    people = [Staff("l01", "李组长", "lead", "cs", phone="13900000002", feishu_id="ou_l01")] if mention else []

    def head(count, part, parts):
        return f"【售后提醒】示例小店 11-23 10:00 共{count}条" + (f"（{part}/{parts}）" if parts > 1 else "")

    out, parts, text_of = plan(ctype, limit, head, entries, lambda idx: people)
    assert [i for p in parts for i in p] == list(range(len(entries)))  # each entry once, in order
    for k, p in enumerate(parts, 1):
        assert channels.measure(ctype, text_of(p, k, len(parts)), people) <= limit
    for before, after in zip(entries, out):
        assert after == before or (after.endswith("…") and before.startswith(after[:-1]))
