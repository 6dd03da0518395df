"""The desk at a shell (issue 15 item 6): errors that lead to the fix, a short usage, the assembler's probes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import installed_command


def test_a_global_option_after_the_command_says_where_it_goes(run):
    r = run("ticket", "list", "--now", "2026-11-23T10:00:00+08:00", by=None)
    assert r.exit_code == 2
    prog = r.stderr.split("e.g. `")[1].split(" ")[0]  # the runner's program name
    assert r.stderr == ("error: No such option '--now'; --now is a global option: put it before the command, "
                        f"e.g. `{prog} --now ... ticket list ...`; see '{prog} ticket list --help'\n")
    assert ".;" not in r.stderr


def test_click_messages_do_not_end_in_a_full_stop_before_the_semicolon(run):
    r = run("ticket", "list", "--bogus", by=None)
    assert r.exit_code == 2 and ".;" not in r.stderr and "No such option '--bogus'; see" in r.stderr


def test_an_upper_case_staff_id_suggests_its_lower_case(run):
    r = run("ticket", "new", "--channel", "jd", "--category", "usage", "--summary", "x", by=None,
            now="2026-11-23T09:00:00+08:00", env={"AS_USER": "A01"})
    assert r.exit_code == 2
    assert r.stderr == "error: $AS_USER A01: unknown staff member\nhint: did you mean 'a01'? (case matters)\n"


def test_no_arguments_print_a_short_usage(shop):
    r = subprocess.run([installed_command()], capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=shop)
    assert r.returncode == 2 and not r.stdout
    assert r.stderr.startswith("usage: aftersales [-w DIR]") and len(r.stderr.splitlines()) <= 8
    assert "error" not in r.stderr


def test_aftersales_version_is_ours():
    r = subprocess.run([installed_command(), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("aftersales, version ")


needs_as = pytest.mark.skipif(not shutil.which("as"), reason="needs binutils")


def _env():
    ours = Path(installed_command("as")).parent
    return dict(os.environ, PATH=f"{ours}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")


@needs_as
@pytest.mark.parametrize("probe", [["--version"], ["-v"]])
def test_build_probes_reach_the_system_assembler(tmp_path, probe):
    r = subprocess.run([installed_command("as"), *probe], capture_output=True, text=True, env=_env(),
                       stdin=subprocess.DEVNULL, cwd=tmp_path)
    real = subprocess.run([shutil.which("as", path=os.environ["PATH"]), *probe], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == real.returncode
    assert r.stdout == real.stdout and "aftersales" not in r.stdout


@needs_as
def test_as_reads_standard_input_like_the_assembler(tmp_path):
    r = subprocess.run([installed_command("as")], input=b"nop\n", capture_output=True, env=_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.out").read_bytes()[:4] == b"\x7fELF"


def test_a_group_alone_lists_its_commands(run):
    r = run("ticket", by=None)
    assert r.exit_code == 2 and "error" not in r.stderr
    assert "commands: accept, assign," in r.stderr and "search" in r.stderr and len(r.stderr.splitlines()) == 3
