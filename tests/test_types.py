"""mypy passes on the package (the [mypy] section of setup.cfg), so README's `pytest` checks the types too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install '.[test]')")
def test_mypy_passes_on_the_package(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mypy", "aftersales", "--cache-dir", str(tmp_path / "mypy-cache")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"mypy aftersales failed:\n{proc.stdout}{proc.stderr}"
