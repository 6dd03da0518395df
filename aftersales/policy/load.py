"""Reading policies/*.toml into a `Policy`, with every problem as data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import schema
from ..errors import InputError, Problem, problems_error
from ..tomlmap import load as load_toml
from .model import Policy

# ------------------------------------------------------------------- loading

SECTIONS = {f: f for f in Policy.__dataclass_fields__}


@dataclass
class PolicySource:
    """Where each section came from, to give problems a file and line."""

    docs: dict  # section -> TomlDoc
    workspace: Path

    def problem(self, section: str, path: tuple, message: str) -> Problem:
        doc = self.docs.get(section)
        if doc is None:
            return Problem("policies", 0, message)
        return Problem(doc.file, doc.line_of((section,) + tuple(path)), message)


def _read_docs(root: Path) -> tuple[list, list]:
    problems: list = []
    docs: list = []
    pdir = root / "policies"
    if not pdir.is_dir():
        problems.append(Problem("policies", 0, "no policies/ folder; run `aftersales init DIR` to create a workspace"))
        return docs, problems
    files = sorted(pdir.glob("*.toml"))
    if not files:
        problems.append(Problem("policies", 0, "no *.toml files in policies/; copy the default pack with `aftersales init`"))
    for p in files:
        rel = f"policies/{p.name}"
        try:
            raw = p.read_bytes()
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            problems.append(Problem(rel, line, "not UTF-8 text; save the file as UTF-8", unreadable=True))
            continue
        except OSError as e:
            problems.append(Problem(rel, 0, f"cannot read: {e.strerror}", unreadable=True))
            continue
        try:
            docs.append(load_toml(text, rel))
        except InputError as e:
            problems.extend(e.problems)
    return docs, problems


def check_policy(root: Path) -> tuple[Optional[Policy], list[Problem]]:
    """Load and validate every policy file; return the policy (None if unusable) and all problems."""
    docs, problems = _read_docs(Path(root))
    merged: dict = {}
    by_section: dict = {}
    for doc in docs:
        for key in doc.data:
            if key not in SECTIONS:
                problems.append(doc.problem((key,), f"unknown section '{key}'; {schema.closest(key, SECTIONS)}"))
                continue
            if key in by_section:
                other = by_section[key]
                problems.append(
                    doc.problem((key,), f"section '{key}' is already defined in {other.file}:{other.line_of((key,))}; keep it in one file")
                )
                continue
            by_section[key] = doc
            merged[key] = doc.data[key]
    src = PolicySource(by_section, Path(root))
    if problems and not merged:
        return None, sorted(problems, key=Problem.sort_key)
    errs = schema.Errors()
    policy = schema.build(Policy, merged, (), errs)
    unreadable = any(p.unreadable for p in problems)
    for path, message in errs.items:
        if unreadable and not path and message.startswith("missing required key"):
            continue  # the section is most likely in the file that could not be read
        if path:
            problems.append(src.problem(path[0], path[1:], message))
        else:
            problems.append(Problem("policies", 0, message.replace("key", "section", 1)))
    if policy is schema.BAD:
        return None, sorted(problems, key=Problem.sort_key)
    from .checks import REFERENCE_CHECKS

    for check in REFERENCE_CHECKS:
        problems.extend(check(policy, src))
    problems = sorted(set(problems), key=Problem.sort_key)
    return (None if problems else policy), problems


def load_policy(root: Path) -> Policy:
    """The workspace's policy, or InputError naming the first problem and its fix."""
    policy, problems = check_policy(Path(root).resolve())
    if problems:
        raise problems_error(problems)
    assert policy is not None  # check_policy returns one whenever there are no problems
    return policy
