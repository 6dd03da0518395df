"""Rebuild the demo shop's ledgers (top-level ledgers/) through the real commands.

    python tools/make_demo.py

Run it from the repository root; it refuses to touch ledgers that already hold rows
unless --force is given (ledgers are append-only; this is the one place they are
rebuilt, because the demo is generated data).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

from aftersales.cli.root import cli
from aftersales.ledger import LEDGERS, create

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "tools" / "demo-evidence"


def run(*args, by="a01", now):
    r = CliRunner().invoke(cli, ["--workspace", str(ROOT), "--by", by, "--now", now, *map(str, args)],
                           catch_exceptions=False)
    if r.exit_code not in (0, 1):
        sys.exit(f"demo step failed: {args}: {r.stderr}")
    return r.stdout


def new(now, by="a01", **f):
    args = ["ticket", "new", "--format", "csv"]
    for k, v in f.items():
        args += [f"--{k.replace('_', '-')}", v]
    return run(*args, by=by, now=now).splitlines()[1].split(",")[0]


def t(day, hm):
    return f"2026-11-{day:02d}T{hm}:00+08:00"


DEMO_SHIPMENTS = [
    # waybill, order, courier, destination, shipped, collected, last update, signed, signed by
    ("SF1488001", "TB20261115088", "sf", "浙江杭州", t(13, "10:00"), t(13, "16:00"), t(14, "08:00"), t(17, "10:30"), "本人"),
    ("YT5566002", "PDD2611220031", "yto", "广东深圳", t(19, "09:00"), t(19, "18:00"), t(20, "22:00"), t(21, "14:00"), "本人"),
    ("ZT7733003", "TB20261122045", "zto", "江苏南京", t(20, "09:00"), t(20, "17:00"), t(21, "20:00"), t(22, "17:40"), "门卫代签"),
    ("JT9900004", "WX2611170002", "jt", "新疆乌鲁木齐", t(17, "09:00"), t(17, "18:00"), t(19, "07:00"), "", ""),
    ("YD3344005", "MALL20261122007", "yunda", "上海", t(22, "10:00"), "", "", "", ""),
]


def add_shipments():
    """The demo's shipments (appended; run by main, or alone: `python tools/make_demo.py --shipments`)."""
    from aftersales import ledger
    from aftersales.policy import load_policy

    cols = ("waybill", "order", "courier", "destination", "shipped_at", "collected_at", "last_update_at", "signed_at",
            "signed_by")
    rows = [dict(zip(cols, r), at=t(23, "08:00"), source="demo") for r in DEMO_SHIPMENTS]
    ledger.append(ROOT, "shipments", rows, load_policy(ROOT))


HISTORY = [  # (day in November, category, model, batch): weeks 44-46, for the weekly brief's trends
    (2, "quality", "K-200", "B2610"), (3, "logistics_query", "", ""), (3, "usage", "", ""), (4, "short_wrong", "", ""),
    (5, "transit_damage", "", ""), (6, "logistics_query", "", ""),
    (9, "quality", "K-200", "B2610"), (9, "quality", "K-300", "B2609"), (10, "logistics_query", "", ""),
    (10, "logistics_query", "", ""), (11, "attitude", "", ""), (12, "usage", "", ""), (13, "transit_damage", "", ""),
    (16, "quality", "K-200", "B2611"), (16, "logistics_query", "", ""), (17, "logistics_query", "", ""),
    (17, "logistics_query", "", ""), (18, "quality", "K-200", "B2611"), (19, "short_wrong", "", ""),
    (19, "usage", "", ""), (20, "return_request", "", ""),
]


def add_history():
    """Closed tickets of the three weeks before (`python tools/make_demo.py --history`)."""
    for i, (day, cat, model, batch) in enumerate(HISTORY):
        hm = f"{9 + i % 8:02d}:{(i * 7) % 60:02d}"
        f = dict(channel=("taobao", "jd", "pdd", "douyin")[i % 4], category=cat, order=f"HIS2611{i:04d}",
                 customer="老客户", phone=f"1390000{i:04d}", summary="历史工单: 已处理")
        if model:
            f.update(model=model, batch=batch)
        if cat == "attitude":  # a complaint records the customer's core demand (seed 003 §2.1.2)
            f.update(demand="apology")
        tid = new(t(day, hm), by=("a01", "a02", "a03")[i % 3], **f)
        run("ticket", "reply", tid, "您好, 马上为您处理", by="a01", now=t(day, hm))
        run("ticket", "resolve", tid, "已处理", now=t(day, hm))
        run("ticket", "close", tid, "--force", "历史数据", by="l01", now=t(day + 1, hm))
        if i % 4 == 0:
            run("survey", "record", tid, "--speed", "5", "--result", str(3 + i % 3), "--attitude", "5", now=t(day + 1, hm))


def main():
    if "--shipments" in sys.argv:
        add_shipments()
        return
    if "--history" in sys.argv:
        add_history()
        return
    ledgers = ROOT / "ledgers"
    if any(len((ledgers / f"{n}.csv").read_text(encoding="utf-8").splitlines()) > 1
           for n in LEDGERS if (ledgers / f"{n}.csv").exists()) and "--force" not in sys.argv:
        sys.exit("ledgers/ already holds rows; pass --force to rebuild the demo")
    shutil.rmtree(ledgers, ignore_errors=True)
    shutil.rmtree(ROOT / "evidence", ignore_errors=True)
    for name in LEDGERS:
        create(ROOT, name)

    # 1. A quality problem handled start to finish (closed).
    a = new(t(16, "09:05"), channel="taobao", category="quality", order="TB20261115088", customer="王女士",
            phone="13812345678", purchased="2026-11-12", member="gold", model="K-200", batch="B2611",
            item_amount="299.00", order_amount="309.00", summary="收到的电水壶底部有裂纹, 一加水就漏", demand="exchange")
    run("ticket", "reply", a, "您好, 非常抱歉给您带来不好的体验, 麻烦您拍一下包裹的6个面和产品照片哦~", now=t(16, "09:18"))
    run("ticket", "verify", a, "订单号与手机号一致", now=t(16, "09:19"))  # order, channel, phone, purchase, level on file
    run("ticket", "wait", a, "等客户拍照", now=t(16, "09:20"))
    run("ticket", "message", a, "照片发您了, 外箱也压坏了", now=t(16, "11:02"))
    run("ticket", "resume", a, now=t(16, "11:05"))
    for kind in ("item", "box", "waybill", "six_sides"):
        run("ticket", "evidence", a, kind, EVIDENCE / f"{'box' if kind == 'six_sides' else kind}.svg", now=t(16, "11:06"))
    run("ticket", "resolve", a, "换新, 顺丰寄出, 旧件无需寄回", now=t(16, "11:30"))
    run("ticket", "accept", a, "客户同意换新", now=t(16, "11:31"))
    run("ticket", "visit", a, "回访: 新品已收到, 客户满意", now=t(17, "10:00"))
    run("ticket", "close", a, "--cause", "快递外箱受压导致内损, 已同步仓储部加强内包", now=t(17, "10:05"))

    # 2. A consultation answered at once and resolved.
    b = new(t(20, "14:00"), by="a02", channel="jd", category="usage", customer="李先生", phone="13900001111",
            summary="新买的空气炸锅第一次用要先空烧吗?", demand="answer")
    run("ticket", "reply", b, "您好, 第一次使用建议200度空烧10分钟去除异味~", by="a02", now=t(20, "14:06"))
    run("ticket", "resolve", b, "已说明首次使用方法", by="a02", now=t(20, "14:07"))

    # 3. A wrong item waiting on the customer for photos.
    c = new(t(22, "10:15"), by="a02", channel="pdd", category="short_wrong", order="PDD2611220031",
            customer="陈女士", phone="13700002222", summary="买的是白色, 收到的是黑色", demand="exchange",
            shipping_fee="8.00")
    run("ticket", "reply", c, "非常抱歉发错颜色了, 麻烦您拍一下收到的产品和面单哦", by="a02", now=t(22, "10:25"))
    run("ticket", "wait", c, "等客户拍照", by="a02", now=t(22, "10:26"))

    # 4. A complaint with a sensitive word, not yet answered.
    d = new(t(23, "08:40"), by="a03", channel="douyin", category="product_complaint", order="DY2611210007",
            customer="赵先生", phone="13600003333", summary="第二次坏了, 再不处理我就找媒体曝光", demand="compensation")
    run("ticket", "assign", d, "--to", "e01", "--reason", "敏感词: 媒体, 曝光", by="l01", now=t(23, "08:50"))

    # 5. A batch defect with its batch number, routed to QC.
    e = new(t(21, "16:20"), channel="mall", category="batch_defect", order="MALL20261120019", customer="周女士",
            phone="13500004444", model="K-200", batch="B2611", summary="同一批次的水壶都有异味", demand="refund",
            item_amount="299.00", order_amount="299.00")
    run("ticket", "assign", e, "--department", "qc", "--reason", "批量质量缺陷, 反馈批次号", now=t(21, "16:30"))
    run("ticket", "reply", e, "已反馈品控部门核查该批次, 24小时内给您答复", now=t(21, "16:35"))

    # 6. Transit damage, opened this morning, no first contact yet.
    f = new(t(23, "09:10"), channel="taobao", category="transit_damage", order="TB20261122045", customer="吴先生",
            phone="13400005555", summary="快递送来外箱破了, 里面的碗碎了两个", demand="reship", item_amount="59.00",
            order_amount="118.00")

    # 7. An old logistics question never resolved (over 48 h).
    g = new(t(19, "15:00"), by="a03", channel="wechat", category="logistics_query", order="WX2611170002",
            customer="郑女士", phone="13300006666", summary="三天了物流一直不更新", demand="answer")
    run("ticket", "reply", g, "小主, 这边已经给您联系快递催件, 麻烦您再关注下物流", by="a03", now=t(19, "15:20"))
    run("ticket", "message", g, "还是没动静啊", now=t(21, "09:00"))

    # 8. A reopened return request.
    h = new(t(18, "11:00"), channel="taobao", category="return_request", order="TB20261110077", customer="孙女士",
            phone="13200007777", summary="七天无理由退货", demand="refund", order_amount="89.00",
            purchased="2026-11-10", member="regular")
    run("ticket", "reply", h, "您好, 已为您发送退货地址", now=t(18, "11:10"))
    run("ticket", "verify", h, now=t(18, "11:11"))
    for kind in ("item", "six_sides"):
        run("ticket", "evidence", h, kind, EVIDENCE / f"{'box' if kind == 'six_sides' else kind}.svg", now=t(18, "11:15"))
    run("ticket", "resolve", h, "已同意退货退款", now=t(18, "11:20"))
    run("ticket", "accept", h, now=t(18, "11:21"))
    run("ticket", "close", h, "--cause", "客户不喜欢颜色", now=t(18, "11:30"))
    run("ticket", "reopen", h, "退款还没到账", now=t(22, "18:00"))
    add_shipments()
    add_history()
    # The cron job that routes open tickets (they turn abnormal with time), last run at 09:00 today.
    run("route", "--all", now=t(23, "09:00"))
    print("demo ledgers rebuilt:", ", ".join(x[:7] for x in (a, b, c, d, e, f, g, h)))


if __name__ == "__main__":
    main()
