"""Read a TOML file and remember on which line each key was written.

`tomllib` gives values but no positions. Validation must name the line, so this module
scans the text once more and maps every key path to its line: table headers, arrays of
tables (`[[rule]]` becomes path ("rule", 0), ("rule", 1) ...), dotted keys, and elements
and keys inside (multi-line) arrays and inline tables. `line_of(path)` falls back to the
nearest enclosing path that has a line.
"""

from __future__ import annotations

import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from .errors import InputError, Problem

Path = tuple

_BARE = re.compile(r"[A-Za-z0-9_-]+")


class TomlDoc:
    """The parsed data of one TOML file and the line of each key path (worked out on first
    use: only a problem to report needs a line, and most runs have none)."""

    def __init__(self, file: str, data: dict, lines, text: str = ""):
        self.file = file
        self.data = data
        self._lines = lines
        self._text = text

    @property
    def lines(self) -> dict:
        if self._lines is None:
            self._lines = key_lines(self._text)
        return self._lines

    def line_of(self, path: Path) -> int:
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 0

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.line_of(path), message)


def load(text: str, file: str) -> TomlDoc:
    """Parse TOML text; a syntax error becomes an InputError naming file and line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else getattr(e, "lineno", 0) or 0
        if not line and "end of document" in msg:
            line = max(1, len(text.splitlines()))
        reason = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", msg)
        if m is None and hasattr(e, "msg"):
            reason = e.msg
        text_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        raise InputError(
            f"{file}:{line}: invalid TOML: {reason}; fix the syntax on that line",
            [Problem(file, line, f"invalid TOML: {reason}", text_line, unreadable=True, hint="fix the syntax on that line")],
        ) from None
    return TomlDoc(file, data, None, text)


def key_lines(text: str) -> dict:
    """Map each key path of a valid TOML document to its 1-based line."""
    s = _Scanner(text)
    lines: dict = {}
    aot_index: dict = {}  # array-of-tables path (with indices of outer arrays) -> last index
    table: tuple = ()
    while not s.eof():
        s.skip_ws_comments_newlines()
        if s.eof():
            break
        if s.peek() == "[":
            is_aot = s.text.startswith("[[", s.pos)
            line = s.line
            s.pos += 2 if is_aot else 1
            keys = s.read_key(("]",))
            s.pos += 2 if is_aot else 1
            path = _resolve(keys[:-1], aot_index) + (keys[-1],)
            if not is_aot and path in aot_index:
                path = path + (aot_index[path],)
            if is_aot:
                idx = aot_index.get(path, -1) + 1
                aot_index[path] = idx
                # forget sub-arrays of the previous element
                for k in [k for k in aot_index if len(k) > len(path) and k[: len(path)] == path]:
                    del aot_index[k]
                lines.setdefault(path, line)
                path = path + (idx,)
            lines[path] = line
            _parents(lines, path, line)
            table = path
            s.skip_to_eol()
            continue
        line = s.line
        keys = s.read_key(("=",))
        s.pos += 1  # '='
        path = table + tuple(keys)
        lines[path] = line
        _parents(lines, path, line)
        s.read_value(path, lines)
        s.skip_to_eol()
    return lines


def _parents(lines: dict, path: tuple, line: int) -> None:
    """Tables implied by a header or dotted key ([roles.agent] implies roles) start at its line."""
    for i in range(1, len(path)):
        lines.setdefault(path[:i], line)


def _resolve(keys: list, aot_index: dict) -> tuple:
    path: tuple = ()
    for k in keys:
        path = path + (k,)
        if path in aot_index:
            path = path + (aot_index[path],)
    return path


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_ws_comments_newlines(self) -> None:
        while not self.eof():
            c = self.peek()
            if c in " \t\r":
                self.pos += 1
            elif c == "\n":
                self._advance()
            elif c == "#":
                self.skip_to_eol()
            else:
                return

    def skip_to_eol(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def read_key(self, stops: tuple) -> list:
        keys = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ('"', "'"):
                keys.append(self.read_string())
            else:
                m = _BARE.match(self.text, self.pos)
                keys.append(m.group(0) if m else "")
                self.pos = m.end() if m else self.pos + 1
            self.skip_ws()
            if self.peek() == ".":
                self.pos += 1
                continue
            if self.peek() in stops or self.eof():
                return keys
            self.pos += 1  # tolerate anything odd: tomllib already accepted the file

    def read_string(self) -> str:
        q = self.peek()
        if self.text.startswith(q * 3, self.pos):
            end = self.text.find(q * 3, self.pos + 3)
            while q == '"' and end > 0 and _escaped(self.text, end):
                end = self.text.find(q * 3, end + 1)
            # a closing delimiter may be followed by up to two more quotes
            end += 3
            while self.text.startswith(q, end) and end < len(self.text):
                end += 1
            raw = self.text[self.pos + 3 : end - 3]
            self._advance(end - self.pos)
            return raw
        i = self.pos + 1
        while i < len(self.text) and self.text[i] != q:
            i += 2 if (q == '"' and self.text[i] == "\\") else 1
        raw = self.text[self.pos + 1 : i]
        self._advance(i + 1 - self.pos)
        if q == '"' and "\\" in raw:
            try:
                return tomllib.loads(f'k = "{raw}"')["k"]
            except tomllib.TOMLDecodeError:
                return raw
        return raw

    def read_value(self, path: tuple, lines: dict) -> None:
        self.skip_ws()
        c = self.peek()
        if c in ('"', "'"):
            self.read_string()
        elif c == "[":
            self._advance()
            idx = 0
            while True:
                self.skip_ws_comments_newlines()
                if self.peek() == "]":
                    self._advance()
                    return
                if self.eof():
                    return
                lines[path + (idx,)] = self.line
                self.read_value(path + (idx,), lines)
                self.skip_ws_comments_newlines()
                if self.peek() == ",":
                    self._advance()
                idx += 1
        elif c == "{":
            self._advance()
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self._advance()
                    return
                if self.eof() or self.peek() == "\n":
                    return
                line = self.line
                keys = self.read_key(("=",))
                self._advance()
                lines[path + tuple(keys)] = line
                self.read_value(path + tuple(keys), lines)
                self.skip_ws()
                if self.peek() == ",":
                    self._advance()
        else:
            while not self.eof() and self.peek() not in ",]}\n#":
                self.pos += 1


def _escaped(text: str, i: int) -> bool:
    n = 0
    while i - 1 - n >= 0 and text[i - 1 - n] == "\\":
        n += 1
    return n % 2 == 1
