"""Spreadsheets are real clients: `as export` for Excel/WPS and `as import` of CSV exports.

Export scenarios put formula-like text into a ledger and read the exported bytes back
with the csv module. Import scenarios write source files byte by byte (GBK with CRLF, as
a Chinese Excel saves them; UTF-8 with a BOM) and map them into the shipments and
compensations ledgers through an `[imports.NAME]` policy written into the test shop.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales import ledger
from aftersales.errors import InputError
from aftersales.policy import load_policy
from aftersales.spreadsheet import (FORMULA_STARTS, neutralise, parse_source_amount, parse_source_time, read_import,
                                    safe_cell)
from conftest import snapshot
from test_import_blocks import _read, _reference

NOW = "2026-11-23T09:00:00+08:00"
CST = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=CST)
BOM = b"\xef\xbb\xbf"

IMPORTS_TOML = """\
# Import mappings used by the tests.
[imports.sf]
ledger = "shipments"
columns = { waybill = "运单号", order = "订单号", courier = "快递公司", destination = "收货地址", shipped_at = "发货时间", signed_at = "签收时间" }
values.courier = { "顺丰" = "sf", "中通" = "zto" }

[imports.utc]
ledger = "shipments"
timezone = "UTC"
columns = { waybill = "waybill", order = "order", shipped_at = "shipped" }

[imports.pay]
ledger = "compensations"
columns = { id = "编号", ticket = "工单", order = "订单号", amount = "金额", method = "方式", liability = "责任方", reason = "原因" }
values.method = { "余额" = "balance", "优惠券" = "coupon" }
values.liability = { "快递" = "courier", "仓库" = "warehouse" }
"""

SHIPMENTS_HEADER = "waybill,at,order,courier,destination,shipped_at,collected_at,last_update_at,signed_at,signed_by,source\n"
SF_HEADER = "运单号,订单号,快递公司,发货时间,签收时间,收货地址"


@pytest.fixture
def imports(shop):
    (shop / "policies" / "imports.toml").write_text(IMPORTS_TOML, encoding="utf-8")
    return shop


def source(tmp_path, text: str, encoding="utf-8", name="in.csv", newline="\r\n") -> Path:
    """A source file as a spreadsheet saves it: `text` written with LF turned to `newline`."""
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode(encoding))
    return p


def read_back(data: bytes) -> list:
    """Exported bytes parsed by the csv module alone (no BOM, header first)."""
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


# ------------------------------------------------------------------ export

DANGEROUS = ["=SUM(A1:A2)", "+86 138", "-rm", "@cmd", "\tx", "\rx"]


def comp(reason, amount="12.50", note="快递压坏外箱，补偿运费", at=AT, id=None) -> dict:
    return {"id": id or f"C{abs(hash((reason, at))) % 10**8:08d}", "ticket": "T0001", "at": at, "by": "a01",
            "order": "TB20261123001", "amount": Decimal(amount), "method": "balance", "liability": "courier",
            "reason": reason, "approved_by": "", "note": note}


def test_export_neutralises_formula_text_and_keeps_amounts(run, shop, tmp_path):
    amounts = ["12.50", "1234.00", "0.01", "8.00", "99.90", "3.00"]
    ledger.append(shop, "compensations", [comp(r, a, id=f"C{i}") for i, (r, a) in enumerate(zip(DANGEROUS, amounts))])
    ledger.append(shop, "compensations", [comp("包装破损", "20.00", note="普通中文备注", id="C9")])
    before = snapshot(shop)

    r = run("export", "compensations", "-o", "out.csv", now=NOW)

    assert r.exit_code == 0, r.stderr
    assert r.stdout == "exported 7 rows of compensations to out.csv\n"
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(BOM + b"id,ticket,at,by,order,amount,method,liability,reason,approved_by,note\r\n")
    assert data.count(b"\r\n") == 8 and data.replace(b"\r\n", b"").count(b"\n") == 0
    rows = read_back(data)
    assert rows[0] == list(ledger.LEDGERS["compensations"].column_names)
    reasons = [row[8] for row in rows[1:]]
    assert reasons == ["'" + d for d in DANGEROUS] + ["包装破损"]
    assert [row[5] for row in rows[1:]] == amounts + ["20.00"]
    assert [row[2] for row in rows[1:]] == ["2026-11-23T09:00:00+08:00"] * 7
    assert rows[-1][10] == "普通中文备注"
    assert snapshot(shop) == before  # the ledger in git is only read


def test_export_leaves_a_negative_amount_alone_but_not_negative_text(run, shop, tmp_path):
    # Ledger money is non-negative today; the rule is by column type, so a hand-edited
    # "-12.50" in a money column stays a number while "-12.50" as text is neutralised.
    path = ledger.ledger_path(shop, "compensations")
    path.write_bytes(path.read_bytes() + "C1,T0001,2026-11-23T09:00:00+08:00,a01,TB1,-12.50,balance,courier,-12.50,,\n"
                     .encode("utf-8"))
    r = run("export", "compensations", "-o", "out.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    row = read_back((tmp_path / "out.csv").read_bytes())[1]
    assert (row[5], row[8]) == ("-12.50", "'-12.50")


def test_safe_cell_is_by_column_type():
    assert safe_cell("money", "-12.50") == "-12.50"
    assert safe_cell("int", "-3") == "-3"
    assert safe_cell("time", "2026-11-23T09:00:00+08:00") == "2026-11-23T09:00:00+08:00"
    assert safe_cell("text", "-12.50") == "'-12.50"
    assert safe_cell("id", "-rm") == "'-rm"
    assert safe_cell("money", "=1+1") == "'=1+1"  # not an amount at all: treated as text
    assert safe_cell("text", "王女士") == "王女士"
    assert safe_cell("text", "") == ""


@given(st.text())
def test_neutralised_text_never_starts_a_formula_and_keeps_the_value(text):
    cell = neutralise(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell == text or (cell == "'" + text and text.startswith(FORMULA_STARTS))


def test_export_refuses_to_overwrite_without_force(run, shop, tmp_path):
    ledger.append(shop, "compensations", [comp("包装破损")])
    (tmp_path / "out.csv").write_bytes(b"keep me")

    r = run("export", "compensations", "-o", "out.csv", now=NOW)
    assert r.exit_code == 2
    assert r.stderr == ("error: out.csv: already exists; pass --force to overwrite it, "
                        "or choose another file with -o\n")
    assert (tmp_path / "out.csv").read_bytes() == b"keep me"

    r = run("export", "compensations", "-o", "out.csv", "--force", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert len(read_back((tmp_path / "out.csv").read_bytes())) == 2


def test_export_to_stdout_writes_the_same_bytes(run, shop, tmp_path):
    ledger.append(shop, "compensations", [comp("=HYPERLINK(\"http://x\")")])
    r = run("export", "compensations", "-o", "-", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "exported 1 row of compensations to stdout\n"
    assert run("export", "compensations", "-o", "file.csv", now=NOW).exit_code == 0
    assert r.stdout_bytes == (tmp_path / "file.csv").read_bytes()
    assert read_back(r.stdout_bytes)[1][8] == "'=HYPERLINK(\"http://x\")"


def test_export_default_file_is_named_by_ledger_and_day(run, shop, tmp_path):
    r = run("export", "tickets", now="2026-11-22T20:00:00+00:00")  # already the 23rd in Shanghai
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "exported 0 rows of tickets to tickets-20261123.csv\n"
    header = (tmp_path / "tickets-20261123.csv").read_bytes()
    assert header.startswith(BOM + b"ticket,opened_at,status,") and header.count(b"\r\n") == 1  # one row per ticket
    assert run("export", "tickets", "--events", "-o", "ev.csv").exit_code == 0  # the raw events on request
    assert (tmp_path / "ev.csv").read_bytes() == BOM + b"ticket,at,by,type,ref,text,data\r\n"


def test_export_from_to_are_days_in_the_shops_zone(run, shop, tmp_path):
    utc = dt.timezone.utc
    rows = [
        comp("22nd late", at=dt.datetime(2026, 11, 22, 15, 59, tzinfo=utc), id="C1"),  # 23:59 on the 22nd in Shanghai
        comp("23rd early", at=dt.datetime(2026, 11, 22, 16, 0, tzinfo=utc), id="C2"),   # 00:00 on the 23rd
        comp("24th", at=dt.datetime(2026, 11, 24, 23, 59, tzinfo=CST), id="C3"),
        comp("25th", at=dt.datetime(2026, 11, 25, 0, 0, tzinfo=CST), id="C4"),
    ]
    ledger.append(shop, "compensations", rows)
    r = run("export", "compensations", "--from", "2026-11-23", "--to", "2026-11-24", "-o", "-", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert [row[8] for row in read_back(r.stdout_bytes)[1:]] == ["23rd early", "24th"]
    assert r.stderr == "exported 2 rows of compensations to stdout\n"


@pytest.mark.parametrize("args, message", [
    (["shipment"], "error: unknown ledger 'shipment'; did you mean 'shipments'?\n"),
    (["tickets", "--from", "2026-11-31"], "error: --from 2026-11-31: not a date; write it like 2026-11-23\n"),
    (["tickets", "--from", "2026-11-24", "--to", "2026-11-23"], "error: --from 2026-11-24 is after --to 2026-11-23; swap them\n"),
])
def test_export_usage_errors(run, args, message, tmp_path):
    r = run("export", *args, now=NOW)
    assert (r.exit_code, r.stderr) == (2, message)
    assert not list(tmp_path.glob("*.csv"))


# ------------------------------------------------------------------ import

GOOD = f"""{SF_HEADER}
SF1001,TB20171002001,顺丰,2017-10-02 10:56:33,2017/10/03 14:05,北京市朝阳区
SF1002,TB20171002002,中通,2017/10/2 9:05,,上海市浦东新区
SF1003,TB20171002003,顺丰,2017-10-02,2017-10-04T08:00:00+08:00,广东省深圳市
"""

GOOD_ROWS = (
    "SF1001,2026-11-23T09:00:00+08:00,TB20171002001,sf,北京市朝阳区,2017-10-02T10:56:33+08:00,,,2017-10-03T14:05:00+08:00,,sf\n"
    "SF1002,2026-11-23T09:00:00+08:00,TB20171002002,zto,上海市浦东新区,2017-10-02T09:05:00+08:00,,,,,sf\n"
    "SF1003,2026-11-23T09:00:00+08:00,TB20171002003,sf,广东省深圳市,2017-10-02T00:00:00+08:00,,,2017-10-04T08:00:00+08:00,,sf\n"
)


def shipments(shop) -> str:
    return ledger.ledger_path(shop, "shipments").read_text(encoding="utf-8")


def test_import_gbk_with_crlf_is_detected_and_mapped(run, imports, tmp_path):
    src = source(tmp_path, GOOD, encoding="gbk")
    assert b"\r\n" in src.read_bytes()
    r = run("import", "sf", "in.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "imported 3 rows into ledgers/shipments.csv\n"
    assert shipments(imports) == SHIPMENTS_HEADER + GOOD_ROWS
    r = run("check")
    assert r.exit_code == 0, r.stdout


def test_import_utf8_with_bom(run, imports, tmp_path):
    src = source(tmp_path, GOOD, encoding="utf-8-sig", newline="\n")
    assert src.read_bytes().startswith(BOM)
    r = run("import", "sf", "in.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert shipments(imports) == SHIPMENTS_HEADER + GOOD_ROWS
    assert run("check").exit_code == 0


def test_import_is_one_batch(run, imports, tmp_path, monkeypatch):
    source(tmp_path, GOOD, encoding="gbk")
    journals = []
    real = ledger._write_journal
    monkeypatch.setattr(ledger, "_write_journal", lambda sec: (journals.append(dict(sec.before)), real(sec)))
    assert run("import", "sf", "in.csv", now=NOW).exit_code == 0
    assert [list(j) for j in journals] == [["shipments"]]  # one ledger, journalled once: rolled back whole


# ------------------------------------------------------------------ import: streaming (issue 18)

MANY = 10_000  # more rows than one written chunk


def many(n: int, bad: dict = {}) -> str:
    """`n` good rows of the sf mapping (line i + 1), with row i replaced by bad[i]."""
    rows = [f"SF{i:06d},TB{i:06d},顺丰,2017-10-02 10:{i % 60:02d}:33,,\"杭州市, 西湖区\"" for i in range(n)]
    for i, row in bad.items():
        rows[i] = row
    return SF_HEADER + "\n" + "\n".join(rows) + "\n"


def test_a_bad_row_after_many_good_ones_leaves_every_ledger_byte(run, imports, tmp_path):
    source(tmp_path, many(MANY, {MANY - 1: "SF9,TB9,韵达,2017-10-02 10:00:00,,杭州"}), encoding="gbk")
    ledger.append(imports, "shipments", [{"waybill": "SF0", "at": AT, "order": "TB0"}])
    before = snapshot(imports)
    r = run("import", "sf", "in.csv", now=NOW)
    assert r.exit_code == 2
    assert r.stdout.startswith(f"in.csv:{MANY + 1}: 'courier' value '韵达' is not allowed")
    assert r.stderr == f"1 of {MANY} rows is bad; nothing was imported\n"
    assert snapshot(imports) == before
    assert not ledger.journal_path(imports).exists()


def test_keep_going_streams_the_good_rows_and_rejects_the_bad(run, imports, tmp_path):
    bad = {3: "SF3,TB3,韵达,2017-10-02 10:00:00,,杭州", MANY - 2: "SF8,,顺丰,2017-10-02,,杭州"}
    source(tmp_path, many(MANY, bad), encoding="gbk")
    r = run("import", "sf", "in.csv", "--keep-going", "--rejects", tmp_path / "rejects.csv", now=NOW)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"imported {MANY - 2} of {MANY} rows into ledgers/shipments.csv; 2 rejected")
    lines = shipments(imports).splitlines()
    assert len(lines) == 1 + MANY - 2
    assert lines[1] == "SF000000,2026-11-23T09:00:00+08:00,TB000000,sf,\"杭州市, 西湖区\",2017-10-02T10:00:33+08:00,,,,,sf"
    rejects = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [x.split(",")[0] for x in rejects] == ["运单号", "SF3", "SF8"]
    assert run("check").exit_code == 0


def test_a_field_over_the_ledger_limit_is_refused_with_nothing_written(run, imports, tmp_path):
    long = "长" * (ledger.MAX_FIELD + 1)
    source(tmp_path, many(MANY, {5000: f"SF1,TB1,顺丰,2017-10-02,,{long}"}), encoding="utf-8")
    before = snapshot(imports)
    r = run("import", "sf", "in.csv", now=NOW)
    assert (r.exit_code, r.stderr) == (2, (
        f"error: ledgers/shipments.csv: refusing to write a record whose 'destination' has {ledger.MAX_FIELD + 1} "
        f"characters; the limit is {ledger.MAX_FIELD}: shorten it (a long text can go in as an evidence file)\n"))
    assert snapshot(imports) == before
    r = run("import", "sf", "in.csv", "--dry-run", now=NOW)  # a dry run checks rows, not the ledger's limit
    assert (r.exit_code, r.stdout) == (0, f"would import {MANY} rows into ledgers/shipments.csv (dry run: nothing written)\n")


DST_MAP = """
[imports.dst]
ledger = "shipments"
timezone = "America/Sao_Paulo"
columns = { waybill = "w", order = "o", courier = "c", destination = "d", shipped_at = "s", collected_at = "k", signed_at = "g" }
values.courier = { "顺丰" = "sf", "中通" = "zto" }

[imports.dst.require_when.status]
delivered = ["signed_at"]
signed = ["signed_by"]
"""


@pytest.fixture(scope="module")
def dst_import(tmp_path_factory):
    from aftersales.scaffold import init_workspace
    from aftersales.spreadsheet import Import

    root = tmp_path_factory.mktemp("dst") / "shop"
    init_workspace(root)
    (root / "policies" / "imports.toml").write_text(IMPORTS_TOML + DST_MAP, encoding="utf-8")
    src = root.parent / "in.csv"
    src.write_text("w,o,c,d,s,k,g,status\n", encoding="utf-8")
    return Import(load_policy(root), "dst", src, now=AT)


# Values the fast path must take exactly as the careful check does, or leave to it: mostly
# plain ones, times in Sao Paulo around its DST changes (a gap on 2017-10-15, a repeated
# hour on 2018-02-17) and in any order; now and then an invalid or unusual time, an ID a
# spreadsheet made a number, a cell to quote or unwrap, a missing or extra cell.
def _mostly(plain, odd):
    return st.one_of(plain, plain, plain, st.sampled_from(odd))


_TIMES = _mostly(st.one_of(
    st.just(""),
    st.datetimes(dt.datetime(2017, 10, 14, 22), dt.datetime(2017, 10, 15, 2)).map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
    st.datetimes(dt.datetime(2018, 2, 17, 22), dt.datetime(2018, 2, 18, 1)).map(lambda t: f"{t:%Y-%m-%dT%H:%M:%S}"),
    st.datetimes(dt.datetime(2016, 1, 1), dt.datetime(2019, 1, 1)).map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}")),
    ["2017-02-30 10:00:00", "2017-10-02 24:00:00", "2017-10-02 10:60:00", "2017-10-02 10:56", "2017/10/2 9:05",
     " 2017-10-02 10:56:33 ", "2017-10-02 10:56:33+08:00", "2017-10-02", "1890-01-01 12:00:00", "２017-10-02 10:56:33"])
_IDS = _mostly(st.sampled_from(["SF1", "TB1", "89e7d", "ab12"]),
               ["1.5E+18", "12.00", "1e5", '="0012"', '="1.5E+18"', " TB2 ", "a,b", 'x"y', "", "１e5", "T\nB", "ab\x00"])
_ROW = st.tuples(_IDS, _IDS, _mostly(st.sampled_from(["顺丰", "中通", "sf", ""]), ["dhl", " sf "]),
                 _mostly(st.sampled_from(["杭州", "", "a b"]), ["a,b", '"', "\n", "\r", "\x00", "=1"]),
                 _TIMES, _TIMES, _TIMES, _mostly(st.sampled_from(["delivered", "shipped", ""]), [" delivered", "signed"]),
                 _mostly(st.just(8), [7, 9]), st.sampled_from(["", " ", "x"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=40))
def test_the_fast_path_gives_the_careful_bytes_or_leaves_the_row_to_it(dst_import, rows):
    from aftersales.spreadsheet import _fast_lines

    srcs = []
    for *cells, width, extra in rows:
        src = list(cells)[:width] if width < 8 else list(cells) + [extra] * (width - 8)
        srcs.append(src)
    fast = _fast_lines(dst_import)(srcs)
    for src, line in zip(srcs, fast):
        values, messages = dst_import.check(src)
        if messages:
            assert line is None, (src, messages)
        elif line is not None:
            assert line == dst_import._encode(values), src
    whole = _fast_lines(dst_import)(srcs, True)  # the lines joined when every row is plain
    assert whole == ("\n".join(fast) if None not in fast else fast)


def test_the_fast_path_takes_plain_rows(dst_import):
    from aftersales.spreadsheet import _fast_lines

    src = ["SF1", "TB1", "顺丰", "杭州", "2017-10-02 10:56:33", "2017-10-03 08:00:00", "2017-10-05 12:00:00", "delivered"]
    dst = ["SF2", "TB2", "sf", "", "2017-10-14 23:00:00", "2017-10-15 01:30:00", "2018-02-18 00:30:00", "shipped"]
    assert _fast_lines(dst_import)([src, dst]) == [
        "SF1,2026-11-23T09:00:00+08:00,TB1,sf,杭州,2017-10-02T10:56:33-03:00,2017-10-03T08:00:00-03:00,,"
        "2017-10-05T12:00:00-03:00,,dst",
        "SF2,2026-11-23T09:00:00+08:00,TB2,sf,,2017-10-14T23:00:00-03:00,2017-10-15T01:30:00-02:00,,"
        "2018-02-18T00:30:00-03:00,,dst"]


def test_the_fast_path_keeps_other_spaces_and_leaves_long_fields(dst_import):
    """Times written with a space become ISO in the joined lines, a space elsewhere stays; a
    field over the ledger's limit goes to the careful check (which refuses it)."""
    from aftersales.ledger import MAX_FIELD
    from aftersales.spreadsheet import _fast_lines

    src = ["SF1", "TB1", "sf", "a b", "2017-10-02 10:56:33", "2017-10-03 08:00:00", "", "shipped"]
    plain = ["SF2", "TB2", "sf", "ab", "2017-10-02 10:56:33", "2017-10-03 08:00:00", "", "shipped"]
    lines = _fast_lines(dst_import)
    assert lines([src, plain], True) == (
        "SF1,2026-11-23T09:00:00+08:00,TB1,sf,a b,2017-10-02T10:56:33-03:00,2017-10-03T08:00:00-03:00,,,,dst\n"
        "SF2,2026-11-23T09:00:00+08:00,TB2,sf,ab,2017-10-02T10:56:33-03:00,2017-10-03T08:00:00-03:00,,,,dst")
    long = plain[:3] + ["x" * (MAX_FIELD + 1)] + plain[4:]
    assert lines([plain, long], True) == [lines([plain])[0], None]
    assert dst_import.check(long)[1] == [] and dst_import._encode(dst_import.check(long)[0]) is None


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/London", "UTC"])
def test_a_days_hours_are_each_hour_as_worked_out_alone(zone):
    """`_Hours` fills a day's 24 hours at once: each exactly as `_hour` makes it alone (DST
    gaps and folds, a 30-minute change, half-hour offsets, days that do not exist)."""
    from zoneinfo import ZoneInfo

    from aftersales.spreadsheet import _Hours

    hours, alone = _Hours(ZoneInfo(zone)), _Hours(ZoneInfo(zone))
    day, days = dt.date(2016, 1, 1), ["2017-02-29", "2016-02-30", "2017-13-01", "0000-01-01", "0001-01-01", "9999-12-31"]
    while day < dt.date(2019, 1, 1):
        days.append(day.isoformat())
        day += dt.timedelta(days=1)
    for d in days:
        for sep in " T":
            for h in range(24):
                key = f"{d}{sep}{h:02d}"
                assert hours[key] == alone._hour(key), key
    assert hours.offsets == {"": "", **{k: v[1] for k, v in hours.items() if k and v}}


_CSV = st.text(alphabet=["a", "中", ",", '"', "\n", "\r", " ", "\x00", "\ufeff"], max_size=30)


@given(_CSV)
def test_records_are_what_csv_reader_reads(text):
    """The quote-free lines are split without csv.reader: the same records, lines and errors."""
    from aftersales.spreadsheet import _records

    assert _read(_records(io.StringIO(text, newline=""), "f")) == _read(_reference(text))


def test_import_with_bad_rows_imports_nothing_and_lists_each(run, imports, tmp_path):
    text = (f"{SF_HEADER}\n"
            "SF2001,TB1,顺丰,2017-10-02 10:56,,\"北京市\n朝阳区\"\n"     # lines 2-3: a cell with a line break
            "SF2002,TB2,顺丰,2017-13-45 10:00,,上海市\n"               # line 4: no month 13
            "SF2003,TB3,韵达,2017-10-02 11:00,,广州市\n"               # line 5: no translation, not a courier id
            "SF2004,TB4,中通,2017-10-02 12:00,,杭州市\n")
    source(tmp_path, text, encoding="gbk")
    ledger.append(imports, "shipments", [{"waybill": "SF0", "at": AT, "order": "TB0"}])
    before = snapshot(imports)

    r = run("import", "sf", "in.csv", now=NOW)

    assert r.exit_code == 2
    assert r.stdout == (
        "in.csv:4: 'shipped_at' value '2017-13-45 10:00' is not a time: month must be in 1..12\n"
        "    SF2002,TB2,顺丰,2017-13-45 10:00,,上海市\n"
        "in.csv:5: 'courier' value '韵达' is not allowed (from policies: logistics.couriers); "
        "known: ems, jd, jt, sf, sto, yto, yunda, zto\n"
        "    SF2003,TB3,韵达,2017-10-02 11:00,,广州市\n"
    )
    assert r.stderr == "2 of 4 rows are bad; nothing was imported\n"
    assert snapshot(imports) == before


def test_import_bad_rows_as_json(run, imports, tmp_path):
    source(tmp_path, f"{SF_HEADER}\n,TB1,顺丰,2017-10-02,,北京\n", encoding="gbk")
    r = run("import", "sf", "in.csv", "--format", "json", now=NOW)
    assert r.exit_code == 2
    assert json.loads(r.stdout) == [{"file": "in.csv", "line": 2, "message": "'waybill' is empty; it is required",
                                     "hint": "", "record": ",TB1,顺丰,2017-10-02,,北京"}]
    assert r.stderr == "1 of 1 row is bad; nothing was imported\n"


def test_import_missing_source_column_names_it_and_the_headers(run, imports, tmp_path):
    source(tmp_path, "运单编号,订单号,快递公司,发货时间,签收时间,地址\nSF1,TB1,顺丰,2017-10-02,,北京\n", encoding="gbk")
    with_before = snapshot(imports)
    r = run("import", "sf", "in.csv", now=NOW)
    assert r.exit_code == 2
    assert r.stderr == (
        "error: in.csv:1: the header has no column '运单号' (did you mean '运单编号'?), '收货地址' (did you mean '地址'?), which imports.sf needs; "
        "the file's columns: 运单编号, 订单号, 快递公司, 发货时间, 签收时间, 地址\n"
    )
    assert snapshot(imports) == with_before


def test_import_undecodable_file_names_the_line_and_the_option(run, imports, tmp_path):
    p = tmp_path / "in.csv"
    p.write_bytes((f"{SF_HEADER}\r\nSF1,TB1,顺丰,2017-10-02,,北京\r\n").encode("gbk") + b"SF2,TB2,\xff\xff,2017-10-02,,x\r\n")
    r = run("import", "sf", "in.csv", now=NOW)
    assert (r.exit_code, r.stderr) == (2, (
        "error: in.csv:3: neither UTF-8 nor GBK/GB18030 text (byte 0xff); "
        "re-save it as UTF-8, or pass --encoding with its encoding (e.g. --encoding big5)\n"))


def test_import_forced_utf8_on_gbk_bytes_names_the_line(run, imports, tmp_path):
    source(tmp_path, "waybill,order,shipped\nSF1,TB1,2017-10-02\nSF2,顺丰,2017-10-02\n", encoding="gbk")
    r = run("import", "utc", "in.csv", "--encoding", "utf-8", now=NOW)
    assert (r.exit_code, r.stderr) == (2, (
        "error: in.csv:3: not utf-8 text (byte 0xb7); pass --encoding with the file's real encoding (utf-8 or gb18030)\n"))
    r = run("import", "utc", "in.csv", "--encoding", "gbk", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert "SF2,2026-11-23T09:00:00+08:00,顺丰,,,2017-10-02T00:00:00+00:00" in shipments(imports)


def test_import_dry_run_writes_nothing(run, imports, tmp_path):
    source(tmp_path, GOOD, encoding="gbk")
    before = snapshot(imports)
    r = run("import", "sf", "in.csv", "--dry-run", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "would import 3 rows into ledgers/shipments.csv (dry run: nothing written)\n"
    assert snapshot(imports) == before


def test_import_mapping_time_zone_and_offsets(run, imports, tmp_path):
    source(tmp_path, "waybill,order,shipped\nW1,O1,2017-10-02 10:56:33\nW2,O2,2017-10-02T10:56:33+08:00\nW3,O3,2017-10-02T02:56:33Z\n")
    r = run("import", "utc", "in.csv", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert [line.split(",")[5] for line in shipments(imports).splitlines()[1:]] == [
        "2017-10-02T10:56:33+00:00", "2017-10-02T10:56:33+08:00", "2017-10-02T02:56:33+00:00"]


PAY = """编号,工单,订单号,金额,方式,责任方,原因,备注
P001,T0001,TB1,￥12.50,余额,快递,外箱压坏,不导入
P002,T0002,TB2,"1,234.00",优惠券,仓库,=少发一件,
"""


def test_import_compensations_normalises_amounts_and_fills_at_and_by(run, imports, tmp_path):
    source(tmp_path, PAY, encoding="gbk")
    r = run("import", "pay", "in.csv", by="l01", now=NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "imported 2 rows into ledgers/compensations.csv\n"
    text = ledger.ledger_path(imports, "compensations").read_text(encoding="utf-8")
    assert text.splitlines()[1:] == [
        "P001,T0001,2026-11-23T09:00:00+08:00,l01,TB1,12.50,balance,courier,外箱压坏,,",
        "P002,T0002,2026-11-23T09:00:00+08:00,l01,TB2,1234.00,coupon,warehouse,=少发一件,,",
    ]
    # the import takes the rows as the platform wrote them; `as check` then names the payments
    # whose tickets this shop never opened (and nothing else)
    r = run("check")
    assert r.exit_code == 1
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("ledgers/")] == [
        f"ledgers/compensations.csv:{n}: payment for ticket T000{n - 1}, which is not in ledgers/tickets.csv"
        for n in (2, 3)]
    # and the formula-like reason stays as typed in the ledger, neutralised on export only
    r = run("export", "compensations", "-o", "-", now=NOW)
    assert read_back(r.stdout_bytes)[2][8] == "'=少发一件"


def test_import_into_a_ledger_with_by_needs_the_acting_staff(run, imports, tmp_path):
    source(tmp_path, PAY, encoding="gbk")
    before = snapshot(imports)
    r = run("import", "pay", "in.csv", by=None, now=NOW)
    assert r.exit_code == 2
    assert "pass --by STAFF_ID or set AS_USER" in r.stderr
    assert snapshot(imports) == before


def test_import_unknown_mapping(run, imports, tmp_path):
    source(tmp_path, GOOD)
    r = run("import", "sff", "in.csv", now=NOW)
    assert (r.exit_code, r.stderr) == (2, "error: unknown import mapping 'sff'; did you mean 'sf'?\n")


def test_import_without_any_mapping_says_how_to_add_one(run, tmp_path):
    source(tmp_path, GOOD)
    r = run("import", "sf", "in.csv", now=NOW)
    assert (r.exit_code, r.stderr) == (2, "error: no import mapping 'sf': the policies define none; add an "
                                          "[imports.sf] section naming the ledger and its columns\n")


# ------------------------------------------------------------------ the domain function


def test_read_import_returns_good_rows_and_problems(imports, tmp_path):
    src = source(tmp_path, f"{SF_HEADER}\nSF1,TB1,顺丰,2017-10-02,,北京\nSF2,TB2,申通快递,2017-10-02,,上海\n", encoding="gbk")
    policy = load_policy(imports)
    rows, problems = read_import(policy, "sf", src, now=AT)
    assert rows == [{"waybill": "SF1", "at": "2026-11-23T09:00:00+08:00", "order": "TB1", "courier": "sf",
                     "destination": "北京", "shipped_at": "2017-10-02T00:00:00+08:00", "collected_at": "",
                     "last_update_at": "", "signed_at": "", "signed_by": "", "source": "sf"}]
    assert [(p.file, p.line, p.record) for p in problems] == [(str(src), 3, "SF2,TB2,申通快递,2017-10-02,,上海")]
    assert problems[0].message.startswith("'courier' value '申通快递' is not allowed")


def test_read_import_mapping_encoding_is_used_and_named(shop, tmp_path):
    (shop / "policies" / "imports.toml").write_text(
        '[imports.gbk_map]\nledger = "shipments"\nencoding = "gbk"\ncolumns = { waybill = "w", order = "o" }\n',
        encoding="utf-8")
    policy = load_policy(shop)
    src = source(tmp_path, "w,o\nW1,订单\n", encoding="gbk")
    rows, problems = read_import(policy, "gbk_map", src, now=AT)
    assert (rows[0]["order"], problems) == ("订单", [])
    src = source(tmp_path, "w,o\nW1,中\n", encoding="utf-8", name="utf8.csv")  # UTF-8 中 then CR: not GBK
    with pytest.raises(InputError) as e:
        read_import(policy, "gbk_map", src, now=AT)
    assert e.value.message == (f"{src}:2: not gbk text (byte 0xad); pass --encoding with the file's real encoding "
                               "(utf-8 or gb18030)")
    rows, _ = read_import(policy, "gbk_map", src, encoding="utf-8", now=AT)  # --encoding wins over the mapping
    assert rows[0]["order"] == "中"


@pytest.mark.parametrize("text, expected", [
    ("2017-10-02 10:56:33", "2017-10-02T10:56:33+08:00"),
    ("2017/10/02 10:56", "2017-10-02T10:56:00+08:00"),
    ("2017/10/2 9:05", "2017-10-02T09:05:00+08:00"),
    ("2017年10月2日 10:56", "2017-10-02T10:56:00+08:00"),
    ("2017-10-02", "2017-10-02T00:00:00+08:00"),
    ("2017-10-02T10:56:33.250", "2017-10-02T10:56:33+08:00"),
    ("2017-10-02T10:56:33+09:00", "2017-10-02T10:56:33+09:00"),
    ("2017-10-02T02:56:33Z", "2017-10-02T02:56:33+00:00"),
])
def test_source_times(text, expected):
    assert ledger.format_time(parse_source_time(text, CST)) == expected


@pytest.mark.parametrize("text", ["yesterday", "10/02/2017", "2017-10-02 25:00", "43010.45"])
def test_source_times_refused(text):
    with pytest.raises(ValueError):
        parse_source_time(text, CST)


@pytest.mark.parametrize("text, expected", [
    ("¥12.50", "12.50"), ("￥ 8", "8.00"), ("1,234.00", "1234.00"), ("12.5元", "12.50"), ("0", "0.00"),
])
def test_source_amounts(text, expected):
    assert f"{parse_source_amount(text)}" == expected


@pytest.mark.parametrize("text", ["-12.50", "12.505", "abc", ""])
def test_source_amounts_refused(text):
    with pytest.raises(ValueError):
        parse_source_amount(text)
