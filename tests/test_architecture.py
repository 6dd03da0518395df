"""The shape issue 12 asked for, held by tests: one rule, one function, used live and in replay;
no cache that outlives or confuses the policy it was made for."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aftersales import compensation, events, ledger, replay, routing, sla, tickets
from aftersales.policy import check_policy, load_policy
from aftersales.scaffold import init_workspace

REPO = Path(__file__).resolve().parent.parent
TZ = dt.timezone(dt.timedelta(hours=8))


def live_outcome(policy, t, until, pays):
    """What the live commands show at `until`: the ticket as recorded, plus what
    `route --all` would change at that moment, measured as `sla-check` measures it."""
    paid = sum((a for when, a, _by in pays if when <= until), compensation.CENT * 0)
    for e in routing.route_ticket(policy, t, until, paid=paid)[0]:
        t.apply(e)
    return replay.measure(policy, t, until, pays)


def compare_live_and_replay(root: Path, until: dt.datetime) -> tuple:
    policy = load_policy(root)
    pays = replay.payments(root)
    by_ticket = replay.load_period(root, dt.datetime(2000, 1, 1, tzinfo=TZ), until)
    differ, compared = [], 0
    for tid, evs in sorted(by_ticket.items()):
        evs = [e for e in evs if e.at <= until]
        live = tickets.fold(evs)[tid]
        sim = replay.simulate(policy, tid, evs, until, pays.get(tid, []))
        a = live_outcome(policy, live, until, pays.get(tid, []))
        b = replay.measure(policy, sim, until, pays.get(tid, []))
        compared += 1
        if a != b:
            differ.append((tid, a, b))
    return compared, differ


@pytest.mark.parametrize("until", ["2026-11-23T10:00:00+08:00", "2026-11-25T18:00:00+08:00"])
def test_replaying_the_unchanged_policy_gives_what_the_live_commands_give_on_the_demo_shop(tmp_path, until):
    shop = tmp_path / "demo"
    for part in ("policies", "ledgers", "evidence"):
        shutil.copytree(REPO / part, shop / part)
    compared, differ = compare_live_and_replay(shop, dt.datetime.fromisoformat(until))
    assert compared == 29
    assert differ == []


@pytest.mark.slow
def test_replaying_the_unchanged_policy_gives_what_the_live_commands_give_on_a_generated_shop(tmp_path):
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate.py"), str(out), "--events", "20000",
                    "--seed", "7"], check=True, capture_output=True)
    compared, differ = compare_live_and_replay(out, dt.datetime(2026, 11, 23, 12, tzinfo=TZ))
    assert compared > 3000
    assert differ == []


def _two_policies(tmp_path):
    """Two shops whose a01 reports to different leads, and whose first-contact limits differ."""
    a, b = tmp_path / "a", tmp_path / "b"
    init_workspace(a)
    init_workspace(b)
    staff = (b / "policies" / "staff.toml").read_text(encoding="utf-8")
    (b / "policies" / "staff.toml").write_text(staff.replace('reports_to = "l01"', 'reports_to = "d01"'),
                                               encoding="utf-8")
    timers = (b / "policies" / "timers.toml").read_text(encoding="utf-8")
    (b / "policies" / "timers.toml").write_text(timers.replace('target = "30m"', 'target = "20m"', 1),
                                                encoding="utf-8")
    pa, probs_a = check_policy(a)
    pb, probs_b = check_policy(b)
    assert not probs_a and not probs_b
    return pa, pb


def test_two_policies_in_one_process_each_get_their_own_recipients_and_deadlines(tmp_path):
    pa, pb = _two_policies(tmp_path)
    assert sla.to_tell(pa, _opened_by("a01"), 2) != sla.to_tell(pb, _opened_by("a01"), 2)
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    t = _opened_by("a01", at=now)
    want = {}
    for p in (pa, pb):
        want[id(p)] = (sla.to_tell(p, t, 2), [c.deadline for c in sla.evaluate(p, t, now)])
    wrong = 0
    for i in range(300):  # load, use and drop policies one after the other, as a long process would
        a, b = _two_policies(tmp_path / str(i))
        for p, ref in ((a, pa), (b, pb)):
            got = (sla.to_tell(p, t, 2), [c.deadline for c in sla.evaluate(p, t, now)])
            wrong += got != want[id(ref)]
        del a, b
    assert wrong == 0


def _opened_by(who, at=dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)):
    t = tickets.Ticket("T" * 12)
    t.apply(tickets.Event(t.id, at, who, "open", "quality", "水壶漏水", {"kind": "after_sales", "channel": "taobao"}))
    t.apply(tickets.Event(t.id, at, who, "department", "experts", "rule x", {"rule": "x"}))
    return t


def test_every_event_type_of_the_ledger_is_defined_once_and_every_timer_name_has_its_events():
    assert ledger.schema_of("tickets").columns[3].choices == tuple(events.TYPES)
    for start in events.TIMER_STARTS:
        assert sla.START_EVENTS[start]
    for stop in events.TIMER_STOPS:
        assert sla.STOP_EVENTS[stop]
    # the close ends every cycle, a reopen starts the "opened" timers again, a wait pauses
    assert events.starting("opened") == ("open", "reopen")
    assert set(events.WAIT_ENDS) == {"resume", "resolve", "close", "reopen"}
    assert [n for n, d in events.TYPES.items() if d.made_by == events.POLICY] == \
        ["route", "abnormal", "alert", "sla", "escalate"]


# ------------------------------------------------------------------ SOP facts live in policy, not in code


def _edit(shop, name, old, new):
    p = shop / "policies" / name
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_shop_that_says_亲_gets_亲_in_every_script(shop, run):
    _edit(shop, "shop.toml", 'form_of_address = "小主"', 'form_of_address = "亲"')
    tid = run.new(now="2026-11-23T09:00:00+08:00")
    r = run("reply", "transfer", tid, now="2026-11-23T09:05:00+08:00")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "亲请稍等,这边为您转接专属售后客服,马上为您处理~\n"


def test_who_pays_return_shipping_follows_the_policy(shop, run):
    import json

    _edit(shop, "reports.toml", 'warehouse = "shop"', 'warehouse = "customer"')
    tid = run.new(now="2026-11-23T09:00:00+08:00")
    rows = {x["rule"]: x for x in json.loads(run("eligibility", "--ticket", tid, "--fault", "warehouse", "--format",
                                                 "json", now="2026-11-23T10:00:00+08:00").stdout)}
    assert rows["return_shipping"]["why"] == "return shipping: paid by the customer (warehouse's fault; seed 001)"
    _edit(shop, "reports.toml", 'warehouse = "customer"', 'warehouse = "nobody"')
    r = run("check")
    assert r.exit_code == 1
    assert "return_shipping.warehouse = 'nobody': write \"customer\" or \"shop\"" in r.stdout


def test_quality_categories_and_incident_types_are_checked_against_the_policy(shop, run):
    _edit(shop, "reports.toml", '"product_complaint"]', '"product_complain"]')
    r = run("check")
    assert r.exit_code == 1
    assert re.search(r"policies/reports\.toml:\d+: unknown category 'product_complain'\n", r.stdout)
    assert "hint: did you mean 'product_complaint'?\n" in r.stdout
    _edit(shop, "reports.toml", '"product_complain"]', '"product_complaint"]')
    _edit(shop, "incidents.toml", "[incident_types.special]", "[incident_types.weather]")
    r = run("incident", "open", "--type", "special", "--title", "暴雪停运")
    assert (r.exit_code, r.stderr) == (2, "error: --type special: unknown incident type; known: quality, service, weather\n")
    assert run("incident", "open", "--type", "weather", "--title", "暴雪停运").exit_code == 0


def test_a_policy_edited_between_two_commands_of_one_process_is_read_anew(shop, run):
    assert run("--format", "json", "ticket", "categories").exit_code == 0
    _edit(shop, "shop.toml", 'name = "示例小店"', 'name = "新店名"')
    tid = run.new(now="2026-11-23T09:00:00+08:00")
    assert run("reply", "greeting", tid, now="2026-11-23T09:05:00+08:00").stdout.startswith("您好,新店名客服")
