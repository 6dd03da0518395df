"""`policy replay` takes shortcuts (issue 18): a quick reading of the ledger, one simulation
for two policies that differ in timers only, no simulation for a plain timer change.
Each must give exactly what the plain way gives."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aftersales import ledger, replay
from aftersales.policy import check_policy

REPO = Path(__file__).resolve().parent.parent
TZ = dt.timezone(dt.timedelta(hours=8))


def demo_shop(tmp_path) -> Path:
    shop = tmp_path / "demo"
    for part in ("policies", "ledgers", "evidence"):
        shutil.copytree(REPO / part, shop / part)
    return shop


def append_rows(shop: Path, rows: list) -> None:
    with open(shop / "ledgers" / "tickets.csv", "a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def plain(by_ticket: dict) -> dict:
    return {tid: [(e.ticket, e.at, e.by, e.type, e.ref, e.text, e._raw, e.line) for e in evs]
            for tid, evs in by_ticket.items()}


TRICKY = [
    # opened in the period, with a reply over several lines, one of which looks like an open row
    ["AAAAAAAAAAAA", "2026-11-20T10:00:00+08:00", "a01", "open", "usage", "怎么除垢", '{"kind": "consultation"}'],
    ["AAAAAAAAAAAA", "2026-11-20T10:05:00+08:00", "a01", "reply", "",
     'first line\nBBBBBBBBBBBB,2026-11-20T10:00:00+08:00,a01,open,usage,x,\n"quoted", and more', ""],
    # opened long before the period, its rows written late (a merge, a --now in the past)
    ["CCCCCCCCCCCC", "2025-01-02T10:00:00+08:00", "a01", "open", "usage", "旧的", '{"kind": "consultation"}'],
    ["CCCCCCCCCCCC", "2025-01-02T11:00:00+08:00", "a01", "reply", "", "好的", ""],
    # opened in the period with --now in the past, after later rows
    ["DDDDDDDDDDDD", "2026-11-03T08:00:00+08:00", "a01", "open", "usage", "补录", '{"kind": "consultation"}'],
    ["DDDDDDDDDDDD", "2026-11-03T08:10:00+08:00", "a01", "reply", "", "a, b", ""],
    # opened one second after the period ends
    ["EEEEEEEEEEEE", "2026-11-30T00:00:00+08:00", "a01", "open", "usage", "晚了", '{"kind": "consultation"}'],
    # times in other UTC offsets: 2026-11-01 00:30 and 2026-10-31 23:30 in Shanghai
    ["FFFFFFFFFFFF", "2026-10-31T16:30:00Z", "a01", "open", "usage", "UTC", '{"kind": "consultation"}'],
    ["GGGGGGGGGGGG", "2026-10-31T15:30:00+00:00", "a01", "open", "usage", "UTC", '{"kind": "consultation"}'],
]


@pytest.mark.parametrize("chunk", [1 << 20, 97, 300])
def test_the_quick_reading_gives_what_the_careful_reader_gives(tmp_path, monkeypatch, chunk):
    shop = demo_shop(tmp_path)
    append_rows(shop, TRICKY)
    monkeypatch.setattr(replay, "_CHUNK", chunk)  # records and quoted lines across chunk ends
    for start, end in (("2026-11-01", "2026-11-30"), ("2000-01-01", "2027-01-01"), ("2026-11-20", "2026-11-21"),
                       ("2030-01-01", "2030-02-01")):
        a, b = (dt.datetime.fromisoformat(start).replace(tzinfo=TZ), dt.datetime.fromisoformat(end).replace(tzinfo=TZ))
        replay._period_records(shop, a, b)  # no fallback: the quick reading was sure
        assert plain(replay.load_period(shop, a, b)) == plain(replay._load_period_carefully(shop, a, b))
    got = replay.load_period(shop, dt.datetime(2026, 11, 1, tzinfo=TZ), dt.datetime(2026, 11, 30, tzinfo=TZ))
    assert {"AAAAAAAAAAAA", "DDDDDDDDDDDD", "FFFFFFFFFFFF"} <= set(got)
    assert not {"BBBBBBBBBBBB", "CCCCCCCCCCCC", "EEEEEEEEEEEE", "GGGGGGGGGGGG"} & set(got)
    assert got["AAAAAAAAAAAA"][1].text.count("\n") == 2


def test_a_bad_record_of_the_period_reads_as_the_careful_reader_says(tmp_path):
    shop = demo_shop(tmp_path)
    append_rows(shop, TRICKY[:1] + [["AAAAAAAAAAAA", "2026-11-20T10:05:00+08:00", "a01", "reply"]])
    a, b = dt.datetime(2026, 11, 1, tzinfo=TZ), dt.datetime(2026, 11, 30, tzinfo=TZ)
    with pytest.raises(Exception) as careful:
        replay._load_period_carefully(shop, a, b)
    with pytest.raises(Exception) as quick:
        replay.load_period(shop, a, b)
    assert str(quick.value) == str(careful.value) and "tickets.csv:160" in str(quick.value)


def test_a_bad_time_in_a_row_replay_leaves_out_reads_as_the_careful_reader_says(tmp_path, tid="AAAAAAAAAAAA"):
    # the quick replay makes no event of a row the policy decided (a system priority), but
    # checks its time: an unreadable one is named as the careful reader names it
    shop = demo_shop(tmp_path)
    append_rows(shop, [[tid] + TRICKY[0][1:], [tid, "2026-11-20 10:00", "system", "priority", "P2", "category usage", ""]])
    old = policy_with(tmp_path, shop, "old", [])
    new = policy_with(tmp_path, shop, "new", CHANGES["first contact shorter"])
    args = (shop, old, new, dt.datetime(2026, 11, 1, tzinfo=TZ), dt.datetime(2026, 11, 30, tzinfo=TZ),
            dt.datetime(2026, 11, 25, tzinfo=TZ))
    with pytest.raises(Exception) as quick:
        replay.replay(*args)
    with pytest.raises(Exception) as careful:
        replay._load_period_carefully(shop, args[3], args[4])
    assert str(quick.value) == str(careful.value) and "tickets.csv:160" in str(quick.value)


def policy_with(tmp_path, shop: Path, name: str, edits: list):
    d = tmp_path / name
    shutil.copytree(shop / "policies", d / "policies")
    for file, old, new in edits:
        p = d / "policies" / file
        text = p.read_text(encoding="utf-8")
        assert old in text, old
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
    policy, problems = check_policy(d)
    assert policy is not None, problems
    return policy


CHANGES = {
    "first contact shorter": [("timers.toml", 'target = "30m"', 'target = "20m"')],
    "first contact longer": [("timers.toml", 'target = "30m"', 'target = "3h"')],
    "first contact warns earlier": [("timers.toml", 'target = "30m"', 'target = "30m"\nwarn_at = 0.2')],
    "follow-up visit shorter": [("timers.toml", 'target = "24h"\npause = []', 'target = "1h"\npause = []')],
    "close shorter (ordinary tickets only)": [("timers.toml", 'target = "24h"\napplies = { abnormal = false }',
                                               'target = "2h"\napplies = { abnormal = false }')],
    "complaint routing (stopped by a department)": [("timers.toml", 'target = "2h"', 'target = "10m"')],
    "a timer renamed": [("timers.toml", "[timers.first_contact]", "[timers.first_touch]")],
    "escalation faster": [("timers.toml", 'every = "2h"', 'every = "10m"')],
    "first contact and a lower cap": [("timers.toml", 'target = "30m"', 'target = "20m"'),
                                      ("compensation.toml", 'cap = "10.00"', 'cap = "1.00"')],
}


def replay_plainly(monkeypatch, *args):
    with monkeypatch.context() as m:
        m.setattr(replay._TimerChange, "applies", staticmethod(lambda old, new: False))
        m.setattr(replay, "_same_decisions", lambda old, new: False)
        return replay.replay(*args)


def check_changes(tmp_path, monkeypatch, shop: Path, start, end, now) -> set:
    old = policy_with(tmp_path, shop, "old", [])
    seen = set()
    for name, edits in CHANGES.items():
        new = policy_with(tmp_path, shop, name, edits)
        quick = replay.replay(shop, old, new, start, end, now, 1000)
        assert quick == replay_plainly(monkeypatch, shop, old, new, start, end, now, 1000), name
        seen |= set(quick["changes"])
    return seen


def test_each_shortcut_replays_a_change_as_the_plain_way_does(tmp_path, monkeypatch):
    shop = demo_shop(tmp_path)
    seen = check_changes(tmp_path, monkeypatch, shop, dt.datetime(2026, 1, 1, tzinfo=TZ),
                         dt.datetime(2026, 12, 1, tzinfo=TZ), dt.datetime(2026, 11, 25, 18, tzinfo=TZ))
    assert seen  # the changes changed something


@pytest.mark.slow
def test_each_shortcut_replays_a_change_as_the_plain_way_does_on_a_generated_shop(tmp_path, monkeypatch):
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate.py"), str(out), "--events", "20000",
                    "--seed", "7"], check=True, capture_output=True)
    seen = check_changes(tmp_path, monkeypatch, out, dt.datetime(2026, 10, 24, tzinfo=TZ),
                         dt.datetime(2026, 11, 24, tzinfo=TZ), dt.datetime(2026, 11, 23, 12, tzinfo=TZ))
    assert {"first_contact: would have been breached", "escalation level raised"} <= seen


@pytest.fixture
def forked(monkeypatch):
    """Replays decide the later half of the tickets in a forked process, however few they are."""
    from aftersales import cache

    monkeypatch.setattr(replay, "_BESIDE_MIN", 1)
    monkeypatch.setattr(cache, "jobs", lambda: 2)


def test_the_later_half_in_a_forked_process_gives_what_one_process_gives(tmp_path, monkeypatch, forked):
    from aftersales import cache

    shop = demo_shop(tmp_path)
    old = policy_with(tmp_path, shop, "old", [])
    args = (dt.datetime(2026, 1, 1, tzinfo=TZ), dt.datetime(2026, 12, 1, tzinfo=TZ), dt.datetime(2026, 11, 25, 18, tzinfo=TZ))
    seen = set()
    for name, edits in CHANGES.items():
        new = policy_with(tmp_path, shop, name, edits)
        for examples in (1, 1000):
            two = replay.replay(shop, old, new, *args, examples)
            with monkeypatch.context() as m:
                m.setattr(cache, "jobs", lambda: 1)
                assert two == replay.replay(shop, old, new, *args, examples), name
            seen |= {(kind, c["count"] > 1) for kind, c in two["changes"].items()}
    assert (True in {many for _kind, many in seen})  # examples from both halves were merged


def test_a_forked_half_that_fails_is_replayed_here(tmp_path, monkeypatch, forked):
    import os

    shop = demo_shop(tmp_path)
    old = policy_with(tmp_path, shop, "old", [])
    new = policy_with(tmp_path, shop, "new", CHANGES["first contact shorter"])
    args = (shop, old, new, dt.datetime(2026, 1, 1, tzinfo=TZ), dt.datetime(2026, 12, 1, tzinfo=TZ),
            dt.datetime(2026, 11, 25, 18, tzinfo=TZ))
    want = replay.replay(*args)
    here, plain_staff_events = os.getpid(), replay.staff_events
    marker = tmp_path / "child-failed"

    def staff_events(*a):
        if os.getpid() != here:
            marker.touch()
            raise RuntimeError("the child fails")
        return plain_staff_events(*a)

    monkeypatch.setattr(replay, "staff_events", staff_events)
    assert replay.replay(*args) == want and marker.exists()


@pytest.mark.parametrize("tid", ["000000000000", "ZZZZZZZZZZZZ"])  # in this process's half, in the forked one's
def test_a_bad_time_in_either_half_reads_as_the_careful_reader_says(tmp_path, forked, tid):
    test_a_bad_time_in_a_row_replay_leaves_out_reads_as_the_careful_reader_says(tmp_path, tid)
