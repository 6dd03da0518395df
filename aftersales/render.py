"""Rendering listings and problems as a table, JSON or CSV. Domain code never prints."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

FORMATS = ("table", "json", "csv")


def span(delta) -> str:
    """A duration as people read it on a desk: 12m, 3h05m, 2d4h; negative with a minus."""
    s = int(delta.total_seconds())
    sign = "-" if s < 0 else ""
    d, s = divmod(abs(s), 86400)
    h, s = divmod(s, 3600)
    m = s // 60
    return sign + (f"{d}d{h}h" if d else f"{h}h{m:02d}m" if h else f"{m}m")


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
    if _CONTROL is None:
        import re

        _CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    return _CONTROL.sub("", text)


def _csv_cell(v) -> str:
    """CSV output is for spreadsheets: text that would run as a formula gets a leading '
    (numbers such as -12.50 and times stay as they are). JSON output is the raw data."""
    from .spreadsheet import _ISO, _NUMBER, neutralise

    text = printable(_cell(v))
    return text if _NUMBER.match(text) or _ISO.match(text) else neutralise(text)


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
    tabulate = _tabulate()
    heads = [(headers or {}).get(c, c) for c in columns]
    return tabulate([[printable(_cell(r.get(c))) for c in columns] for r in rows], headers=heads, tablefmt="simple",
                    disable_numparse=True) + "\n"


class _EastAsianWidth:
    """Display width for tabulate without the optional wcwidth package: CJK is two columns."""

    @staticmethod
    def wcswidth(text: str) -> int:
        import unicodedata

        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in text)

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
        return listing([p.as_dict() for p in items], ["file", "line", "message", "record"], "csv")
    return "".join(p.render() + "\n" for p in items)
