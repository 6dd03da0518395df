"""Issue 16, the desk's rules of the five manuals: one scenario per point, in the seeds' words,
at fixed times, with the exact output."""

from __future__ import annotations

import csv
import json

import pytest

from aftersales import ids


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


def rows(shop, name="tickets"):
    with open(shop / "ledgers" / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def photo(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(name.encode())
    return p


# 8. seed 003 §1.2 / §2.1.2 ------------------------------------------------------


def test_8_after_sales_service_complaints_record_contact_order_and_core_demand(run, ledgers_unchanged):
    """Seed 003: 商品质量、物流配送、售后服务、订单问题、账户异常、营销活动; 联系方式, 订单编号
    (核心要素,必须准确记录), 客户的核心诉求."""
    r = run("ticket", "categories", "--format", "json")
    complaints = [(c["category"], c["name"], c["required"]) for c in json.loads(r.stdout) if c["kind"] == "complaint"]
    assert [c[:2] for c in complaints] == [
        ("attitude", "服务态度"), ("false_ad", "虚假宣传"), ("pro_claimant", "职业打假"),
        ("product_complaint", "产品投诉"), ("logistics_complaint", "物流投诉"), ("service_complaint", "售后服务投诉"),
        ("order_complaint", "订单投诉"), ("account_complaint", "账户投诉"), ("marketing_complaint", "营销活动投诉")]
    assert {tuple(c[2]) for c in complaints} == {("order", "phone", "demand")}
    with ledgers_unchanged():
        r = run("ticket", "new", "--channel", "hotline", "--category", "service_complaint",
                "--summary", "售后退款拖延一周了", now=at("09:00"))
    assert (r.exit_code, r.stderr) == (2, "error: category 'service_complaint' (售后服务投诉) needs: --order, --phone, --demand\n")
    r = run("ticket", "new", "--channel", "hotline", "--category", "service_complaint", "--summary", "售后退款拖延一周了",
            "--order", "TB20261120008", "--phone", "13812345678", "--demand", "refund", now=at("09:00"))
    assert r.exit_code == 0 and r.stdout.endswith("  priority P1 (高)  投诉类/售后服务投诉\n")


# 9. seed 000 §3 ----------------------------------------------------------------


def test_9_verify_names_what_of_the_identity_check_is_not_on_file(run, ledgers_unchanged):
    """Seed 000 §3 客户身份校验: 核对订单号、购买渠道、手机号、购买时间及会员等级."""
    tid = run.new(now=at("09:00"))
    short = ids.short(tid)
    with ledgers_unchanged():
        r = run("ticket", "verify", short, now=at("09:05"))
    assert (r.exit_code, r.stderr) == (2, f"error: ticket {short}: cannot verify the identity: not on file: "
                                          f"purchased_at, member_level; add them with `aftersales ticket set {short} FIELD VALUE`\n")
    run("ticket", "set", short, "purchased_at", "2026-11-12", now=at("09:06"))
    run("ticket", "set", short, "member_level", "gold", now=at("09:06"))
    r = run("ticket", "verify", short, "订单号与手机号一致", now=at("09:07"))
    assert (r.exit_code, r.stdout) == (0, f"{short}: verify recorded\n")


# 10. seed 001 -------------------------------------------------------------------


@pytest.mark.parametrize("category, extra", [
    ("quality", {}), ("short_wrong", {"model": None}), ("transit_damage", {"model": None}),
    ("batch_defect", {"batch": "B2611"}), ("return_request", {"model": None})])
def test_10_every_after_sales_problem_needs_six_sides_and_the_product(run, category, extra):
    """Seed 001: 上述所有问题均需客户提供外包装6个面及产品照片."""
    tid = run.new(category=category, now=at("09:00"), **extra)
    doc = json.loads(run("ticket", "show", tid, "--format", "json", now=at("09:01")).stdout)
    assert [m for m in doc["checklist_missing"] if m.startswith("evidence")][0].startswith("evidence missing: item (实物图)")
    assert "six_sides (包裹六面图)" in [m for m in doc["checklist_missing"] if m.startswith("evidence")][0]


# 11. seed 000 §6 ----------------------------------------------------------------


def _ready(run, tmp_path, reply_with_script: bool, first_reply: str):
    tid = run.new(now=at("09:00"), purchased="2026-11-12", member="gold")
    if reply_with_script:
        assert run("reply", "soothe", tid, "--send", now=at(first_reply)).exit_code == 0
    else:
        run("ticket", "reply", tid, "您好", now=at(first_reply))
    run("ticket", "verify", tid, now=at("09:50"))
    for kind in ("item", "box", "waybill", "six_sides"):
        run("ticket", "evidence", tid, kind, photo(tmp_path, f"{kind}.jpg"), now=at("10:00"))
    run("ticket", "resolve", tid, "换新", now=at("10:10"))
    run("ticket", "accept", tid, now=at("10:11"))
    return tid


def test_11_the_closing_checklist_is_recorded_y_n_with_wording_and_the_30_minute_contact(run, shop, tmp_path):
    """Seed 000 §6: 身份确认, 证据合规, 沟通话术 (品牌官方礼貌语), 时效记录 (30分钟内首次联系),
    方案达成, 闭环归档 — 状态(Y/N)."""
    good = _ready(run, tmp_path, True, "09:20")
    r = run("ticket", "close", good, "--cause", "出库前质检漏检", now=at("10:30"))
    assert r.stdout == (f"{ids.short(good)}: closed\n"
                        "  checklist: identity Y, evidence Y, wording Y, first_contact Y, accepted Y, cause Y\n")
    late = _ready(run, tmp_path, False, "09:45")
    r = run("ticket", "close", late, "--cause", "快递内损", now=at("10:30"))
    assert r.stdout == (f"{ids.short(late)}: closed\n"
                        "  checklist: identity Y, evidence Y, wording N, first_contact N, accepted Y, cause Y\n")
    closes = [json.loads(x["data"])["checklist"] for x in rows(shop) if x["type"] == "close"]
    assert closes[1] == {"identity": "Y", "evidence": "Y", "wording": "N", "first_contact": "N", "accepted": "Y",
                         "cause": "Y"}
    shown = run("ticket", "show", late, now=at("10:31")).stdout
    assert "  closing checklist: identity Y, evidence Y, wording N, first_contact N, accepted Y, cause Y\n" in shown


# 12-14. seed 002 ---------------------------------------------------------------


def _incident(run, n=1, **kw):
    tids = [run.new(category="batch_defect", batch="B2611", summary=f"水壶异味 {i}", now=at("09:00"), **kw)
            for i in range(n)]
    r = run("incident", "open", "--type", "quality", "--title", "K-200 批次 B2611 异味", *tids, now=at("09:00"))
    return r.stdout.split()[1], tids


def test_12_response_approval_and_review_with_its_deadline(run, ledgers_unchanged):
    """Seed 002: 三级事件2小时内联系客户; 解决方案需经...审批; 复盘 5W1H, 三级事件72小时内."""
    iid, _ = _incident(run)
    r = run("incident", "respond", iid, "已逐一致电客户致歉, 说明原因, 承诺24小时内答复", by="a01", now=at("10:30"))
    assert r.stdout == f"incident {iid}: response recorded (in time, due 11-23 11:00)\n"
    run("incident", "resolve", iid, "该批次召回换新", by="m01", now=at("15:00"))
    with ledgers_unchanged():
        r = run("incident", "approve", iid, by="a01", now=at("15:10"))
    assert (r.exit_code, r.stderr) == (2, f"error: incident {iid} is L3: its solution is approved by a cs_manager "
                                          "(客服经理) or higher; a01 is agent (售后客服专员)\n")
    assert run("incident", "approve", iid, "同意召回", by="m01", now=at("15:20")).stdout == \
        f"incident {iid}: solution approved\n"
    doc = json.loads(run("incident", "show", iid, "--format", "json", now=at("16:00", 26)).stdout)
    assert (doc["response"], doc["review_due"], doc["review"], doc["approved_by"]) == (
        "met", "2026-11-26T15:00:00+08:00", "OVERDUE", "m01")
    listed = run("incident", "list", "--format", "csv", now=at("16:00", 26)).stdout.splitlines()
    assert listed[1].endswith(",met,2026-11-26T15:00:00+08:00,OVERDUE,0.8")
    r = run("incident", "review", iid, "--what", "B2611 批次异味, 1名客户投诉", "--why", "密封圈供应商换料",
            "--who", "客服组沟通, 品控组检测", "--when", "09:00 识别, 10:30 响应, 15:00 解决",
            "--where", "采购环节", "--how", "响应及时; 检测耗时长", by="m01", now=at("17:00", 26))
    assert r.stdout == f"incident {iid}: review recorded (late, due 11-26 15:00)\n"


def test_12_a_regrade_starts_the_new_levels_response_limit(run):
    """Seed 002: 二级事件1小时内 — from the regrade, not from the opening."""
    iid, _ = _incident(run)
    more = [run.new(category="batch_defect", batch="B2611", summary=f"异味 {i}", now=at("09:00")) for i in range(9)]
    run("incident", "respond", iid, "已联系首位客户", now=at("09:30"))
    r = run("incident", "join", iid, *more, now=at("13:00"))
    assert r.stdout == f"incident {iid}: 10 tickets, level L2, regraded L3 -> L2\n"
    doc = json.loads(run("incident", "show", iid, "--format", "json", now=at("14:30")).stdout)
    assert (doc["response_due"], doc["response"]) == ("2026-11-23T14:00:00+08:00", "OVERDUE")
    shown = run("incident", "show", iid, now=at("14:30")).stdout
    assert "  response due: 2026-11-23 14:00 (1h after the regrade) - OVERDUE\n" in shown


def test_13_l3_is_led_by_the_cs_manager_not_the_team_lead(run):
    """Seed 002: 三级事件...由客服经理负责."""
    iid, _ = _incident(run)
    doc = json.loads(run("incident", "show", iid, "--format", "json", now=at("09:05")).stdout)
    assert (doc["lead_role"], doc["leads"]) == ("cs_manager", ["m01"])
    assert "  led by: 客服经理 (cs_manager): m01 钱经理\n" in run("incident", "show", iid, now=at("09:05")).stdout


def test_14_an_incident_cannot_close_without_its_archive(run, shop):
    """Seed 002 §4.4 记录归档: 《事件等级判定表》《客户问题信息表》《原因分析报告》《解决方案审批表》
    《问题解决确认单》《复盘报告》《改进措施清单》."""
    iid, _ = _incident(run)
    run("incident", "resolve", iid, "召回换新", by="m01", now=at("12:00"))
    before = (shop / "ledgers" / "incidents.csv").read_bytes()
    r = run("incident", "close", iid, by="m01", now=at("13:00"))
    assert r.exit_code == 1 and (shop / "ledgers" / "incidents.csv").read_bytes() == before
    assert r.stderr == (f"incident {iid}: not closed; the archive misses:\n"
                        "  - cause analysis (原因分析报告): `incident cause`\n"
                        "  - solution approval (解决方案审批表): `incident approve` by the level's owner\n"
                        "  - customer confirmation (问题解决确认单): `incident confirm`\n"
                        "  - review report (复盘报告): `incident review` with the 5W1H\n"
                        "  - improvement list (改进措施清单): `incident improve`\n")
    run("incident", "cause", iid, "根本原因: 密封圈供应商换料; 直接原因: 来料检验未覆盖气味", by="m01", now=at("13:00"))
    run("incident", "approve", iid, by="m01", now=at("13:05"))
    run("incident", "confirm", iid, "客户已确认换新正常使用", by="a01", now=at("13:10"))
    run("incident", "review", iid, *[x for k in ("what", "why", "who", "when", "where", "how") for x in (f"--{k}", k)],
        by="m01", now=at("13:20"))
    run("incident", "improve", iid, "增加来料气味检验", by="m01", now=at("13:30"))
    assert "  archive: grading Y, records Y, cause Y, approval Y, confirmation Y, review Y, improvements Y\n" in \
        run("incident", "show", iid, now=at("13:40")).stdout
    assert run("incident", "close", iid, by="m01", now=at("13:40")).stdout == f"incident {iid}: closed\n"


def test_14_recurrence_rate_and_monthly_trend(run):
    """Seed 002: 指标 — 复发率, 月度趋势."""
    first, _ = _incident(run)  # K-200 B2611, November
    t2 = run.new(category="batch_defect", batch="B2611", summary="又有异味", now=at("09:00", 30))
    run("incident", "open", "--type", "quality", "--title", "B2611 再次异味", t2, now=at("10:00", 30))
    t3 = run.new(category="attitude", model=None, summary="客服态度差", now="2026-12-02T09:00:00+08:00")
    run("incident", "open", "--type", "service", "--title", "夜班态度", t3, now="2026-12-02T09:00:00+08:00")
    r = run("incident", "report", "--months", "2", "--format", "csv", now="2026-12-05T09:00:00+08:00")
    assert r.stdout == ("month,opened,L1,L2,L3,responded_in_time,closed,recurrences,recurrence_rate\n"
                        "2026-11,2,0,0,2,0,0,1,0.5\n"
                        "2026-12,1,0,0,1,0,0,0,0.0\n")


# 18. seed 001 -------------------------------------------------------------------


def test_18_courier_at_fault_lets_an_agent_pay_more(run, ledgers_unchanged):
    """Seed 001: 责任认定如果在仓库/快递 则适当可提高赔付金额."""
    tid = run.new(item_amount="299.00", order_amount="309.00", now=at("09:00"))
    with ledgers_unchanged():
        r = run("compensate", tid, "--amount", "15.00", "--method", "balance", "--liability", "shop", now=at("10:00"))
    assert r.exit_code == 2 and "over a01's authority (agent: ¥10.00)" in r.stderr
    r = run("compensate", tid, "--amount", "15.00", "--method", "balance", "--liability", "courier", now=at("10:00"))
    assert r.exit_code == 0, r.stderr


def test_18_a_wrong_item_above_the_shipping_fee_goes_to_the_lead_first(run, ledgers_unchanged):
    """Seed 001: 错发协商补偿 — 正常的不超出运费范围; 不同意 → 引导客户升级到上级处理解决."""
    tid = run.new(category="short_wrong", model=None, shipping_fee="8.00", order_amount="120.00", now=at("09:00"))
    with ledgers_unchanged():
        r = run("compensate", tid, "--amount", "12.00", "--method", "balance", "--liability", "shop", now=at("10:00"))
    assert r.exit_code == 2
    assert r.stderr == (f"error: a total of ¥12.00 on ticket {ids.short(tid)} is over a01's authority (agent: ¥8.00)\n"
                        "hint: it needs the approval of a lead (客服组长, lead: 30% order_amount): add --approved-by STAFF\n")
    r = run("compensate", tid, "--amount", "12.00", "--method", "balance", "--liability", "shop",
            "--approved-by", "l01", now=at("10:00"))
    assert r.exit_code == 0, r.stderr


# 19. seed 001 -------------------------------------------------------------------


@pytest.mark.parametrize("options, error", [
    (["--address", "杭州市西湖区文三路1号 王女士 13812345678"],
     "error: remark 'address': --address '杭州市西湖区文三路1号 王女士 13812345678' lacks the province, city and "
     "district (省市区); the remark format (修改地址) asks for it\n"),
    (["--address", "浙江省杭州市西湖区文三路1号 13812345678"],
     "error: remark 'address': --address '浙江省杭州市西湖区文三路1号 13812345678' lacks the name (姓名), apart from "
     "the address; the remark format (修改地址) asks for it\n"),
    (["--address", "浙江省杭州市西湖区文三路1号 王女士"],
     "error: remark 'address': --address '浙江省杭州市西湖区文三路1号 王女士' lacks the phone (电话); the remark "
     "format (修改地址) asks for it\n"),
])
def test_19_an_address_change_names_province_city_district_name_and_phone(run, options, error):
    """Seed 001: 修改地址为:(客户提供地址,明确包含省市区具体地址姓名电话),接待ID,日期."""
    r = run("remark", "address", *options, now=at("10:00"))
    assert (r.exit_code, r.stderr) == (2, error)
    r = run("remark", "address", "--address", "北京市朝阳区建国路8号 李先生 13900001111", now=at("10:00"))
    assert r.stdout == "修改地址为:北京市朝阳区建国路8号 李先生 13900001111,a01,2026-11-23\n"


def test_19_an_sf_request_names_the_service_and_who_pays(run):
    """Seed 001: 快递名称,如遇顺丰切记备注标快/特快 寄付/到付 接待ID,日期."""
    r = run("remark", "courier", "--courier", "顺丰 寄付", now=at("10:00"))
    assert (r.exit_code, r.stderr) == (2, "error: remark 'courier': --courier '顺丰 寄付' lacks the SF service, 标快 or "
                                          "特快; the remark format (指定快递) asks for it\n")
    r = run("remark", "courier", "--courier", "顺丰 特快", now=at("10:00"))
    assert r.stderr == ("error: remark 'courier': --courier '顺丰 特快' lacks who pays, 寄付 or 到付; the remark format "
                        "(指定快递) asks for it\n")
    assert run("remark", "courier", "--courier", "顺丰 特快 到付", now=at("10:00")).stdout == "顺丰 特快 到付,a01,2026-11-23\n"
    assert run("remark", "courier", "--courier", "中通", now=at("10:00")).stdout == "中通,a01,2026-11-23\n"


# 20. seed 004 §6 ----------------------------------------------------------------


def test_20_escalation_rate_counts_complaints_escalated_for_a_service_failure(run):
    """Seed 004 §6: 投诉升级率 — 因服务失误导致的投诉升级(如客户向监管部门投诉)≤5%."""
    complaints = [run.new(category="attitude", model=None, summary=f"态度差 {i}", now=at("09:00")) for i in range(4)]
    run.new(summary="曝光 媒体", now=at("09:00"))  # abnormal after-sales ticket: not an escalation
    r = run("ticket", "escalated", complaints[0], "客户向12315投诉客服推诿", "--to", "regulator", now=at("15:00"))
    assert r.stdout == f"{ids.short(complaints[0])}: escalated regulator recorded\n"
    run("ticket", "escalated", complaints[1], "客户申请平台介入, 因商品本身", "--to", "platform", "--not-service-failure",
        now=at("15:00"))
    kpis = json.loads(run("report", "kpi", "--month", "2026-11", "--format", "json", now=at("18:00", 27)).stdout)
    row = [k for k in kpis if k["kpi"] == "escalation rate"][0]
    assert (row["count"], row["verdict"], row["detail"]) == ("1/4", "ABOVE", "complaints escalated beyond the shop for a service failure")
    r = run("ticket", "escalated", complaints[2], "x", "--to", "police", now=at("15:00"))
    assert r.exit_code == 2 and "--to police: unknown escalation target" in r.stderr


# 21. seed 001 (售前组长) ----------------------------------------------------------


def test_21_quality_inspection_coverage_and_one_to_one_reviews(run, shop, ledgers_unchanged):
    """Seed 001: 每日质检比例不得低于客服接待量40%; 发现低于90分聊天记录一对一分析."""
    assert run("inspect", "volume", "a01", "5", by="l01", now=at("18:00")).stdout == "a01 2026-11-23: 5 conversations\n"
    run("inspect", "volume", "a02", "10", by="l01", now=at("18:00"))
    with ledgers_unchanged():
        r = run("inspect", "record", "a02", "C-1", "--score", "80", by="a01", now=at("18:10"))
        assert (r.exit_code, r.stderr) == (2, "error: only a lead (客服组长) or higher inspects conversations; "
                                              "a01 is agent (售后客服专员)\n")
    r = run("inspect", "record", "a01", "C-100", "--score", "95", by="l01", now=at("18:10"))
    assert r.stdout.endswith(": a01 C-100 95 points\n")
    run("inspect", "record", "a01", "C-101", "--score", "92", by="l01", now=at("18:11"))
    r = run("inspect", "record", "a02", "C-200", "--score", "85", by="l01", now=at("18:12"))
    low = r.stdout.split()[1].rstrip(":")
    assert r.stdout == (f"inspection {low}: a02 C-200 85 points; under 90: review it one-to-one "
                        f"(`inspect review {low}`)\n")
    r = run("inspect", "day", "--format", "csv", by="l01", now=at("18:30"))
    assert r.stdout == ("day,agent,conversations,inspected,coverage,target,verdict,below_pass,reviews_owed\n"
                        "2026-11-23,a01,5,2,0.4,0.4,met,0,0\n"
                        "2026-11-23,a02,10,1,0.1,0.4,BELOW,1,1\n"
                        "2026-11-23,TOTAL,15,3,0.2,0.4,BELOW,1,1\n")
    owed = json.loads(run("inspect", "owed", "--format", "json", now=at("18:30")).stdout)
    assert [(o["inspection"], o["agent"], o["conversation"], o["score"], o["inspector"]) for o in owed] == [
        (low, "a02", "C-200", 85, "l01")]
    r = run("inspect", "review", low, "开场未使用标准问候语, 已一对一讲解", by="l01", now=at("10:00", 24))
    assert r.stdout == f"inspection {low}: reviewed one-to-one with a02\n"
    assert run("inspect", "owed", now=at("10:01", 24)).stdout == "no reviews owed\n"


# the other readings, chosen in policy ----------------------------------------------


def _edit(shop, name, old, new):
    p = shop / "policies" / name
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_12_an_agent_cannot_approve_an_l1_solution_nor_the_cs_manager(run, ledgers_unchanged):
    """Seed 002: 解决方案需经应急领导小组(一级事件)...审批 — L1's owner is the general manager."""
    iid, _ = _incident(run)
    run("incident", "flag", iid, "--media", now=at("10:00"))
    run("incident", "resolve", iid, "全批次召回", now=at("11:00"))
    with ledgers_unchanged():
        for who, role in (("a01", "agent (售后客服专员)"), ("m01", "cs_manager (客服经理)")):
            r = run("incident", "approve", iid, by=who, now=at("11:10"))
            assert (r.exit_code, r.stderr) == (2, f"error: incident {iid} is L1: its solution is approved by a manager "
                                                  f"(总经理) or higher; {who} is {role}\n")
    assert run("incident", "approve", iid, by="gm", now=at("11:10")).exit_code == 0


def test_11_a_shop_may_require_the_wording_at_close(run, shop, tmp_path):
    _edit(shop, "tickets.toml", 'checklist = ["identity", "evidence", "accepted", "cause"]',
          'checklist = ["identity", "evidence", "wording", "accepted", "cause"]')
    tid = _ready(run, tmp_path, False, "09:10")
    r = run("ticket", "close", tid, "--cause", "漏检", now=at("10:30"))
    assert r.exit_code == 1 and "  - no reply used the shop's official wording (`reply SCRIPT TICKET --send`)\n" in r.stderr


def test_20_a_shop_may_count_every_escalation(run, shop):
    _edit(shop, "reports.toml", "escalation_service_failure_only = true", "escalation_service_failure_only = false")
    tids = [run.new(category="attitude", model=None, summary=f"态度差 {i}", now=at("09:00")) for i in range(2)]
    run("ticket", "escalated", tids[0], "平台介入", "--to", "platform", "--not-service-failure", now=at("15:00"))
    kpis = json.loads(run("report", "kpi", "--month", "2026-11", "--format", "json", now=at("18:00")).stdout)
    row = [k for k in kpis if k["kpi"] == "escalation rate"][0]
    assert (row["count"], row["detail"]) == ("1/2", "complaints escalated beyond the shop")


def test_18_a_rule_naming_an_unknown_liability_is_reported(run, shop):
    _edit(shop, "compensation.toml", 'liabilities = ["courier", "warehouse"]', 'liabilities = ["courir", "warehouse"]')
    r = run("check")
    assert r.exit_code == 1 and "unknown liability 'courir'\n" in r.stdout and "hint: did you mean 'courier'?" in r.stdout


def test_14_an_unknown_archive_item_is_reported(run, shop):
    _edit(shop, "incidents.toml", '"improvements"]', '"improvement"]')
    r = run("check")
    assert r.exit_code == 1 and "unknown archive item 'improvement'\n" in r.stdout and "hint: did you mean 'improvements'?" in r.stdout


# bad input: one line, exit 2, nothing written ----------------------------------------


def test_bad_inspection_and_incident_input_is_one_line_and_writes_nothing(run, ledgers_unchanged):
    iid, _ = _incident(run)
    with ledgers_unchanged():
        for args, by, message in (
            (("inspect", "volume", "a09", "5"), "l01", "error: AGENT a09: unknown staff member; did you mean 'a03'?\n"),
            (("inspect", "volume", "a01", "5", "--date", "23/11"), "l01",
             "error: --date '23/11': write a day like 2026-11-23\n"),
            (("inspect", "record", "a01", "C-1", "--score", "120"), "l01", "error: --score 120: a QA score goes from 0 to 100\n"),
            (("inspect", "review", "ZZZZ", "谈过"), "l01", "error: unknown inspection 'ZZZZ'; `aftersales inspect owed` lists them\n"),
            (("incident", "review", iid, *[x for k in ("what", "why", "who", "when", "where", "how") for x in (f"--{k}", k)]),
             "m01", f"error: incident {iid} is not resolved; the review follows the resolution (`incident resolve`)\n"),
            (("incident", "approve", iid), "m01",
             f"error: incident {iid} has no solution to approve; record it with `aftersales incident resolve`\n"),
        ):
            r = run(*args, by=by, now=at("12:00"))
            assert (r.exit_code, r.stderr) == (2, message)


def test_init_creates_the_inspections_ledger(shop):
    assert (shop / "ledgers" / "inspections.csv").read_text(encoding="utf-8") == \
        "id,at,by,type,agent,day,ref,score,count,text\n"
