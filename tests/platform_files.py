"""Synthetic platform exports, built from the headers PLATFORMS.md documents, written in
each platform's real encoding and with its quirks. Used by tests/test_platforms.py and
benchmarks/platform_import.py.

`write(kind, path, n)` writes `n` data rows of export `kind` (a profile name) and returns
the order numbers it used. Rows are a pure function of their index.
"""

from __future__ import annotations

import csv
import io

HEADERS = {
    "taobao_orders": ["订单编号 ", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "总金额",
                      "买家实际支付金额", "订单状态", "买家留言", "收货人姓名", "收货地址 ", "运送方式", "联系电话 ",
                      "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝种类 ", "物流单号 ", "物流公司",
                      "订单备注", "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "确认收货时间", "打款商家金额",
                      "异常信息"],
    "taobao_items": ["订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注", "订单状态",
                     "商家编码"],
    "taobao_orders_v2": ["主订单编号", "子订单编号", "买家应付货款", "标题", "订单状态", "订单创建时间", "物流单号",
                         "物流公司", "购买数量", "退款状态", "退款金额", "发货时间"],
    "tmall_refunds": ["订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商家编码", "退款完结时间", "买家会员名称",
                      "买家实际支付金额", "宝贝标题", "买家退款金额", "手工退款/系统退款", "是否需要退货",
                      "退款的申请时间", "超时时间", "退款状态", "货物状态", "退货物流信息", "发货物流信息",
                      "客服介入状态", "卖家退货地址", "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明",
                      "买家退货时间", "责任方", "售中或售后", "商家备注", "完结时间", "部分退款/全部退款", "审核操作人",
                      "举证超时", "退款操作人"],
    "jd_orders": ["订单号", "商品ID", "商品名称", "订购数量", "支付方式", "下单时间", "京东价", "订单金额", "结算金额",
                  "应付金额", "订单状态", "订单类型", "下单帐号", "客户姓名", "客户地址", "联系电话", "订单备注",
                  "商家备注", "商家备注等级\n（等级1-5为由高到低）", "运费金额", "付款确认时间", "订单完成时间", "订单来源"],
    "pdd_orders": ["商品", "订单号", "订单状态", "商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)", "邮费（元）",
                   "用户实付金额(元)", "商家实收金额(元)", "商品数量(件)", "收货人", "手机", "省", "市", "区", "街道",
                   "支付时间", "拼单成功时间", "订单确认时间", "承诺发货时间", "发货时间", "确认收货时间", "商品id",
                   "商品规格", "商家编码-SKU维度", "快递单号", "快递公司", "商家备注", "售后状态", "买家留言"],
    "douyin_orders": ["主订单编号", "子订单编号", "选购商品", "货号", "商品ID", "商家编码", "商品数量", "商品金额",
                      "订单应付金额", "商家收入金额", "订单提交时间", "支付完成时间", "订单完成时间", "订单状态", "取消原因",
                      "售后状态", "订单类型", "商家备注"],
}

ENCODINGS = {"taobao_orders": "gbk", "taobao_items": "gbk", "taobao_orders_v2": "utf-8", "tmall_refunds": "gb18030", "jd_orders": "gbk",
             "pdd_orders": "utf-8", "douyin_orders": "utf-8-sig"}

PROVINCES = ["浙江省", "江苏省", "上海", "广东省", "新疆维吾尔自治区", "北京"]
COURIERS = ["中通快递", "顺丰速运", "圆通速递", "韵达快递"]


def order_id(i: int, platform: str = "") -> str:
    """A 19-digit order number; every 7th has 18 digits with a leading zero (the kind Excel breaks)."""
    if i % 7 == 3:
        return f"00{3456789012345678 + i:016d}"[-18:]
    return f"{4567890123456789012 + i * 7919:019d}"


def _t(day: int, h: int, m: int = 0) -> str:
    return f"2026-11-{day:02d} {h:02d}:{m:02d}:00"


def rows(kind: str, n: int):
    for i in range(n):
        oid = order_id(i)
        prov = PROVINCES[i % len(PROVINCES)]
        wb = f"YT{7000000000000 + i}" if i % 5 else ""
        cour = COURIERS[i % len(COURIERS)] if wb else ""
        if kind == "taobao_orders":
            yield [f'="{oid}"', f"buyer{i}", f"b{i}@example.com", "59.00", "6.00", "65.00", "65.00",
                   "卖家已发货，等待买家确认" if wb else "买家已付款，等待卖家发货", "", "王女士",
                   f"{prov} 杭州市 西湖区 文三路{i}号", "快递", "", f"'1381234{i % 10000:04d}",
                   _t(20, 10), _t(20, 10, 5), "电水壶 K-200", "1", wb, cour, "", "1", "12345", "示例小店", "",
                   _t(22, 18) if i % 3 == 0 and wb else "", "0.00", ""]
        elif kind == "taobao_items":
            for k in range(1 + (i % 2 == 0)):  # every other order has two items
                yield [f'="{oid}"', f"电水壶 K-20{k}", "59.00", "1", "", "颜色分类:白色", "", "", "交易成功", f"K-20{k}"]
        elif kind == "taobao_orders_v2":
            yield [oid, f"{int(oid) + 1}", "59.00元", "电水壶 K-200", "交易成功" if wb else "买家已付款", _t(20, 10),
                   wb, cour, "1", "买家已经申请退款，等待卖家同意" if i % 4 == 1 else "无退款申请",
                   "59.00" if i % 4 == 1 else "无退款申请", _t(21, 9) if wb else ""]
        elif kind == "tmall_refunds":
            yield [f'="{oid}"', f'="{9000000000000000 + i}"', f"2026112022001{i:09d}", _t(20, 10, 5), "K-200",
                   "", f"buyer{i}", "65.00", "电水壶 K-200", "59.00", "系统退款", "是" if i % 2 else "否",
                   _t(22, 9), _t(24, 9), "买家已经申请退款，等待卖家同意", "买家已收到货", "", "", "", "", "", "",
                   "质量问题", "底部有裂纹", "", "", "售后", "", "", "全部退款", "", "", ""]
        elif kind == "jd_orders":
            status = "(删除)等待出库" if i % 6 == 0 else "等待出库"
            for k in range(1 + (i % 3 == 0)):  # every third order has two items, on adjacent rows
                yield [oid, f"10000{k}", f"电水壶 K-20{k}", "1", "在线支付", _t(20, 10), "59.00", "65.00", "65.00",
                       "65.00", status, "普通订单", f"jd_{i}", "王女士", f"{prov}杭州市西湖区文三路{i}号", "13812345678",
                       "", "", "", "6.00", _t(20, 10, 5), "", "京东商城"]
        elif kind == "pdd_orders":
            after = "退款中" if i % 4 == 1 else "无售后或售后取消"
            yield ["电水壶 K-200", oid, "已发货，待收货" if wb else "待发货", "59.00", "0.00", "0.00", "6.00元",
                   "65.00", "65.00", "1", "王女士", f"1381234{i % 10000:04d}", prov, "杭州市", "西湖区", f"文三路{i}号",
                   _t(20, 10, 5), _t(20, 10, 6), _t(20, 10, 7), _t(22, 10, 5), _t(21, 9) if wb else "",
                   "", "123", "白色", "K-200-W", wb, cour, "", after, ""]
        elif kind == "douyin_orders":
            yield [f"\t{oid}", f"\t{int(oid) + 1}", "电水壶 K-200", "K-200", "\t3600000001", "-", "1", "59.00",
                   "65.00", "65.00", _t(20, 10), _t(20, 10, 5), "--", "已发货", "-",
                   "售后中" if i % 4 == 1 else "-", "普通订单", "--"]
        else:
            raise ValueError(kind)


def write(kind: str, path, n: int = 6, encoding: str = "") -> list:
    """Write `n` orders (or refunds) of export `kind` to `path`; CRLF like the platforms."""
    enc = encoding or ENCODINGS[kind]
    with open(path, "w", encoding=enc, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADERS[kind])
        for r in rows(kind, n):
            w.writerow(r)
    return [order_id(i) for i in range(n)]


def text(kind: str, n: int = 6) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADERS[kind])
    for r in rows(kind, n):
        w.writerow(r)
    return buf.getvalue()
