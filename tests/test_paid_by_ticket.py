"""compensation.paid_by_ticket (route --all reads every payment through it): the totals of
`payments`, corrections honoured, and a bad hand-edited cell named, not a traceback."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from aftersales import compensation

NOW = "2026-11-23T10:00:00+08:00"


def pay(run, tid, amount, now=NOW):
    r = run("compensate", tid, "--amount", amount, "--method", "balance", "--liability", "shop", "--format", "json",
            now=now)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)[0]["id"]


def totals_of_payments(root):
    out: dict = {}
    for p in compensation.payments(root):
        out[p["ticket"]] = out.get(p["ticket"], Decimal(0)) + p["amount"]
    return out


def test_the_totals_of_payments_with_corrections(run, shop):
    a = run.new(item_amount="299.00", order_amount="309.00", now="2026-11-23T09:00:00+08:00")
    b = run.new(item_amount="99.00", order_amount="99.00", now="2026-11-23T09:01:00+08:00")
    pay(run, a, "8.00")
    first = pay(run, b, "5.00")
    pay(run, b, "3.50", now="2026-11-23T10:30:00+08:00")
    assert run("correct", "void", first, "--reason", "录错工单", now="2026-11-23T10:40:00+08:00").exit_code == 0
    paid = compensation.paid_by_ticket(shop)
    assert paid == totals_of_payments(shop) == {a: Decimal("8.00"), b: Decimal("3.50")}


@pytest.mark.parametrize("column, bad, message", [
    ("amount", "abc", "'amount' value 'abc' is not valid"),
    ("at", "2026-13-01T10:00:00+08:00", "'at' value '2026-13-01T10:00:00+08:00' is not valid"),
])
def test_a_bad_cell_is_named_with_its_line(run, shop, ledgers_unchanged, column, bad, message):
    tid = run.new(now="2026-11-23T09:00:00+08:00")
    pay(run, tid, "8.00")
    path = shop / "ledgers" / "compensations.csv"
    header, row = path.read_text(encoding="utf-8").splitlines()
    cells = row.split(",")
    cells[header.split(",").index(column)] = bad
    path.write_text(f"{header}\n{','.join(cells)}\n", encoding="utf-8")
    for argv in (["route", "--all"], ["report", "kpi", "--month", "2026-11"], ["compensate", tid, "--amount", "1.00",
                                                                              "--method", "balance", "--liability", "shop"]):
        with ledgers_unchanged():  # route reads the totals; the KPIs and a new payment read every payment
            r = run(*argv, now="2026-11-23T11:00:00+08:00")
        assert r.exit_code == 2, argv
        assert r.stderr.startswith(f"error: ledgers/compensations.csv:2: {message}") and r.stderr.count("\n") <= 2
