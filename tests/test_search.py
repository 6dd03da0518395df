"""Finding a ticket by what the customer quotes (issue 15 item 1)."""

from __future__ import annotations

import json

import pytest

from aftersales import search


def at(hhmm: str, day: int = 23) -> str:
    return f"2026-11-{day:02d}T{hhmm}:00+08:00"


@pytest.fixture
def desk(run):
    a = run.new(order="TB20261115088", phone="138 1234 5678", customer="王女士", now=at("09:00"))
    b = run.new(order="PDD7788", phone="+86 139-0000-5678", customer="李先生", summary="杯盖少发了一个",
                category="short_wrong", waybill="SF1234567890", now=at("09:30"))
    c = run.new(order="JD555", phone="13700001111", customer="Anna Wang", summary="Lid is cracked", now=at("10:00"))
    run("ticket", "message", a, "快递员态度很差,\n箱子也压扁了", now=at("10:10"))  # a record of two lines
    return a, b, c


def found(run, *query, now=at("12:00")):
    r = run("ticket", "search", *query, "--format", "json", now=now)
    assert r.exit_code == 0, r.stderr
    return [(d["ticket"], d["matched"]) for d in json.loads(r.stdout)]


def test_search_by_order_waybill_phone_name_and_words(run, desk):
    a, b, c = desk
    assert found(run, "TB20261115088") == [(a, "order")]
    assert found(run, "tb2026111508") == [(a, "order")]  # part of it, any case
    assert found(run, "sf1234567890") == [(b, "waybill")]
    assert found(run, "13812345678") == [(a, "phone")]  # typed without the spaces
    assert found(run, "5678") == [(b, "phone"), (a, "phone")]  # last four digits, newest first
    assert found(run, "5678", "--in", "order") == []
    assert found(run, "139 0000 5678") == [(b, "phone")]
    assert found(run, "李先生") == [(b, "customer")]
    assert found(run, "anna") == [(c, "customer")]
    assert found(run, "杯盖") == [(b, "summary")]
    assert found(run, "箱子", "压扁") == [(a, "message")]  # every word, in one message of two lines
    assert found(run, "cracked", "lid") == [(c, "summary")]
    assert found(run, "不存在的词") == []
    r = run("ticket", "search", "5678", now=at("12:00"))
    assert "138****5678" in r.stdout and "13812345678" not in r.stdout.replace(" ", "")
    r = run("ticket", "search", "nothing-here", now=at("12:00"))
    assert (r.exit_code, r.stdout) == (0, "no ticket matches 'nothing-here'\n")


def test_search_sees_the_ticket_as_corrected(run, desk):
    a, b, c = desk
    run("ticket", "set", a, "phone", "13900009999", now=at("11:00"))
    assert found(run, "13812345678") == []  # the old number no longer matches
    assert found(run, "9999") == [(a, "phone")]
    doc = json.loads(run("ticket", "show", a, "--format", "json", now=at("11:01")).stdout)
    ref = next(e["record"] for e in doc["timeline"] if e["type"] == "message")
    assert run("correct", "void", ref, "--reason", "贴错工单", now=at("11:02")).exit_code == 0
    assert found(run, "压扁") == []


def test_search_filters_and_limits(run, desk):
    a, b, c = desk
    run("ticket", "resolve", b, "补发杯盖", now=at("11:00"))
    assert found(run, "5678", "--status", "resolved") == [(b, "phone")]
    r = run("ticket", "search", "5678", "--limit", "1", now=at("12:00"))
    assert r.stdout.splitlines()[-1] == "1 more; narrow the search, or --limit 2"
    r = run("ticket", "search", "x", now=at("12:00"))
    assert r.exit_code == 2 and "at least 2 characters" in r.stderr


def test_show_and_list_take_an_order_number(run, desk):
    a, b, c = desk
    r = run("ticket", "show", "TB20261115088", now=at("12:00"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith(f"ticket {a} ")
    r = run("ticket", "list", "--order", "pdd7788", "--format", "json", now=at("12:00"))
    assert [d["ticket"] for d in json.loads(r.stdout)] == [b]
    run.new(order="TB20261115088", now=at("11:00"))  # a second ticket on the same order
    r = run("ticket", "show", "TB20261115088", now=at("12:00"))
    assert r.exit_code == 2 and r.stderr.startswith("error: 'TB20261115088' matches 2 tickets: ")
    r = run("ticket", "show", "XX99999", now=at("12:00"))
    assert r.exit_code == 2 and "no ticket has the ID, order, waybill or phone 'XX99999'" in r.stderr
    r = run("ticket", "list", "--order", "TB20261115088", "--format", "json", now=at("12:00"))
    assert len(json.loads(r.stdout)) == 2


def test_ticket_ids_complete_open_ones_first(run, shop, desk):
    a, b, c = desk
    run("ticket", "close", c, "--force", "测试", by="l01", now=at("11:00"))
    every = search.complete_ids(shop, "")
    assert sorted(every) == sorted([a, b, c]) and every[-1] == c
    assert search.complete_ids(shop, a[:3].lower()) == [t for t in every if t.startswith(a[:3])]
    assert search.resolve_id(shop, a[:6]) == a


def test_four_digits_are_a_phone_and_more_digits_may_be_part_of_an_order(run, desk):
    a, b, c = desk
    d = run.new(order="JD5678123", phone="13700002222", now=at("10:30"))
    assert found(run, "5678") == [(b, "phone"), (a, "phone")]  # JD5678123 holds 5678, but not as a phone's end
    assert found(run, "20261115088") == [(a, "order")]  # digits of an order number, without its letters
    assert found(run, "5678123") == [(d, "order")]
