"""Policy changes by meaning: what a reviewer needs to read in a policy diff.

`load_at(root, rev)` reads the policies of a git revision (or a folder); `diff(old, new)`
compares two Policy objects, not their text, so reordering keys or reformatting a file
is no change. Rules are compared by name and order; timers by id, with the time limit
old -> new; compensation authority by role and categories; calendars by the days they
add or remove; reply scripts by text; everything else by its path in the policy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Optional

from .errors import InputError
from .policy import Policy, check_policy


@dataclasses.dataclass
class Change:
    section: str
    item: str
    change: str  # added | removed | changed | reordered
    old: object = None
    new: object = None
    what: str = ""  # the readable line

    def as_dict(self) -> dict:
        return {"section": self.section, "item": self.item, "change": self.change,
                "old": plain(self.old), "new": plain(self.new), "what": self.what}


def plain(v):
    """Policy values as JSON-able data, with durations, amounts and dates as text."""
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if type(v).__name__ in ("Duration", "TimeRange", "Cap"):
        return str(v)
    if dataclasses.is_dataclass(v):
        return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (dict, MappingProxyType)):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return str(v)


# ------------------------------------------------------------------ loading


def _git(root: Path, *args) -> str:
    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {r.stderr.strip().splitlines()[0] if r.stderr.strip() else 'failed'}")
    return r.stdout


def in_git(root: Path) -> bool:
    try:
        return subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True,
                              text=True).stdout.strip() == "true"
    except OSError:
        return False


def load_at(root: Path, rev: str, git: Optional[bool] = None) -> Policy:
    """The policy of git revision `rev` ("" = the working tree), or of a folder holding
    policies/ (or *.toml files) when `rev` names one. `git`: whether `root` is in a git
    repository, when the caller knows."""
    p = Path(rev) if rev else None
    if p is not None and p.is_dir():
        if (p / "policies").is_dir():
            return _load(p, str(p))
        with tempfile.TemporaryDirectory(prefix="as-policy-") as tmp:  # a folder of TOML files
            (Path(tmp) / "policies").mkdir()
            for f in p.glob("*.toml"):
                (Path(tmp) / "policies" / f.name).write_bytes(f.read_bytes())
            return _load(Path(tmp), str(p))
    if not rev:
        return _load(root, "the working tree")
    if not (in_git(root) if git is None else git):
        raise InputError(f"'{rev}' is no folder, and {root} is not in a git repository")
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root,
                      capture_output=True).returncode != 0:
        has_commits = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=root,
                                     capture_output=True).returncode == 0
        raise InputError(f"revision '{rev}' is not a commit of this repository" if has_commits else
                         "this repository has no commit yet; commit the policies first, or compare two folders")
    prefix = _git(root, "rev-parse", "--show-prefix").strip()
    listing = subprocess.run(["git", "ls-tree", "--full-tree", "--name-only", f"{rev}:{prefix}policies"], cwd=root,
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise InputError(f"revision '{rev}' has no {prefix}policies/ folder; choose a later commit")
    names = [name for name in listing.stdout.split() if name.endswith(".toml")]
    with tempfile.TemporaryDirectory(prefix="as-policy-") as tmp:
        (Path(tmp) / "policies").mkdir()
        for name, data in zip(names, _show(root, [f"{rev}:{prefix}policies/{name}" for name in names])):
            (Path(tmp) / "policies" / name).write_bytes(data)
        return _load(Path(tmp), rev)


def _show(root: Path, objects: list) -> list:
    """What `git show OBJECT` prints for each blob, read with one `git cat-file --batch`."""
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=root, capture_output=True,
                           input="".join(f"{o}\n" for o in objects).encode()).stdout
    out, pos = [], 0
    for o in objects:
        nl = batch.find(b"\n", pos)
        head = batch[pos:nl].split()
        if len(head) == 3 and head[1] == b"blob":
            pos = nl + 1 + int(head[2]) + 1  # the contents, then a newline
            out.append(batch[nl + 1:pos - 1])
        else:  # not a blob (missing, a tree): as `git show` has it
            pos = nl + 1 + (int(head[2]) + 1 if len(head) == 3 else 0)
            out.append(subprocess.run(["git", "show", o], cwd=root, capture_output=True).stdout)
    return out


def _load(base: Path, label: str) -> Policy:
    policy, problems = check_policy(base)
    if policy is None:
        first = problems[0]
        raise InputError(f"the policy of {label} does not load: {first.where()}: {first.message}")
    return policy


# ------------------------------------------------------------------ comparing


def diff(old: Policy, new: Policy) -> list:
    out: list = []
    _rules(old, new, out)
    _timers(old, new, out)
    _authority(old, new, out)
    _calendars(old, new, out)
    _scripts(old, new, out)
    done = {"rules", "timers", "calendars", "scripts", "remarks"}
    for f in dataclasses.fields(Policy):
        if f.name in done:
            continue
        a, b = plain(getattr(old, f.name)), plain(getattr(new, f.name))
        if f.name == "compensation":
            a, b = dict(a or {}), dict(b or {})
            a.pop("authority", None)
            b.pop("authority", None)
        if f.name == "staff":
            a, b = {s["id"]: s for s in a}, {s["id"]: s for s in b}
        _generic(f.name, "", a, b, out)
    return out


def _fmt(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_fmt(x)}" for k, x in v.items()) + "}"
    return "(none)" if v is None or v == "" else str(v)


def _generic(section: str, path: str, a, b, out: list) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in b:
                out.append(Change(section, sub, "removed", a[k], None, f"{section}: {sub} removed"))
            elif k not in a:
                out.append(Change(section, sub, "added", None, b[k], f"{section}: {sub} added: {_fmt(b[k])}"))
            else:
                _generic(section, sub, a[k], b[k], out)
        return
    if isinstance(a, list) and isinstance(b, list) and all(not isinstance(x, (dict, list)) for x in a + b):
        added = [x for x in b if x not in a]
        removed = [x for x in a if x not in b]
        if added or removed:
            parts = ([f"added {', '.join(map(str, added))}"] if added else []) + \
                    ([f"removed {', '.join(map(str, removed))}"] if removed else [])
            out.append(Change(section, path, "changed", a, b, f"{section}: {path}: {'; '.join(parts)}"))
        else:
            out.append(Change(section, path, "reordered", a, b, f"{section}: {path}: reordered {_fmt(a)} -> {_fmt(b)}"))
        return
    out.append(Change(section, path, "changed", a, b, f"{section}: {path}: {_fmt(a)} -> {_fmt(b)}"))


def _rules(old: Policy, new: Policy, out: list) -> None:
    a = {r.name: r for r in old.rules}
    b = {r.name: r for r in new.rules}
    for name in a:
        if name not in b:
            out.append(Change("rules", name, "removed", plain(a[name]), None, f"rules: rule '{name}' removed"))
    for i, r in enumerate(new.rules):
        if r.name not in a:
            out.append(Change("rules", r.name, "added", None, plain(r),
                              f"rules: rule '{r.name}' added at position {i + 1}"))
    common_old = [r.name for r in old.rules if r.name in b]
    common_new = [r.name for r in new.rules if r.name in a]
    if common_old != common_new:
        out.append(Change("rules", "order", "reordered", common_old, common_new,
                          f"rules: evaluation order {' > '.join(common_old)} -> {' > '.join(common_new)}"))
    for name in common_new:
        sub: list = []
        _generic("rules", f"rule '{name}'", plain(a[name]), plain(b[name]), sub)
        for c in sub:
            c.item = name
            out.append(c)


def _timers(old: Policy, new: Policy, out: list) -> None:
    for tid in old.timers:
        if tid not in new.timers:
            out.append(Change("timers", tid, "removed", plain(old.timers[tid]), None,
                              f"time limits: timer '{tid}' ({old.timers[tid].name}) removed"))
    for tid, t in new.timers.items():
        if tid not in old.timers:
            out.append(Change("timers", tid, "added", None, plain(t),
                              f"time limits: timer '{tid}' ({t.name}) added: {t.target} from {t.start} to {t.stop}"))
            continue
        o = old.timers[tid]
        if o.target != t.target or o.clock != t.clock:
            clock = lambda x: "wall-clock time" if x.clock == "calendar" else f"business time on '{x.clock}'"  # noqa: E731
            out.append(Change("timers", tid, "changed", f"{o.target} ({clock(o)})", f"{t.target} ({clock(t)})",
                              f"time limits: {tid} ({t.name}): {o.target} -> {t.target}"
                              + (f" ({clock(o)} -> {clock(t)})" if o.clock != t.clock else "")))
        sub: list = []
        po, pt = plain(o), plain(t)
        for k in ("target", "clock"):
            po.pop(k), pt.pop(k)
        _generic("timers", tid, po, pt, sub)
        out.extend(sub)


def _authority(old: Policy, new: Policy, out: list) -> None:
    def keyed(p):
        if p.compensation is None:
            return {}
        return {(a.role, ", ".join(sorted(a.categories)) or "every category"): a for a in p.compensation.authority}

    a, b = keyed(old), keyed(new)
    for k in a:
        if k not in b:
            out.append(Change("authority", f"{k[0]} / {k[1]}", "removed", str(a[k].cap), None,
                              f"authority: {k[0]} on {k[1]}: cap {a[k].cap} removed"))
    for k, x in b.items():
        if k not in a:
            out.append(Change("authority", f"{k[0]} / {k[1]}", "added", None, str(x.cap),
                              f"authority: {k[0]} on {k[1]}: cap {x.cap} added"))
        elif str(a[k].cap) != str(x.cap):
            out.append(Change("authority", f"{k[0]} / {k[1]}", "changed", str(a[k].cap), str(x.cap),
                              f"authority: {k[0]} on {k[1]}: cap {a[k].cap} -> {x.cap}"))


def _days(ranges) -> dict:
    out = {}
    for h in ranges:
        d = h.start
        while d <= h.end:
            out[d] = h.name
            d += dt.timedelta(days=1)
    return out


def _calendars(old: Policy, new: Policy, out: list) -> None:
    for cid in old.calendars:
        if cid not in new.calendars:
            out.append(Change("calendars", cid, "removed", None, None, f"calendars: calendar '{cid}' removed"))
    for cid, c in new.calendars.items():
        if cid not in old.calendars:
            out.append(Change("calendars", cid, "added", None, None, f"calendars: calendar '{cid}' added"))
            continue
        o = old.calendars[cid]
        for what, a, b in (("holiday", _days(o.holidays), _days(c.holidays)),
                           ("make-up working day", {w.date: w.name for w in o.workdays}, {w.date: w.name for w in c.workdays}),
                           ("promotion day", _days(o.promotions), _days(c.promotions))):
            removed = sorted(d for d in a if d not in b)
            added = sorted(d for d in b if d not in a)
            if removed or added:  # one change: a moved holiday reads as one line
                parts = ([f"removed {_span(removed, a)}"] if removed else []) + ([f"added {_span(added, b)}"] if added else [])
                kind = "changed" if removed and added else "removed" if removed else "added"
                out.append(Change("calendars", f"{cid} {what}s", kind, [d.isoformat() for d in removed],
                                  [d.isoformat() for d in added], f"calendars: {cid}: {what}s {'; '.join(parts)}"))
        po, pc = plain(o), plain(c)
        for k in ("holidays", "workdays", "promotions"):
            po.pop(k), pc.pop(k)
        _generic("calendars", cid, po, pc, out)


def _span(days: list, names: dict) -> str:
    """2026-10-08..2026-10-09 (国庆节), 2026-10-10 (调休)"""
    parts, i = [], 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] - days[j] == dt.timedelta(days=1) and names[days[j + 1]] == names[days[i]]:
            j += 1
        span = days[i].isoformat() if i == j else f"{days[i].isoformat()}..{days[j].isoformat()}"
        parts.append(f"{span} ({names[days[i]]})" if names[days[i]] else span)
        i = j + 1
    return ", ".join(parts)


def _scripts(old: Policy, new: Policy, out: list) -> None:
    for section in ("scripts", "remarks"):
        a, b = getattr(old, section), getattr(new, section)
        for k in a:
            if k not in b:
                out.append(Change(section, k, "removed", a[k].text, None, f"reply {section}: '{k}' removed"))
        for k, s in b.items():
            if k not in a:
                out.append(Change(section, k, "added", None, s.text, f"reply {section}: '{k}' added: {s.text}"))
            elif a[k].text != s.text or a[k].name != s.name:
                out.append(Change(section, k, "changed", a[k].text, s.text,
                                  f"reply {section}: '{k}' ({s.name}): {a[k].text!r} -> {s.text!r}"))
