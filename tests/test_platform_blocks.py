"""The platform import's fast paths (issue 18) against the careful ones they stand for:
`read_row` by its per-file plan against the cell-by-cell reading, and the encoded blocks
of the spool against `ledger.encode_rows`."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import platform_files as pf
from aftersales import ledger
from aftersales.errors import InputError
from aftersales.platforms import (ID_FIELDS, MONEY_FIELDS, STATUS_FIELDS, TIME_FIELDS, _amount, _encode_block,
                                  clean, id_problem, load_profiles, open_export, read_row, register_ledgers,
                                  strip_status)
from aftersales.spreadsheet import parse_source_time

SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # DST until 2019: a gap and a repeated hour each year


def _reference(op, raw: list, tz) -> tuple:
    """(values, messages) of one row, cell by cell, as read_row read them before its plan."""
    v, msgs, n = {}, [], len(raw)
    for f_, i in op.index.items():
        cell = clean(raw[i]) if i < n else ""
        if not cell:
            v[f_] = ""
            continue
        col = op.names[f_]
        if f_ in ID_FIELDS:
            bad = id_problem(col, cell)
            if bad:
                msgs.append(bad)
            v[f_] = cell.replace(" ", "")
        elif f_ in TIME_FIELDS:
            try:
                v[f_] = ledger.format_time(parse_source_time(cell, tz))
            except ValueError as e:
                msgs.append(f"column {col}: '{cell}' is not a time: {e}")
                v[f_] = ""
        elif f_ in MONEY_FIELDS:
            try:
                v[f_] = _amount(cell)
            except ValueError as e:
                msgs.append(f"column {col}: {e}")
                v[f_] = ""
        elif f_ in STATUS_FIELDS:
            v[f_] = strip_status(cell)
        else:
            v[f_] = " ".join(cell.split())
    return v, msgs


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    register_ledgers()
    path = tmp_path_factory.mktemp("pdd") / "pdd.csv"
    pf.write("pdd_orders", path, 3)
    op = open_export(path, load_profiles())
    yield op
    op.close()


_TIMES = st.one_of(
    st.datetimes(dt.datetime(2017, 10, 14, 22), dt.datetime(2017, 10, 15, 2)).map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
    st.datetimes(dt.datetime(2018, 2, 17, 21), dt.datetime(2018, 2, 18, 1)).map(lambda t: f"{t:%Y-%m-%dT%H:%M:%S}"),
    st.datetimes(dt.datetime(2016, 1, 1), dt.datetime(2027, 1, 1)).map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
    st.sampled_from(["2017-02-30 10:00:00", "2017-10-02 24:00:00", "2017-10-02 10:60:00", "2017-10-02 10:56",
                     "2017/10/2 9:05", " 2017-10-02 10:56:33 ", "2017-10-02T10:56:33+08:00", "2017-10-02", "-", "",
                     "2017-10-02 10:56:33Z", "２017-10-02 10:56:33", "2017-10-02 10:5a:00", '="2017-10-02 10:56:33"']))
_CELLS = st.one_of(st.sampled_from(["", " ", "-", "--", "null", "无退款申请", '="0012345"', "'13812345678", "' 138",
                                    "1.5E+18", " 4.56789E+18 ", "12.00", "59.00元", "¥1,234.00", "(删除)等待出库",
                                    "【补】已发货", "a  b\tc", "顺丰速运", "=12", "=x"]),
                   st.text(alphabet="0123456789.eE-=\"' 元,中", max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_read_row_reads_every_cell_as_the_careful_reading(opened, data):
    raw = []
    for i in range(len(opened.header) + data.draw(st.integers(-3, 1))):
        field = next((f for f, j in opened.index.items() if j == i), None)
        raw.append(data.draw(_TIMES if field in TIME_FIELDS else _CELLS))
    for tz in (SAO_PAULO, ZoneInfo("Asia/Shanghai")):
        rec = read_row(opened, 2, raw, tz)
        values, messages = _reference(opened, raw, tz)
        assert rec.values == values
        assert rec.problems[:len(messages)] == messages


_VALUE = st.one_of(st.sampled_from(["", "SF1", "2026-11-20T10:00:00+08:00", "2026-11-20T10:00:00+09:00", "12.50", "sf",
                                    "zto", "a,b", 'x"y', "l\nm", "r\rs", "\x00", "-1", "1e3", "2026-11-21T09:00:00+08:00"]),
                   st.text(max_size=5))


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    from aftersales.policy import load_policy
    from aftersales.scaffold import init_workspace

    root = tmp_path_factory.mktemp("shop") / "shop"
    init_workspace(root)
    return load_policy(root)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[_VALUE] * 11), min_size=1, max_size=8))
def test_an_encoded_block_is_what_encode_rows_writes(policy, rows):
    schema = ledger.schema_of("shipments")
    got = _encode_block(ledger.BlockCheck(schema, policy), list(rows))
    try:
        want = ledger.encode_rows(schema, [dict(zip(schema.column_names, r)) for r in rows], policy)
    except InputError:
        assert got is None
    else:
        assert got in (None, want)


def test_a_plain_block_is_encoded(policy):
    schema = ledger.schema_of("shipments")
    rows = [("SF1", "2026-11-23T10:00:00+08:00", "TB1", "sf", "浙江杭州", "2026-11-20T10:00:00+08:00", "", "",
             "2026-11-21T10:00:00+08:00", "", "taobao_orders"),
            ("SF2", "2026-11-23T10:00:00+08:00", "TB2", "", "a,b", "", "", "", "", "", "taobao_orders")]
    assert _encode_block(ledger.BlockCheck(schema, policy), rows) == ledger.encode_rows(
        schema, [dict(zip(schema.column_names, r)) for r in rows], policy)
