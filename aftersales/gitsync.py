"""`aftersales sync`: share this workspace's records through the shop's git remote.

Order matters for a cron clone: first commit what this workspace recorded (ledgers and
evidence only: policies change by review, and .aftersales/ and secrets.toml are
untracked), then pull (ledgers merge by union, see .gitattributes), then push. A failed
pull or push loses nothing: the commit stays local and the next run tries again. A
conflict (in policies: ledgers never conflict) is backed out, so the workspace keeps
working on its last good state, and reported in one line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

SHARED = ("ledgers", "evidence")
TIMEOUT = 120


@dataclass
class SyncReport:
    problems: list = field(default_factory=list)  # one line each
    conflict: list = field(default_factory=list)  # files in conflict (the merge was backed out)
    committed: bool = False
    pulled: bool = False
    pushed: bool = False
    remote: bool = True


def _git(root: Path, *args, check=False):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANG="C", GIT_MERGE_AUTOEDIT="no")
    # the pre-commit hook runs `aftersales check`: under cron's bare PATH it must still be found
    here = [os.path.dirname(os.path.abspath(p)) for p in (sys.argv[0], sys.executable) if p]
    env["PATH"] = os.pathsep.join(dict.fromkeys(here + env.get("PATH", "").split(os.pathsep)))
    try:
        r = subprocess.run(["git", "-c", "pull.rebase=false", *args], cwd=root, capture_output=True, text=True,
                           encoding="utf-8", errors="replace", env=env, timeout=TIMEOUT)
    except FileNotFoundError:
        raise InputError("git is not installed; install git to share the workspace") from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"git {args[0]} took more than {TIMEOUT} s")
    return r


def _last_line(r) -> str:
    lines = [ln.strip() for ln in (r.stderr + "\n" + r.stdout).splitlines() if ln.strip()]
    useful = [ln for ln in lines if ln.startswith(("fatal", "error", "CONFLICT", "!", "ssh", "remote:"))]
    return (useful or lines or ["no output"])[-1][:200]


def _identity(root: Path) -> list:
    """-c options naming the committer when this clone has no identity (a bare cron account)."""
    out = []
    if not _git(root, "config", "user.email").stdout.strip():
        out += ["-c", f"user.email=aftersales@{socket.gethostname() or 'localhost'}"]
    if not _git(root, "config", "user.name").stdout.strip():
        out += ["-c", "user.name=aftersales cron"]
    return out


def is_repo(root: Path) -> bool:
    r = _git(root, "rev-parse", "--is-inside-work-tree")
    return r.returncode == 0 and r.stdout.strip() == "true"


def commit(root: Path, now, rep: SyncReport) -> None:
    paths = [p for p in SHARED if (Path(root) / p).exists()]
    if not paths:
        return
    r = _git(root, "add", "--", *paths)
    if r.returncode != 0:
        rep.problems.append(f"sync: git add failed: {_last_line(r)}")
        return
    if _git(root, "diff", "--cached", "--quiet").returncode == 0:
        return
    msg = f"aftersales sync: records from {socket.gethostname() or 'this machine'} up to {now.isoformat(timespec='minutes')}"
    r = _git(root, *_identity(root), "commit", "-q", "-m", msg)
    if r.returncode != 0:
        rep.problems.append(f"sync: git commit failed: {_last_line(r)}; the records stay in the workspace, "
                            "run `aftersales check` and fix what it lists")
        return
    rep.committed = True


def pull(root: Path, rep: SyncReport) -> bool:
    if not _git(root, "remote").stdout.strip():
        rep.remote = False
        return True
    r = _git(root, *_identity(root), "pull", "--no-rebase", "--no-edit", "-q")
    if r.returncode == 0:
        rep.pulled = True
        return True
    unmerged = [f for f in _git(root, "diff", "--name-only", "--diff-filter=U").stdout.splitlines() if f]
    if unmerged:
        _git(root, "merge", "--abort")
        rep.conflict = unmerged
        rep.problems.append(f"sync: conflict with the remote in {', '.join(unmerged)}; nothing was merged and this "
                            "workspace keeps its last state. Resolve it by hand: git pull, fix the file, "
                            "`aftersales check`, commit, push")
    else:
        rep.problems.append(f"sync: git pull failed ({_last_line(r)}); nothing is lost, the next run tries again")
    return False


def push(root: Path, rep: SyncReport) -> None:
    if not rep.remote:
        return
    ahead = _git(root, "rev-list", "--count", "@{u}..HEAD")
    if ahead.returncode == 0 and ahead.stdout.strip() == "0":
        return
    r = _git(root, "push", "-q") if ahead.returncode == 0 else _git(root, "push", "-q", "-u", "origin", "HEAD")
    if r.returncode == 0:
        rep.pushed = True
    else:
        rep.problems.append(f"sync: git push failed ({_last_line(r)}); the commits stay here, the next run tries again")


def sync(root: Path, now, do_push: bool = True) -> SyncReport:
    root = Path(root)
    if not is_repo(root):
        raise InputError(f"{root}: not a git repository; `git init` (or clone the shop's remote) first, "
                         "see README: Several machines, one remote")
    rep = SyncReport()
    commit(root, now, rep)
    ok = pull(root, rep)
    if ok and do_push:
        push(root, rep)
    return rep
