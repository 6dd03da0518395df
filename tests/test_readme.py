"""README stays true (issue 15 item 5): every command example of README.md runs, in order, in a
copy of the demo shop, and exits as README says.

What counts as an example: in a code block (indented four spaces, or fenced with ```sh,
```bash, ```console or ```), each line that starts with `as ` or `aftersales ` (or `$ as `;
a line ending in `\\` continues). Lines of output, TOML and comments are not run.

Conventions README follows so that its examples can be run:

- A trailing comment that says `exit N` ("exit 1 on a breach") is the expected status;
  otherwise it is 0. A line right after an `error: ...` output line in the block expects 2.
- A synopsis (`[--option]`, `a|b`, or a placeholder such as ID, TEXT, FILE, STAFF) is
  documentation, not an example, and is not run.
- `<!-- readme-test: skip -->` before a block leaves that block out (cron lines, git config).
- `<!-- readme-test: capture TOKEN... -->` before a block: each TOKEN stands for an ID that a
  command of the block prints (the first TOKEN for the first command that prints an ID of
  its length and names none of the TOKENs, and so on); the runner puts the printed ID
  wherever TOKEN appears after it.
- Paths like `../shared/realdata/...` are the data beside the repository; when that data is
  missing, the lines that need it and those after them are skipped.
- `as init ~/myshop` and `cd ~/myshop` run with HOME in a temporary folder; each block starts
  in the demo shop again, as a new shell would.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, installed_command

README = REPO / "README.md"
PLACEHOLDERS = {"ID", "TEXT", "FILE", "STAFF", "DEPT", "LEDGER", "MAPPING", "DIR", "SOLUTION", "FIELD", "VALUE",
                "KIND", "REASON", "REF", "SHELL", "INSPECTION", "TICKET", "WORDS", "QUERY", "REV1", "REV2", "REV", "TIME", "FILE…"}
ID_TOKEN = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{7,12}\b")


@dataclass
class Example:
    line: int  # README line number
    command: str
    expect: int
    block: int
    capture: str = ""


def _is_synopsis(cmd: str) -> bool:
    if re.search(r"\[-|\[[A-Za-z]+\]|\w\|\w", cmd.split("#")[0]):
        return True
    words = re.findall(r"[A-Z][A-Z0-9…]+", cmd.split("#")[0])
    return any(w in PLACEHOLDERS for w in words)


def examples(text: str) -> list:
    out = []
    lines = text.splitlines()
    i, block, skip, capture, fenced = 0, 0, False, "", False
    prev_blank = True
    in_block = False
    while i < len(lines):
        raw = lines[i]
        m = re.match(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->", raw.strip())
        if m:
            skip = m.group(1) == "skip"
            capture = m.group(2) if m.group(1) == "capture" else capture
            i += 1
            continue
        if raw.startswith("```"):
            if not fenced:
                fenced = raw.strip("`").strip() in ("", "sh", "bash", "console", "shell")
                in_block, block = fenced, block + 1
                if not fenced:  # another language: skip to its end
                    i += 1
                    while i < len(lines) and not lines[i].startswith("```"):
                        i += 1
            else:
                fenced, in_block, skip, capture = False, False, False, ""
            i += 1
            continue
        indented = raw.startswith("    ") and not fenced
        if indented and prev_blank and not in_block:
            in_block, block = True, block + 1
        if not indented and not fenced and raw.strip():
            if in_block:
                skip, capture = False, ""
            in_block = False
        prev_blank = not raw.strip()
        if not in_block:
            i += 1
            continue
        body = raw[4:] if indented else raw
        start = i
        stripped = body.strip()
        cmd = stripped[2:] if stripped.startswith("$ ") else stripped
        if re.match(r"(as|aftersales)\s", cmd) and not skip:
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
            m = re.search(r"#.*\bexit (\d)", cmd)
            expect = int(m.group(1)) if m else 0
            if not _is_synopsis(cmd):
                out.append(Example(start + 1, cmd, expect, block, capture))
                capture = ""
        elif re.match(r"(cd|as|aftersales)\s", cmd) and not skip and cmd.startswith("cd "):
            out.append(Example(start + 1, cmd, 0, block))
        i += 1
    # a command followed (in its block) by an `error:` line of output expects exit 2
    for n, ex in enumerate(out):
        after = text.splitlines()[ex.line:]
        for following in after:
            s = following.strip()
            if not s or s.startswith(("$ as", "$ aftersales", "as ", "aftersales ")):
                break
            if s.startswith("error:"):
                ex.expect = 2
                break
    return out


def _shared_data():
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "realdata").is_dir():
            return base / "shared"
    return None


def _copy_demo(tmp: Path) -> Path:
    shop = tmp / "demo"
    for part in ("policies", "ledgers", "evidence"):
        shutil.copytree(REPO / part, shop / part, ignore=shutil.ignore_patterns(".lock"))
    shutil.copytree(REPO / "tests" / "data" / "platforms", shop / "tests" / "data" / "platforms")  # README's samples
    shared = _shared_data()
    if shared is not None:
        (tmp / "shared").symlink_to(shared)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "demo shop"]):  # the demo shop is a repository
        subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=shop, env=_git_env(tmp), check=True,
                       capture_output=True)
    return shop


def _git_env(tmp: Path) -> dict:
    return dict(os.environ, GIT_AUTHOR_NAME="readme", GIT_AUTHOR_EMAIL="r@example.com", GIT_COMMITTER_NAME="readme",
                GIT_COMMITTER_EMAIL="r@example.com", GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp / "home"))


def run_examples(tmp: Path, only_block=None):
    """Run README's examples; return [(example, exit status, output)] of those that failed."""
    home = tmp / "home"
    home.mkdir()
    shop = _copy_demo(tmp)
    bins = {"as": installed_command("as"), "aftersales": installed_command()}
    env = dict(_git_env(tmp), AFTERSALES_WORKSPACE="", AS_USER="", COLUMNS="")
    env.pop("AFTERSALES_WORKSPACE")
    env.pop("AS_USER")
    env.pop("COLUMNS")
    cwd = shop
    captured: dict = {}
    failed = []
    no_data = _shared_data() is None
    block = None
    pending: list = []
    tokens: list = []
    for ex in examples(README.read_text(encoding="utf-8")):
        if ex.block != block:  # each block starts in the demo shop, as a new shell would
            block, cwd, pending = ex.block, shop, []
        if ex.capture:
            pending = ex.capture.split()
            tokens = list(pending)
        cmd = ex.command
        for token, value in captured.items():
            cmd = cmd.replace(token, value)
        if "../shared/" in cmd and no_data:
            break  # the rest depends on the data beside the repository
        words = shlex.split(cmd, comments=True)
        words = [os.path.expanduser(w) if w.startswith("~") else w for w in words]
        words = [w.replace(str(Path("~").expanduser()), str(home)) for w in words]
        if words[0] == "cd":  # a shell line: run it whole, then stay in the folder it went to
            line = cmd.replace("~", str(home))
            r = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=120)
            if r.returncode != ex.expect:
                failed.append((ex, r.returncode, (r.stdout + r.stderr)[-600:]))
            target = Path(words[1].replace(str(Path.home()), str(home)))
            cwd = target if target.is_absolute() else cwd / target
            continue
        if words[0] == "as":  # the examples are ours; `as` would pass a stdin-less call to the assembler
            words[0] = "aftersales"
        words = [w if not w.startswith(str(Path.home())) else w.replace(str(Path.home()), str(home), 1) for w in words]
        r = subprocess.run([bins[words[0]]] + words[1:], cwd=cwd, env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        if pending and not any(t in ex.command for t in tokens):  # a command that uses an ID prints it too
            m = [t for t in ID_TOKEN.findall(r.stdout) if len(t) == len(pending[0])]
            if m:
                captured[pending.pop(0)] = m[0]
        if r.returncode != ex.expect:
            failed.append((ex, r.returncode, (r.stdout + r.stderr)[-600:]))
    return failed


def test_examples_are_found():
    found = examples(README.read_text(encoding="utf-8"))
    assert len(found) >= 40
    cmds = [e.command for e in found]
    assert any(c.startswith("as check") for c in cmds)
    assert not any(_is_synopsis(c) for c in cmds)


def test_the_extractor_follows_its_conventions():
    text = "\n".join([
        "Intro", "", "    as check", "    as --now 2026-11-23T10:00:00+08:00 sla-check   # exit 1 on a breach",
        "    as ticket show ID", "    as ticket list [--status open|closed]", "",
        "<!-- readme-test: skip -->", "", "    as never run", "", "Text", "",
        "    $ as compensate X --amount 25", "    error: over the authority", "    $ as compensate X --approved-by d01", "",
        "<!-- readme-test: capture 7KQ2M9XD -->", "", "```sh", "as incident open x \\", "    --type quality", "as incident join 7KQ2M9XD Y", "```",
    ])
    got = [(e.command, e.expect, e.capture) for e in examples(text)]
    assert got == [
        ("as check", 0, ""),
        ("as --now 2026-11-23T10:00:00+08:00 sla-check   # exit 1 on a breach", 1, ""),
        ("as compensate X --amount 25", 2, ""),
        ("as compensate X --approved-by d01", 0, ""),
        ("as incident open x --type quality", 0, "7KQ2M9XD"),
        ("as incident join 7KQ2M9XD Y", 0, ""),
    ]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="README's examples use git")
def test_every_readme_example_runs_as_shown(tmp_path):
    failed = run_examples(tmp_path)
    assert not failed, "\n\n".join(f"README.md:{ex.line}: `{ex.command}` exited {code}, README implies {ex.expect}:\n{out}"
                                   for ex, code, out in failed)


if __name__ == "__main__":  # python tests/test_readme.py: list what fails
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as d:
        for ex, code, out in run_examples(Path(d)):
            print(f"README.md:{ex.line}: exit {code} (expected {ex.expect}): {ex.command}\n    {out.strip()[-300:]}\n")
