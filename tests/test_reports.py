"""Reply scripts, remarks, surveys, KPIs and the weekly brief (seeds 000, 001, 002, 003, 004)."""

from __future__ import annotations

import csv
import json
import re

import pytest

T0 = "2026-11-23T09:00:00+08:00"


def at(day, hm="09:00"):
    return f"2026-11-{day:02d}T{hm}:00+08:00"


@pytest.fixture
def kettle(run):
    return run.new(order="TB20261123001", now=T0)


@pytest.mark.parametrize("script, expected", [
    ("greeting", "您好,示例小店客服,很高兴为您服务,请问有什么可以帮您?"),
    ("soothe", "小主您先别着急,我已认真在听,会全力帮您解决问题。给您带来这么不好的体验,实在非常抱歉。"),
    ("photo_request", "非常抱歉,没给您带来满意的购物体验 麻烦您拍一下包裹的6个面哦~(有一面有快递单号的需要清楚显示快递单号~)"
                      "以及实际收到的产品照片 因为这边需要核实下是否有破损,或者胶带是否有被开封的痕迹,方便售后小伙伴确认责任人哦~感谢小主的配合~"),
    ("transfer", "小主请稍等,这边为您转接专属售后客服,马上为您处理~"),
    ("chase_notice", "小主,这边已经给您联系快递催件,麻烦您再关注下物流 如24小时仍无物流更新,麻烦您再联系我们,这边第一时间给您处理"),
    ("reship_notice", "小主,您的订单TB20261123001已为您补发,补发单号:SF2222,请注意查收~"),
    ("closing", "小主,请问还有其他可以帮您的吗?如果对本次服务满意,麻烦给个好评哦~感谢您的支持!"),
])
def test_each_reply_script(run, kettle, script, expected):
    run("reship", "new", "--ticket", kettle, "--new-waybill", "SF2222", "--courier", "sf", "--reason", "破损",
        "--responsible", "快递", now=at(23, "09:30"))
    r = run("reply", script, kettle, now=at(23, "10:00"))
    assert (r.exit_code, r.stdout) == (0, expected + "\n")


@pytest.mark.parametrize("kind, options, expected", [
    ("address", ["--address", "浙江省杭州市西湖区文三路1号 王女士 13812345678"],
     "修改地址为:浙江省杭州市西湖区文三路1号 王女士 13812345678,a01,2026-11-23"),
    ("product", ["--product", "K-200 白色", "--quantity", "2"], "K-200 白色,2,a01,2026-11-23"),
    ("courier", ["--courier", "顺丰 标快 寄付"], "顺丰 标快 寄付,a01,2026-11-23"),
    ("ship_date", ["--ship-date", "11月25日"], "11月25日发货,a01,2026-11-23"),
    ("other", ["--text", "客户要求礼盒包装"], "客户要求礼盒包装,a01,2026-11-23"),
    ("chased", [], "已催件 a01 2026-11-23"),
])
def test_each_remark_format(run, kind, options, expected):
    r = run("remark", kind, *options, now=at(23, "10:00"))
    assert (r.exit_code, r.stdout) == (0, expected + "\n")


def test_a_field_the_ticket_lacks_is_named(run, kettle, ledgers_unchanged):
    with ledgers_unchanged():
        r = run("reply", "reship_notice", kettle, "--send", now=at(23, "10:00"))
    assert r.exit_code == 2
    assert r.stderr == ("error: script 'reship_notice' needs {new_waybill}, which is not known here; "
                        "give it as an option or with `aftersales ticket set`\n")
    r = run("remark", "address", now=at(23, "10:00"))
    assert r.exit_code == 2 and "remark 'address' needs {address}" in r.stderr
    assert "unknown reply script 'greting'; did you mean 'greeting'?" in run("reply", "greting", kettle).stderr


def test_send_records_a_reply_that_is_the_first_contact(run, shop, kettle):
    r = run("reply", "greeting", kettle, "--send", now=at(23, "09:10"))
    assert r.exit_code == 0 and "sent as a reply (问候)" in r.stderr
    with open(shop / "ledgers/tickets.csv", encoding="utf-8", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert (last["type"], json.loads(last["data"]), last["text"]) == ("reply", {"script": "greeting"},
                                                                       "您好,示例小店客服,很高兴为您服务,请问有什么可以帮您?")
    rows = json.loads(run("sla-check", "--format", "json", now=at(23, "09:40")).stdout)
    assert "first_contact" not in {x["timer"] for x in rows}


def test_satisfaction_per_incident_level_against_its_target(run, ledgers_unchanged):
    a, b, c = (run.new(now=T0, summary=f"异味 {i}") for i in range(3))
    run("incident", "open", "--type", "quality", "--title", "异味", a, b, now=at(23, "10:00"))  # L3, target 80 %
    run("survey", "record", a, "--speed", "5", "--result", "5", "--attitude", "5", now=at(24))
    run("survey", "record", b, "--speed", "3", "--result", "3", "--attitude", "4", now=at(24))  # mean 3.33: not satisfied
    run("survey", "record", c, "--speed", "4", "--result", "4", "--attitude", "4", now=at(24))  # no incident
    got = json.loads(run("survey", "report", "--format", "json", now=at(25)).stdout)
    assert got == [
        {"level": "L3", "surveys": 2, "satisfied": 1, "share": 0.5, "target": 0.8, "verdict": "BELOW"},
        {"level": "-", "surveys": 1, "satisfied": 1, "share": 1.0, "target": 0.9, "verdict": "met"},
    ]
    with ledgers_unchanged():
        r = run("survey", "record", a, "--speed", "6", "--result", "5", "--attitude", "5", now=at(24))
    assert r.exit_code == 2 and "--speed 6: scores go from 1" in r.stderr


def test_kpis_on_a_fixed_ledger(run):
    """Hand-computed: 4 tickets opened in November, 1 complaint, 1 reopened."""
    t1 = run.new(now=at(2))  # replied once, resolved, closed within 24 h: first-contact resolution
    run("ticket", "reply", t1, "您好", now=at(2, "09:10"))
    run("ticket", "resolve", t1, "换新", now=at(2, "10:00"))
    run("ticket", "close", t1, "--force", "测试", by="l01", now=at(2, "12:00"))
    t2 = run.new(now=at(3))  # two replies before the solution; reopened and resolved again
    run("ticket", "reply", t2, "您好", now=at(3, "09:10"))
    run("ticket", "reply", t2, "请拍照", now=at(3, "09:20"))
    run("ticket", "resolve", t2, "退款", now=at(3, "11:00"))
    run("ticket", "reopen", t2, "没到账", now=at(5))
    run("ticket", "resolve", t2, "已到账", now=at(5, "10:00"))
    t3 = run.new(now=at(4), category="attitude", model=None, summary="态度差")  # complaint answered in 3 h
    run("ticket", "reply", t3, "抱歉", now=at(4, "12:00"))
    run("ticket", "escalated", t3, "客户向12315投诉客服态度", "--to", "regulator", now=at(4, "13:00"))
    run.new(now=at(6), summary="再不处理就曝光")  # abnormal, but not a complaint escalated (seed 004 §6)
    run("survey", "record", t1, "--speed", "5", "--result", "5", "--attitude", "4", now=at(3))
    run("survey", "record", t2, "--speed", "2", "--result", "3", "--attitude", "3", now=at(6))
    rows = {r["kpi"]: r for r in json.loads(run("report", "kpi", "--month", "2026-11", "--orders", "2000",
                                                "--format", "json", now=at(20)).stdout)}
    assert (rows["CSAT"]["count"], rows["CSAT"]["verdict"]) == ("1/2", "BELOW")
    assert rows["first-contact resolution"]["count"] == "1/2"
    assert (rows["second resolution"]["count"], rows["second resolution"]["verdict"]) == ("1/1", "met")
    assert rows["complaint first feedback"]["count"] == "0/1"
    assert (rows["escalation rate"]["count"], rows["escalation rate"]["verdict"]) == ("1/1", "ABOVE")  # 100 % > 5 %
    assert rows["24-hour finish rate"]["count"] == "1/4"
    assert rows["complaints per 10,000 orders"]["value"] == 5.0  # a number, like every other value
    assert all(isinstance(r["value"], (int, float)) or r["value"] is None for r in rows.values())


def test_the_weekly_brief_is_self_contained_markdown_and_html(run, shop, tmp_path):
    for day, model in ((16, "K-200"), (17, "K-200"), (18, "K-300")):
        run.new(now=at(day), model=model, batch="B2611")
    run.new(now=at(10), category="usage", model=None, order=None, summary="怎么用")
    r = run("report", "weekly", "--week", "2026-W47", "-o", tmp_path, now=at(23))
    assert r.exit_code == 0 and r.stdout.splitlines() == [str(tmp_path / "weekly-2026-W47.md"), str(tmp_path / "weekly-2026-W47.html")]
    md = (tmp_path / "weekly-2026-W47.md").read_text(encoding="utf-8")
    assert md.startswith("# 售后问题分析简报 · 示例小店 · 2026-W47 (2026-11-16 – 2026-11-22)")
    assert "| 质量问题 (quality) | 0 | 0 | 0 | 3 |" in md and "| 产品用法 (usage) | 0 | 0 | 1 | 0 |" in md
    assert "- K-200: 2 tickets, batches B2611" in md
    page = (tmp_path / "weekly-2026-W47.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "质量问题" in page
    external = re.findall(r'(?:src|href)=|https?://(?!www\.w3\.org/2000/svg)', page)
    assert external == []  # opens offline: no script, stylesheet, image or font from elsewhere
    r = run("report", "weekly", "-o", shop / "ledgers", now=at(23))
    assert r.exit_code == 2 and "inside the workspace's ledgers/" in r.stderr


def _week_of_tickets(run):
    """Tickets opened over four weeks: replies in and out of time, closes, a customer's
    complaint escalated, quality tickets of two models; some opened before the week
    with rows in it, some with rows only in the earlier weeks."""
    for day, model in ((2, "K-100"), (9, "K-200"), (10, "K-200"), (16, "K-200"), (17, "K-300"), (18, "K-300")):
        t = run.new(now=at(day), model=model, batch=f"B{day}")
        run("ticket", "reply", t, "您好", now=at(day, "09:10" if day % 2 else "11:00"))
        if day in (9, 16, 17):
            run("ticket", "close", t, "--force", "测试", by="l01", now=at(day + 1, "12:00"))
        if day == 10:
            run("ticket", "reply", t, "请拍照", now=at(17, "10:00"))  # a row this week of an older ticket
    t = run.new(now=at(19), category="usage", model=None, summary="再不处理就曝光")
    run("ticket", "escalated", t, "客户向12315投诉", "--to", "regulator", now=at(20, "13:00"))
    run.new(now=at(20, "22:00"), category="usage", model=None)


def test_the_weekly_brief_shared_with_a_second_process_is_the_brief_of_one(run, shop, tmp_path, monkeypatch):
    """A big shop's brief folds and evaluates half of the tickets in a forked process;
    the files are byte for byte those of one process, also when the child raises or dies
    (its half is then done by the command itself), and an unreadable row is named as ever."""
    import os

    from aftersales import cache, kpi

    _week_of_tickets(run)

    def brief(name):
        r = run("report", "weekly", "--week", "2026-W47", "-o", tmp_path / name, now=at(23))
        assert r.exit_code == 0, r.stderr
        return [(tmp_path / name / f"weekly-2026-W47.{ext}").read_bytes() for ext in ("md", "html")]

    one = brief("one")
    md = one[0].decode()
    assert "| 5 | 2 | 1 | 0 | ¥0.00 |" in md and "| 质量问题 (quality) | 0 | 1 | 2 | 3 |" in md
    assert "- K-200: 3 tickets, batches B10, B16, B9\n- K-300: 2 tickets, batches B17, B18\n" in md
    assert "| 首次联系 (first_contact) | 5 | 1 | 4 | 20% |  |" in md and "- 1 abnormal: brand_risk" in md
    monkeypatch.setattr(cache, "jobs", lambda: 2)
    assert brief("still-one") == one  # below SHARE_MIN
    monkeypatch.setattr(kpi, "SHARE_MIN", 0)
    parent, part, forks = os.getpid(), kpi._week_part, []
    real_beside = cache.beside
    monkeypatch.setattr(cache, "beside", lambda work: forks.append(1) or real_beside(work))
    assert brief("forked") == one and forks == [1]
    for fail in ("raises", "dies"):
        def failing(*a, fail=fail):
            if os.getpid() != parent:
                if fail == "dies":
                    os._exit(9)
                raise RuntimeError("child")
            return part(*a)
        monkeypatch.setattr(kpi, "_week_part", failing)
        assert brief(fail) == one
    monkeypatch.setattr(kpi, "_week_part", part)
    path = shop / "ledgers" / "tickets.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    bad = len(lines)  # the last row: read by the scan as this week's, folded by either process
    path.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b"2026-11-20T22:00:00+08:00", b"2026-11-20T22:00:00+08:0X"))
    r = run("report", "weekly", "--week", "2026-W47", "-o", tmp_path / "bad", now=at(23))
    monkeypatch.setattr(cache, "jobs", lambda: 1)
    r1 = run("report", "weekly", "--week", "2026-W47", "-o", tmp_path / "bad1", now=at(23))
    assert r.exit_code == r1.exit_code == 2 and r.stderr == r1.stderr and f"tickets.csv:{bad}:" in r.stderr
