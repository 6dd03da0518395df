"""Platform exports in (issue 14): one synthetic file per platform and kind, in its real
encoding and with its quirks; idempotent re-imports; IDs that survive spreadsheets;
.xlsx out; the platform's deadline as a time limit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
import tempfile
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import platform_files as pf
from aftersales import ledger
from aftersales.platforms import (Progress, clean, id_problem, load_profiles, norm_header, recognise,
                                  register_ledgers, strip_status)

NOW = "2026-11-23T10:00:00+08:00"
LATER = "2026-11-23T11:00:00+08:00"

register_ledgers()


def rows_of(shop: Path, name: str) -> list:
    path = ledger.ledger_path(shop, name)
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def ledger_bytes(shop: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((shop / "ledgers").glob("*.csv"))}


# ------------------------------------------------------------------ recognising and cleaning


def test_header_names_are_compared_without_their_quirks():
    assert norm_header(" 商家备注等级\n（等级1-5为由高到低） ") == "商家备注等级(等级1-5为由高到低)"
    assert norm_header("\ufeff订单编号 ") == "订单编号"
    assert norm_header("邮费（元）") == "邮费(元)"


@pytest.mark.parametrize("raw, cell", [
    ('="4567890123456789012"', "4567890123456789012"),
    ("\t003456789012345678", "003456789012345678"),
    ("-", ""), ("--", ""), ("无退款申请", ""),
    ("'13812345678", "13812345678"),
    ("  王女士 ", "王女士"),
    ("-12.50", "-12.50"),
])
def test_cells_lose_the_platforms_quirks(raw, cell):
    assert clean(raw) == cell


def test_status_prefixes_are_dropped():
    assert strip_status("(删除)等待出库") == "等待出库"
    assert strip_status("（锁定）等待出库") == "等待出库"
    assert strip_status("等待出库") == "等待出库"


def test_an_id_in_scientific_notation_is_refused_with_the_fix():
    msg = id_problem("订单编号", "3.45679E+18")
    assert msg.startswith("column 订单编号: '3.45679E+18' is a number in scientific notation")
    assert "Download the export again" in msg
    assert id_problem("订单编号", "003456789012345678") is None


@pytest.mark.parametrize("kind", sorted(pf.HEADERS))
def test_each_export_is_recognised_from_its_header(kind):
    assert recognise(pf.HEADERS[kind], load_profiles()).name == kind


# ------------------------------------------------------------------ importing each platform's file

EXPECT = {  # kind -> (orders, shipments, tickets opened) for pf.write(kind, n=8)
    "taobao_orders": (8, 6, 0),
    "taobao_orders_v2": (8, 6, 2),
    "taobao_items": (8, 0, 0),
    "jd_orders": (8, 0, 0),
    "pdd_orders": (8, 6, 2),
    "douyin_orders": (8, 0, 2),
    "tmall_refunds": (0, 0, 8),
}


@pytest.mark.parametrize("kind", sorted(pf.HEADERS))
def test_each_platform_file_is_imported_in_its_real_encoding(run, shop, tmp_path, kind):
    f = tmp_path / f"{kind}.csv"
    ids = pf.write(kind, f, 8)
    raw = f.read_bytes()
    if pf.ENCODINGS[kind] in ("gbk", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")  # really GBK
    r = run("import", f, now=NOW)
    assert r.exit_code == 0, r.stderr + r.stdout
    n_orders, n_ship, n_tickets = EXPECT[kind]
    orders = rows_of(shop, "orders")
    assert len(orders) == n_orders
    if n_orders:
        assert [o["order"] for o in orders] == ids  # text, leading zeros and all 19 digits kept
        assert pf.order_id(3) in ids  # the file has an ID Excel would break
    assert len(rows_of(shop, "shipments")) == n_ship
    opened = [t for t in rows_of(shop, "tickets") if t["type"] == "open"]
    assert len(opened) == n_tickets
    assert f"{n_orders} new, 0 changed, 0 unchanged, 0 rejected" in r.stdout or not n_orders
    if n_tickets:
        assert f"{n_tickets} new (tickets opened)" in r.stdout


def test_taobao_order_facts_land_in_the_orders_ledger(run, shop, tmp_path):
    pf.write("taobao_orders", tmp_path / "tb.csv", 3)
    assert run("import", tmp_path / "tb.csv", now=NOW).exit_code == 0
    o = rows_of(shop, "orders")[1]
    assert o == {**o, "order": "4567890123456796931", "platform": "taobao", "buyer": "buyer1", "receiver": "王女士",
                 "phone": "13812340001", "item_amount": "59.00", "shipping_fee": "6.00", "order_amount": "65.00",
                 "paid_at": "2026-11-20T10:05:00+08:00", "waybill": "YT7000000000001", "courier": "顺丰速运",
                 "destination": "江苏省杭州市", "source": "taobao_orders"}
    s = rows_of(shop, "shipments")[0]
    assert (s["waybill"], s["order"], s["courier"]) == ("YT7000000000001", "4567890123456796931", "sf")


def test_jd_items_of_one_order_become_one_order_and_prefixes_go(run, shop, tmp_path):
    pf.write("jd_orders", tmp_path / "jd.csv", 4)
    r = run("import", tmp_path / "jd.csv", now=NOW)
    assert "jd_orders, gb18030), 6 rows" in r.stdout  # orders 0 and 3 have two items
    orders = rows_of(shop, "orders")
    assert len(orders) == 4
    assert orders[0]["status"] == "等待出库" and orders[0]["product"] == "电水壶 K-200；电水壶 K-201"


def test_pdd_promised_ship_time_and_douyin_dashes(run, shop, tmp_path):
    pf.write("pdd_orders", tmp_path / "pdd.csv", 2)
    pf.write("douyin_orders", tmp_path / "dy.csv", 2)
    assert run("import", tmp_path / "pdd.csv", now=NOW).exit_code == 0
    assert run("import", tmp_path / "dy.csv", now=NOW).exit_code == 0
    pdd, dy = rows_of(shop, "orders")[0], rows_of(shop, "orders")[2]
    assert pdd["ship_by"] == "2026-11-22T10:05:00+08:00" and pdd["shipping_fee"] == "6.00"
    assert pdd["destination"] == "浙江省杭州市"
    assert (dy["platform"], dy["order"], dy["remark"], dy["after_sales"]) == ("douyin", "4567890123456789012", "", "")


# ------------------------------------------------------------------ idempotence


def test_importing_the_same_file_again_adds_nothing(run, shop, tmp_path):
    for kind in ("taobao_orders_v2", "tmall_refunds", "pdd_orders"):
        pf.write(kind, tmp_path / f"{kind}.csv", 8)
        assert run("import", tmp_path / f"{kind}.csv", now=NOW).exit_code == 0
    before = ledger_bytes(shop)
    for kind in ("taobao_orders_v2", "tmall_refunds", "pdd_orders"):
        r = run("import", tmp_path / f"{kind}.csv", now=LATER)
        assert r.exit_code == 0, r.stderr
        assert "0 new" in r.stdout and "0 changed" in r.stdout
    assert ledger_bytes(shop) == before


def test_an_overlapping_export_adds_only_what_is_new_or_changed(run, shop, tmp_path):
    text = pf.text("pdd_orders", 8).splitlines(keepends=True)
    (tmp_path / "a.csv").write_text("".join(text[:6]), encoding="utf-8")  # orders 0-4
    changed = text[5].replace("已发货，待收货", "已签收")  # order 4 now signed
    assert changed != text[5]
    (tmp_path / "b.csv").write_text(text[0] + text[4] + changed + "".join(text[6:]), encoding="utf-8")  # orders 3-7
    assert run("import", tmp_path / "a.csv", now=NOW).exit_code == 0
    r = run("import", tmp_path / "b.csv", now=LATER)
    assert "orders: 3 new, 1 changed, 1 unchanged, 0 rejected" in r.stdout
    assert len(rows_of(shop, "orders")) == 9  # 5, then 3 new and 1 changed
    r = run("import", tmp_path / "b.csv", now=LATER)
    assert "orders: 0 new, 0 changed, 5 unchanged, 0 rejected" in r.stdout


def test_a_drop_folder_is_imported_file_by_file(run, shop, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    pf.write("taobao_orders", drop / "1.csv", 3)
    pf.write("tmall_refunds", drop / "2.csv", 2)
    r = run("import", drop, by="system", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert "orders: 3 new" in r.stdout and "2 new (tickets opened)" in r.stdout
    assert "\r" not in r.stderr  # no progress line when not on a terminal (cron)
    r = run("import", drop, by="system", now=LATER, )
    assert r.stdout.count("0 new") == 2


# ------------------------------------------------------------------ refusals


def test_an_excel_mangled_order_number_is_refused_and_nothing_written(run, shop, tmp_path):
    text = pf.text("pdd_orders", 3).replace("4567890123456796931", "4.56789E+18")
    (tmp_path / "x.csv").write_text(text, encoding="utf-8")
    before = ledger_bytes(shop)
    r = run("import", tmp_path / "x.csv", now=NOW)
    assert r.exit_code == 2
    assert f"{tmp_path / 'x.csv'}:3: column 订单号: '4.56789E+18' is a number in scientific notation" in r.stderr
    assert "nothing was imported" in r.stdout
    assert ledger_bytes(shop) == before


def test_keep_going_imports_the_good_rows_and_writes_the_rejects(run, shop, tmp_path):
    text = pf.text("pdd_orders", 3).replace("4567890123456796931", "4.56789E+18")
    (tmp_path / "x.csv").write_text(text, encoding="utf-8")
    r = run("import", tmp_path / "x.csv", "--keep-going", "--rejects", tmp_path / "bad.csv", now=NOW)
    assert r.exit_code == 1
    assert len(rows_of(shop, "orders")) == 2
    bad = (tmp_path / "bad.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(bad) == 2 and bad[0].endswith(",error") and "scientific notation" in bad[1]


def test_an_unknown_file_names_the_profiles_and_the_fix(run, shop, tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    r = run("import", tmp_path / "x.csv", now=NOW)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "no platform profile recognises this file (its first columns: a, b); pass --profile NAME" in r.stderr
    assert "policies/platforms/NAME.toml" in r.stderr


def test_a_file_that_is_not_its_encoding_names_the_option(run, shop, tmp_path):
    pf.write("taobao_orders", tmp_path / "tb.csv", 2)
    r = run("import", tmp_path / "tb.csv", "--encoding", "utf-8", now=NOW)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert f"{tmp_path / 'tb.csv'}:1: not UTF-8 text; pass --encoding gb18030" in r.stderr


def test_a_shop_adds_a_profile_in_policy(run, shop, tmp_path):
    (shop / "policies" / "platforms").mkdir()
    (shop / "policies" / "platforms" / "kuaishou_orders.toml").write_text(
        'title = "快手小店 订单"\nplatform = "social"\nkind = "orders"\nrecognise = ["订单号", "快手昵称"]\n'
        '[columns]\norder = "订单号"\nbuyer = "快手昵称"\norder_amount = "实付款"\n', encoding="utf-8")
    (tmp_path / "ks.csv").write_text("订单号,快手昵称,实付款\n\t2411230000000001,小王,12.5元\n", encoding="utf-8")
    r = run("import", tmp_path / "ks.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert "快手小店 订单 (kuaishou_orders" in r.stdout
    o = rows_of(shop, "orders")[0]
    assert (o["order"], o["buyer"], o["order_amount"], o["platform"]) == ("2411230000000001", "小王", "12.50", "social")
    assert "kuaishou_orders" in run("import", "--profiles", "--format", "csv").stdout
    (shop / "policies" / "platforms" / "bad.toml").write_text('kind = "parcels"\n', encoding="utf-8")
    r = run("check")
    assert r.exit_code == 1 and "policies/platforms/bad.toml: kind = 'parcels': use one of orders, refunds" in r.stdout


# ------------------------------------------------------------------ what imports feed


def test_a_refund_opens_a_ticket_with_the_platforms_deadline_and_status_changes_follow(run, shop, tmp_path):
    pf.write("taobao_orders", tmp_path / "tb.csv", 2)
    assert run("import", tmp_path / "tb.csv", now=NOW).exit_code == 0
    pf.write("tmall_refunds", tmp_path / "rf.csv", 2)
    assert run("import", tmp_path / "rf.csv", now=NOW).exit_code == 0
    opened = [t for t in rows_of(shop, "tickets") if t["type"] == "open"]
    assert [t["ref"] for t in opened] == ["return_request", "return_request"]
    assert '"platform_deadline":"2026-11-24T09:00:00+08:00"' in opened[1]["data"]
    assert '"order_amount":"65.00"' in opened[1]["data"] and '"shipping_fee":"6.00"' in opened[1]["data"]
    tid = opened[1]["ticket"]
    r = run("sla-check", "--format", "csv", now="2026-11-24T09:30:00+08:00")
    line = [x for x in r.stdout.splitlines() if x.startswith(tid) and "platform_deadline" in x]
    assert line and ",breached,2026-11-24T09:00:00+08:00," in line[0]
    # the platform says the refund succeeded: a set event, and the deadline stops
    text = pf.text("tmall_refunds", 2).replace("买家已经申请退款，等待卖家同意", "退款成功")
    (tmp_path / "rf2.csv").write_text(text, encoding="gb18030")
    r = run("import", tmp_path / "rf2.csv", now="2026-11-23T12:00:00+08:00")
    assert "0 new (tickets opened), 2 changed (tickets updated)" in r.stdout
    sets = [(t["ref"], t["text"]) for t in rows_of(shop, "tickets") if t["type"] == "set" and t["ticket"] == tid]
    assert sets == [("platform_status", "退款成功"), ("platform_done", "yes")]
    r = run("sla-check", "--format", "csv", now="2026-11-24T09:30:00+08:00")
    assert not [x for x in r.stdout.splitlines() if x.startswith(tid) and "platform_deadline" in x]


def test_ticket_new_with_an_imported_order_fills_in_its_facts(run, shop, tmp_path):
    pf.write("pdd_orders", tmp_path / "pdd.csv", 3)
    assert run("import", tmp_path / "pdd.csv", now=NOW).exit_code == 0
    r = run("ticket", "new", "--channel", "pdd", "--category", "transit_damage", "--order", "4567890123456796931",
            "--summary", "外箱破损", now=LATER)
    assert r.exit_code == 0, r.stderr
    r = run("ticket", "show", r.stdout.split()[0], "--format", "json", now=LATER)
    for text in ('"order_amount": "65.00"', '"shipping_fee": "6.00"', '"customer": "王女士"', '"phone": "138****0001"',
                 '"waybill": "YT7000000000001"', '"address": "江苏省 杭州市 西湖区 文三路1号"'):
        assert text in r.stdout, r.stdout


# ------------------------------------------------------------------ spreadsheets out


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_any_id_survives_a_csv_export_and_an_import(order):
    from aftersales.spreadsheet import table_csv

    data, _ = table_csv((("order", "text"), ("waybill", "text")), [[order, "W" + order]])
    cells = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1]
    if len(order) >= 12 or (order.startswith("0") and len(order) > 1):
        assert cells[0] == f'="{order}"'  # what Excel, WPS and LibreOffice show as text
    else:
        assert cells[0] == order  # a spreadsheet keeps it as it is
    assert clean(cells[0]) == order  # what `aftersales import` reads back


def test_ids_survive_export_then_import_through_the_cli(run, shop, tmp_path):
    ids = ["7", "0", "007", "003456789012345678", "4567890123456789012", "12345678901234567890"]
    ledger.append(shop, "shipments", [{"waybill": f"SF{i}", "at": NOW, "order": o} for i, o in enumerate(ids)])
    assert run("export", "shipments", "-o", tmp_path / "s.csv", now=NOW).exit_code == 0
    other = tmp_path / "other"
    from aftersales.scaffold import init_workspace

    init_workspace(other)
    with open(other / "policies" / "imports.toml", "w", encoding="utf-8") as f:
        f.write('[imports.back]\nledger = "shipments"\n[imports.back.columns]\nwaybill = "waybill"\norder = "order"\n')
    r = run.__class__(other)("import", "back", tmp_path / "s.csv", now=NOW)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert [s["order"] for s in rows_of(other, "shipments")] == ids


def test_a_mapping_import_refuses_an_id_in_scientific_notation(run, shop, tmp_path):
    with open(shop / "policies" / "imports.toml", "w", encoding="utf-8") as f:
        f.write('[imports.back]\nledger = "shipments"\n[imports.back.columns]\nwaybill = "运单号"\norder = "订单号"\n')
    (tmp_path / "s.csv").write_text("运单号,订单号\nSF1,3.45679E+18\n", encoding="utf-8")
    r = run("import", "back", tmp_path / "s.csv", now=NOW)
    assert r.exit_code == 2
    assert ":2: column 订单号: '3.45679E+18' is a number in scientific notation" in r.stdout


def test_xlsx_export_has_text_ids_real_times_and_two_decimal_amounts(run, shop, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    pf.write("taobao_orders", tmp_path / "tb.csv", 4)
    assert run("import", tmp_path / "tb.csv", now=NOW).exit_code == 0
    r = run("export", "orders", "-o", tmp_path / "o.xlsx", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"exported 4 rows of orders to {tmp_path / 'o.xlsx'}\n"
    ws = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    head = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(head, ws[5])}
    assert row["order"].data_type == "s" and row["order"].value == pf.order_id(3)
    assert row["phone"].data_type == "s" and row["phone"].value == "138****0003"
    assert row["waybill"].data_type == "s" and row["waybill"].value == "YT7000000000003"
    assert isinstance(row["paid_at"].value, dt.datetime) and row["paid_at"].value == dt.datetime(2026, 11, 20, 10, 5)
    assert row["order_amount"].data_type == "n" and row["order_amount"].number_format == "0.00"
    assert float(row["order_amount"].value) == 65.0
    assert not any(c.data_type == "f" for r_ in ws.iter_rows() for c in r_)


def test_xlsx_never_writes_a_formula(run, shop, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    tid = run.new(summary='=HYPERLINK("http://x","点我")', now=NOW)
    assert run("export", "tickets", "-o", tmp_path / "t.xlsx", "--full-phone", now=NOW).exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    head = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(head, ws[2])}
    assert row["ticket"].value == tid
    assert row["summary"].data_type == "s" and row["summary"].value.startswith("=HYPERLINK")
    assert row["phone"].value == "13812345678"


def test_xlsx_without_openpyxl_is_one_line_naming_the_extra(run, shop, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    r = run("export", "tickets", "-o", tmp_path / "t.xlsx", now=NOW)
    assert (r.exit_code, r.stderr) == (2, "error: writing .xlsx needs openpyxl: pip install 'aftersales[xlsx]' "
                                          "(or write a .csv)\n")
    assert not list(tmp_path.glob("t.xlsx*"))


def test_export_tickets_is_one_row_per_ticket_with_phones_masked(run, shop, tmp_path):
    a = run.new(now=NOW)
    run("ticket", "reply", a, "您好", now=LATER)
    run.new(now=LATER, phone="13900001111")
    r = run("export", "tickets", "-o", "-", now=LATER)
    rows = list(csv.DictReader(io.StringIO(r.stdout_bytes.decode("utf-8-sig"))))
    assert [x["ticket"] for x in rows][0] == a and len(rows) == 2
    assert rows[0]["first_reply_at"] == LATER and rows[0]["status"] == "open"
    assert [x["phone"] for x in rows] == ["138****5678", "139****1111"]
    assert "data" not in rows[0]
    r = run("export", "tickets", "-o", "-", "--full-phone", now=LATER)
    assert "13900001111" in r.stdout_bytes.decode("utf-8-sig")


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
@pytest.mark.slow
def test_libreoffice_round_trip_keeps_ids(run, shop, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    ids = ["003456789012345678", "4567890123456789012", "12345678901234567890", "0", "7"]
    ledger.append(shop, "shipments", [{"waybill": f"SF{i}", "at": NOW, "order": o} for i, o in enumerate(ids)])
    assert run("export", "shipments", "-o", tmp_path / "s.csv", now=NOW).exit_code == 0
    (tmp_path / "raw.csv").write_text("order\n" + "\n".join(ids) + "\n", encoding="utf-8")  # what we avoid

    def calc(name):  # open the CSV in LibreOffice Calc as a user would (UTF-8, comma), save as .xlsx
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
                        "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(tmp_path / "lo"),
                        str(tmp_path / name)], check=True, capture_output=True, timeout=180)
        ws = openpyxl.load_workbook(tmp_path / "lo" / name.replace(".csv", ".xlsx"), data_only=True).active
        return ws

    ws = calc("s.csv")
    head = [c.value for c in ws[1]]
    shown = [r[head.index("order")].value for r in ws.iter_rows(min_row=2)]
    assert shown[:3] == ids[:3]  # text: every digit, every leading zero
    assert [str(v) for v in shown[3:]] == ids[3:]  # short IDs may be numbers: they show the same digits
    raw = calc("raw.csv")
    damaged = [r[0] for r in raw.iter_rows(min_row=2)][:3]
    assert all(c.data_type == "n" and str(c.value) != i for c, i in zip(damaged, ids))  # zeros dropped, digits rounded
    # and our .xlsx, opened in Calc and saved as CSV: IDs as text, amounts with two decimals
    assert run("export", "shipments", "-o", tmp_path / "s.xlsx", now=NOW).exit_code == 0
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path / "lo2"), str(tmp_path / "s.xlsx")],
                   check=True, capture_output=True, timeout=180)
    back = list(csv.DictReader(io.StringIO((tmp_path / "lo2" / "s.csv").read_text(encoding="utf-8-sig"))))
    assert [r["order"] for r in back] == ids


# ------------------------------------------------------------------ progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_rows_rate_and_time_left_on_a_terminal_only():
    out = Tty()
    p = Progress(out, 1000, every=0)
    p.update(500, 250)
    assert "500 rows" in out.getvalue() and "rows/s" in out.getvalue() and "left" in out.getvalue()
    quiet = io.StringIO()
    p = Progress(quiet, 1000, every=0)
    p.update(500, 250)
    assert quiet.getvalue() == ""


# ------------------------------------------------------------------ tracking states


def test_every_documented_tracking_code_has_a_canonical_state():
    from aftersales.tracking import CODES, STATES, canonical

    documented = {"kuaidi100": "0 1 2 3 4 5 6 7 8 14 101 102 103 1001 1002 1003 501 301 302 303 304 401",
                  "kdniao": "0 1 2 3 4 5 6 10 201 202 204 205 211 301 302 304 311 401 402 403 404 405 406 407 412 "
                            "413 414 415 416 417 419 420 421 422 423"}
    for provider, codes in documented.items():
        assert sorted(CODES[provider], key=int) == sorted(codes.split(), key=int)
        assert all(canonical(provider, c)[0] in STATES for c in codes.split())
    assert canonical("kuaidi100", "303")[0] == "delivered_proxy" and canonical("kdniao", "311")[0] == "delivered_locker"
    assert canonical("kdniao", "413")[0] == "intercepted" and canonical("kuaidi100", "14")[0] == "refused"
    assert canonical("kdniao", "999") is None


def _shipments(shop, n=5):
    ledger.append(shop, "shipments", [{"waybill": f"ZT{i}", "at": "2026-11-20T10:00:00+08:00", "order": f"TB{i}",
                                       "courier": "zto", "destination": "浙江杭州",
                                       "shipped_at": "2026-11-20T10:00:00+08:00"} for i in range(n)])


def test_tracking_states_drive_the_chase_list(run, shop, tmp_path):
    _shipments(shop)
    (tmp_path / "kdn.csv").write_text(
        "LogisticCode,ShipperCode,State,StateEx,AcceptTime,AcceptStation\n"
        "ZT0,ZTO,2,201,2026-11-21 10:00:00,到达杭州\n"
        "ZT0,ZTO,2,211,2026-11-21 18:00:00,已放入菜鸟驿站\n"      # at a locker since the 21st
        "ZT1,ZTO,4,420,2026-11-22 09:00:00,地址不详\n"            # problem
        "ZT2,ZTO,3,304,2026-11-23 08:00:00,门卫代收\n"            # 代签: verify with the courier
        "ZT3,ZTO,4,404,2026-11-22 15:00:00,客户拒收\n"            # refused
        "ZT4,ZTO,2,202,2026-11-23 09:00:00,派件中\n", encoding="utf-8")
    r = run("import", tmp_path / "kdn.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert "traces: 6 new, 0 unchanged, 0 rejected" in r.stdout and "shipments: 5 updated" in r.stdout
    r = run("logistics", "check", "--format", "csv", now=NOW)
    rules = {row["waybill"]: row["rule"] for row in csv.DictReader(io.StringIO(r.stdout))}
    assert rules == {"ZT0": "locker_reminder", "ZT1": "tracking_problem", "ZT2": "verify_signer",
                     "ZT3": "tracking_refused"}
    s = {x["waybill"]: x for x in rows_of(shop, "shipments") if x["source"] == "kdniao"}
    assert (s["ZT2"]["signed_at"], s["ZT2"]["signed_by"]) == ("2026-11-23T08:00:00+08:00", "代签")
    assert s["ZT0"]["collected_at"] == "2026-11-21T10:00:00+08:00"
    before = ledger_bytes(shop)
    r = run("import", tmp_path / "kdn.csv", now=LATER)
    assert "traces: 0 new, 6 unchanged" in r.stdout and ledger_bytes(shop) == before


def test_a_stopped_tracking_feed_is_chased(run, shop, tmp_path):
    _shipments(shop, 1)
    (tmp_path / "k.csv").write_text("nu,com,state,statusCode,ftime,context\n"
                                    "ZT0,zhongtong,0,1002,2026-11-21 08:00:00,干线运输\n", encoding="utf-8")
    assert run("import", tmp_path / "k.csv", now="2026-11-21T09:00:00+08:00").exit_code == 0
    r = run("logistics", "check", "--format", "csv", now=NOW)
    assert [(x["waybill"], x["rule"]) for x in csv.DictReader(io.StringIO(r.stdout))] == [("ZT0", "no_update")]
    r = run("logistics", "check", "--format", "csv", now="2026-11-21T20:00:00+08:00")
    assert r.exit_code == 0 and r.stdout.count("\n") == 1  # header only: 12 h after the last trace is fine


def test_an_unknown_tracking_code_is_refused(run, shop, tmp_path):
    (tmp_path / "k.csv").write_text("nu,com,state,statusCode,ftime,context\nZT0,zto,0,999,2026-11-21 08:00:00,?\n",
                                    encoding="utf-8")
    before = ledger_bytes(shop)
    r = run("import", tmp_path / "k.csv", now=NOW)
    assert r.exit_code == 2 and ":2: column statusCode: unknown 快递100 status code '999'; known: 0, 1, 2" in r.stderr
    assert ledger_bytes(shop) == before


def test_order_facts_for_one_order_agree_with_a_full_read(run, shop, tmp_path):
    from aftersales.platforms import order_facts

    pf.write("pdd_orders", tmp_path / "pdd.csv", 12)
    assert run("import", tmp_path / "pdd.csv", now=NOW).exit_code == 0
    every = order_facts(shop, {pf.order_id(i) for i in range(12)})  # more than 8: the full read
    assert len(every) == 12
    for i in (0, 3, 11):
        assert order_facts(shop, {pf.order_id(i)}) == {pf.order_id(i): every[pf.order_id(i)]}  # the fast path
    assert order_facts(shop, {"4567"}) == {}  # a prefix of an order number is not that order
    ledger.append(shop, "orders", [{"order": pf.order_id(3), "at": LATER, "platform": "pdd",
                                    "remark": "第一行\n第二行"}])  # a line break inside a cell
    assert order_facts(shop, {pf.order_id(3)})[pf.order_id(3)]["remark"] == "第一行\n第二行"


def test_check_reads_the_orders_and_tracking_ledgers(run, shop, tmp_path):
    pf.write("pdd_orders", tmp_path / "pdd.csv", 2)
    assert run("import", tmp_path / "pdd.csv", now=NOW).exit_code == 0
    assert run("check").exit_code == 0
    with open(shop / "ledgers" / "orders.csv", "a", encoding="utf-8") as f:
        f.write("X1,2026-11-23T10:00:00+08:00,pdd" + ",abc" * 20 + "\n")
    r = run("check")
    assert r.exit_code == 1 and "ledgers/orders.csv:4: 'item_amount' value 'abc' is not valid" in r.stdout


def test_orders_check_lists_orders_near_or_past_the_platforms_ship_by_time(run, shop, tmp_path):
    pf.write("pdd_orders", tmp_path / "pdd.csv", 6)  # orders 0 and 5 have no waybill; ship-by 11-22 10:05
    assert run("import", tmp_path / "pdd.csv", now="2026-11-21T08:00:00+08:00").exit_code == 0
    r = run("orders", "check", "--format", "csv", now="2026-11-21T08:00:00+08:00")
    assert (r.exit_code, r.stdout.count("\n")) == (0, 1)  # 26 h left: nothing yet
    r = run("orders", "check", "--format", "csv", now="2026-11-22T08:00:00+08:00")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.exit_code == 1
    assert [(x["order"], x["state"], x["left"]) for x in rows] == [(pf.order_id(0), "due", "7500"),
                                                                   (pf.order_id(5), "due", "7500")]
    r = run("orders", "check", now="2026-11-22T11:00:00+08:00")
    assert r.stdout.count("overdue") == 2
    r = run("orders", "show", pf.order_id(1), "--format", "json")
    assert '"value": "138****0001"' in r.stdout and '"value": "YT7000000000001"' in r.stdout
    r = run("orders", "show", "123")
    assert r.exit_code == 2 and "order '123' is in no imported export" in r.stderr


def test_an_import_that_raced_another_writes_nothing(run, shop, tmp_path, monkeypatch):
    import aftersales.platforms as platforms

    pf.write("pdd_orders", tmp_path / "pdd.csv", 3)
    real = platforms._order_state

    def meanwhile(root):  # another import appends while this one reads the file
        state = real(root)
        ledger.append(root, "orders", [{"order": "X1", "at": NOW, "platform": "pdd"}])
        return state

    monkeypatch.setattr(platforms, "_order_state", meanwhile)
    r = run("import", tmp_path / "pdd.csv", now=NOW)
    assert r.exit_code == 2 and "ledgers/orders.csv changed while this file was read" in r.stderr
    assert [o["order"] for o in rows_of(shop, "orders")] == ["X1"]
    monkeypatch.setattr(platforms, "_order_state", real)
    assert "3 new" in run("import", tmp_path / "pdd.csv", now=NOW).stdout


def test_free_shipping_does_not_stop_ticket_new(run, shop, tmp_path):
    text = pf.text("pdd_orders", 2).replace("6.00元", "0.00")
    (tmp_path / "pdd.csv").write_text(text, encoding="utf-8")
    assert run("import", tmp_path / "pdd.csv", now=NOW).exit_code == 0
    r = run("ticket", "new", "--channel", "pdd", "--category", "transit_damage", "--order", pf.order_id(1),
            "--summary", "外箱破损", now=LATER)
    assert r.exit_code == 0, r.stderr
    r = run("ticket", "show", r.stdout.split()[0], "--format", "json", now=LATER)
    assert '"order_amount": "65.00"' in r.stdout and "shipping_fee" not in r.stdout


@given(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=20), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_any_id_survives_an_xlsx_export_as_text(orders):
    openpyxl = pytest.importorskip("openpyxl")
    import zoneinfo

    from aftersales.spreadsheet import table_xlsx

    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "x.xlsx"
        table_xlsx((("order", "text"), ("waybill", "id"), ("phone", "phone")), [[o, o, o] for o in orders], target,
                   zoneinfo.ZoneInfo("Asia/Shanghai"))
        ws = openpyxl.load_workbook(target).active
        cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells] == [o for o in orders for _ in range(3)]


def test_an_export_saved_as_xlsx_is_read_too(run, shop, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["抖店订单导出 2026-11-23"])  # a title row above the header
    ws.append(pf.HEADERS["douyin_orders"])
    for i, row in enumerate(pf.rows("douyin_orders", 3)):
        row = [c.strip() for c in row]
        row[8] = 65.0  # amounts as numbers
        row[10] = dt.datetime(2026, 11, 20, 10, 0)  # times as times
        if i == 2:
            row[0] = 4.56789012345679e18  # an order number the spreadsheet turned into a number
        ws.append(row)
    wb.save(tmp_path / "dy.xlsx")
    r = run("import", tmp_path / "dy.xlsx", now=NOW)
    assert r.exit_code == 2
    assert f"{tmp_path / 'dy.xlsx'}:5: column 主订单编号: '4.56789012345679E+18' is a number in scientific notation" in r.stderr
    r = run("import", tmp_path / "dy.xlsx", "--keep-going", "--rejects", tmp_path / "bad.csv", now=NOW)
    assert r.exit_code == 1 and "抖店 订单导出 (douyin_orders, xlsx), 3 rows" in r.stdout
    o = rows_of(shop, "orders")
    assert [(x["order"], x["order_amount"], x["created_at"]) for x in o] == [
        (pf.order_id(0), "65.00", "2026-11-20T10:00:00+08:00"), (pf.order_id(1), "65.00", "2026-11-20T10:00:00+08:00")]
