"""A policy change reviewed like code: its meaning (`policy diff`) and its effect (`policy replay`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import Runner, installed_command

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd, *args, check=True):
    env = dict(os.environ, **ENV, HOME=str(cwd))
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def edit(shop, name, old, new):
    p = shop / "policies" / name
    text = p.read_text(encoding="utf-8")
    assert old in text, old
    p.write_text(text.replace(old, new), encoding="utf-8")


def the_four_changes(shop):
    edit(shop, "timers.toml", 'target = "30m"', 'target = "20m"')  # first contact: shorter
    edit(shop, "routing.toml", 'words = ["曝光",', 'words = ["曝光", "维权",')  # a new sensitive word
    edit(shop, "compensation.toml", 'categories = ["quality", "transit_damage"]\ncap = "10.00"',
         'categories = ["quality", "transit_damage"]\ncap = "8.00"')  # a lower agent authority
    edit(shop, "calendars.toml", 'name = "端午节"\nstart = 2026-06-19\nend = 2026-06-21',
         'name = "端午节"\nstart = 2026-06-20\nend = 2026-06-22')  # a moved holiday


def reformat(shop):
    """Keys reordered, spacing changed: the same policy."""
    edit(shop, "staff.toml", '[roles.agent]\nname = "售后客服专员"\nrank = 1', '[roles.agent]\nrank = 1\nname   =   "售后客服专员"')
    edit(shop, "tickets.toml", 'priority = "P3"\nrequired = ["order"]', 'required = [ "order" ]\npriority = "P3"')


@pytest.fixture
def repo(shop):
    git(shop, "init")
    git(shop, "add", "-A")
    git(shop, "commit", "-m", "new shop")
    return shop


def test_diff_names_exactly_the_four_changes(repo, run):
    the_four_changes(repo)
    reformat(repo)
    git(repo, "commit", "-am", "policy: tighter first contact, 维权, agents ¥8, 端午 moved")
    r = run("policy", "diff", "HEAD~1", "HEAD")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "policy changes from HEAD~1 to HEAD:",
        "  rules: rule 'sensitive-words'.when.words: added 维权",
        "  time limits: first_contact (首次联系): 30 min -> 20 min",
        "  authority: agent on quality, transit_damage: cap ¥10.00 -> ¥8.00",
        "  calendars: cn: holidays removed 2026-06-19 (端午节); added 2026-06-22 (端午节)",
    ]
    doc = json.loads(run("policy", "diff", "HEAD~1", "HEAD", "--format", "json").stdout)
    assert [(c["section"], c["change"]) for c in doc] == [("rules", "changed"), ("timers", "changed"),
                                                          ("authority", "changed"), ("calendars", "changed")]


def test_a_pure_reformat_is_no_change(repo, run):
    reformat(repo)
    assert run("policy", "diff").stdout == "no change in meaning between HEAD and the working tree\n"


def test_outside_git_two_folders_are_compared(shop, tmp_path, run):
    before = tmp_path / "before"
    shutil.copytree(shop / "policies", before)
    the_four_changes(shop)
    r = run("policy", "diff")
    assert r.exit_code == 2 and "outside a git repository give two policy folders" in r.stderr
    r = run("policy", "diff", before, shop / "policies")
    assert len(r.stdout.splitlines()) == 5


def test_replay_reports_what_each_change_would_have_done(repo, tmp_path):
    run = Runner(repo)
    # T1: first reply after 25 min (met under 30 min, breached under 20)
    t1 = run.new(now="2026-11-02T09:00:00+08:00", summary="水壶漏水")
    run("ticket", "reply", t1, "您好", now="2026-11-02T09:25:00+08:00")
    # T2: the customer says 维权, a sensitive word only for the new policy
    t2 = run.new(now="2026-11-03T09:00:00+08:00", summary="再不处理我就去维权")
    run("ticket", "reply", t2, "您好", now="2026-11-03T09:05:00+08:00")
    run("ticket", "resolve", t2, "已换新", now="2026-11-03T10:00:00+08:00")  # within the day: never 48 h old
    # T3: an agent pays ¥9 on a quality problem: within ¥10, beyond ¥8
    t3 = run.new(now="2026-11-04T09:00:00+08:00", item_amount="50.00", order_amount="50.00")
    run("ticket", "reply", t3, "您好", now="2026-11-04T09:05:00+08:00")
    assert run("compensate", t3, "--amount", "9.00", "--method", "balance", "--liability", "shop",
               now="2026-11-04T10:00:00+08:00").exit_code == 0
    # T4: a consultation on Thursday 06-18 17:00 answered Saturday 06-20: with 端午 on Friday 06-19 it was
    # due Monday 06-22; with 端午 moved to 06-20..22, Friday is a working day and it was due Friday 17:00
    t4 = run.new(category="usage", model=None, order=None, summary="怎么除垢", now="2026-06-18T17:00:00+08:00")
    run("ticket", "reply", t4, "用柠檬酸", now="2026-06-20T10:00:00+08:00")
    git(repo, "add", "-A")
    git(repo, "commit", "-m", "ledgers")
    the_four_changes(repo)
    git(repo, "commit", "-am", "policy change")
    before = {p.name: p.read_bytes() for p in (repo / "ledgers").glob("*.csv")}

    r = run("policy", "replay", "--old", "HEAD~1", "--new", "HEAD", "--from", "2026-06-01", "--to", "2026-11-30",
            "--format", "json", now="2026-11-30T12:00:00+08:00")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    got = {k: (v["count"], v["examples"]) for k, v in doc["changes"].items()}
    assert got == {
        # the shorter first contact
        "first_contact: would have been breached": (1, [t1]),
        # 维权: to the experts, P0, abnormal; so the abnormal limits run instead of the 24 h close,
        # and the missed follow-up visit of a supervised ticket escalates
        "routed to another department (- -> experts)": (1, [t2]),
        "priority changed (P2 -> P0)": (1, [t2]),
        "would have been abnormal": (1, [t2]),
        "abnormal_reply: would have run": (1, [t2]),
        "abnormal_solution: would have run": (1, [t2]),
        "close: would not have run": (1, [t2]),
        "escalation level raised": (1, [t2]),
        # the lower agent authority
        "payment over the payer's authority": (1, [t3]),
        # the moved holiday
        "consultation_answer: would have been breached": (1, [t4]),
    }, json.dumps(got, ensure_ascii=False, indent=1)
    assert doc["tickets"] == 4
    assert {p.name: p.read_bytes() for p in (repo / "ledgers").glob("*.csv")} == before  # writes nothing
    table = run("policy", "replay", "--old", "HEAD~1", "--new", "HEAD", "--from", "2026-06-01", "--to", "2026-11-30",
                now="2026-11-30T12:00:00+08:00").stdout
    assert "replayed 4 tickets opened 2026-06-01..2026-11-30 under HEAD~1 and HEAD" in table
    assert f"1  payment over the payer's authority  (e.g. {t3[:7]})" in table
    # the same policy twice: nothing differs
    same = run("policy", "replay", "--old", "HEAD", "--new", "HEAD", "--from", "2026-06-01", "--to", "2026-11-30",
               now="2026-11-30T12:00:00+08:00")
    assert same.stdout.endswith("  no difference\n")


def test_textconv_shows_no_diff_for_a_reformat(shop, run):
    a = run("policy", "textconv", shop / "policies" / "staff.toml").stdout
    reformat(shop)
    b = run("policy", "textconv", shop / "policies" / "staff.toml").stdout
    assert a == b and "售后客服专员" in a


def test_the_shops_pre_commit_hook_refuses_a_broken_policy(repo):
    hook = repo / ".githooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    git(repo, "config", "core.hooksPath", ".githooks")
    edit(repo, "staff.toml", 'role = "agent"', 'role = "agnet"')
    env_path = os.path.dirname(installed_command()) + os.pathsep + os.environ.get("PATH", "")
    r = subprocess.run(["git", "commit", "-qam", "typo"], cwd=repo, capture_output=True, text=True,
                       env=dict(os.environ, **ENV, HOME=str(repo), PATH=env_path))
    assert r.returncode != 0 and "unknown role 'agnet'" in r.stdout + r.stderr
    assert 'policies/*.toml text eol=lf diff=aftersales-policy' in (repo / ".gitattributes").read_text()
