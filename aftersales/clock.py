"""The one clock: `--now` overrides it for every command, so runs are reproducible."""

from __future__ import annotations

import datetime as dt


def parse_now(text: str, tz) -> dt.datetime:
    """An ISO-8601 time; a time without an offset is taken in the shop's zone `tz`."""
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        try:
            t = dt.datetime.combine(dt.date.fromisoformat(s), dt.time())
        except ValueError:
            raise ValueError(f"'{text}' is not an ISO-8601 time; write it like 2026-11-23T09:30:00+08:00") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    if not 1900 <= t.year <= 9998:
        raise ValueError(f"'{text}' is out of range; give a year between 1900 and 9998")
    return t.replace(microsecond=0)


def system_now(tz) -> dt.datetime:
    return dt.datetime.now(tz).replace(microsecond=0)
