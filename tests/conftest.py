"""Shared fixtures: every test runs in its own temporary shop, with no ambient settings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aftersales.cli.root import cli
from aftersales.scaffold import init_workspace

REPO = Path(__file__).resolve().parent.parent

# Fixed times used by scenario tests (the shop's zone is Asia/Shanghai, +08:00).
MON_0900 = "2026-11-23T09:00:00+08:00"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for var in ("AFTERSALES_WORKSPACE", "AS_USER", "AFTERSALES_AS_HANDOFF"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def shop(tmp_path) -> Path:
    """A fresh workspace made by `init_workspace` (the default policy pack, empty ledgers)."""
    root = tmp_path / "shop"
    init_workspace(root)
    return root


class Runner:
    """Runs `aftersales` in-process against one workspace, stdout and stderr apart."""

    def __init__(self, root: Path):
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args, by="a01", now=None, input=None, env=None):
        argv = ["--workspace", str(self.root)]
        if by:
            argv += ["--by", by]
        if now:
            argv += ["--now", now]
        argv += [str(a) for a in args]
        return self.runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    def new(self, now=MON_0900, by="a01", **fields) -> str:
        """Open a ticket (quality complaint defaults) and return its full ID."""
        defaults = dict(channel="taobao", category="quality", order="TB20261123001", customer="王女士",
                        phone="13812345678", model="K-200", summary="收到的电水壶底部有裂纹", demand="exchange")
        defaults.update(fields)
        args = ["ticket", "new", "--format", "json"]
        for k, v in defaults.items():
            if v is not None:
                args += [f"--{k.replace('_', '-')}", v]
        r = self(*args, by=by, now=now)
        assert r.exit_code == 0, r.stderr
        import json

        return json.loads(r.stdout)[0]["ticket"]


@pytest.fixture
def run(shop) -> Runner:
    return Runner(shop)


def snapshot(root: Path) -> dict:
    """Every ledger's bytes, to assert that a refused command changed nothing."""
    return {p.name: p.read_bytes() for p in sorted((root / "ledgers").glob("*.csv"))}


@pytest.fixture
def ledgers_unchanged(shop):
    """Use as: with ledgers_unchanged(): ... — asserts no ledger byte changed."""
    from contextlib import contextmanager

    @contextmanager
    def check():
        before = snapshot(shop)
        yield
        assert snapshot(shop) == before

    return check


def installed_command(name: str = "aftersales") -> str:
    """Path of the installed console script next to this interpreter."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"the installed `{name}` command is not found; install the package first")
    return found
