"""Answers at a past --now do not change when later records arrive; files outside ledgers are safe (second review)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from aftersales import ledger
from aftersales.policy import load_policy

from conftest import REPO

CST = "+08:00"


def at(day, hm="09:00"):
    return f"2026-11-{day:02d}T{hm}:00{CST}"


def test_later_records_do_not_change_an_earlier_answer(run, shop):
    ledger.append(shop, "reviews", [{"review": "R1", "at": at(20), "order": "O1", "product": "P1", "score": 1,
                                     "created_at": at(20)}], load_policy(shop))
    before = run("reviews", "check", "--format", "json", now=at(20, "15:00")).stdout
    run("reviews", "check", "--open-tickets", now=at(21))  # a follow-up ticket, the next day
    assert run("reviews", "check", "--format", "json", now=at(20, "15:00")).stdout == before != "[]\n"

    ledger.append(shop, "shipments", [{"waybill": "ZT1", "at": at(20), "order": "O2", "courier": "zto",
                                       "destination": "江苏", "shipped_at": at(20), "collected_at": at(20, "10:00"),
                                       "signed_at": at(21, "10:00"), "signed_by": "门卫"}], load_policy(shop))
    lost = run("logistics", "check", "--format", "json", now=at(23, "12:00")).stdout
    assert '"report_lost"' in lost
    run("lost", "new", "--order", "O2", "--waybill", "ZT1", "--courier", "zto", now=at(24))
    assert run("logistics", "check", "--format", "json", now=at(23, "12:00")).stdout == lost
    rows = {r["rule"]: r for r in json.loads(run("eligibility", "O2", "--format", "json", now=at(21, "09:00")).stdout)}
    assert rows["no_reason_return"]["why"].endswith("not signed yet, the 7 days start at signing")


def test_kpis_and_surveys_count_only_what_happened_by_now(run):
    t = run.new(now=at(2), category="attitude", model=None, summary="态度差")
    run("ticket", "escalated", t, "客户向12315投诉", "--to", "regulator", now=at(20))
    rows = {r["kpi"]: r for r in json.loads(run("report", "kpi", "--month", "2026-11", "--format", "json",
                                                now=at(5)).stdout)}
    assert rows["escalation rate"]["count"] == "0/1"


def test_rejects_never_overwrite_a_file(run, shop, tmp_path, ledgers_unchanged):
    (shop / "policies" / "imports.toml").write_text(
        '[imports.x]\nledger = "shipments"\ncolumns = { waybill = "wb", order = "o" }\n', encoding="utf-8")
    src = tmp_path / "in.csv"
    src.write_text("wb,o\nA1,O1\n,O2\n", encoding="utf-8")
    with ledgers_unchanged():
        for target, text in ((shop / "ledgers" / "reviews.csv", "inside the workspace's ledgers/"),
                             (src, "already exists"), (tmp_path / "no" / "r.csv", "no folder")):
            r = run("import", "x", src, "--keep-going", "--rejects", target, now=at(23))
            assert r.exit_code == 2 and text in r.stderr and r.stderr.count("\n") == 1
    assert src.read_text(encoding="utf-8") == "wb,o\nA1,O1\n,O2\n"


@pytest.mark.skipif(not (REPO.parent / "shared" / "realdata" / "olist").is_dir(), reason="needs the Olist export")
def test_rejects_carry_the_looked_up_columns_and_import_again_from_anywhere(shop, tmp_path):
    from conftest import Runner

    for p in (REPO / "policies").glob("*.toml"):
        shutil.copyfile(p, shop / "policies" / p.name)
    run = Runner(shop)
    rejects = tmp_path / "elsewhere" / "rejects.csv"
    rejects.parent.mkdir()
    run("import", "olist_orders", REPO.parent / "shared/realdata/olist/olist_orders_dataset.csv", "--keep-going",
        "--rejects", rejects, now="2018-10-20T12:00:00-03:00")
    assert "customer_state" in rejects.read_text(encoding="utf-8-sig").splitlines()[0]
    r = run("import", "olist_orders", rejects, "--dry-run", now="2018-10-20T12:00:00-03:00")
    assert r.exit_code == 2 and "88 of 88 rows are bad" in r.stderr  # read, joined, checked: still bad, as they were


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", HOME=str(cwd))
    return subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_policy_review_in_a_subfolder_and_its_errors(tmp_path):
    from aftersales.scaffold import init_workspace
    from conftest import Runner

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init")
    shop = repo / "shop"
    init_workspace(shop)
    run = Runner(shop)
    r = run("policy", "diff")
    assert r.exit_code == 2 and "no commit yet" in r.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-m", "shop")
    temps = len(glob.glob(os.path.join(tempfile.gettempdir(), "as-policy-*")))
    text = (shop / "policies/compensation.toml").read_text(encoding="utf-8")
    (shop / "policies/compensation.toml").write_text(
        text.replace('categories = ["quality", "transit_damage"]', 'categories = ["transit_damage", "quality"]'), encoding="utf-8")
    assert run("policy", "diff").stdout == "no change in meaning between HEAD and the working tree\n"
    assert len(glob.glob(os.path.join(tempfile.gettempdir(), "as-policy-*"))) == temps  # nothing left behind
    r = run("policy", "diff", "nosuch")
    assert r.exit_code == 2 and "revision 'nosuch' is not a commit of this repository" in r.stderr
    (shop / "policies/shop.toml").write_text("oops = [\n", encoding="utf-8")
    assert run("policy", "textconv", shop / "policies/shop.toml").stdout == "oops = [\n"  # git diff still works


def test_replay_leaves_out_tickets_not_yet_opened(run, shop):
    git(shop, "init")
    git(shop, "add", "-A")
    git(shop, "commit", "-m", "x")
    run.new(now=at(20))
    run.new(now=at(23, "10:00"))
    r = run("policy", "replay", "--from", "2026-11-01", "--to", "2026-11-30", now=at(23, "08:00"))
    assert r.stdout.startswith("replayed 1 tickets") and "skipped" not in r.stdout


def test_out_of_stock_range_without_the_order_amount(run):
    tid = run.new(category="out_of_stock", model=None, summary="缺货", now=at(20))
    rows = {r["rule"]: r for r in json.loads(run("eligibility", "--ticket", tid, "--format", "json").stdout)}
    assert rows["out_of_stock"]["why"] == ("out-of-stock compensation: from a ¥5.00 coupon to 30% order_amount "
                                           "(the order amount is unknown here), by the delay")
