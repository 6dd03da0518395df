"""Time, in one vocabulary: the clock (`--now` overrides it for every command, so runs
are reproducible), the one parser of ledger times, the one duration format and the one
parser of report periods (--month, --week, --from/--to)."""

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


def parse_time(text: str) -> dt.datetime:
    """A time as the ledgers keep it: ISO-8601 with its offset (a trailing Z is UTC).
    ValueError for a time without an offset."""
    t = dt.datetime.fromisoformat(text if text[-1:] != "Z" else text[:-1] + "+00:00")
    tz = t.tzinfo
    if tz is None:
        raise ValueError(f"'{text}' has no UTC offset; write it like 2026-11-23T09:30:00+08:00")
    zone = _ZONES.setdefault(tz, tz)
    if zone is not tz:  # one tzinfo object per offset: comparing and subtracting times of the
        # same object is several times faster (no utcoffset calls). datetime(state, tz) is
        # the constructor pickle uses: the same fields, the shared zone.
        t = dt.datetime(t.__reduce__()[1][0], zone)  # type: ignore[call-arg, arg-type]
    return t


_ZONES: dict = {}  # fixed-offset timezone -> the one instance of it that parse_time gives out


def span(delta: dt.timedelta) -> str:
    """A duration as people read it on a desk: 12m, 3h05m, 2d4h; negative with a minus.
    The one duration format of every command's output."""
    s = int(delta.total_seconds())
    sign = "-" if s < 0 else ""
    d, s = divmod(abs(s), 86400)
    h, s = divmod(s, 3600)
    m = s // 60
    return sign + (f"{d}d{h}h" if d else f"{h}h{m:02d}m" if h else f"{m}m")


def spans():
    """`span` of a number of whole seconds, each text made once: what span shows of a time
    (days and hours, or hours and minutes) is the key. For listings of many rows."""
    texts: dict = {}

    def span_of(s: int) -> str:
        a = -s if s < 0 else s
        key = a // 3600 * 2 + 1 if a >= 86400 else a // 60 * 2  # days and hours, or hours and minutes
        if s < 0:
            key = ~key
        text = texts.get(key)
        if text is None:
            text = texts[key] = span(dt.timedelta(seconds=s))
        return text

    return span_of


def week_start(label: str) -> dt.date:
    """The Monday of an ISO week written like 2026-W47; ValueError naming the fix otherwise."""
    import re

    m = re.fullmatch(r"(\d{4})-W(\d{2})", label or "")
    try:
        if m is None:
            raise ValueError(label)
        return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except (AttributeError, ValueError):
        raise ValueError(f"--week '{label}': write it like 2026-W47 (weeks 01 to 52 or 53)") from None


def period(text_month=None, text_week=None, text_from=None, text_to=None, tz=None, now=None,
           default_days: int = 0) -> tuple:
    """(start, end, label) of a report period in zone `tz`; end is exclusive. ValueError if
    malformed. With none given: the month of `now`, or with `default_days` the last that
    many days up to today; with `default_days` either of --from/--to may be left out."""
    import re

    def midnight(d):
        return dt.datetime(d.year, d.month, d.day, tzinfo=tz)

    if text_month:
        m = re.fullmatch(r"(\d{4})-(\d{2})", text_month)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"--month '{text_month}': write it like 2026-11")
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1900 <= y <= 9998:
            raise ValueError(f"--month '{text_month}': give a year between 1900 and 9998")
        start = dt.date(y, mo, 1)
        end = dt.date(y + (mo == 12), mo % 12 + 1, 1)
        return midnight(start), midnight(end), text_month
    if text_week:
        start = week_start(text_week)
        return midnight(start), midnight(start + dt.timedelta(days=7)), text_week
    if text_from or text_to:
        try:
            a = dt.date.fromisoformat(text_from) if text_from else None
            b = dt.date.fromisoformat(text_to) if text_to else None
        except ValueError:
            raise ValueError("--from/--to: write dates like 2026-11-01") from None
        if default_days and (a is None or b is None):
            b = b or now.astimezone(tz).date()
            a = a or b - dt.timedelta(days=default_days - 1)
        if a is None or b is None:
            raise ValueError("give both --from and --to")
        if b < a:
            raise ValueError(f"--to {b} is before --from {a}")
        return midnight(a), midnight(b + dt.timedelta(days=1)), f"{a}..{b}"
    today = now.astimezone(tz).date()
    if default_days:
        return period(text_from=(today - dt.timedelta(days=default_days - 1)).isoformat(), text_to=today.isoformat(),
                      tz=tz)
    start = today.replace(day=1)
    return period(text_month=f"{start:%Y-%m}", tz=tz)
