"""The command itself: init, workspace discovery, global options, lean start, cron, assembler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aftersales.cli import COMMANDS, is_ours
from aftersales.cli.root import cli
from aftersales.ledger import LEDGERS

from conftest import REPO, installed_command


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


# ------------------------------------------------------------------ init and check


def test_init_creates_a_workspace_that_checks_clean(tmp_path):
    r = invoke("init", tmp_path / "myshop")
    assert r.exit_code == 0, r.stderr
    shop = tmp_path / "myshop"
    for name, schema in LEDGERS.items():
        assert (shop / schema.file).read_text(encoding="utf-8") == schema.header
    pack = sorted(p.name for p in (REPO / "aftersales" / "pack" / "policies").glob("*.toml"))
    assert sorted(p.name for p in (shop / "policies").glob("*.toml")) == pack
    assert "ledgers/*.csv merge=union" in (shop / ".gitattributes").read_text()
    assert "aftersales check" in (shop / "README.md").read_text(encoding="utf-8")
    r = invoke("--workspace", shop, "check")
    assert (r.exit_code, r.stdout) == (0, f"ok: {shop.resolve()} has no problems\n")


def test_init_refuses_an_existing_workspace(shop):
    before = sorted(p.name for p in (shop / "policies").iterdir())
    r = invoke("init", shop)
    assert r.exit_code == 2
    assert r.stderr == f"error: {shop}: already holds policies/ or ledgers/; choose an empty or new folder\n"
    assert sorted(p.name for p in (shop / "policies").iterdir()) == before


def test_the_demo_shop_in_the_repository_checks_clean():
    r = invoke("--workspace", REPO, "check")
    assert r.exit_code == 0, r.stdout + r.stderr


# ------------------------------------------------------------------ workspace discovery


def test_workspace_found_by_option_then_variable_then_upward(shop, tmp_path, monkeypatch):
    other = tmp_path / "other"
    invoke("init", other)
    sub = shop / "ledgers"
    monkeypatch.chdir(sub)
    assert str(shop.resolve()) in invoke("check").stdout  # upward from ledgers/
    monkeypatch.setenv("AFTERSALES_WORKSPACE", str(other))
    assert str(other.resolve()) in invoke("check").stdout  # the variable beats the folder
    assert str(shop.resolve()) in invoke("--workspace", shop, "check").stdout  # the option beats both


def test_no_workspace_is_an_error_and_its_fix_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("check")
    assert r.exit_code == 2
    assert r.stderr == ("error: no shop workspace here or above\n"
                        "hint: cd into one, pass --workspace DIR, "
                        "or set AFTERSALES_WORKSPACE (create one with `aftersales init DIR`)\n")
    r = invoke("--workspace", tmp_path, "check")
    assert r.exit_code == 2 and "not a shop workspace (it needs policies/ and ledgers/)" in r.stderr


def test_bad_now_is_refused(run, ledgers_unchanged):
    with ledgers_unchanged():
        r = run("ticket", "new", "--channel", "jd", "--category", "usage", "--summary", "x", now="yesterday")
    assert r.exit_code == 2
    assert r.stderr == "error: --now: 'yesterday' is not an ISO-8601 time\nhint: write it like 2026-11-23T09:30:00+08:00\n"


def test_now_without_offset_is_taken_in_the_shops_zone(run, shop):
    tid = run.new(now="2026-11-23T09:00")
    assert f"{tid},2026-11-23T09:00:00+08:00,a01,open" in (shop / "ledgers/tickets.csv").read_text(encoding="utf-8")


def test_as_user_variable_names_the_actor(run, shop):
    r = run("ticket", "new", "--channel", "jd", "--category", "usage", "--summary", "怎么清洗", by=None,
            now="2026-11-23T09:00:00+08:00", env={"AS_USER": "a02"})
    assert r.exit_code == 0, r.stderr
    assert ",a02,open," in (shop / "ledgers/tickets.csv").read_text(encoding="utf-8")


def test_unknown_command_suggests_the_closest():
    r = invoke("chekc")
    assert r.exit_code == 2 and "No such command 'chekc'. Did you mean 'check'?" in r.stderr


# ------------------------------------------------------------------ help and lean start


def test_help_lists_every_command_group_with_its_own_short_help():
    out = invoke("--help").stdout
    flat = " ".join(out.split())  # the listing wraps long help lines
    for name, (module, short) in COMMANDS.items():
        assert f"\n  {name} " in out and f"{name} {short}" in flat
        cmd = cli.get_command(None, name)
        assert cmd.get_short_help_str(limit=200).split("\n")[0] == short, f"COMMANDS[{name!r}] is out of step with its docstring"


def test_help_imports_no_command_module():
    code = ("import sys; sys.argv = ['aftersales', '--help']\n"
            "from aftersales.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import json; print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    loaded = set(json.loads(r.stderr.strip().splitlines()[-1]))
    heavy = {"tabulate", "dateutil", "filelock", "tomllib", "tomli", "aftersales.policy", "aftersales.ledger",
             "aftersales.tickets", "aftersales.cli.ticket", "aftersales.cli.check", "csv", "decimal", "zoneinfo"}
    assert not heavy & loaded, heavy & loaded


# ------------------------------------------------------------------ end to end, installed command


def test_installed_commands_are_identical(shop):
    for name in ("aftersales", "as"):
        r = subprocess.run([installed_command(name), "--workspace", str(shop), "check"], capture_output=True, text=True)
        assert (r.returncode, r.stdout) == (0, f"ok: {shop.resolve()} has no problems\n")


@pytest.mark.parametrize("env", [
    {"PATH": "/usr/bin:/bin"},  # cron: no LANG at all
    {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},  # forced ASCII
], ids=["no-lang", "ascii-locale"])
def test_chinese_prints_correctly_under_crons_bare_environment(run, shop, env):
    run.new(now="2026-11-23T09:00:00+08:00")
    r = subprocess.run([installed_command(), "--workspace", str(shop), "--now", "2026-11-23T10:00:00+08:00",
                        "ticket", "list"], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("utf-8")
    assert "王女士" in out and "收到的电水壶底部有裂纹" in out


def test_errors_reach_cron_as_an_error_line_and_a_hint_line_exit_2(tmp_path):
    r = subprocess.run([installed_command(), "--workspace", str(tmp_path), "check"], capture_output=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    lines = r.stderr.decode().splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"] and b"Traceback" not in r.stderr


# ------------------------------------------------------------------ the assembler


@pytest.mark.parametrize("args, ours", [
    ([], True), (["--help"], True), (["check"], True), (["--now", "2026-01-01", "ticket", "list"], True),
    (["--workspace=/x", "check"], True), (["chekc"], True),
    (["--64", "-o", "x.o", "x.s"], False), (["-v"], False), (["x.s"], False), (["--version"], False),
    (["--version", "x"], False),
])
def test_which_arguments_are_ours(args, ours):
    assert is_ours(args) is ours


needs_gcc = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("as")), reason="needs gcc and binutils")


def _path_with_ours_first():
    ours = Path(installed_command("as")).parent
    return f"{ours}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


@needs_gcc
def test_gcc_still_compiles_with_our_as_first_on_path(tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int answer(void) { return 42; }\n")
    env = dict(os.environ, PATH=_path_with_ours_first())
    assert Path(shutil.which("as", path=env["PATH"])).parent == Path(installed_command("as")).parent
    r = subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.o").read_bytes()[:4] == b"\x7fELF"


@needs_gcc
def test_our_as_hands_assembler_calls_on_and_returns_their_status(tmp_path):
    ours = installed_command("as")
    env = dict(os.environ, PATH=_path_with_ours_first())
    (tmp_path / "y.s").write_text(".text\n.globl f\nf:\n ret\n")
    r = subprocess.run([ours, "-o", str(tmp_path / "y.o"), str(tmp_path / "y.s")], capture_output=True, env=env)
    assert r.returncode == 0 and (tmp_path / "y.o").exists()
    r = subprocess.run([ours, str(tmp_path / "missing.s")], capture_output=True, env=env)
    real = subprocess.run([shutil.which("as", path=os.environ["PATH"]), str(tmp_path / "missing.s")], capture_output=True)
    assert r.returncode == real.returncode != 0
    assert b"missing.s" in r.stderr


def test_no_assembler_on_path_is_a_clear_error(tmp_path):
    ours = installed_command("as")
    r = subprocess.run([ours, "-o", "z.o", "z.s"], capture_output=True, text=True,
                       env={"PATH": str(Path(ours).parent)})
    assert r.returncode == 2
    assert r.stderr.startswith("as: no assembler found on PATH after ")
