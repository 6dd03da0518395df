"""A big plain import file is converted in two processes (`Import.chunks`, issue 18): a
forked child converts the records from a line break near the middle on, into a spool file,
while the command does those before. Forced here on small files (`SPLIT_MIN`, `cache.jobs`),
every outcome must be the one process's: the ledger's bytes, the output, the errors with
their line numbers, the rejects; and a child that raises or dies changes nothing but time."""

from __future__ import annotations

import os
import signal

import pytest

from aftersales import cache, ledger, spreadsheet
from conftest import snapshot

NOW = "2026-11-23T09:00:00+08:00"

MAPPING = """\
[imports.orders]
ledger = "shipments"
timezone = "America/Sao_Paulo"

[imports.orders.columns]
waybill = "order_id"
order = "order_id"
destination = "state"
shipped_at = "approved"
collected_at = "carrier"
signed_at = "delivered"

[imports.orders.lookups.customers]
file = "customers.csv"
key = "customer_id"
on = "customer_id"
columns = { state = "state" }

[imports.orders.only_when]
status = ["shipped", "delivered"]

[imports.orders.require_when.status]
delivered = ["collected_at", "signed_at"]
"""

HEADER = "order_id,customer_id,status,approved,carrier,delivered"
N = 400


def order(i: int) -> str:
    status = ("delivered", "shipped", "canceled")[i % 3]
    day = 1 + i % 28
    done = f"2017-10-{day:02d} 18:{i % 60:02d}:00" if status == "delivered" else ""
    return (f"o{i:05d},c{i:05d},{status},2017-10-{day:02d} 0{i % 10}:15:{i % 60:02d},"
            + (f"2017-10-{day:02d} 12:00:00" if status == "delivered" else "") + f",{done}")


def orders(bad: dict = {}) -> str:
    rows = [order(i) for i in range(N)]
    for i, row in bad.items():
        rows[i] = row
    return HEADER + "\n" + "\n".join(rows) + "\n"


@pytest.fixture
def shop_files(shop, tmp_path):
    (shop / "policies" / "imports.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "customers.csv").write_text(
        "customer_id,city,state\n" + "".join(f"c{i:05d},x,{('SP', 'RJ', 'MG')[i % 3]}\n" for i in range(N)),
        encoding="utf-8")
    return shop


@pytest.fixture
def both(shop_files, run, tmp_path, monkeypatch):
    """import(text, *args) -> ((result, ledgers, rejects) in one process, the same forked):
    each run on the same ledgers as they were before it."""
    forks: list = []
    real = cache.beside

    def beside(work):
        result = real(work)

        def answer(abandon=False):
            got = result(abandon)
            forks.append(got is not None)  # the child's work used, or done here
            return got

        return answer

    monkeypatch.setattr(cache, "beside", beside)
    monkeypatch.setattr(spreadsheet, "SPLIT_MIN", 0)

    def go(text, *args, encoding="utf-8", newline="\n", expect_fork=True):
        src = tmp_path / "orders.csv"
        src.write_bytes(text.replace("\n", newline).encode(encoding))
        before = snapshot(shop_files)
        out = []
        for jobs in (1, 2):
            for p in (shop_files / "ledgers").glob("*.csv"):
                p.write_bytes(before[p.name])
            rejects = tmp_path / "rejects.csv"
            monkeypatch.setattr(cache, "jobs", lambda jobs=jobs: jobs)
            del forks[:]
            r = run("import", "orders", src, *[rejects if a == "REJECTS" else a for a in args], now=NOW)
            assert len(forks) == (jobs == 2 and expect_fork)
            go.answered += forks
            out.append(((r.exit_code, r.stdout, r.stderr), snapshot(shop_files),
                        rejects.read_bytes() if rejects.exists() else None))
            if rejects.exists():
                rejects.unlink()
        return out

    go.answered = []  # type: ignore[attr-defined]
    return go


def test_forked_gives_the_bytes_of_one_process(both):
    one, two = both(orders())
    assert both.answered == [True]
    assert one[0][0] == 0 and one[0][2].startswith("skipped 133 rows")
    assert one == two
    assert one[1]["shipments.csv"].count(b"\n") == 1 + N - 133


@pytest.mark.parametrize("encoding,newline", [("utf-8-sig", "\r\n"), ("gbk", "\n"), ("gb18030", "\r\n")])
def test_forked_in_other_encodings_and_line_ends(both, encoding, newline):
    text = orders().replace(",x,", ",杭州,").replace("o00", "订单o00")
    one, two = both(text, encoding=encoding, newline=newline)
    assert one == two and one[0][0] == 0


@pytest.mark.parametrize("where", [3, N // 2 + 10, N - 1])
def test_a_bad_row_is_named_by_its_line_and_nothing_is_written(both, where):
    bad = orders({where: f"o{where:05d},c00001,delivered,2017-10-02 10:00:00,,"})  # delivered but not collected
    one, two = both(bad + "\n\n" + order(N + 1) + "\n")
    assert one == two and both.answered == [True]
    assert one[0][0] == 2
    assert f"orders.csv:{where + 2}: status is 'delivered' but collected_at, signed_at are empty" in one[0][1]
    assert one[1] == two[1]


def test_bad_rows_in_both_halves_with_keep_going(both):
    bad = orders({5: "o5,c5,delivered,yesterday,,", N - 3: "o7,c7,shipped,2017-10-02 10:00:00,2017-10-01 10:00:00,"})
    one, two = both(bad, "--keep-going", "--rejects", "REJECTS")
    assert one[0][0] == 1 and one == two
    assert one[2] is not None and one[2].count(b"\n") == 3


def test_a_field_over_the_limit_in_the_later_half(both):
    long = "长" * (ledger.MAX_FIELD + 1)
    one, two = both(orders({N - 5: f"{long},c1,shipped,2017-10-02 10:00:00,,"}))
    assert one == two and one[0][0] == 2 and "refusing to write a record whose 'waybill'" in one[0][2]


def test_a_file_with_a_quote_is_not_split(both):
    one, two = both(orders({N - 5: 'o9,"c9",shipped,2017-10-02 10:00:00,,'}), expect_fork=False)
    assert one == two and one[0][0] == 0


@pytest.mark.parametrize("fail", ["raises", "dies"])
def test_a_child_that_fails_changes_nothing(both, monkeypatch, fail):
    parent = os.getpid()
    real = spreadsheet._later_blocks

    def later(*args):
        if os.getpid() != parent:
            if fail == "dies":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("the child fails")
        return real(*args)

    monkeypatch.setattr(spreadsheet, "_later_blocks", later)
    for text in (orders(), orders({N - 2: "o1,c1,delivered,2017-10-02 10:00:00,,"})):
        one, two = both(text)
        assert one == two
    assert both.answered == [False, False]


def test_the_split_is_at_a_line_break_and_counts_lines(tmp_path):
    text = "a,b\n\n" + "".join(f"{i},x\n" for i in range(1000))
    p = tmp_path / "s.csv"
    p.write_bytes(text.encode())
    src = spreadsheet.read_source(p, split_min=0)
    offset, line = src.split
    raw = text.encode()
    assert raw[offset - 1:offset] == b"\n" and offset >= len(raw) // 2
    assert line == raw[:offset].count(b"\n") + 1
    later = list(spreadsheet._later_blocks(src, offset, line))
    assert [x for lines, _rows in later for x in lines][0] == line
    assert spreadsheet.read_source(p, split_min=len(raw) + 1).split is None
    p.write_bytes(text.replace("\n\n", "\n\r", 1).encode())  # a lone CR
    assert spreadsheet.read_source(p, split_min=0).split is None
