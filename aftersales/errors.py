"""Errors are data: a Problem names a file, a line, what is wrong and how to fix it.

Domain code raises `InputError` for bad input (exit status 2) and returns lists of
`Problem` from checks (exit status 1 when the data shows a problem). Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str  # path relative to the workspace, e.g. "policies/staff.toml"
    line: int  # 1-based; 0 when the problem concerns the whole file
    message: str
    record: str = ""  # the offending line or record, shown indented under the message
    unreadable: bool = False  # the file could not be read at all (exit status 2)

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def render(self) -> str:
        head = f"{self.where()}: {self.message}"
        if self.record:
            return head + "\n    " + self.record.rstrip("\n").replace("\n", "\n    ")
        return head

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": self.message, "record": self.record}

    def sort_key(self):
        return (self.file, self.line, self.message)


class InputError(Exception):
    """Bad usage or unreadable input: reported in one line, exit status 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


def problems_error(problems: list[Problem], what: str = "") -> InputError:
    """One InputError for a list of problems: the first is the message, the rest follow."""
    problems = sorted(problems, key=Problem.sort_key)
    first = problems[0]
    msg = f"{first.where()}: {first.message}"
    if len(problems) > 1:
        msg += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}; run `aftersales check`)"
    return InputError(msg, problems)
