"""Every screen readable (issue 15 item 4): tables fit the terminal, JSON and CSV are complete."""

from __future__ import annotations

import csv
import io
import json

from aftersales.render import display_width, fit, listing, shorten

NOW = "2026-11-23T12:00:00+08:00"


def test_shorten_counts_chinese_as_two_columns():
    assert display_width("收到的电水壶") == 12
    assert shorten("收到的电水壶底部有裂纹", 9) == "收到的电…" and display_width("收到的电…") == 9
    assert shorten("short", 9) == "short"
    assert shorten("two\nlines", 20) == "two lines"


def test_fit_cuts_the_widest_columns_first():
    heads = ["ticket", "summary"]
    cells = [["ABC1234", "收到的电水壶底部有裂纹, 一加水就漏, 客服一直不回复"]]
    out = fit([list(r) for r in cells], heads, 40)
    assert out[0][0] == "ABC1234" and out[0][1].endswith("…")
    assert display_width(out[0][0]) + 2 + display_width(out[0][1]) <= 40


def test_tables_fit_COLUMNS_and_json_keeps_the_whole_text(run, monkeypatch):
    long = "收到的电水壶底部有裂纹, 一加水就漏, 客服一直不回复, 我要退货退款并且赔偿运费"
    tid = run.new(summary=long)
    monkeypatch.setenv("COLUMNS", "70")
    out = run("ticket", "list", now=NOW).stdout
    assert max(display_width(line) for line in out.splitlines()) <= 70
    assert long not in out and "…" in out
    assert tid[:7] in out  # the first column, the ticket, is cut last
    doc = json.loads(run("ticket", "list", "--format", "json", now=NOW).stdout)
    assert doc[0]["summary"] == long and doc[0]["ticket"] == tid
    monkeypatch.setenv("COLUMNS", "400")
    assert long in run("ticket", "list", now=NOW).stdout


def test_a_pipe_gets_whole_lines():
    rows = [{"a": "x" * 300}]
    assert "x" * 300 in listing(rows, ["a"], "table")  # no COLUMNS, not a terminal


def test_reply_and_remark_print_json(run):
    tid = run.new()
    r = run("reply", "greeting", tid, "--format", "json", now=NOW)
    [doc] = json.loads(r.stdout)
    assert doc["script"] == "greeting" and doc["ticket"] == tid and "客服" in doc["text"] and doc["sent"] is False
    r = run("remark", "address", "--address", "浙江省杭州市西湖区文三路1号 王女士 13812345678", "--format", "json", now=NOW)
    [doc] = json.loads(r.stdout)
    assert doc["remark"] == "address" and "浙江省杭州市" in doc["text"] and doc["agent"] == "a01"


def test_route_csv_has_the_level_and_the_verdicts(run):
    tid = run.new(summary="再不处理我就曝光", now="2026-11-20T09:00:00+08:00")
    r = run("route", tid, "--explain", "--dry-run", "--format", "csv", now=NOW)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    kinds = {x["record"] for x in rows}
    assert {"ticket", "check"} <= kinds  # intake routed it already: no change
    [head] = [x for x in rows if x["record"] == "ticket"]
    assert head["escalation_level"] != ""
    words = [x for x in rows if x["record"] == "check" and x["rule"] == "sensitive-words"]
    assert words and words[0]["ok"] == "yes" and words[0]["matched"] == "yes"


def test_ticket_show_csv_holds_fields_and_payments_too(run):
    tid = run.new(item_amount="299.00", order_amount="309.00")
    run("compensate", tid, "--amount", "5.00", "--method", "balance", "--liability", "courier", now="2026-11-23T10:00:00+08:00")
    rows = list(csv.DictReader(io.StringIO(run("ticket", "show", tid, "--format", "csv", now=NOW).stdout)))
    sections = {x["section"] for x in rows}
    assert {"ticket", "field", "timeline", "payment", "checklist_missing"} <= sections
    assert any(x["section"] == "field" and x["key"] == "order" and x["text"] == "TB20261123001" for x in rows)
    assert any(x["section"] == "payment" and x["amount"] == "5.00" for x in rows)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(alphabet=st.sampled_from("ab12 -收到的电水壶裂纹￥"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(_text, min_size=3, max_size=3), min_size=1, max_size=5),
       width=st.integers(min_value=30, max_value=160))
def test_a_fitted_table_is_never_wider_than_the_terminal(rows, width):
    import os

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        out = listing([dict(zip("abc", r)) for r in rows], ["a", "b", "c"], "table")
    finally:
        if old is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = old
    assert max(display_width(line) for line in out.splitlines()) <= width


def test_ticket_show_wraps_at_the_terminal_width(run, monkeypatch):
    tid = run.new(summary="收到的电水壶底部有裂纹, 一加水就漏, 客服一直不回复, 我要退货退款并且赔偿运费和精神损失")
    monkeypatch.setenv("COLUMNS", "60")
    out = run("ticket", "show", tid, now=NOW).stdout
    assert max(display_width(line) for line in out.splitlines()) <= 60
    assert "精神损失" in out  # wrapped, not cut
    monkeypatch.delenv("COLUMNS")
    assert max(display_width(line) for line in run("ticket", "show", tid, now=NOW).stdout.splitlines()) > 60
