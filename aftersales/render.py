"""Rendering listings and problems as a table, JSON or CSV. Domain code never prints."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Optional

FORMATS = ("table", "json", "csv")


from .clock import span  # noqa: E402,F401  (the one duration format)


def _plain(v):
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _cell(v) -> str:
    if type(v) is str:
        return v
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


_CONTROL = None


def printable(text: str) -> str:
    """Text for a terminal: control characters (ESC, OSC, BEL, CR, DEL, C1 ...) removed, so
    a customer's message cannot retitle or clear the terminal. Line breaks and tabs stay."""
    global _CONTROL
    if text.isprintable():  # nothing to remove (the fast path of long listings)
        return text
    if _CONTROL is None:
        import re

        _CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    return _CONTROL.sub("", text)


def _csv_cell(v) -> str:
    """CSV output is for spreadsheets: text that would run as a formula gets a leading '
    (numbers such as -12.50 and times stay as they are). JSON output is the raw data."""
    global _NEUTRALISE
    if _NEUTRALISE is None:  # spreadsheet.py is imported on the first CSV cell, not at start-up
        from .spreadsheet import _ISO, _NUMBER, FORMULA_STARTS, neutralise

        _NEUTRALISE = (FORMULA_STARTS, _NUMBER, _ISO, neutralise)
    starts, number, iso, neutralise_ = _NEUTRALISE
    text = printable(_cell(v))
    if not text.startswith(starts):  # nothing to neutralise (most cells: a fast path)
        return text
    return text if number.match(text) or iso.match(text) else neutralise_(text)


_NEUTRALISE: Optional[tuple] = None


def listing(rows: list, columns: list, fmt: str, headers: dict | None = None) -> str:
    """Rows (dicts) as text in `fmt`; columns fix the order; headers rename them in tables."""
    fmt = fmt or "table"
    if fmt == "json":
        return json.dumps([{c: _plain(r.get(c)) for c in columns} for r in rows], ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_cell(r.get(c)) for c in columns])
        return buf.getvalue()
    if not rows:
        return ""
    heads = [(headers or {}).get(c, c) for c in columns]
    return table([[printable(_cell(r.get(c))) for c in columns] for r in rows], heads)


def write_listing(rows, columns: list, fmt: str, out, headers: dict | None = None) -> int:
    """`listing` for rows given as tuples in `columns` order, written to `out`: CSV and JSON
    as the rows come, byte for byte what `listing` returns. Returns the number of rows.

    Rows of plain printable text (nearly all) skip the cell-by-cell conversions: a row
    whose cells join into printable text is already what `printable(_cell(v))` makes."""
    n = 0
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        formula = _formula_cell().search
        for r in rows:
            try:
                plain = "".join(r).isprintable() and not formula("\x00" + "\x00".join(r))
            except TypeError:  # not all text
                plain = False
            w.writerow(r if plain else [_csv_cell(v) for v in r])
            n += 1
        return n
    if fmt == "json":
        out.write("[")
        keys = [json.dumps(c, ensure_ascii=False) + ": " for c in columns]
        quote = json.encoder.encode_basestring  # what json.dumps(text, ensure_ascii=False) gives
        distinct = len(set(columns)) == len(columns)  # else the object keeps the last of a name
        for r in rows:
            if distinct and len(r) == len(columns) and all(type(v) is str for v in r):
                text = "{\n    " + ",\n    ".join([k + quote(v) for k, v in zip(keys, r)]) + "\n  }"
            else:
                text = json.dumps({c: _plain(v) for c, v in zip(columns, r)}, ensure_ascii=False,
                                  indent=2).replace("\n", "\n  ")
            out.write(("\n  " if not n else ",\n  ") + text)
            n += 1
        out.write("\n]\n" if n else "]\n")
        return n
    import gc

    was = gc.isenabled()
    gc.disable()  # a table holds every row: the collector would walk them again and again, and finds no cycles
    try:
        cells = table_cells(rows)
        if cells:
            heads = [(headers or {}).get(c, c) for c in columns]
            if terminal_width():
                out.write(table([list(r) for r in cells], heads))
            else:  # whole lines in a pipe, a few thousand at a time
                for lines in _line_batches(cells, heads):
                    out.write("\n".join(lines) + "\n")
        return len(cells)
    finally:
        if was:
            gc.enable()


def table_cells(rows) -> list:
    """The cells of a table's rows (tuples in `columns` order), as `write_listing` shows
    them; each row's cells depend on that row alone."""
    cells = list(rows)
    try:  # a column at a time: nearly always every cell is plain printable text
        plain = len(set(map(len, cells))) <= 1 and all(map(str.isprintable, map("".join, zip(*cells))))
    except TypeError:  # not all text
        plain = False
    if not plain:
        cells = [r if _plain_row(r) else [printable(_cell(v)) for v in r] for r in cells]
    return cells


def _plain_row(r) -> bool:
    try:
        return "".join(r).isprintable()
    except TypeError:
        return False


def _formula_cell():
    """A pattern finding, in cells joined by NUL and after one, a cell that begins as
    `spreadsheet.FORMULA_STARTS` (one character each) do."""
    import re

    from .spreadsheet import FORMULA_STARTS

    assert all(len(c) == 1 for c in FORMULA_STARTS)
    return re.compile("\x00[" + re.escape("".join(FORMULA_STARTS)) + "]")


def table(cells: list, heads: list) -> str:
    """Rows of cell texts as a table: whole in a pipe, fitted to the terminal's width."""
    width = terminal_width()
    if not width:
        return simple_table(cells, heads) + "\n"
    # issue 15: a table fits the terminal; JSON and CSV keep the whole text
    natural = sum(max([display_width(h)] + [display_width(r[i]) for r in cells]) + 2 for i, h in enumerate(heads))
    if natural > width:  # too wide: a column empty in every row is left out first
        keep = [i for i in range(len(heads)) if any(r[i] for r in cells)] or list(range(len(heads)))
        heads = [heads[i] for i in keep]
        cells = [[r[i] for i in keep] for r in cells]
    cells = fit(cells, heads, width)
    return simple_table(cells, heads, 0) + "\n"


def simple_table(cells: list, heads: list, min_padding: int = 2) -> str:
    """What tabulate's "simple" format gives (cells stripped, left-aligned, two spaces apart,
    each line without trailing spaces), computed in one pass per column: tabulate takes
    seconds on a listing of 100,000 rows. Cells with line breaks or tabs go to tabulate."""
    if any("\n" in c or "\t" in c for c in heads) or any("\n" in c or "\t" in c for r in cells for c in r):
        import tabulate as tab

        tabulate = _tabulate()
        padding, tab.MIN_PADDING = tab.MIN_PADDING, min_padding
        try:
            return tabulate(cells, headers=heads, tablefmt="simple", disable_numparse=True)
        finally:
            tab.MIN_PADDING = padding
    return "\n".join(_simple_lines(cells, heads, min_padding))


def _simple_lines(cells: list, heads: list, min_padding: int = 2):
    """The lines of `simple_table` (cells without line breaks or tabs)."""
    for lines in _line_batches(cells, heads, min_padding):
        yield from lines


def table_columns(cells: list, heads: list, min_padding: int = 2, by_column=None) -> tuple:
    """(cols, widths, wide) of `_line_batches`: the cells stripped a column at a time, each
    column's width (its widest cell, or its heading and `min_padding`), and the display
    widths of a column's cells when they are not all ASCII (else None). The widths of a
    table made in parts are the largest of each part's. `by_column`: the cells given as
    columns instead."""
    dw = display_width
    width_of = _WidthOf()  # texts repeat (names, categories): each measured once per table
    cols, widths, wide = [], [], []  # wide: the display widths of a column's cells, when not all ASCII
    if by_column is None:
        by_column = zip(*cells) if cells else [()] * len(heads)
    for h, cells_of in zip(heads, by_column):
        col = list(map(str.strip, cells_of))
        ws = None if all(map(str.isascii, col)) else list(map(width_of.__getitem__, col))
        w = (max(map(len, col)) if ws is None else max(ws)) if col else 0
        cols.append(col)
        widths.append(max(w, dw(h) + min_padding))
        wide.append(ws)
    return cols, widths, wide


def _line_batches(cells: list, heads: list, min_padding: int = 2, size: int = 4096, columns=None):
    """The lines of `simple_table`, a list of up to `size` at a time: worked out a column
    at a time (cells stripped, each column as wide as its widest cell, or its heading and
    `min_padding`), the rows left as they are. `columns`: `table_columns` of the cells,
    with the widths to use."""
    from itertools import repeat
    from operator import add, sub

    dw = display_width
    cols, widths, wide = columns or table_columns(cells, heads, min_padding)

    def line(values):
        return "  ".join([v + " " * (w - (len(v) if v.isascii() else dw(v))) for v, w in zip(values, widths)]).rstrip()

    yield [line(heads), "  ".join("-" * w for w in widths).rstrip()]
    # one format per line: a column of ASCII text is padded by the format (to w characters),
    # one with wider characters cell by cell (as many more as its display width falls short
    # of w); the last column is not padded at all, as the trailing spaces would go anyway
    last = len(cols) - 1
    form = "  ".join("%s" if ws is not None or i == last else f"%-{w}s"
                     for i, (w, ws) in enumerate(zip(widths, wide)))
    for a in range(0, len(cells), size):
        padded = []
        for i, (col, w, ws) in enumerate(zip(cols, widths, wide)):
            part = col[a:a + size]
            padded.append(part if ws is None or i == last else
                          list(map(str.ljust, part, map(add, map(sub, repeat(w), ws[a:a + size]), map(len, part)))))
        yield list(map(str.rstrip, map(form.__mod__, zip(*padded))))


# ------------------------------------------------------------------ issue 15: tables that fit the terminal


def terminal_width():
    """The width to fit tables to: $COLUMNS, else the terminal's; None when output goes to a
    file or a pipe (scripts get whole lines)."""
    import os
    import shutil
    import sys

    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((100, 24)).columns


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: CJK and full-width characters count two."""
    return _EastAsianWidth.wcswidth(text)


def shorten(text: str, width: int) -> str:
    """`text` on one line in at most `width` columns, ending in … when cut."""
    text = " ".join(text.split())
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def fit(cells: list, heads: list, width: int, gap: int = 2) -> list:
    """Rows of cells (and `heads`, in place) shortened so the table is at most `width` columns
    wide: the widest columns give way first, down to 4 columns."""
    n = len(heads)
    if not n:
        return cells
    data = [max([0] + [display_width(" ".join(str(r[i]).split())) for r in cells]) for i in range(n)]
    head = [display_width(h) for h in heads]
    floor = [min(max(d, h), 4) for d, h in zip(data, head)]
    floor[0] = min(max(data[0], floor[0]), max(width // 3, 4))  # the first column names the row: cut last

    def total(cap):  # a column is max(data, header) wide (no header padding), `gap` spaces apart
        return sum(max(min(d, max(cap, f)), min(h, max(cap, f))) for d, h, f in zip(data, head, floor)) + gap * (n - 1)

    widths = [max(d, h) for d, h in zip(data, head)]
    if total(max(widths)) > width:  # the widest columns are cut to one common cap, the largest that fits
        lo, hi = 0, max(widths)
        while lo < hi:
            cap = (lo + hi + 1) // 2
            if total(cap) <= width:
                lo = cap
            else:
                hi = cap - 1
        widths = [min(w, max(lo, f)) for w, f in zip(widths, floor)]
    heads[:] = [shorten(h, w) for h, w in zip(heads, widths)]
    return [[shorten(str(c), widths[i]) if display_width(str(c)) > widths[i] or "\n" in str(c) else c
             for i, c in enumerate(r)] for r in cells]


class _Widths(dict):
    """Character -> columns on a terminal, each worked out once (a dict hit is C speed)."""

    def __missing__(self, c: str) -> int:
        import unicodedata

        w = self[c] = 2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
        return w


_WIDTHS = _Widths()


class _WidthOf(dict):
    """Text -> its display width, each worked out once."""

    def __missing__(self, text: str) -> int:
        w = self[text] = _EastAsianWidth.wcswidth(text)
        return w


class _EastAsianWidth:
    """Display width for tabulate without the optional wcwidth package: CJK is two columns."""

    @staticmethod
    def wcswidth(text: str) -> int:
        if text.isascii():
            return len(text)
        return sum(map(_WIDTHS.__getitem__, text))

    wcwidth = wcswidth


def _tabulate():
    import tabulate as tab

    if not tab.WIDE_CHARS_MODE:  # wcwidth missing: Chinese columns would not line up
        tab.wcwidth = _EastAsianWidth
        tab.WIDE_CHARS_MODE = True
    return tab.tabulate


def problems(items: list, fmt: str) -> str:
    if fmt == "json":
        return json.dumps([p.as_dict() for p in items], ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return listing([p.as_dict() for p in items], ["file", "line", "message", "hint", "record"], "csv")
    return "".join(p.render() + "\n" for p in items)


def wrap(text: str, width=None, indent: str = "    ") -> str:
    """Lines of `text` longer than the terminal wrapped at its width (display width, so Chinese
    counts two), continued with `indent`; unchanged when output is not a terminal."""
    width = width or terminal_width()
    if not width:
        return text
    out = []
    for line in text.split("\n"):
        first = True
        while display_width(line) > width:
            room = width if first else width - len(indent)
            cut, used = 0, 0
            for i, ch in enumerate(line):
                w = display_width(ch)
                if used + w > room:
                    break
                used += w
                cut = i + 1
            space = line.rfind(" ", 0, cut)
            if space > cut // 2:  # break at a space when there is one in the second half
                cut = space + 1
            out.append((("" if first else indent) + line[:cut]).rstrip())
            line, first = line[cut:].lstrip(), False
            width_left = width - len(indent)
            if display_width(line) <= width_left:
                break
        if line or first:
            out.append(line if first else indent + line)
    return "\n".join(out)
