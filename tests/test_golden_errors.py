"""One golden file per user-facing error: tests/golden/errors/*.txt (see tests/golden/README.md).

Each case runs in a fresh demo workspace through click's CliRunner; stderr, stdout (when the
case pins it) and the exit status must match byte for byte, and the failing command must not
change a ledger byte. AFTERSALES_UPDATE_GOLDENS=1 rewrites the expected sections.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from aftersales import ledger
from aftersales.cli.root import cli
from conftest import snapshot

GOLDEN = Path(__file__).parent / "golden" / "errors"
CASES = sorted(GOLDEN.glob("*.txt"))
UPDATE = os.environ.get("AFTERSALES_UPDATE_GOLDENS") == "1"
EXPECTED = ("stdout", "stderr", "exit")


def parse(text: str) -> tuple:
    """(comment lines, [(section, arg, body)])."""
    comments, sections = [], []
    for line in text.splitlines(keepends=True):
        m = re.match(r"--- (\w+)(?: (.*))?\n?$", line)
        if m:
            sections.append([m.group(1), (m.group(2) or "").strip(), ""])
        elif sections:
            sections[-1][2] += line
        else:
            comments.append(line)
    return comments, [tuple(s) for s in sections]


def ids_in(root: Path) -> dict:
    """prefix -> IDs in order of first appearance: tickets T, incidents N, other records R."""
    out = {"T": [], "N": [], "R": []}
    for name, schema in ledger.LEDGERS.items():
        cols = schema.column_names
        key, prefix = (("ticket", "T") if name == "tickets" else ("incident", "N") if name == "incidents"
                       else ("id", "R") if "id" in cols else (None, None))
        if key is None:
            continue
        i = cols.index(key)
        for _line, row in ledger.LedgerReader(root, name, strict=False):
            if len(row) > i and row[i] not in out[prefix]:
                out[prefix].append(row[i])
    return out


class Case:
    def __init__(self, root: Path):
        self.root = root
        self.names: dict = {}  # placeholder -> value
        self.runner = CliRunner()

    def fill(self, text: str) -> str:
        for k in sorted(self.names, key=len, reverse=True):
            text = text.replace("{" + k + "}", self.names[k])
        return text

    def invoke(self, command: str):
        argv = shlex.split(self.fill(command))
        assert argv and argv[0] in ("as", "aftersales"), command
        return self.runner.invoke(cli, ["--workspace", str(self.root)] + argv[1:], catch_exceptions=False,
                                  prog_name=argv[0])

    def setup(self, command: str) -> None:
        before = ids_in(self.root)
        r = self.invoke(command)
        assert r.exit_code == 0, f"setup failed: {command}\n{r.stdout}{r.stderr}"
        after = ids_in(self.root)
        for prefix, values in after.items():
            for v in values:
                if v not in before[prefix] and v not in self.names.values():
                    n = sum(1 for k in self.names if re.fullmatch(prefix + r"\d+", k)) + 1
                    self.names[f"{prefix}{n}"] = v
                    self.names[f"{prefix}{n}:7"] = v[:7]

    def unfill(self, text: str) -> str:
        """Output with the workspace path and the setup's IDs as placeholders."""
        text = text.replace(str(self.root), "{WS}").replace(str(self.root.parent), "{TMP}")
        for k, v in sorted(self.names.items(), key=lambda kv: len(kv[1]), reverse=True):
            text = text.replace(v, "{" + k + "}")
        return text


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_error(path, tmp_path, monkeypatch):
    from aftersales.scaffold import init_workspace

    root = tmp_path / "shop"
    init_workspace(root)
    monkeypatch.chdir(tmp_path)
    case = Case(root)
    comments, sections = parse(path.read_text(encoding="utf-8"))
    command = None
    for name, arg, body in sections:
        if name == "setup":
            for line in body.splitlines():
                if line.strip():
                    case.setup(line)
        elif name == "append":  # "append FILE noeol": without the last newline (a torn write)
            target, _, noeol = arg.partition(" ")
            with open(root / target, "a", encoding="utf-8", newline="") as f:
                f.write(case.fill(body.removesuffix("\n") if noeol == "noeol" else body))
        elif name == "write":
            target = (tmp_path if arg.startswith("../") else root) / arg.removeprefix("../")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(case.fill(body).encode("utf-8"))
        elif name == "replace":
            old, new = (part.removesuffix("\n") for part in body.split("+++\n"))
            text = (root / arg).read_text(encoding="utf-8")
            assert old in text, f"{path.name}: {old!r} is not in {arg}"
            (root / arg).write_text(text.replace(old, case.fill(new), 1), encoding="utf-8")
        elif name == "run":
            command = body.strip()
        else:
            assert name in EXPECTED, f"{path.name}: unknown section {name}"
    assert command, f"{path.name}: no --- run section"
    before = snapshot(root)
    r = case.invoke(command)
    got = {"stderr": case.unfill(r.stderr), "exit": f"{r.exit_code}\n"}
    pinned = {name for name, _a, _b in sections}
    if "stdout" in pinned:
        got["stdout"] = case.unfill(r.stdout)
    if UPDATE:
        kept = [s for s in sections if s[0] not in EXPECTED]
        out = "".join(comments) + "".join(f"--- {n}{' ' + a if a else ''}\n{b}" for n, a, b in kept)
        out += "".join(f"--- {n}\n{got[n]}" for n in EXPECTED if n in got)
        path.write_text(out, encoding="utf-8")
        sections = parse(out)[1]
    expected = {n: b for n, _a, b in sections if n in EXPECTED}
    assert got == {n: expected.get(n, "") for n in got}, f"{path.name}; rewrite with AFTERSALES_UPDATE_GOLDENS=1"
    assert r.exit_code != 0, f"{path.name}: an error case must fail"
    assert snapshot(root) == before, f"{path.name}: a ledger changed"
    assert "Traceback" not in r.stderr


def test_every_case_has_a_comment_and_a_unique_message():
    """A case says what it shows; two cases that print the same stderr are one case."""
    seen: dict = {}
    for path in CASES:
        comments, sections = parse(path.read_text(encoding="utf-8"))
        assert comments and comments[0].startswith("# "), path.name
        stderr = next((b for n, _a, b in sections if n == "stderr"), "")
        stdout = next((b for n, _a, b in sections if n == "stdout"), "")
        assert (stderr, stdout) not in seen, f"{path.name} repeats {seen.get((stderr, stdout))}"
        seen[(stderr, stdout)] = path.name
    assert len(CASES) >= 40


@pytest.mark.parametrize("body, why", [
    ("--- run\nas check\n--- stdout\nok: {WS} has no problems\n--- stderr\n--- exit\n0\n", "an error case must fail"),
    ("--- run\nas chekc\n--- stderr\nerror: No such command 'chekc'. Did you mean 'check'?; see 'as --help'\n"
     "--- exit\n1\n", "rewrite with"),
    ("--- run\nas chekc\n--- stderr\nerror: No such command 'chekc'; see 'as --help'\n--- exit\n2\n", "rewrite with"),
])
def test_the_runner_fails_a_case_that_does_not_match(body, why, tmp_path, monkeypatch):
    """A golden test that cannot fail is no test: a success, another exit status and a changed word all fail."""
    if UPDATE:
        pytest.skip("rewriting goldens")
    path = tmp_path / "case.txt"
    path.write_text("# a wrong case\n" + body, encoding="utf-8")
    (tmp_path / "run").mkdir()
    with pytest.raises(AssertionError, match=why):
        test_golden_error(path, tmp_path / "run", monkeypatch)
