"""Incidents as seed 002 grades them: L3 for a few complaints, L2 from 10, L1 on media exposure."""

from __future__ import annotations

import csv
import json

from aftersales import ids

T0 = "2026-11-23T09:00:00+08:00"


def incident_rows(shop):
    with open(shop / "ledgers" / "incidents.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_an_incident_is_regraded_as_tickets_join_and_media_reports(run, shop):
    first = run.new(category="batch_defect", batch="B2611", summary="水壶有异味")
    r = run("incident", "open", "--type", "quality", "--title", "K-200 批次 B2611 异味", first, now=T0)
    assert r.exit_code == 0, r.stderr
    iid = r.stdout.split()[1]
    assert r.stdout == f"incident {iid}  level L3  1 ticket\n"
    more = [run.new(category="batch_defect", batch="B2611", summary=f"异味 {i}") for i in range(9)]
    r = run("incident", "join", iid, *[ids.short(t) for t in more], now="2026-11-23T11:00:00+08:00")
    assert r.stdout == f"incident {iid}: 10 tickets, level L2, regraded L3 -> L2\n"
    r = run("incident", "join", iid, more[0], now="2026-11-23T11:05:00+08:00")  # already in: nothing new
    assert r.stdout == f"incident {iid}: 10 tickets, level L2\n"
    r = run("incident", "flag", iid, "--media", now="2026-11-23T12:00:00+08:00")
    assert r.stdout == f"incident {iid}: level L1, regraded L2 -> L1\n"
    grades = [(x["type"], x["ref"], x["text"]) for x in incident_rows(shop) if x["type"] == "grade"]
    assert grades == [("grade", "L3", "1 complaint (≥ 1)"), ("grade", "L2", "10 complaints (≥ 10)"),
                      ("grade", "L1", "media exposure")]
    doc = json.loads(run("incident", "show", iid, "--format", "json", now="2026-11-23T12:30:00+08:00").stdout)
    assert (doc["level"], doc["lead_role"], doc["leads"], doc["satisfaction_target"]) == ("L1", "manager", ["gm"], 0.9)
    # the regrade at 12:00 starts L1's 30-minute response limit (seed 002), not the opening at 09:00
    assert doc["response_due"] == "2026-11-23T12:30:00+08:00" and doc["review_due"] is None
    shown = run("incident", "show", iid, now="2026-11-23T12:45:00+08:00").stdout
    assert "led by: 总经理 (manager): gm 赵总" in shown and "OVERDUE" in shown and "satisfaction target: ≥ 90%" in shown
    run("incident", "resolve", iid, "该批次密封圈供应商换料, 已召回", now="2026-11-24T10:00:00+08:00")
    doc = json.loads(run("incident", "show", iid, "--format", "json").stdout)
    assert doc["review_due"] == "2026-11-25T10:00:00+08:00"  # L1 review within 24 h of resolution


def test_a_single_service_failure_is_l3_led_by_the_cs_manager(run):
    t = run.new(category="attitude", model=None, summary="客服态度差")
    iid = run("incident", "open", "--type", "service", "--title", "夜班客服态度", t, now=T0).stdout.split()[1]
    listed = json.loads(run("incident", "list", "--format", "json").stdout)
    assert [(x["incident"], x["level"], x["leads"], x["response_due"]) for x in listed] == [
        (iid, "L3", ["m01"], "2026-11-23T11:00:00+08:00")]


def test_unknown_incident_and_ticket_are_refused(run, ledgers_unchanged):
    with ledgers_unchanged():
        r = run("incident", "join", "NOPE", "ABCD")
        assert r.exit_code == 2 and r.stderr == "error: unknown incident 'NOPE'\nhint: `aftersales incident list` lists them\n"
        r = run("incident", "open", "--type", "quality", "--title", "x", "ZZZZ")
        assert r.exit_code == 2 and "unknown ticket 'ZZZZ'" in r.stderr
