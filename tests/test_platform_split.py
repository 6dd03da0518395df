"""A big order export read in two halves at once (platforms._in_two, issue 18): whatever
the file holds, the ledgers, the counts, the rejected rows and any error are those of a
single pass, which runs instead whenever the halves would not join as it reads them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import platform_files as pf
from aftersales import cache, ids, platforms
from aftersales.errors import InputError
from aftersales.policy import load_policy
from aftersales.scaffold import init_workspace

NOW = dt.datetime.fromisoformat("2026-11-23T10:00:00+08:00")


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    root = tmp_path_factory.mktemp("blank") / "shop"
    init_workspace(root)
    return root


def _ticket_ids_masked(text: str) -> str:
    return re.sub(rf"^[{ids.ALPHABET}]{{{ids.LENGTH}}},", "T,", text, flags=re.M)


def _import(blank, tmp_path, name: str, path, split: bool, monkeypatch, fail_child: bool = False):
    """(what the import says, its rejected rows, the ledgers it leaves) in a fresh shop, or
    the error; with `split`, every file is read in two halves."""
    shop = tmp_path / name
    shutil.copytree(blank, shop)
    with monkeypatch.context() as m:
        halves: list = []
        if split:
            m.setattr(platforms, "SPLIT_MIN", 0)
            m.setattr(cache, "jobs", lambda: 2)
            made = platforms._in_two

            def watched(run, at, prog):
                got = made(run, at, prog)
                halves.append(got[1] == ())  # joined: nothing left to read here
                return got

            m.setattr(platforms, "_in_two", watched)
        if fail_child:
            here, row = os.getpid(), platforms._Pass.row

            def dies(self, line, raw):
                if os.getpid() != here:
                    os._exit(3)
                return row(self, line, raw)

            m.setattr(platforms._Pass, "row", dies)
        try:
            out = platforms.import_export(shop, load_policy(shop), path, NOW, "a01", keep_going=True)
        except InputError as e:
            return ("error", e.message), halves
    books = {p.name: _ticket_ids_masked(p.read_text(encoding="utf-8")) for p in sorted((shop / "ledgers").glob("*.csv"))}
    return (out.as_dict(), [(p.line, p.message) for p in out.problems], out.rejected_rows, books), halves


def _same(blank, tmp_path, monkeypatch, path, fail_child=False) -> list:
    one, _ = _import(blank, tmp_path, "one", path, False, monkeypatch)
    two, halves = _import(blank, tmp_path, "two", path, True, monkeypatch, fail_child)
    assert two == one
    return halves


def _write(path, kind: str, rows: list, encoding: str = "") -> None:
    with open(path, "w", encoding=encoding or pf.ENCODINGS[kind], newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(pf.HEADERS[kind])
        w.writerows(rows)


def test_a_plain_export_is_read_half_here_half_beside(blank, tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    _write(path, "taobao_orders", list(pf.rows("taobao_orders", 200)))
    halves = _same(blank, tmp_path, monkeypatch, path)
    assert halves == [True]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["jd_orders", "pdd_orders", "taobao_items", "douyin_orders"]), n=st.integers(2, 60))
def test_items_of_one_order_and_requests_across_the_middle(blank, tmp_path_factory, monkeypatch, kind, n):
    """JD and Taobao item files give an order a row per item (the middle can fall between
    them); Pinduoduo and Douyin rows carry after-sales requests, which open tickets."""
    path = tmp_path_factory.mktemp("f") / "x.csv"
    _write(path, kind, list(pf.rows(kind, n)))
    _same(blank, tmp_path_factory.mktemp("s"), monkeypatch, path)


def test_an_order_or_a_request_in_both_halves_is_read_in_one_pass(blank, tmp_path, monkeypatch):
    rows = list(pf.rows("pdd_orders", 40))
    again = list(rows[2])  # an order without an after-sales request
    again[2] = "已签收"  # its status changed: a second row of it, at the end
    for k, extra in enumerate(([again], [rows[5]])):  # the order; a request (退款中) again
        path = tmp_path / f"x{k}.csv"
        _write(path, "pdd_orders", rows + extra)
        halves = _same(blank, tmp_path / str(k), monkeypatch, path)
        assert halves == [False]  # the child's half was read here after all


def test_a_record_across_the_middle_is_read_in_one_pass(blank, tmp_path, monkeypatch):
    """A stray quote in an unquoted cell makes the quotes before the middle odd: the split
    lands inside a remark of many lines; this process sees a record cross it."""
    rows = list(pf.rows("taobao_orders", 60))
    for r in rows:
        r[8] = "请尽快发货\n" * 3  # 买家留言 over four lines
    rows[0][11] = 'EMS"加急'  # an unquoted cell with a quote in it
    path = tmp_path / "x.csv"
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([pf.HEADERS["taobao_orders"]] + rows)
    raw = text.getvalue().replace('"EMS""加急"', 'EMS"加急')
    path.write_bytes(raw.encode("gb18030"))
    assert _same(blank, tmp_path, monkeypatch, path) == [False]


def test_bad_rows_in_the_later_half_are_named_by_their_lines(blank, tmp_path, monkeypatch):
    rows = list(pf.rows("taobao_orders", 80))
    rows[70][0] = "4.56789E+18"
    rows[71][15] = "2026-13-40 10:00:00"
    path = tmp_path / "x.csv"
    _write(path, "taobao_orders", rows)
    one, _ = _import(blank, tmp_path, "one", path, False, monkeypatch)
    assert [line for line, _m in one[1]] == [72, 73]
    _same(blank, tmp_path / "s", monkeypatch, path)


def test_a_file_that_stops_being_its_encoding_later_on_is_the_same_error(blank, tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    _write(path, "taobao_orders", list(pf.rows("taobao_orders", 80)))
    data = path.read_bytes()
    cut = data.index(b"buyer70")
    path.write_bytes(data[:cut] + b"\xff\xff" + data[cut:])
    one, _ = _import(blank, tmp_path, "one", path, False, monkeypatch)
    assert one[0] == "error" and f"{path}:72: neither UTF-8 nor GBK/GB18030 text" in one[1]
    _same(blank, tmp_path / "s", monkeypatch, path)


def test_a_child_that_dies_costs_only_time(blank, tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    _write(path, "pdd_orders", list(pf.rows("pdd_orders", 50)))
    assert _same(blank, tmp_path, monkeypatch, path, fail_child=True) == [False]  # the rows left read here


def test_a_lone_carriage_return_before_the_middle_keeps_one_pass(blank, tmp_path, monkeypatch):
    """csv counts a lone CR as a line break where a byte count would not: no split."""
    rows = list(pf.rows("taobao_orders", 60))
    rows[3][8] = "请尽快\r发货"
    path = tmp_path / "x.csv"
    _write(path, "taobao_orders", rows)
    assert _same(blank, tmp_path, monkeypatch, path) == []
    rows[3][8] = "请尽快\r\n发货"  # a CR before a line feed is one line break to both
    _write(path, "taobao_orders", rows)
    assert _same(blank, tmp_path / "crlf", monkeypatch, path) == [True]


def test_a_blank_record_across_the_middle_is_read_in_one_pass(blank, tmp_path, monkeypatch):
    """A stray quote makes the quotes before the middle odd, a blank quoted record of two
    lines after it even again: the split lands inside that record, which one pass skips
    as blank (no row crosses the split). The child would read its second line as a row."""
    rows = list(pf.rows("taobao_orders", 60))
    rows[0][11] = 'EMS"加急'
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([pf.HEADERS["taobao_orders"]] + rows)
    lines = text.getvalue().replace('"EMS""加急"', 'EMS"加急').split("\r\n")
    lines.insert(45, '"\r\n "')  # a blank record: one field, a line break and a space
    path = tmp_path / "x.csv"
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    assert _same(blank, tmp_path, monkeypatch, path) == [False]


def test_ctrl_c_while_the_child_answers_stays_an_interrupt(blank, tmp_path, monkeypatch):
    """An interrupt just after the child's answer was taken: the command stops as one
    process does (KeyboardInterrupt, "Aborted!"), no ledger byte changed."""
    path = tmp_path / "x.csv"
    pf.write("pdd_orders", path, 50)
    shop = tmp_path / "shop"
    shutil.copytree(blank, shop)
    monkeypatch.setattr(platforms, "SPLIT_MIN", 0)
    monkeypatch.setattr(cache, "jobs", lambda: 2)
    real = cache.beside

    def beside(work):
        answer = real(work)

        def interrupted(abandon=False):
            if abandon:
                return answer(abandon=True)
            answer()  # the answer read, the pipe closed, the child reaped ...
            raise KeyboardInterrupt  # ... and then Ctrl-C

        return interrupted

    monkeypatch.setattr(cache, "beside", beside)
    before = {p.name: p.read_bytes() for p in (shop / "ledgers").glob("*.csv")}
    with pytest.raises(KeyboardInterrupt):
        platforms.import_export(shop, load_policy(shop), path, NOW, "a01")
    assert {p.name: p.read_bytes() for p in (shop / "ledgers").glob("*.csv")} == before
