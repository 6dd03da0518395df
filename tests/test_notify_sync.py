"""Two staff clones and a cron clone share one remote: `aftersales sync` and `aftersales cron`
merge everything, lose nothing, and alert once."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess

import pytest

import bots as B
from conftest import installed_command
from notify_helpers import SECRETS, setup_shop

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def bots():
    b = B.Bots()
    yield b
    b.close()


def bare_env(home) -> dict:
    """What cron gives a job: no LANG, no LC_*, a bare PATH and HOME; no git identity."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd, *args, home):
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "user.name=t", "-c", "user.email=t@example.com",
                        *args], cwd=cwd, capture_output=True, text=True, env=bare_env(home))
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def aftersales(ws, *args, now, by="a01", home, code=0):
    r = subprocess.run([installed_command(), "--workspace", str(ws), "--by", by, "--now", now, *args],
                       capture_output=True, env=bare_env(home))
    out, err = r.stdout.decode("utf-8"), r.stderr.decode("utf-8")
    assert r.returncode == code, (r.returncode, out, err)
    return out, err


def new_ticket(ws, now, customer, home):
    out, _ = aftersales(ws, "ticket", "new", "--format", "csv", "--channel", "taobao", "--category", "usage",
                        "--customer", customer, "--summary", "不会用", now=now, home=home)
    return out.splitlines()[1].split(",")[0]


def rows(ws):
    with open(ws / "ledgers" / "tickets.csv", encoding="utf-8", newline="") as f:
        return sorted(tuple(r) for r in list(csv.reader(f))[1:])


def shorts(bots):
    return sorted(m for t in bots.texts("wecom") for m in re.findall(r"^【[^】]+】(\w{7}) ", t, flags=re.M))


def test_two_staff_clones_and_a_cron_clone_share_one_remote(tmp_path, bots):
    home = tmp_path / "home"
    home.mkdir()
    seed = tmp_path / "seed"
    subprocess.run([installed_command(), "init", str(seed)], check=True, capture_output=True)
    setup_shop(seed, bots.base, channels=("desk",))
    (seed / "secrets.toml").unlink()
    git(seed, "init", home=home)
    git(seed, "add", "-A", home=home)
    git(seed, "commit", "-qm", "New shop", home=home)
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin), home=home)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "cron"
    for d in (a, b, c):
        git(tmp_path, "clone", "-q", str(origin), str(d), home=home)
    git(c, "config", "core.hooksPath", ".githooks", home=home)  # commits must pass `aftersales check`, under cron too
    (c / "secrets.toml").write_text(SECRETS, encoding="utf-8")  # only the cron machine holds the bot's key

    # staff work in their own clones and share with `aftersales sync` (no git identity configured)
    t1 = new_ticket(a, "2026-11-23T09:00:00+08:00", "甲客户", home)
    t3 = new_ticket(a, "2026-11-23T09:01:00+08:00", "丙客户", home)
    aftersales(a, "ticket", "reply", t3, "您好，马上处理", now="2026-11-23T09:10:00+08:00", home=home)
    assert aftersales(a, "sync", now="2026-11-23T09:11:00+08:00", home=home) == ("", "")
    t2 = new_ticket(b, "2026-11-23T09:02:00+08:00", "乙客户", home)
    assert aftersales(b, "sync", now="2026-11-23T09:12:00+08:00", home=home) == ("", "")

    # the cron clone: one quiet line; the union merge brings everyone's records in
    assert aftersales(c, "cron", now="2026-11-23T09:35:00+08:00", home=home) == ("", "")
    assert shorts(bots) == sorted([t1[:7], t2[:7]])  # t3 was answered in a's clone: no alert
    assert "首次联系 已超时" in bots.texts("wecom")[0]  # Chinese intact under cron's bare environment
    assert aftersales(c, "cron", now="2026-11-23T09:40:00+08:00", home=home) == ("", "")
    assert len(bots.received) == 1  # delivered once
    assert git(c, "status", "--porcelain", home=home) == ""  # records committed; outbox and secrets untracked

    # everyone ends with every record: staff, and the cron clone's time-limit events
    aftersales(a, "sync", now="2026-11-23T09:45:00+08:00", home=home)
    aftersales(b, "sync", now="2026-11-23T09:45:00+08:00", home=home)
    assert rows(a) == rows(b) == rows(c)
    assert {r[3] for r in rows(a)} >= {"open", "reply", "sla"}
    assert [r[0] for r in rows(a) if r[3] == "sla" and r[5] == "breached"].count(t1) == 1

    # the remote cannot be reached: nothing is lost, one line, and the next run catches up
    origin.rename(tmp_path / "away.git")
    aftersales(a, "ticket", "reply", t1, "抱歉久等", now="2026-11-23T09:50:00+08:00", home=home)
    out, _ = aftersales(a, "sync", now="2026-11-23T09:51:00+08:00", home=home, code=1)
    assert len(out.splitlines()) == 1 and out.startswith("sync: git pull failed") and "nothing is lost" in out
    out, _ = aftersales(c, "cron", now="2026-11-23T09:55:00+08:00", home=home, code=1)
    assert out.startswith("sync: git pull failed") and len(out.splitlines()) == 1
    assert aftersales(c, "cron", now="2026-11-23T09:56:00+08:00", home=home) == ("", "")  # the same trouble: quiet
    (tmp_path / "away.git").rename(origin)
    assert aftersales(a, "sync", now="2026-11-23T09:56:00+08:00", home=home) == ("", "")
    aftersales(c, "cron", now="2026-11-23T10:00:00+08:00", home=home)
    assert any(r[0] == t1 and r[3] == "reply" for r in rows(c))

    # a conflict in policies stops with one line and an alert; the clone is not left mid-merge
    for d, name in ((a, "甲店"), (c, "丙店")):
        p = d / "policies" / "shop.toml"
        p.write_text(p.read_text(encoding="utf-8").replace('name = "示例小店"', f'name = "{name}"'), encoding="utf-8")
        git(d, "commit", "--no-verify", "-qam", f"rename to {name}", home=home)
    aftersales(a, "sync", now="2026-11-23T10:01:00+08:00", home=home)
    out, _ = aftersales(c, "cron", now="2026-11-23T10:05:00+08:00", home=home, code=1)
    assert len(out.splitlines()) == 1 and out.startswith("sync: conflict with the remote in policies/shop.toml")
    assert not (c / ".git" / "MERGE_HEAD").exists()
    assert "【同步问题】与远程仓库冲突: policies/shop.toml" in bots.texts("wecom")[-1]
    n = len(bots.received)
    assert aftersales(c, "cron", now="2026-11-23T10:10:00+08:00", home=home) == ("", "")  # said once
    assert len(bots.received) == n  # the alert went once
    git(c, "reset", "-q", "--hard", "origin/main", home=home)  # a person resolves it: takes the remote's name
    assert aftersales(c, "cron", now="2026-11-23T10:15:00+08:00", home=home) == ("", "")
    assert "甲店" in (c / "policies" / "shop.toml").read_text(encoding="utf-8")
