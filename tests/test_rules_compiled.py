"""`routing.Rules` (route --all's plain tests) decides what `routing.evaluate` decides, on
any ticket and any rules: every condition, stopping rules, priorities only raised."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from aftersales import routing
from aftersales.clock import parse_time
from aftersales.money import ZERO
from aftersales.policy import Conditions, load_policy
from aftersales.policy.model import Actions, Rule
from aftersales.policy.values import Duration
from aftersales.tickets import Event
from aftersales.tickets.model import fold
from aftersales.scaffold import init_workspace

NOW = parse_time("2026-11-23T12:00:00+08:00")
WORDS = ("曝光", "Lawyer", "12315")
TEXTS = ("快递到了", "我要曝光你们", "call my LAWYER", "投诉12315", "")

conditions = st.fixed_dictionaries({}, optional={
    "kinds": st.sampled_from([("consultation",), ("after_sales", "complaint")]),
    "categories": st.sampled_from([("quality",), ("usage", "invoice")]),
    "channels": st.sampled_from([("taobao",), ("jd", "pdd")]),
    "member_levels": st.sampled_from([("gold",), ("regular", "silver")]),
    "priorities": st.sampled_from([("P0",), ("P2", "P3")]),
    "words": st.sampled_from([WORDS, ("lawyer",)]),
    "item_amount_at_least": st.sampled_from([Decimal("50"), Decimal("100.00")]),
    "order_amount_at_least": st.sampled_from([Decimal("0"), Decimal("200")]),
    "older_than": st.sampled_from([Duration(Decimal(48), "h"), Duration(Decimal(30), "min")]),
    "resolved": st.booleans(),
    "abnormal": st.booleans(),
    "compensation_over_limit": st.booleans(),
    "missing": st.sampled_from([("batch",), ("order", "phone")]),
    "present": st.sampled_from([("batch",), ("order",)]),
})
actions = st.fixed_dictionaries({}, optional={
    "department": st.sampled_from(["ops", "qc", "warehouse"]),
    "group": st.just("experts"),
    "priority": st.sampled_from(["P0", "P1", "P3"]),
    "abnormal": st.sampled_from(["brand_risk", "unresolved_48h"]),
    "alert": st.sampled_from(["look", "look again"]),
})
rules = st.lists(st.tuples(conditions, actions, st.booleans()), min_size=1, max_size=6)

amounts = st.sampled_from(["", "0", "49.99", "50", "120.00", "300"])
tickets = st.fixed_dictionaries({
    "kind": st.sampled_from(["", "consultation", "after_sales", "complaint"]),
    "category": st.sampled_from(["quality", "usage", "invoice", "tech_fault"]),
    "channel": st.sampled_from(["", "taobao", "jd", "mall"]),
    "member_level": st.sampled_from(["", "gold", "regular"]),
    "item_amount": amounts,
    "order_amount": amounts,
    "batch": st.sampled_from(["", "B1"]),
    "order": st.sampled_from(["", "O1"]),
    "summary": st.sampled_from(TEXTS),
    "messages": st.lists(st.sampled_from(TEXTS), max_size=3),
    "priority": st.sampled_from(["P0", "P1", "P2", "P3", "PX"]),
    "age_h": st.sampled_from([0.25, 1, 47.9, 48, 48.1, 200]),
    "then": st.lists(st.sampled_from(["resolve", "reopen", "abnormal", "set summary", "unset order"]), max_size=3),
    "paid": st.sampled_from([ZERO, Decimal("5.00"), Decimal("5000")]),
})


def ticket(spec: dict):
    opened = NOW - dt.timedelta(hours=spec["age_h"])
    form = {k: spec[k] for k in ("kind", "channel", "member_level", "item_amount", "order_amount", "batch", "order")
            if spec[k]}
    evs = [Event("T1", opened, "a01", "open", spec["category"], spec["summary"] or "无", raw=json.dumps(form)),
           Event("T1", opened, "a01", "priority", spec["priority"])]
    at = opened
    for i, text in enumerate(spec["messages"]):
        at += dt.timedelta(minutes=1)
        evs.append(Event("T1", at, "a01", "message", "", text or "好"))
    for what in spec["then"]:
        at += dt.timedelta(minutes=1)
        if what == "set summary":
            evs.append(Event("T1", at, "a01", "set", "summary", "律师函 Lawyer"))
        elif what == "unset order":
            evs.append(Event("T1", at, "a01", "set", "order", ""))
        else:
            evs.append(Event("T1", at, "system", what, "brand_risk" if what == "abnormal" else ""))
    return fold(evs)["T1"]


_POLICY = {}


def policy_with(drawn: list):
    if "base" not in _POLICY:
        import tempfile
        from pathlib import Path

        root = Path(tempfile.mkdtemp()) / "shop"
        init_workspace(root)
        _POLICY["base"] = load_policy(root)
    made = tuple(Rule(f"r{i}", Actions(**then), Conditions(**when), stop=stop)
                 for i, (when, then, stop) in enumerate(drawn))
    return dataclasses.replace(_POLICY["base"], rules=made)


def verdict(d: routing.Decision):
    return d.department, d.group, d.priority, d.abnormal, d.alerts


@settings(max_examples=400, deadline=None)
@given(rules, tickets)
def test_rules_decide_what_evaluate_decides(drawn, spec):
    policy = policy_with(drawn)
    t = ticket(spec)
    facts = routing.facts_for(policy, t, spec["paid"])
    want = routing.evaluate(policy, t, NOW, facts)
    assert verdict(routing.evaluate(policy, t, NOW, facts, explain=False)) == verdict(want)
    assert verdict(routing.Rules(policy, NOW).decide(t, facts)) == verdict(want)


def test_the_default_rules_on_a_sensitive_message_and_an_old_ticket():
    policy = policy_with([])
    policy = dataclasses.replace(policy, rules=_POLICY["base"].rules)
    rules = routing.Rules(policy, NOW)
    old = ticket({"kind": "after_sales", "category": "tech_fault", "channel": "jd", "member_level": "",
                  "item_amount": "", "order_amount": "", "batch": "", "order": "", "summary": "坏了",
                  "messages": ["再不处理我就找媒体曝光"], "priority": "P2", "age_h": 50, "then": [], "paid": ZERO})
    d = rules.decide(old, routing.facts_for(policy, old))
    assert verdict(d) == verdict(routing.evaluate(policy, old, NOW, routing.facts_for(policy, old)))
    assert d.group == ("experts", "sensitive-words") and d.department is None  # the first rule stops


def test_route_all_says_what_explain_and_each_ticket_say(run, monkeypatch):
    """route --all (the plain tests, the table in blocks) against --explain (every check
    in words) and one `route TICKET` per ticket: the same changes, the same lines."""
    from aftersales.cli import route as route_cli

    mon = "2026-11-23T09:00:00+08:00"
    made = [run.new(now=mon, category="tech_fault", summary="App 闪退"),
            run.new(now=mon, summary="再不处理我就找记者曝光"),
            run.new(now=mon, category="inventory", summary="少发一件"),
            run.new(now=mon)]
    run("ticket", "message", made[3], "我要找律师", now="2026-11-23T10:00:00+08:00")
    run("ticket", "resolve", made[0], "已修复", now="2026-11-23T11:00:00+08:00")
    later = "2026-11-26T09:00:00+08:00"  # past 48 h: unresolved tickets turn abnormal
    plain = run("--format", "table", "route", "--all", "--dry-run", now=later)
    explained = run("route", "--all", "--dry-run", "--explain", now=later)
    each = [run("route", t, "--dry-run", now=later) for t in sorted(
        made, key=lambda t: (json.loads(run("ticket", "show", t, "--format", "json").stdout)["opened_at"], t))]
    assert "would set abnormal unresolved_48h" in plain.stdout and "routed to 运维组 (ops), which needs" in plain.stdout
    assert [ln for ln in explained.stdout.splitlines() if not ln.startswith(" ")] == plain.stdout.splitlines()
    assert "".join(r.stdout for r in each) + plain.stdout.splitlines()[-1] + "\n" == plain.stdout
    for block in (1, 2, 3):
        monkeypatch.setattr(route_cli, "_BLOCK", block)
        assert run("--format", "table", "route", "--all", "--dry-run", now=later).stdout == plain.stdout
