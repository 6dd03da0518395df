"""Errors are data: a Problem names a file, a line, what is wrong and how to fix it.

Domain code raises `InputError` for bad input (exit status 2) and returns lists of
`Problem` from checks (exit status 1 when the data shows a problem). Nothing here prints.

The fix is kept apart from the message (ruff's `message()` and `fix_title()`): a
Problem's `hint` renders as its own `hint: ...` line in text and as its own field in
JSON, and an InputError may carry one too. The text form, after hledger:

    policies/routing.toml:14: unknown department 'warehous'
        department = "warehous"
        ^^^^^^^^^^^^^^^^^^^^^^^
    hint: did you mean 'warehouse'?
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    file: str  # path relative to the workspace, e.g. "policies/staff.toml"
    line: int  # 1-based; 0 when the problem concerns the whole file
    message: str
    record: str = ""  # the offending line or record, shown indented under the message
    unreadable: bool = False  # the file could not be read at all (exit status 2)
    hint: str = ""  # the fix, rendered as its own line ("hint: ...") and JSON field

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def render(self) -> str:
        return f"{self.where()}: {self.message}" + self.details()

    def details(self) -> str:
        """The lines under the message: the record (a policy's source line with a marker) and the hint."""
        out = ""
        if self.record:
            text = self.record.rstrip("\n")
            out += "\n    " + text.replace("\n", "\n    ")
            if self.is_policy() and "\n" not in text and text.strip():
                out += "\n    " + "^" * len(text.strip())  # the marker under a policy's source line
        if self.hint:
            out += f"\nhint: {self.hint}"
        return out

    def is_policy(self) -> bool:
        return self.file.endswith(".toml") and self.line > 0

    def with_source(self, root) -> "Problem":
        """A policy problem with its source line as the record (read from the workspace `root`)."""
        if not self.is_policy() or self.record:
            return self
        from pathlib import Path

        try:
            lines = (Path(root) / self.file).read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError):
            return self
        return replace(self, record=self.source_record(lines[self.line - 1])) if self.line <= len(lines) else self

    def source_record(self, line: str) -> str:
        """A policy's source line as shown under this problem: a value the problem says is a
        secret is not printed again (cron mails stderr)."""
        import re

        text = line.strip()
        if "secret" in self.message or "secret" in self.hint:
            text = re.sub(r"""=\s*("[^"]*"|'[^']*')""", '= "…"', text)
        return text

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": self.message, "hint": self.hint,
                "record": self.record}

    def sort_key(self):
        return (self.file, self.line, self.message)

    def with_hint(self) -> "Problem":
        """This problem with a trailing "; <fix>" of its message moved to `hint`."""
        if self.hint:
            return self
        message, hint = split_hint(self.message)
        return replace(self, message=message, hint=hint) if hint else self


def split_hint(message: str) -> tuple:
    """(message, hint) from a message written as "what is wrong; how to fix it".

    Splits at the first "; " outside quotes and brackets; ("message", "") when there is none.
    """
    depth, quote = 0, ""
    for i, c in enumerate(message):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'`\"" and (c != "'" or i == 0 or not message[i - 1].isalnum()):
            quote = c  # an apostrophe inside a word (lead's, can't) opens nothing
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c == ";" and depth == 0 and message[i + 1:i + 2] == " ":
            return message[:i], message[i + 2:]
    return message, ""


class InputError(Exception):
    """Bad usage or unreadable input: reported as `error: ...` (and `hint: ...`), exit status 2,
    nothing written."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.hint = hint

    def render(self) -> str:
        """The text the CLI prints on stderr: `error: ...`; under a policy problem its source
        line with a marker; then `hint: ...` when the fix is known."""
        first = self.problems[0] if self.problems else None
        if first is not None and first.is_policy() and first.record:
            return f"error: {self.message}" + replace(first, hint=self.hint).details()
        return f"error: {self.message}" + (f"\nhint: {self.hint}" if self.hint else "")

    def with_source(self, root) -> "InputError":
        """This error with its first policy problem's source line, read from the workspace `root`."""
        if self.problems and self.problems[0].is_policy():
            self.problems[0] = self.problems[0].with_source(root)
        return self


def problems_error(problems: list[Problem], what: str = "") -> InputError:
    """One InputError for a list of problems: the first is the message, the rest follow."""
    problems = sorted(problems, key=Problem.sort_key)
    first = problems[0] = problems[0].with_hint()
    msg = f"{first.where()}: {first.message}"
    if len(problems) > 1:
        msg += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}: `aftersales check` lists them)"
    return InputError(msg, problems, hint=first.hint)


def input_error(text: str) -> InputError:
    """An InputError from a message written as "what is wrong; how to fix it": the fix
    becomes its hint."""
    message, hint = split_hint(text)
    return InputError(message, hint=hint)
