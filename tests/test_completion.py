"""Tab completion (issue 15 item 1): commands, ticket IDs, staff IDs, categories, scripts."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import installed_command


def complete(shop, words, shell="bash"):
    line = words.split(" ")
    env = dict(os.environ, _AFTERSALES_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=str(len(line) - 1),
               AFTERSALES_WORKSPACE=str(shop))
    r = subprocess.run([installed_command()], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if shell == "bash":
        return [x.split(",", 1)[1] for x in r.stdout.splitlines()]
    return r.stdout.splitlines()[1::3]  # zsh: type, value, help


def test_ticket_ids_complete_open_first(run, shop):
    a = run.new(now="2026-11-23T09:00:00+08:00")
    b = run.new(now="2026-11-23T09:05:00+08:00")
    run("ticket", "close", a, "--force", "x", by="l01", now="2026-11-23T09:10:00+08:00")
    assert complete(shop, "aftersales ticket show ") == [b, a]
    assert complete(shop, f"aftersales ticket show {b[:3].lower()}") == [b] + ([a] if a[:3] == b[:3] else [])
    assert complete(shop, "aftersales compensate ") == [b, a]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_staff_categories_and_scripts_complete(shop, shell):
    assert complete(shop, "aftersales --by a0", shell) == ["a01", "a02", "a03"]
    assert complete(shop, "aftersales ticket assign X --to l", shell) == ["l01"]
    assert complete(shop, "aftersales ticket new --category qu", shell) == ["quality"]
    assert complete(shop, "aftersales reply photo", shell) == ["photo_request"]
    assert "search" in complete(shop, "aftersales ticket s", shell)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_command_prints_a_script(shell):
    r = subprocess.run([installed_command(), "completion", shell], capture_output=True, text=True)
    assert r.returncode == 0 and "_AS_COMPLETE" in r.stdout
    r = subprocess.run([installed_command(), "completion", shell, "--prog", "aftersales"], capture_output=True, text=True)
    assert "_AFTERSALES_COMPLETE" in r.stdout
