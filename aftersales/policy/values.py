"""Value types of policy files: durations, clock times, compensation caps."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal
from typing import Optional

from .. import schema




_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|wd)\s*$")
_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440}
_UNIT_WORDS = {"s": "s", "sec": "s", "m": "min", "min": "min", "h": "h", "d": "d", "wd": "working days"}


@dataclass(frozen=True)
class Duration:
    """A time limit as written in policy: "30m", "24h", "3d" or "1wd" (working days)."""

    amount: Decimal
    unit: str  # "s", "min", "h", "d" or "wd"

    @classmethod
    def from_toml(cls, value) -> "Duration":
        if not isinstance(value, str):
            raise ValueError(f'must be a duration like "30m", "24h", "3d" or "1wd", not {schema.describe(value)}')
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f'"{value}" is not a duration; write it like "30m", "24h", "3d" or "1wd"')
        unit = _UNIT_WORDS[m.group(2)]
        d = cls(Decimal(m.group(1)), unit)
        if (d.amount > 3660 if d.working_days else d.seconds() > 3660 * 86400):
            raise ValueError(f'"{value}" is longer than ten years; write a shorter duration')
        return d

    @property
    def working_days(self) -> bool:
        return self.unit == "working days"

    def seconds(self) -> int:
        """Length in seconds; working days have no fixed length (use a calendar)."""
        if self.working_days:
            raise ValueError("a duration in working days needs a calendar")
        return self._seconds

    @cached_property
    def _seconds(self) -> int:  # worked out once: timers ask for it on every ticket
        return int(self.amount * {"s": 1, "min": 60, "h": 3600, "d": 86400}[self.unit])

    def timedelta(self) -> dt.timedelta:
        if self.working_days:
            raise ValueError("a duration in working days needs a calendar")
        return self._timedelta

    @cached_property
    def _timedelta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self._seconds)

    def __str__(self) -> str:
        amount = self.amount.normalize()
        text = f"{amount:f}"
        return f"{text} {self.unit}" if self.unit == "working days" else f"{text}{self.unit if self.unit != 'min' else ' min'}"


_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class TimeRange:
    """Working hours within one day, "09:00-12:00"; end may be "24:00"."""

    start: int  # minutes after midnight
    end: int

    @classmethod
    def from_toml(cls, value) -> "TimeRange":
        if not isinstance(value, str) or "-" not in value:
            raise ValueError(f'must be working hours like "09:00-12:00", not {schema.describe(value)}')
        a, _, b = value.partition("-")
        ma, mb = _HHMM.match(a.strip()), _HHMM.match(b.strip())
        if not ma or not mb:
            raise ValueError(f'"{value}" is not working hours; write it like "09:00-12:00"')
        start = int(ma.group(1)) * 60 + int(ma.group(2))
        end = int(mb.group(1)) * 60 + int(mb.group(2))
        if start > 1440 or end > 1440 or start >= end:
            raise ValueError(f'"{value}": the end must come after the start, within one day')
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


_CAP = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*%\s*)?(item_amount|order_amount|shipping_fee)\s*$")


@dataclass(frozen=True)
class Cap:
    """A compensation cap: a fixed amount ("10.00") or a share of a ticket amount
    ("10% item_amount", "30% order_amount", "shipping_fee")."""

    amount: Optional[Decimal] = None
    percent: Optional[Decimal] = None
    of: Optional[str] = None
    written: str = ""  # as the policy wrote it

    @classmethod
    def from_toml(cls, value) -> "Cap":
        if isinstance(value, str):
            m = _CAP.match(value)
            if m:
                return cls(percent=Decimal(m.group(1) or "100"), of=m.group(2), written=" ".join(value.split()))
        try:
            return cls(amount=schema.parse_money(value))
        except ValueError:
            if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\s*-?[\d.]+\s*", value)):
                raise
            raise ValueError(
                f'{schema.describe(value)} is not a cap; write "10.00", "10% item_amount", '
                '"30% order_amount" or "shipping_fee"'
            ) from None

    def __str__(self) -> str:
        if self.amount is not None:
            return f"¥{self.amount}"
        assert self.percent is not None  # a cap is an amount or a share
        return self.written or f"{self.percent.normalize():f}% {self.of}"
