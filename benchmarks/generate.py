"""Generate a big, realistic shop workspace for the speed and memory benchmark.

    python benchmarks/generate.py OUTDIR [--events 1000000] [--seed 1]

Creates a workspace at OUTDIR with `init_workspace` (the default policy pack), then writes
about a year of after-sales history straight into OUTDIR/ledgers/tickets.csv: roughly one
ticket per five events (about 200,000 tickets for the default 1,000,000 events), spread
over the 12 months before 2026-11-23T12:00:00+08:00, rows sorted by time as an
append-only ledger grows. About 90% of the tickets are closed, 10% still open (most of
those recent, some stuck for months).

The rows look like what the commands write: `ticket new` (open, priority, and the routing
rows for tech faults, batch defects, inventory and sensitive words), reply, message,
wait/resume, assign, department notes, evidence, verify, resolve, accept, cause, close
(forced by the lead where the closing checklist is incomplete), visit, reopen, and the
`route --all` cron's "unresolved-48h" rows. Evidence rows point at a pool of small files
written under OUTDIR/evidence/ by content hash, so `aftersales check` finds them.

The output is a function of (--events, --seed): same arguments, same bytes. Nothing here
talks to the network or to the source tree; OUTDIR must not exist yet (or be empty).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sys
import time
from pathlib import Path

from aftersales import ids, ledger
from aftersales.scaffold import init_workspace

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=TZ)
NOW_TS = int(NOW.timestamp())
DAY = 86400
HOUR = 3600
MIN = 60
START_TS = NOW_TS - 365 * DAY
OPEN_SHARE = 0.10

# ---------------------------------------------------------------- the shop's vocabulary

AGENTS = ("a01", "a02", "a03")
LEAD = "l01"
EXPERT = "e01"
SPECIALIST = {"ops": "o01", "qc": "q01", "warehouse": "w01"}

# category -> (weight, kind, default priority, evidence kinds a close needs, intake-routing department)
CATEGORIES = {
    "logistics_query": (34, "consultation", "P3", (), ""),
    "usage": (20, "consultation", "P3", (), ""),
    "invoice": (6, "consultation", "P3", (), ""),
    "quality": (6, "after_sales", "P2", ("item", "box", "waybill"), ""),
    "short_wrong": (2.5, "after_sales", "P2", ("item", "box", "waybill"), ""),
    "transit_damage": (2.5, "after_sales", "P2", ("item", "box", "waybill", "six_sides"), ""),
    "out_of_stock": (2, "after_sales", "P2", (), ""),
    "return_request": (12, "after_sales", "P2", (), ""),
    "tech_fault": (1.5, "after_sales", "P2", (), "ops"),
    "batch_defect": (0.4, "after_sales", "P1", ("item",), "qc"),
    "inventory": (0.4, "after_sales", "P2", (), "warehouse"),
    "attitude": (1, "complaint", "P1", (), ""),
    "false_ad": (0.5, "complaint", "P1", (), ""),
    "pro_claimant": (0.2, "complaint", "P0", (), ""),
    "product_complaint": (1.8, "complaint", "P1", (), ""),
    "logistics_complaint": (1.8, "complaint", "P1", (), ""),
    "order_complaint": (0.8, "complaint", "P1", (), ""),
    "account_complaint": (0.3, "complaint", "P2", (), ""),
    "marketing_complaint": (1, "complaint", "P2", (), ""),
}
ROUTING_RULE = {"ops": "technical-fault", "qc": "batch-quality-defect", "warehouse": "inventory-discrepancy"}
NEEDS_ORDER = {"logistics_query", "invoice", "quality", "short_wrong", "transit_damage", "out_of_stock",
               "return_request", "batch_defect", "inventory", "pro_claimant", "product_complaint",
               "logistics_complaint", "order_complaint"}
NEEDS_MODEL = {"quality", "batch_defect"}

CHANNELS = {"taobao": 35, "jd": 15, "pdd": 15, "douyin": 12, "wechat": 8, "mall": 5, "social": 2, "store": 2,
            "hotline": 3, "email": 1, "complaint_platform": 2}
ORDER_PREFIX = {"taobao": "TB", "jd": "JD", "pdd": "PDD", "douyin": "DY", "wechat": "WX", "mall": "MALL",
                "social": "WX", "store": "MD", "hotline": "MALL", "email": "MALL", "complaint_platform": "TB"}
MEMBER_LEVELS = {"regular": 60, "silver": 25, "gold": 12, "diamond": 3}
DEMANDS = {
    "consultation": {"answer": 1},
    "after_sales": {"refund": 35, "exchange": 30, "reship": 20, "compensation": 10, "answer": 5},
    "complaint": {"compensation": 40, "apology": 30, "refund": 30},
}
COURIERS = ("sf", "zto", "yto", "sto", "yunda", "jd", "ems", "jt")
MODELS = (("K-200", "299.00"), ("K-150", "199.00"), ("AF-35", "459.00"), ("AF-50", "599.00"),
          ("RC-3", "369.00"), ("BL-8", "239.00"), ("TS-2", "129.00"), ("MW-20", "699.00"))
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
TITLES = ("先生", "女士", "女士", "先生", "小姐")

SUMMARIES = {
    "logistics_query": ("三天了物流一直不更新", "什么时候发货啊", "快递显示已签收但我没收到", "能不能改一下收货地址",
                        "物流停在中转站好几天了", "可以指定顺丰吗"),
    "usage": ("新买的空气炸锅第一次用要先空烧吗?", "电饭煲预约功能怎么设置", "破壁机声音有点大正常吗",
              "水壶要怎么除水垢", "说明书丢了, 定时怎么调"),
    "invoice": ("需要开增值税专用发票", "发票抬头写错了能重开吗", "电子发票在哪里下载"),
    "quality": ("收到的电水壶底部有裂纹, 一加水就漏", "用了两次就不加热了", "插上电没反应", "内胆涂层掉了",
                "开关按键失灵", "有很大的塑料味"),
    "short_wrong": ("买的是白色, 收到的是黑色", "少发了一个配件", "买了两件只收到一件", "发错型号了"),
    "transit_damage": ("快递送来外箱破了, 里面的碗碎了两个", "收到时玻璃盖碎了", "包装压扁了, 机身有凹痕"),
    "out_of_stock": ("付款后通知缺货, 什么时候有货", "预售说好的时间还没发"),
    "return_request": ("七天无理由退货", "不想要了, 申请退货", "尺寸不合适想换一个", "颜色和图片差太多, 想退"),
    "tech_fault": ("APP连不上设备", "小程序下单一直失败", "优惠券领了用不了", "设备固件升级失败"),
    "batch_defect": ("同一批次的水壶都有异味", "这批货的开关都松动"),
    "inventory": ("页面显示有货但下单说没货", "库存数量对不上"),
    "attitude": ("客服态度很差, 爱答不理", "客服说话很冲", "问了三次都没人回"),
    "false_ad": ("宣传说304不锈钢, 实际不是", "详情页写的功率和实物不符"),
    "pro_claimant": ("标签不符合国家标准, 要求十倍赔偿", "产品无中文标识, 要求赔偿"),
    "product_complaint": ("第二次坏了, 再不处理我就找媒体曝光", "质量太差了, 要投诉", "刚买就坏, 要求赔偿",
                          "用了一周就漏电, 我要去12315投诉"),
    "logistics_complaint": ("快递员态度恶劣还不送货上门", "说好次日达结果一周才到", "快递放驿站不通知"),
    "order_complaint": ("订单被无故取消", "付了款订单显示未支付", "退款申请被拒绝, 不合理"),
    "account_complaint": ("账户积分莫名被清零", "会员等级被降了"),
    "marketing_complaint": ("双11价保不给退差价", "满减活动结算时不生效", "赠品没有发"),
}
REPLIES = ("您好, 非常抱歉给您带来不好的体验, 这边马上为您处理~", "您好, 已收到您的反馈, 正在为您核实",
           "亲, 麻烦您提供一下订单号哦", "小主, 这边已经给您联系快递催件, 麻烦您再关注下物流",
           "您好, 第一次使用建议200度空烧10分钟去除异味~", "您好, 已为您发送退货地址",
           "非常抱歉, 麻烦您拍一下收到的产品和面单哦", "好的, 已为您登记, 24小时内给您答复")
FOLLOWUPS = ("已经在处理了, 请您耐心等待", "已为您申请, 预计1-3个工作日到账", "快递已加急, 有消息第一时间通知您",
             "已联系仓库核实, 稍后回复您", "方案已经发给您, 请查看")
MESSAGES = ("照片发您了, 外箱也压坏了", "还是没动静啊", "怎么还没处理?", "好的, 谢谢", "什么时候能退款?",
            "我已经寄回了, 单号发你了", "能不能快一点", "已经等了好几天了", "收到了, 谢谢")
WAITS = ("等客户拍照", "等客户寄回", "等客户提供订单号", "等客户确认方案")
RESOLUTIONS = ("换新, 顺丰寄出, 旧件无需寄回", "已同意退货退款", "已补发配件", "已说明使用方法", "已退款",
               "补偿20元无门槛券", "已开具发票", "已催件, 快递已派送", "已补发, 新单号已发客户", "部分退款30元")
ACCEPTS = ("客户同意方案", "客户同意换新", "客户表示满意", "客户接受补偿", "")
CAUSES = ("快递外箱受压导致内损, 已同步仓储部加强内包", "仓库拣货错误, 已培训", "客户不喜欢颜色", "产品批次质检漏检",
          "快递中转延误", "客户不熟悉使用方法, 已优化说明书", "页面描述不清, 已修改详情页", "系统故障, 已修复")
VISITS = ("新品已收到, 客户满意", "客户表示满意", "电话回访未接通, 已短信", "客户满意, 给了好评", "")
REOPENS = ("退款还没到账", "换的新品还是有问题", "补发的还没收到", "客户对方案反悔")
NOTES = {"ops": ("已复现, 排查日志中", "已修复, 请客服通知客户"), "qc": ("已抽检该批次", "确认批次问题, 已下架"),
         "warehouse": ("已盘点, 实物与系统一致", "差异已修正")}
ASSIGN_REASONS = ("投诉升级, 转资深专家", "敏感客户, 专家跟进", "", "组长指派")
BULK_CLOSE = "咨询已答复, 批量结案"
SENSITIVE = ("曝光", "起诉", "媒体", "记者", "律师", "12315", "消协", "法院", "投诉到", "微博")
ALERT_TEXT = "舆情预警: 客户提到敏感词, 已转资深专家组"


def _weighted(mapping: dict) -> tuple:
    keys = list(mapping)
    weights = [mapping[k] if not isinstance(mapping[k], tuple) else mapping[k][0] for k in keys]
    total = sum(weights)
    cum, acc = [], 0.0
    for w in weights:
        acc += w / total
        cum.append(acc)
    return keys, cum


class Picker:
    """Weighted choices without random.choices' per-call overhead."""

    def __init__(self, rng: random.Random, mapping: dict):
        import bisect

        self.rng = rng
        self.keys, self.cum = _weighted(mapping)
        self._bisect = bisect.bisect_right

    def __call__(self):
        i = self._bisect(self.cum, self.rng.random())
        return self.keys[min(i, len(self.keys) - 1)]


# ---------------------------------------------------------------- time

_FMT_CACHE: dict = {}


def fmt_ts(ts: int) -> str:
    """ISO-8601 with +08:00, exactly as ledger.format_time writes it."""
    day, sec = divmod(ts + 8 * HOUR, DAY)
    d = _FMT_CACHE.get(day)
    if d is None:
        d = _FMT_CACHE[day] = (dt.datetime(1970, 1, 1) + dt.timedelta(days=day)).strftime("%Y-%m-%d")
    h, rest = divmod(sec, HOUR)
    m, s = divmod(rest, MIN)
    return f"{d}T{h:02d}:{m:02d}:{s:02d}+08:00"


def local_sec(ts: int) -> int:
    return (ts + 8 * HOUR) % DAY


def on_shift(ts: int, rng: random.Random) -> int:
    """Staff work 08:30-23:00 local time: a staff action at night moves to the next morning."""
    s = local_sec(ts)
    if s < 8 * HOUR + 30 * MIN:
        return ts - s + 8 * HOUR + 30 * MIN + rng.randrange(0, 90 * MIN)
    if s >= 23 * HOUR:
        return ts - s + DAY + 8 * HOUR + 30 * MIN + rng.randrange(0, 90 * MIN)
    return ts


def day_weights() -> list:
    """Relative ticket volume per day of the year: 618 and Double 11 after-sales peaks,
    a quiet Spring Festival, slow growth over the year."""
    out = []
    for i in range(365):
        d = (NOW - dt.timedelta(days=365 - i)).date()
        w = 0.8 + 0.4 * i / 365
        if (d.month, d.day) >= (11, 11) and (d.month, d.day) <= (11, 22) and d.year == 2026:
            w *= 2.6
        elif d.month == 11 and 12 <= d.day <= 22 and d.year == 2025:
            w *= 2.2
        elif d.month == 6 and 18 <= d.day <= 28:
            w *= 1.8
        elif d.month == 2 and 14 <= d.day <= 24:
            w *= 0.4
        if d.weekday() >= 5:
            w *= 1.1
        out.append(w)
    return out


# customers write at all hours, mostly daytime and evening
HOUR_WEIGHTS = {h: w for h, w in enumerate((1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.5, 3, 5, 6, 6, 5, 5, 6, 6, 5, 5,
                                             5, 6, 7, 7, 5, 2.5))}


# ---------------------------------------------------------------- evidence pool


def write_evidence_pool(root: Path, rng: random.Random, n: int = 240) -> list:
    """Small fake photos stored by content hash as `ticket evidence` stores them."""
    pool = []
    for i in range(n):
        size = rng.randrange(800, 4000)
        body = b"\xff\xd8\xff\xe0" + rng.getrandbits(8 * size).to_bytes(size, "little") + b"\xff\xd9"
        digest = hashlib.sha256(body).hexdigest()
        rel = f"evidence/{digest[:2]}/{digest}.jpg"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
        pool.append({"path": rel, "sha256": digest, "size": len(body)})
    return pool


# ---------------------------------------------------------------- one ticket


class Shop:
    def __init__(self, rng: random.Random, evidence_pool: list):
        self.rng = rng
        self.pool = evidence_pool
        self.category = Picker(rng, CATEGORIES)
        self.channel = Picker(rng, CHANNELS)
        self.complaint_channel = Picker(rng, {**CHANNELS, "complaint_platform": 20, "hotline": 10})
        self.member = Picker(rng, MEMBER_LEVELS)
        self.demand = {k: Picker(rng, v) for k, v in DEMANDS.items()}
        self.hour = Picker(rng, HOUR_WEIGHTS)
        days = day_weights()
        self.day = Picker(rng, dict(enumerate(days)))
        self.used_ids: set = set()
        self.order_no = 0

    # -- ids and intake
    def new_id(self) -> str:
        while True:
            n = self.rng.getrandbits(5 * ids.LENGTH)
            out = []
            for _ in range(ids.LENGTH):
                out.append(ids.ALPHABET[n & 31])
                n >>= 5
            tid = "".join(out)
            if tid not in self.used_ids:
                self.used_ids.add(tid)
                return tid

    def open_time(self, is_open: bool) -> int:
        rng = self.rng
        if is_open and rng.random() < 0.8:  # most open tickets are recent
            age = min(rng.expovariate(1 / (3.5 * DAY)), 300 * DAY)
            return NOW_TS - int(age) - rng.randrange(0, 20 * MIN)
        day = self.day()
        hour = self.hour()
        return START_TS + day * DAY - local_sec(START_TS) + hour * HOUR + rng.randrange(0, HOUR)

    def intake(self, cat: str, kind: str, t0: int) -> tuple:
        rng = self.rng
        channel = self.complaint_channel() if kind == "complaint" else self.channel()
        d = {"channel": channel, "kind": kind}
        d["customer"] = rng.choice(SURNAMES) + rng.choice(TITLES)
        d["phone"] = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if rng.random() < 0.7:
            d["member_level"] = self.member()
        d["demand"] = self.demand[kind]()
        model, price = rng.choice(MODELS)
        if cat in NEEDS_ORDER or rng.random() < 0.5:
            self.order_no += 1
            day = fmt_ts(t0 - rng.randrange(1, 20) * DAY)[:10].replace("-", "")
            d["order"] = f"{ORDER_PREFIX[channel]}{day}{self.order_no % 100000:05d}"
            d["purchased_at"] = fmt_ts(t0 - rng.randrange(1, 20) * DAY)[:10]
            qty = 1 if rng.random() < 0.8 else 2
            d["item_amount"] = price
            d["order_amount"] = f"{int(price[:-3]) * qty + (8 if rng.random() < 0.3 else 0)}.00"
        if cat in NEEDS_MODEL or (kind == "after_sales" and rng.random() < 0.4):
            d["model"] = model
        if cat in ("quality", "batch_defect"):
            d["batch"] = f"B{fmt_ts(t0 - rng.randrange(20, 90) * DAY)[2:7].replace('-', '')}"
        if cat in ("logistics_query", "transit_damage", "logistics_complaint", "short_wrong"):
            d["courier"] = rng.choice(COURIERS)
            d["waybill"] = f"{d['courier'].upper()}{rng.randrange(10**11):011d}"
        if cat == "tech_fault":
            d["bug_details"] = rng.choice(("iOS 18, 提示网络错误", "安卓, 闪退", "小程序白屏"))
        return channel, d

    # -- the whole life of one ticket, as (offset seconds, by, type, ref, text, data)
    def ticket(self, is_open: bool) -> tuple:
        rng = self.rng
        cat = self.category()
        _w, kind, prio, ev_kinds, dept = CATEGORIES[cat]
        t0 = self.open_time(is_open)
        channel, intake = self.intake(cat, kind, t0)
        summary = rng.choice(SUMMARIES[cat])
        owner = rng.choice(AGENTS)
        ev = []
        add = ev.append

        add((t0, owner, "open", cat, summary, intake))
        add((t0, owner, "priority", prio, f"category {cat} default", None))
        sensitive = any(w in summary for w in SENSITIVE)
        abnormal = False
        if dept:
            rule = ROUTING_RULE[dept]
            add((t0, "system", "department", dept, f"rule {rule}", {"rule": rule}))
        if sensitive:
            add((t0, "system", "group", "experts", "rule sensitive-words", {"rule": "sensitive-words"}))
            if prio != "P0":
                add((t0, "system", "priority", "P0", "rule sensitive-words", {"rule": "sensitive-words"}))
            add((t0, "system", "abnormal", "brand_risk", "rule sensitive-words",
                 {"rule": "sensitive-words", "since": fmt_ts(t0)}))
            add((t0, "system", "alert", "", ALERT_TEXT, {"rule": "sensitive-words"}))
            abnormal = True

        # how this ticket goes: most run the normal course; some consultations are
        # duplicates or solved by the customer before anyone answers; some after-sales
        # customers go silent while asked for photos or the return, and the lead closes
        # those by force
        r = rng.random()
        path = "normal"
        if kind == "consultation" and r < 0.12:
            path = "dropped"
        elif kind == "after_sales" and r < 0.3:
            path = "silent"
        resolved_at = None
        missing = ["dropped"]
        if path == "dropped":
            t = on_shift(t0 + rng.randrange(10 * MIN, 4 * HOUR), rng)
            close_idx = len(ev)
            add((t, LEAD, "close", "", rng.choice(("重复工单, 已合并", "客户已自行解决")),
                 {"forced": True, "missing": ["identity", "accepted", "cause"]}))
        elif path == "silent":
            t = on_shift(t0 + rng.randrange(1 * MIN, 40 * MIN), rng)
            add((t, owner, "reply", "", rng.choice(REPLIES), None))
            missing = ["identity", "evidence", "accepted", "cause"] if ev_kinds else ["identity", "accepted", "cause"]
            if rng.random() < 0.5:
                t += rng.randrange(1 * MIN, 10 * MIN)
                add((t, owner, "verify", "", "", None))
                missing.remove("identity")
            t += rng.randrange(1 * MIN, 5 * MIN)
            add((t, owner, "wait", "", rng.choice(WAITS), None))
            t = on_shift(t + rng.randrange(20 * HOUR, 46 * HOUR), rng)
            close_idx = len(ev)
            add((t, LEAD, "close", "", "客户超期未回复, 结案", {"forced": True, "missing": missing}))
        else:
            # first contact: mostly within 30 minutes, some late, night tickets next morning
            r = rng.random()
            if r < 0.82:
                delay = rng.randrange(1 * MIN, 25 * MIN)
            elif r < 0.94:
                delay = rng.randrange(25 * MIN, 90 * MIN)
            else:
                delay = rng.randrange(90 * MIN, 8 * HOUR)
            t = on_shift(t0 + delay, rng)
            handler = owner
            add((t, owner, "reply", "", rng.choice(REPLIES), None))
            verified = accepted = caused = False
            evidence_done = not ev_kinds

            if kind == "complaint":
                if sensitive or rng.random() < 0.6:
                    t = on_shift(t + rng.randrange(5 * MIN, 90 * MIN), rng)
                    handler = EXPERT if (sensitive or rng.random() < 0.6) else owner
                    add((t, LEAD, "assign", handler, rng.choice(ASSIGN_REASONS), None))
                if rng.random() < 0.4:
                    t += rng.randrange(10 * MIN, 6 * HOUR)
                    add((t, handler, "message", "", rng.choice(MESSAGES), None))
                    t = on_shift(t + rng.randrange(2 * MIN, 40 * MIN), rng)
                    add((t, handler, "reply", "", rng.choice(FOLLOWUPS), None))
                t = on_shift(t + rng.randrange(2 * MIN, 30 * MIN), rng)
                add((t, handler, "verify", "", rng.choice(("订单号与手机号一致", "")), None))
                verified = True
            elif kind == "after_sales":
                if rng.random() < 0.92:
                    t = on_shift(t + rng.randrange(1 * MIN, 10 * MIN), rng)
                    add((t, owner, "verify", "", rng.choice(("订单号与手机号一致", "")), None))
                    verified = True
                if ev_kinds or rng.random() < 0.15:
                    t = on_shift(t + rng.randrange(1 * MIN, 5 * MIN), rng)
                    add((t, owner, "wait", "", rng.choice(WAITS), None))
                    t += rng.randrange(10 * MIN, 30 * HOUR)
                    add((t, owner, "message", "", rng.choice(MESSAGES), None))
                    t = on_shift(t + rng.randrange(1 * MIN, 30 * MIN), rng)
                    add((t, owner, "resume", "", "", None))
                    if ev_kinds and rng.random() < 0.92:
                        t += rng.randrange(1 * MIN, 5 * MIN)
                        for k in ev_kinds:
                            photo = rng.choice(self.pool)
                            add((t, owner, "evidence", k, f"IMG_{rng.randrange(10000):04d}.jpg", photo))
                        evidence_done = True
                if dept and rng.random() < 0.6:
                    t = on_shift(t + rng.randrange(1 * HOUR, 20 * HOUR), rng)
                    add((t, SPECIALIST[dept], "note", "", rng.choice(NOTES[dept]), None))
            else:  # consultation
                if rng.random() < 0.08:
                    t += rng.randrange(10 * MIN, 6 * HOUR)
                    add((t, owner, "message", "", rng.choice(MESSAGES), None))
                    t = on_shift(t + rng.randrange(2 * MIN, 40 * MIN), rng)
                    add((t, owner, "reply", "", rng.choice(FOLLOWUPS), None))

            # the solution, the customer's acceptance, the cause, the close
            full = kind != "consultation" or rng.random() < 0.1
            if kind != "consultation" or rng.random() < 0.25:
                t = on_shift(t + rng.randrange(2 * MIN, 20 * HOUR if kind != "consultation" else 30 * MIN), rng)
                add((t, handler, "resolve", "", rng.choice(RESOLUTIONS), None))
                resolved_at = t
                if full and rng.random() < 0.95:
                    t += rng.randrange(1 * MIN, 3 * HOUR)
                    add((t, handler, "accept", "", rng.choice(ACCEPTS), None))
                    accepted = True
            else:
                resolved_at = None
            closer, close_text, close_data = handler, "", None
            if full and rng.random() < 0.95:
                caused = True
            missing = [m for m, ok in (("identity", verified), ("evidence", evidence_done), ("accepted", accepted),
                                       ("cause", caused)) if not ok]
            if kind == "consultation":
                t = on_shift(max(t, t0) + rng.randrange(10 * MIN, 10 * HOUR), rng)
            else:
                t = on_shift(t + rng.randrange(5 * MIN, 8 * HOUR), rng)
            if missing:
                closer = LEAD
                close_text = BULK_CLOSE if kind == "consultation" else rng.choice(("客户失联, 结案", "超期未回复, 组长结案"))
                close_data = {"forced": True, "missing": missing}
            if caused:
                add((t, closer, "cause", "", rng.choice(CAUSES), None))
            close_idx = len(ev)
            add((t, closer, "close", "", close_text, close_data))
            if resolved_at is not None and rng.random() < (0.3 if kind != "consultation" else 0.03):
                tv = on_shift(max(t, resolved_at + rng.randrange(2 * HOUR, 30 * HOUR)), rng)
                add((tv, owner, "visit", "", rng.choice(VISITS), None))
                t = tv
        reopened = False
        if path == "normal" and not missing and rng.random() < (0.02 if not is_open else 0.08):
            reopened = True
            t = on_shift(t + rng.randrange(1 * DAY, 6 * DAY), rng)
            reopen_idx = len(ev)
            add((t, owner, "reopen", "", rng.choice(REOPENS), None))
            t += rng.randrange(5 * MIN, 2 * HOUR)
            add((t, owner, "reply", "", rng.choice(FOLLOWUPS), None))
            t = on_shift(t + rng.randrange(1 * HOUR, 2 * DAY), rng)
            add((t, owner, "resolve", "", rng.choice(RESOLUTIONS), None))
            t += rng.randrange(10 * MIN, 5 * HOUR)
            add((t, owner, "accept", "", rng.choice(ACCEPTS), None))
            t = on_shift(t + rng.randrange(5 * MIN, 3 * HOUR), rng)
            close_idx = len(ev)
            add((t, owner, "close", "", "", None))

        end = max(e[0] for e in ev)
        if not is_open and end >= NOW_TS:
            # a closed ticket must be over by now: move its whole life back
            shift = end - NOW_TS + rng.randrange(10 * MIN, 3 * DAY)
            ev = [(e[0] - shift,) + e[1:] for e in ev]
        if is_open and reopened and ev[reopen_idx][0] >= NOW_TS:
            # keep the reopen in the past, or this open ticket would end up closed
            shift = ev[reopen_idx][0] - NOW_TS + rng.randrange(10 * MIN, 2 * DAY)
            ev = [(e[0] - shift,) + e[1:] for e in ev]
        if is_open:
            if reopened:
                cut = reopen_idx + 1 + rng.randrange(0, 3)
            else:
                first = 2 + (1 if dept else 0) + (4 if sensitive else 0)
                cut = first + int((close_idx - first) * rng.random() ** 1.5)
            ev = [e for e in ev[:cut] if e[0] < NOW_TS]
            if not ev or ev[0][2] != "open":
                ev = []  # opened in the future: skip (the caller draws another)

        # the routing cron (`route --all`): unresolved 48 h after opening or after a reopen
        # becomes abnormal, P1 (as the rule counts its age from the last reopen)
        if ev and not abnormal:
            ev.sort(key=lambda e: e[0])
            for s in [e[0] for e in ev if e[2] in ("open", "reopen")]:
                t48 = s + 48 * HOUR
                mark = t48 + rng.randrange(0, 5 * MIN)
                done = [e for e in ev if e[2] in ("resolve", "close") and e[0] >= s]
                if mark < NOW_TS and (not done or min(e[0] for e in done) > mark):
                    rows = []
                    if prio in ("P2", "P3"):
                        rows.append((mark, "system", "priority", "P1", "rule unresolved-48h", {"rule": "unresolved-48h"}))
                    rows.append((mark, "system", "abnormal", "unresolved_48h", "rule unresolved-48h",
                                 {"rule": "unresolved-48h", "since": fmt_ts(t48)}))
                    ev.extend(rows)
                    ev.sort(key=lambda e: e[0])  # stable: same-time rows keep their order
                    break  # a ticket becomes abnormal once
        else:
            ev.sort(key=lambda e: e[0])
        return ev


# ---------------------------------------------------------------- encoding

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def _field(value: str) -> str:
    if "," in value or '"' in value or "\r" in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def encode(row: tuple) -> str:
    """One ledger line, byte-identical to ledger.encode_rows for the same values."""
    tid, at, by, typ, ref, text, data = row
    return (f"{tid},{at},{by},{typ},{_field(ref)},{_field(text)},"
            f"{_field(_dumps(data)) if data else ''}\n")


def as_dict(row: tuple) -> dict:
    return dict(zip(ledger.LEDGERS["tickets"].column_names, row))


# ---------------------------------------------------------------- main


def generate(out: Path, events: int = 1_000_000, seed: int = 1, verify_sample: int = 20000,
             validate_all: bool = False, quiet: bool = False) -> dict:
    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: exists and is not empty; choose a new folder")
    init_workspace(out)
    rng = random.Random(seed)
    pool = write_evidence_pool(out, rng)
    shop = Shop(rng, pool)

    rows = []  # (ts, seq, ticket, by, type, ref, text, data)
    seq = 0
    made = 0
    open_made = 0
    while len(rows) < events:  # tickets until the events requested are reached
        is_open = rng.random() < OPEN_SHARE
        ev = shop.ticket(is_open)
        if not ev:
            continue
        tid = shop.new_id()
        for ts, by, typ, ref, text, data in ev:
            rows.append((ts, seq, tid, by, typ, ref, text, data))
            seq += 1
        made += 1
        open_made += is_open
    t_built = time.perf_counter()

    rows.sort()  # by time; file order of a ticket's own rows kept by seq
    t_sorted = time.perf_counter()

    path = ledger.ledger_path(out, "tickets")
    schema = ledger.LEDGERS["tickets"]
    size = 0
    chunk = 50000
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(schema.header)
        for i in range(0, len(rows), chunk):
            part = [(r[2], fmt_ts(r[0]), r[3], r[4], r[5], r[6], r[7]) for r in rows[i:i + chunk]]
            f.write("".join(map(encode, part)))
    size = path.stat().st_size
    t_written = time.perf_counter()

    # the encoder must agree byte for byte with the ledger's own (which also validates)
    from aftersales.policy import load_policy

    policy = load_policy(out)
    check_idx = range(len(rows)) if validate_all else sorted(
        random.Random(seed + 1).sample(range(len(rows)), min(verify_sample, len(rows))))
    mine, theirs = [], []
    for i in check_idx:
        r = rows[i]
        row = (r[2], fmt_ts(r[0]), r[3], r[4], r[5], r[6], r[7])
        mine.append(encode(row))
        theirs.append(as_dict(row))
        if len(theirs) >= chunk:
            if "".join(mine).encode("utf-8") != ledger.encode_rows(schema, theirs, policy):
                raise SystemExit("internal error: the fast encoder disagrees with ledger.encode_rows")
            mine, theirs = [], []
    if theirs and "".join(mine).encode("utf-8") != ledger.encode_rows(schema, theirs, policy):
        raise SystemExit("internal error: the fast encoder disagrees with ledger.encode_rows")
    t_done = time.perf_counter()

    stats = {
        "workspace": str(out), "seed": seed, "tickets": made, "events": len(rows), "open_tickets": open_made,
        "closed_tickets": made - open_made, "bytes": size, "evidence_files": len(pool),
        "first_event": fmt_ts(rows[0][0]), "last_event": fmt_ts(rows[-1][0]),
        "seconds": {"build": round(t_built - t_start, 2), "sort": round(t_sorted - t_built, 2),
                    "write": round(t_written - t_sorted, 2), "verify": round(t_done - t_written, 2),
                    "total": round(t_done - t_start, 2)},
        "verified_rows": len(check_idx),
    }
    if not quiet:
        print(f"workspace      {out}")
        print(f"tickets        {made:,}  ({open_made:,} open, {made - open_made:,} closed)")
        print(f"events         {len(rows):,}  ({fmt_ts(rows[0][0])} .. {fmt_ts(rows[-1][0])})")
        print(f"tickets.csv    {size:,} bytes ({size / 2**20:.1f} MiB)")
        print(f"evidence       {len(pool)} files under evidence/")
        print(f"encoder check  {len(check_idx):,} rows byte-identical to ledger.encode_rows (validated against the policy)")
        s = stats["seconds"]
        print(f"time           {s['total']:.1f} s (build {s['build']:.1f}, sort {s['sort']:.1f}, "
              f"write {s['write']:.1f}, verify {s['verify']:.1f})")
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path, help="workspace to create (must not exist, or be empty)")
    ap.add_argument("--events", type=int, default=1_000_000, help="about how many ticket events (default 1000000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--validate-all", action="store_true",
                    help="check every row against ledger.encode_rows, not a 20,000-row sample (slower)")
    ap.add_argument("--json", action="store_true", help="print the counts as JSON")
    a = ap.parse_args(argv)
    stats = generate(a.outdir, a.events, a.seed, validate_all=a.validate_all, quiet=a.json)
    if a.json:
        print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
