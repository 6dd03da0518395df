"""A shop workspace: a folder holding policies/ and ledgers/ (usually a git repository)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import InputError

ENV_WORKSPACE = "AFTERSALES_WORKSPACE"
ENV_USER = "AS_USER"


def is_workspace(path: Path) -> bool:
    return (path / "policies").is_dir() and (path / "ledgers").is_dir()


def find_root(option: Optional[str], cwd: Optional[Path] = None) -> Path:
    """--workspace, then $AFTERSALES_WORKSPACE, then the nearest folder upward."""
    for given, origin in ((option, "--workspace"), (os.environ.get(ENV_WORKSPACE), ENV_WORKSPACE)):
        if given:
            p = Path(given).expanduser()
            if not is_workspace(p):
                raise InputError(
                    f"{origin} {given}: not a shop workspace (it needs policies/ and ledgers/)",
                    hint=f"create one with `aftersales init {given}`",
                )
            return p.resolve()
    here = Path(cwd or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if is_workspace(d):
            return d
    raise InputError(
        "no shop workspace here or above",
        hint=f"cd into one, pass --workspace DIR, or set {ENV_WORKSPACE} (create one with `aftersales init DIR`)",
    )


class Workspace:
    def __init__(self, root: Path, now: Optional[str] = None, by: Optional[str] = None):
        self.root = Path(root)
        self._now_opt = now
        self._by_opt = by
        self._policy = None
        self._now = None

    @classmethod
    def find(cls, option=None, now=None, by=None) -> "Workspace":
        return cls(find_root(option), now=now, by=by)

    @property
    def policy(self):
        if self._policy is None:
            from .policy import load_policy

            try:
                self._policy = load_policy(self.root)
            except InputError as e:
                raise e.with_source(self.root) from None
        return self._policy

    @property
    def tz(self):
        return self.policy.tz()

    @property
    def now(self):
        if self._now is None:
            from .clock import parse_now, system_now

            if self._now_opt:
                try:
                    self._now = parse_now(self._now_opt, self.tz)
                except ValueError as e:
                    from .errors import split_hint

                    message, hint = split_hint(str(e))
                    raise InputError(f"--now: {message}", hint=hint) from None
            else:
                self._now = system_now(self.tz)
        return self._now

    def instant(self):
        """`now` when it needs no policy (a --now with its offset, or the clock: the same
        instant in any zone); None when --now is a local time, or not a time at all (then
        `now` words the error)."""
        if self._now is not None:
            return self._now
        import datetime as dt

        if not self._now_opt:
            return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        from .clock import parse_now

        try:
            t = parse_now(self._now_opt, None)
        except ValueError:
            return None
        return t if t.tzinfo is not None else None

    def actor(self) -> str:
        """The acting staff member's ID (--by, else $AS_USER), checked against the roster."""
        by = self._by_opt or os.environ.get(ENV_USER)
        if not by:
            raise InputError("who is acting?", hint=f"pass --by STAFF_ID or set {ENV_USER} (staff are listed in policies/staff.toml)")
        member = self.policy.staff_member(by)
        if member is None:
            from .schema import closest

            src = "--by" if self._by_opt else f"${ENV_USER}"  # name where the ID came from
            raise InputError(f"{src} {by}: unknown staff member", hint=closest(by, [s.id for s in self.policy.staff]))
        if not member.active:
            raise InputError(f"--by {by}: {member.name} is no longer active in policies (active = false)")
        return by

    def refuse_inside(self, path, what: str) -> None:
        """InputError if `path` lies in ledgers/ or policies/, which only aftersales writes."""
        resolved = Path(path).resolve()
        hooks = next((part for part in resolved.parts[:-1] if part in (".git", ".githooks")), None)
        if hooks:  # a file there can run as a git hook: never overwrite one, even with --force
            raise InputError(f"{what}: inside a {hooks}/ folder, where a file can run as a git hook; write it somewhere else")
        for guarded in ("ledgers", "policies"):
            if resolved.is_relative_to((self.root / guarded).resolve()):
                raise InputError(f"{what}: inside the workspace's {guarded}/, which only aftersales writes; "
                                 "write it somewhere else")

    def rel(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)
