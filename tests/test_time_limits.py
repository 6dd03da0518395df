"""Issue 16, time limits that never hide a miss: one scenario per point, in the words of
the seed it cites, with fixed times (2026-11-23 is a Monday, +08:00)."""

from __future__ import annotations

import json

from aftersales import ids

COUNTS = ("cycles", "met", "missed", "pending", "not_applicable")


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


def report(run, now, *period):
    r = run("report", "sla", *(period or ("--week", "2026-W48")), "--format", "json", now=now)
    assert r.exit_code == 0, r.stderr
    return {x["timer"]: tuple(x[k] for k in COUNTS) for x in json.loads(r.stdout)}


def check(run, now):
    r = run("sla-check", "--format", "json", now=now)
    return {(x["ticket"], x["timer"]): x for x in json.loads(r.stdout)}


# ------------------------------------------------------------------ 1. a close never hides a miss


def test_closing_a_ticket_nobody_answered_misses_first_contact(run):
    """Seed 000 §6: 'first contact within 30 min of creation' is a closing-checklist item.
    A ticket closed at 09:20 without a reply did not make first contact: missed, although
    the 30 minutes had not run out; its 24-hour close was met."""
    quiet = run.new(now=at("09:00"))
    run("ticket", "close", quiet, "--force", "客户撤回", by="l01", now=at("09:20"))
    answered = run.new(now=at("10:00"))
    run("ticket", "reply", answered, "您好", now=at("10:05"))
    run("ticket", "close", answered, "--force", "当场解决", by="l01", now=at("10:20"))
    rows = report(run, at("12:00"))
    assert rows["first_contact"] == (2, 1, 1, 0, 0)
    assert rows["close"] == (2, 2, 0, 0, 0)


def test_a_close_past_the_deadline_is_a_miss_and_one_in_time_is_not_applicable(run):
    """Seed 003 stage 2: routing within 2 h. A complaint closed at 09:30 before routing: the
    routing limit is cut short in time (not applicable); one closed at 12:00: missed."""
    a = run.new(category="attitude", model=None, summary="客服态度差", channel="email", now=at("09:00"))
    run("ticket", "reply", a, "非常抱歉", now=at("09:05"))
    run("ticket", "close", a, "--force", "当场道歉", by="l01", now=at("09:30"))
    b = run.new(category="attitude", model=None, summary="客服态度差", channel="email", now=at("09:00", day=24))
    run("ticket", "reply", b, "非常抱歉", now=at("09:05", day=24))
    run("ticket", "close", b, "--force", "当场道歉", by="l01", now=at("12:00", day=24))
    rows = report(run, at("18:00", day=24))
    assert rows["complaint_routing"] == (2, 0, 1, 0, 1)
    assert rows["complaint_response"] == (2, 2, 0, 0, 0)


def test_a_consultation_closed_unanswered_misses_its_working_day(run):
    """Seed 004: consultations answered within 1 working day; closed without an answer: missed."""
    tid = run.new(category="usage", model=None, order=None, summary="怎么除垢", now=at("09:00"))
    run("ticket", "close", tid, "--force", "重复工单", by="l01", now=at("09:10"))
    assert report(run, at("12:00"))["consultation_answer"] == (1, 0, 1, 0, 0)


# ------------------------------------------------------------------ 2. the follow-up visit


def test_the_follow_up_visit_stays_owed_after_the_close(run):
    """Seed 004 §3: 问题解决后24小时内回访客户. Resolved 10:00, closed 10:30: the visit is still
    owed (ticket show lists it), met when made next morning, missed when never made."""
    visited, forgotten = run.new(now=at("09:00")), run.new(now=at("09:01"))
    for tid in (visited, forgotten):
        run("ticket", "reply", tid, "您好", now=at("09:05"))
        run("ticket", "resolve", tid, "换新", now=at("10:00"))
        run("ticket", "close", tid, "--force", "客户确认", by="l01", now=at("10:30"))
    shown = run("ticket", "show", forgotten, now=at("11:00")).stdout
    assert "  解决后回访 (followup_visit): ok, deadline 11-24 10:00, left 23h00m\n" in shown
    run("ticket", "visit", visited, "客户满意", now=at("09:00", day=24))
    assert report(run, at("12:00", day=24))["followup_visit"] == (2, 1, 1, 0, 0)


def test_sla_check_lists_a_visit_owed_on_a_closed_ticket_and_warns_of_it(run):
    """Seed 004 §3 again, as the cron sees it: the ticket closed at 10:30 still owes its visit,
    so `sla-check` lists it (warning near the deadline, breached after it), `--notify`
    records the breach on the closed ticket, and once the visit is made it is gone."""
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "您好", now=at("09:05"))
    run("ticket", "resolve", tid, "换新", now=at("10:00"))
    run("ticket", "close", tid, "--force", "客户确认", by="l01", now=at("10:30"))
    assert check(run, at("11:00"))[(tid, "followup_visit")]["state"] == "ok"
    assert check(run, at("09:00", day=24))[(tid, "followup_visit")]["state"] == "warning"
    late = at("11:00", day=24)
    assert check(run, late)[(tid, "followup_visit")]["state"] == "breached"
    r = run("sla-check", "--notify", "--format", "json", now=late)
    assert r.exit_code == 1
    assert [(x["ticket"], x["timer"], x["state"]) for x in json.loads(r.stdout)] == [(tid, "followup_visit", "breached")]
    assert run("check").exit_code == 0  # time-limit notices on a closed ticket are not "events after a close"
    run("ticket", "visit", tid, "客户满意", now=at("12:00", day=24))
    assert (tid, "followup_visit") not in check(run, at("12:30", day=24))
    # long after the deadline and its escalation, the closed ticket leaves the list (report sla counts the miss)
    assert all(k[0] != tid for k in check(run, at("12:00", day=27)))


def test_after_a_reopen_the_visit_runs_from_the_second_resolution(run):
    """Resolved Monday 10:00, reopened 12:00, resolved again Tuesday 15:00: the visit is due
    Wednesday 15:00 (not Tuesday 10:00, before the resolution it follows)."""
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "您好", now=at("09:05"))
    run("ticket", "resolve", tid, "换新", now=at("10:00"))
    run("ticket", "reopen", tid, "新品也有裂纹", now=at("12:00"))
    run("ticket", "resolve", tid, "退款", now=at("15:00", day=24))
    rows = check(run, at("16:00", day=24))
    assert rows[(tid, "followup_visit")]["deadline"] == at("15:00", day=25)
    run("ticket", "visit", tid, "客户满意", now=at("14:00", day=25))
    assert report(run, at("18:00", day=25))["followup_visit"] == (2, 1, 0, 0, 1)


# ------------------------------------------------------------------ 3. abnormal tickets stay counted


def test_a_ticket_that_turns_abnormal_stays_in_the_24_hour_close_share(run):
    """Seed 000 §7: 连续一个月工单24小时处理完毕率需达到95%以上. A ticket that turns abnormal
    (a customer threatens exposure) at 11:00 and is closed the next day keeps its close
    cycle: missed. Counts add up: met + missed + pending + not applicable = cycles."""
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "您好", now=at("09:05"))
    run("ticket", "message", tid, "再不处理我就曝光你们", now=at("11:00"))
    run("ticket", "close", tid, "--force", "已赔付", by="l01", now=at("12:00", day=24))
    ok = run.new(now=at("09:00", day=25))
    run("ticket", "reply", ok, "您好", now=at("09:05", day=25))
    rows = report(run, at("12:00", day=25), "--month", "2026-11")
    assert rows["close"] == (2, 0, 1, 1, 0)
    for counts in rows.values():
        assert counts[0] == sum(counts[1:])
    table = run("report", "sla", "--month", "2026-11", now=at("12:00", day=25)).stdout
    assert table.splitlines()[1].split()[:8] == ["timer", "name", "target", "cycles", "met", "missed", "pending", "n/a"]


# ------------------------------------------------------------------ 4. a wait begun after a miss


def test_a_wait_begun_after_the_deadline_moves_nothing_and_the_red_header_keeps_rising(run):
    """Seed 000 FAQ (红头工单): every further 2 h late copies the next superior. An abnormal
    ticket's 4-hour reply was due 13:00; put waiting at 23:00, at 09:00 the next morning it
    is 20 h late: level 3, not level 0."""
    tid = run.new(summary="我要曝光你们", now=at("09:00"))
    run("ticket", "wait", tid, "等客户提供订单截图", now=at("23:00"))
    rows = check(run, at("09:00", day=24))
    reply = rows[(tid, "abnormal_reply")]
    assert (reply["deadline"], reply["state"], reply["level"], reply["paused"]) == (at("13:00"), "breached", 3, False)


def test_a_wait_begun_before_the_deadline_still_moves_it(run):
    tid = run.new(now=at("09:00"))
    run("ticket", "reply", tid, "请拍照", now=at("09:10"))
    run("ticket", "wait", tid, "等照片", now=at("10:00"))
    run("ticket", "resume", tid, now=at("12:00"))
    assert check(run, at("12:30"))[(tid, "close")]["deadline"] == at("11:00", day=24)


# ------------------------------------------------------------------ 5. per-channel limits


def test_a_complaint_is_answered_in_5_min_in_chat_and_15_min_by_email(run):
    """Seed 003 §2.1.1: 平台内客服聊天窗口…5分钟内完成首次回复; 邮件投诉…15分钟内."""
    chat = run.new(category="attitude", model=None, summary="客服态度差", channel="taobao", now=at("09:00"))
    mail = run.new(category="attitude", model=None, summary="客服态度差", channel="email", now=at("09:00"))
    social = run.new(category="attitude", model=None, summary="客服态度差", channel="social", now=at("09:00"))
    rows = check(run, at("09:06"))
    assert (rows[(chat, "complaint_response_chat")]["deadline"], rows[(chat, "complaint_response_chat")]["state"]) == \
        (at("09:05"), "breached")
    assert (chat, "complaint_response") not in rows
    assert rows[(mail, "complaint_response")]["deadline"] == rows[(social, "complaint_response")]["deadline"] == at("09:15")


def test_a_timer_naming_an_unknown_channel_is_refused(run, shop):
    p = shop / "policies" / "timers.toml"
    p.write_text(p.read_text(encoding="utf-8").replace('"wechat", "mall"]', '"wechat", "mal"]', 1), encoding="utf-8")
    r = run("check")
    assert r.exit_code != 0 and "unknown channel 'mal'" in r.stdout + r.stderr, r.stdout + r.stderr


# ------------------------------------------------------------------ 6. auto-replies do not count


def test_an_automatic_reply_stops_no_timer(run):
    """Seed 003: 自动回复不计入有效响应."""
    tid = run.new(category="attitude", model=None, summary="客服态度差", channel="taobao", now=at("09:00"))
    r = run("ticket", "reply", tid, "--auto", "您好,客服马上回复您", now=at("09:00"))
    assert r.stdout == f"{ids.short(tid)}: reply auto recorded (stops no time limit)\n"
    assert check(run, at("09:06"))[(tid, "complaint_response_chat")]["state"] == "breached"
    r = run("ticket", "reply", tid, "非常抱歉给您带来不好的体验", now=at("09:07"))
    assert r.stdout == f"{ids.short(tid)}: reply recorded (first contact, 7m after opening)\n"
    assert report(run, at("12:00"))["complaint_response_chat"] == (1, 0, 1, 0, 0)


# ------------------------------------------------------------------ 7. working days from midnight


def test_one_working_day_from_midnight_is_the_end_of_that_days_hours(run):
    """A consultation opened at 00:00 Tuesday (between Monday's and Tuesday's hours) is due
    at the end of Tuesday's hours, as if opened at Tuesday's opening."""
    tid = run.new(category="usage", model=None, order=None, summary="怎么除垢", now=at("00:00", day=24))
    late = run.new(category="usage", model=None, order=None, summary="怎么除垢", now=at("09:00", day=24))
    assert check(run, at("08:00", day=24))[(tid, "consultation_answer")]["deadline"] == at("18:00", day=24)
    assert check(run, at("09:00", day=24))[(late, "consultation_answer")]["deadline"] == at("18:00", day=24)


# ------------------------------------------------------------------ 15. out of stock, reshipped waybills


def chase(run, now):
    r = run("logistics", "check", "--format", "json", now=now)
    return [(x["rule"], x["waybill"], x["ticket"]) for x in json.loads(r.stdout)]


def test_out_of_stock_no_answer_in_24_hours_means_a_phone_call(run):
    """Seed 001 缺货: 留言告知客户知悉给出解决方案-24h小时内客户未回复需电话告知客户."""
    quiet = run.new(category="out_of_stock", model=None, summary="订单缺货", now=at("09:00"))
    answers = run.new(category="out_of_stock", model=None, summary="订单缺货", now=at("09:00"))
    for tid in (quiet, answers):
        run("ticket", "reply", tid, "您好,您的商品缺货,预计12月1日到货", now=at("10:00"))
    run("ticket", "message", answers, "好的,我等", now=at("15:00"))
    rows = check(run, at("10:01", day=24))
    assert (rows[(quiet, "out_of_stock_call")]["state"], rows[(quiet, "out_of_stock_call")]["deadline"]) == \
        ("breached", at("10:00", day=24))
    assert (answers, "out_of_stock_call") not in rows
    r = run("ticket", "call", quiet, "电话告知缺货,客户同意换色", now=at("10:30", day=24))
    assert r.stdout == f"{ids.short(quiet)}: call recorded\n"
    assert report(run, at("12:00", day=24))["out_of_stock_call"] == (2, 1, 1, 0, 0)


def test_a_reshipments_new_waybill_is_owed_to_the_customer_until_a_reply_carries_it(run):
    """Seed 001: 如遇补发订单,一定要将补发单号主动留言给客户."""
    tid = run.new(category="transit_damage", model=None, courier="sf", waybill="SF111", summary="碗碎了",
                  now=at("09:00"))
    run("ticket", "reply", tid, "您好", now=at("09:05"))
    run("reship", "new", "--ticket", tid, "--new-waybill", "SF222", "--courier", "sf", "--reason", "破损补发",
        "--responsible", "快递", now=at("10:00"))
    assert chase(run, at("10:01")) == [("send_waybill", "SF222", tid)]
    run("reply", "reship_notice", tid, "--send", now=at("10:02"))
    assert chase(run, at("10:03")) == []


# ------------------------------------------------------------------ 16. remark, daily progress, weekly reminders


def test_the_order_remark_is_due_5_minutes_after_payment(run):
    """Seed 001: 备注需在付款5分钟内完成备注. The payment time is the ticket's purchase time."""
    tid = run.new(category="order_remark", model=None, demand=None, purchased="2026-11-23T09:00:00+08:00",
                  summary="改地址", now=at("09:01"))
    assert check(run, at("09:04"))[(tid, "order_remark")]["deadline"] == at("09:05")
    r = run("remark", "address", "--ticket", tid, "--address", "浙江省杭州市西湖区文三路1号 王女士 13812345678",
            "--record", now=at("09:04"))
    assert r.exit_code == 0 and r.stderr == f"{ids.short(tid)}: remark recorded\n"
    assert report(run, at("12:00"))["order_remark"] == (1, 1, 0, 0, 0)
    dated = run.new(category="order_remark", model=None, demand=None, purchased="2026-11-23", summary="改地址",
                    now=at("09:10"))
    assert (dated, "order_remark") not in check(run, at("09:20"))  # a bare date holds no payment time


def test_repair_progress_is_reported_every_day_before_16(run):
    """Seed 004 §3.1: 对于需维修的产品…每日16:00前向客户反馈进度. Opened Monday 10:00:
    reported Monday 15:00 (met), nothing Tuesday (missed), Wednesday 15:59 (met);
    resolved Thursday 09:00, so Thursday's report is not owed."""
    tid = run.new(category="tech_fault", model="K-200", summary="水壶不加热,返厂维修", now=at("10:00"))
    run("ticket", "reply", tid, "已安排维修", now=at("15:00"))
    assert check(run, at("16:30"))[(tid, "repair_progress")]["deadline"] == at("16:00", day=24)
    run("ticket", "reply", tid, "维修进度:已检测", now=at("15:59", day=25))
    run("ticket", "resolve", tid, "已修好寄回", now=at("09:00", day=26))
    assert report(run, at("18:00", day=26))["repair_progress"] == (4, 2, 1, 0, 1)


def test_the_friday_brief_and_the_monday_review_come_due_as_reminders(run):
    """Seed 004: 每周五17:00前…输出《售后问题分析简报》; 每周一10:00前复盘高频问题."""
    r = run("sla-check", "--reminders", now=at("15:00", day=27))
    assert r.stdout.splitlines()[2].split() == ["-", "weekly_brief", "售后问题分析简报", "reminder", "11-27", "17:00",
                                                "2h00m"]
    r = run("sla-check", "--reminders", "--format", "json", now=at("09:00", day=30))
    assert [(x["timer"], x["deadline"], x["left"]) for x in json.loads(r.stdout)] == \
        [("weekly_review", at("10:00", day=30), "1h00m")]
    assert json.loads(run("sla-check", "--reminders", "--format", "json", now=at("10:01", day=30)).stdout) == []


# ------------------------------------------------------------------ 17. the chase list


def test_the_chase_list_covers_what_the_open_tickets_say(run, shop):
    """Seed 001 催件 符合条件: 1.客户二次进线催促 … 5.签收未收到 6.确定缺货订单 7.确认地址异常无法发货订单;
    签收未收到, 非代签: 反馈快递提供签收底单 … 超24小时未有结果报遗失."""
    from aftersales import ledger
    from aftersales.policy import load_policy

    ledger.append(shop, "shipments", [{"waybill": "ZT9", "at": at("08:00", day=20), "order": "TB9", "courier": "zto",
                                       "destination": "浙江杭州", "shipped_at": at("08:00", day=20),
                                       "collected_at": at("09:00", day=20), "signed_at": at("09:00", day=22),
                                       "signed_by": "本人"}], load_policy(shop))
    again = run.new(category="logistics_query", model=None, demand=None, summary="快递到哪了", waybill="ZT8",
                    now=at("09:00"))
    run("ticket", "message", again, "怎么还没到", now=at("11:00"))
    lost = run.new(category="signed_not_received", model=None, demand=None, summary="显示签收但没收到", order="TB9",
                   waybill="ZT9", now=at("09:30"))
    oos = run.new(category="out_of_stock", model=None, summary="缺货", now=at("09:40"))
    addr = run.new(category="bad_address", model=None, demand=None, summary="地址不在配送范围", now=at("09:50"))
    assert chase(run, at("12:00")) == [("signature_slip", "ZT9", lost), ("out_of_stock", "", oos),
                                       ("bad_address", "", addr), ("asked_again", "ZT8", again)]
    assert ("report_lost", "ZT9", lost) in chase(run, at("09:31", day=24))
