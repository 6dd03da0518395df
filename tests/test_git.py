"""A shop keeps its workspace in git: two clones append, then merge without conflicts."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess

import pytest

from conftest import installed_command

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd, *args):
    env = dict(os.environ, **GIT_ENV, HOME=str(cwd))
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "pull.rebase=false", *args], cwd=cwd,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def aftersales(ws, *args, by="a01", now):
    r = subprocess.run([installed_command(), "--workspace", str(ws), "--by", by, "--now", now, *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def new_ticket(ws, now, summary, by="a01"):
    out = aftersales(ws, "ticket", "new", "--format", "csv", "--channel", "taobao", "--category", "usage",
                     "--summary", summary, by=by, now=now)
    return out.splitlines()[1].split(",")[0]


def events(ws):
    with open(ws / "ledgers" / "tickets.csv", encoding="utf-8", newline="") as f:
        return sorted(tuple(r) for r in list(csv.reader(f))[1:])


def test_two_clones_append_then_merge_without_conflict(tmp_path):
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    subprocess.run([installed_command(), "init", str(seed)], check=True, capture_output=True)
    git(seed, "init")
    shared = new_ticket(seed, "2026-11-23T09:00:00+08:00", "共享的工单")
    git(seed, "add", "-A")
    git(seed, "commit", "-m", "new shop")
    git(tmp_path, "clone", "--bare", str(seed), str(origin))
    a, b = tmp_path / "a", tmp_path / "b"
    git(tmp_path, "clone", str(origin), str(a))
    git(tmp_path, "clone", str(origin), str(b))

    # the same second on both clones: new tickets and updates to the shared one
    same_second = "2026-11-23T10:00:00+08:00"
    ta = new_ticket(a, same_second, "A 的客户: 怎么清洗", by="a01")
    aftersales(a, "ticket", "reply", shared, "A 回复: 用温水", by="a01", now=same_second)
    tb = new_ticket(b, same_second, "B 的客户: 怎么开机", by="a02")
    aftersales(b, "ticket", "note", shared, "B 备注: 客户是老客户", by="a02", now=same_second)
    aftersales(b, "ticket", "reply", tb, "B 回复: 长按电源键", by="a02", now="2026-11-23T10:01:00+08:00")
    assert ta != tb

    expected = sorted(set(events(a)) | set(events(b)))
    for clone, msg in ((a, "desk A"), (b, "desk B")):
        git(clone, "add", "-A")
        git(clone, "commit", "-m", msg)
    git(a, "push", "origin", "HEAD")
    git(b, "pull", "origin", "main")  # a real merge: both sides appended to tickets.csv
    assert "Merge" in git(b, "log", "-1", "--format=%s")
    text = (b / "ledgers" / "tickets.csv").read_text(encoding="utf-8")
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    assert events(b) == expected  # every event of both sides, each once
    r = subprocess.run([installed_command(), "--workspace", str(b), "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    listed = aftersales(b, "ticket", "list", "--format", "csv", now="2026-11-23T11:00:00+08:00")
    assert {shared, ta, tb} <= {line.split(",")[0] for line in listed.splitlines()[1:]}


def test_ten_processes_create_tickets_at_once(shop):
    procs = [
        subprocess.Popen([installed_command(), "--workspace", str(shop), "--by", "a01", "--now",
                          "2026-11-23T10:00:00+08:00", "ticket", "new", "--format", "csv", "--channel", "jd",
                          "--category", "usage", "--summary", f"并发客户 {i}"], stdout=subprocess.PIPE, text=True)
        for i in range(10)
    ]
    ids = set()
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        ids.add(out.splitlines()[1].split(",")[0])
    assert len(ids) == 10
    rows = events(shop)
    assert len(rows) == 20  # an open row and a priority row each
    assert {r[5] for r in rows if r[3] == "open"} == {f"并发客户 {i}" for i in range(10)}
    r = subprocess.run([installed_command(), "--workspace", str(shop), "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
