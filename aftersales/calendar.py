"""Business time: the working hours, holidays and make-up working days (调休) of a calendar.

A timer counts either plain elapsed time (clock = "calendar": a `WallClock`) or business
time on one of the policy's calendars (a `BusinessCalendar`). Both have the same interface,
so timer code never asks which one it holds; `clock_for(policy, name)` picks one.

Definitions (all times are instants; naive datetimes are read in the calendar's zone):

* A day's working hours are its weekday's hours from the policy (`week.mon` ... `week.sun`);
  on a holiday there are none; on a make-up working day they are `workday_hours`, else
  Monday's. A working day is a day with working hours. Local wall times are resolved in
  the calendar's zone on that date, so 09:00 is 09:00 on either side of a DST change.
* Business time between two instants is the length of their overlap with working hours.
  It is counted in seconds.
* `add(start, s)` is the EARLIEST instant at which `s` seconds of business time have
  passed since `start`. So a deadline is always within working hours, counting the closing
  time as inside: 17:00 + 1 h is 18:00 the same day, never 09:00 the next morning.
  Adding 0 outside working hours gives the next opening time.
* `add_working_days(start, n)` keeps the time of day in business terms: the deadline has
  the same business-time offset into the n-th following working day as `start` has into
  its own. Precisely: let p = add(start, 0) (start itself in working hours, else the next
  opening), D the working day whose hours hold p and o the business time on D before p.
  If o > 0 the deadline is the earliest instant with business offset o into the n-th
  working day after D (at the latest that day's closing time, when it is shorter than
  D); if o = 0 (p is D's opening) it is the closing time of the (n-1)-th working day
  after D (D itself for n = 1), which is the same point in business time as the opening
  of the n-th. Examples (Mon-Fri 09:00-12:00, 13:30-18:00), n = 1:
  Fri 17:00 -> Mon 17:00; Fri 18:00 -> Mon 18:00; Sat 10:00 -> Mon 18:00;
  Mon 09:00 -> Mon 18:00; Mon 09:01 -> Tue 09:01.
  Where every working day has the same hours H this equals add(start, n * H).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import List, Optional, Tuple, Union
from zoneinfo import ZoneInfo

from .errors import InputError
from .policy import WEEKDAYS, Calendar, Duration, Holiday, Promotion, TimeRange

Seconds = Union[int, float]
Interval = Tuple[dt.datetime, dt.datetime]

_DAY = dt.timedelta(days=1)
_WEEK = dt.timedelta(days=7)


def _seconds(value) -> Seconds:
    """Business time is counted in seconds; whole numbers stay integers."""
    if value < 0:
        raise ValueError(f"a duration cannot be negative ({value} s)")
    return int(value) if float(value).is_integer() else float(value)


class _Clock:
    tz: dt.tzinfo

    def add(self, start: dt.datetime, seconds) -> dt.datetime:
        raise NotImplementedError

    def add_working_days(self, start: dt.datetime, n: int) -> dt.datetime:
        raise NotImplementedError

    def _ts(self, instant: dt.datetime) -> Seconds:
        """POSIX seconds of an instant; a naive datetime is read in the clock's zone."""
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=self.tz)
        t = instant.timestamp()
        return int(t) if t.is_integer() else t

    def _dt(self, ts: Seconds) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, self.tz)

    def _date(self, ts: Seconds) -> dt.date:
        return dt.datetime.fromtimestamp(ts, self.tz).date()

    def deadline(self, start: dt.datetime, duration: Duration) -> dt.datetime:
        """When a time limit from the policy runs out, counted from `start`."""
        if duration.working_days:
            n = duration.amount
            if n != n.to_integral_value():
                raise ValueError(f"{duration}: a limit in working days must be a whole number")
            return self.add_working_days(start, int(n))
        return self.add(start, duration.seconds())


class WallClock(_Clock):
    """Plain elapsed time (a timer with clock = "calendar"): every second counts."""

    def __init__(self, timezone: str = "UTC"):
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)

    def __repr__(self) -> str:
        return f"WallClock({self.timezone!r})"

    def is_working_day(self, date: dt.date) -> bool:
        return True

    def working_intervals(self, date: dt.date) -> List[Interval]:
        """The whole day, midnight to midnight (23 or 25 hours on a DST change day)."""
        start = dt.datetime.combine(date, dt.time(), tzinfo=self.tz)
        return [(start, dt.datetime.combine(date + _DAY, dt.time(), tzinfo=self.tz))]

    def add(self, start: dt.datetime, seconds) -> dt.datetime:
        if type(start.tzinfo) is dt.timezone:  # a fixed offset, as ledger times have: exact and quick
            return (start + dt.timedelta(seconds=_seconds(seconds))).astimezone(self.tz)
        return self._dt(self._ts(start) + _seconds(seconds))

    def add_working_days(self, start: dt.datetime, n: int) -> dt.datetime:
        raise ValueError("a limit in working days needs a business calendar, not clock = \"calendar\"")

    def elapsed(self, a: dt.datetime, b: dt.datetime) -> Seconds:
        if type(a.tzinfo) is dt.timezone and type(b.tzinfo) is dt.timezone:
            d = b - a
            return max(d.days * 86400 + d.seconds, 0)
        return max(self._ts(b) - self._ts(a), 0)

    def promotion_at(self, instant: dt.datetime) -> Optional[Promotion]:
        return None

    def holiday_on(self, date: dt.date) -> Optional[Holiday]:
        return None


class BusinessCalendar(_Clock):
    """Business time on a policy `Calendar` (see the module docstring for the rules).

    Internally instants are POSIX seconds, so arithmetic is exact across DST changes;
    each date's working intervals are computed once and cached, and long spans are
    walked a week at a time.
    """

    def __init__(self, calendar: Calendar):
        self.calendar = calendar
        self.tz = ZoneInfo(calendar.timezone)
        self._holidays: dict = {}  # date -> Holiday
        for h in calendar.holidays:
            day = h.start
            while day <= h.end:
                self._holidays.setdefault(day, h)
                day += _DAY
        self._workdays = {w.date: w for w in calendar.workdays}
        self._makeup_hours = calendar.workday_hours or calendar.week.mon
        # With no weekly hours at all, nothing is open after the last make-up day.
        weekly = any(getattr(calendar.week, d) for d in WEEKDAYS)
        self._closed_after = None if weekly else max(self._workdays, default=dt.date.min)
        self._spans: dict = {}  # date -> ((start, end), ...) in POSIX seconds
        self._totals: dict = {}  # date -> business seconds on that date
        self._weeks: dict = {}  # date -> business seconds in the 7 days from that date

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.calendar.name!r}, {self.calendar.timezone!r})"

    # ------------------------------------------------------------ days

    def hours_on(self, date: dt.date) -> Tuple[TimeRange, ...]:
        """The policy's working hours on `date` (empty on holidays and days off)."""
        if date in self._workdays:
            return self._makeup_hours
        if date in self._holidays:
            return ()
        return getattr(self.calendar.week, WEEKDAYS[date.weekday()])

    def is_working_day(self, date: dt.date) -> bool:
        return bool(self._day(date))

    def working_intervals(self, date: dt.date) -> List[Interval]:
        """The working hours of `date` as aware datetimes in the calendar's zone.

        Measure them with .timestamp() or `elapsed`: Python subtracts two datetimes of
        the same zone as wall times, which is an hour off across a DST change.
        """
        return [(self._dt(a), self._dt(b)) for a, b in self._day(date)]

    def holiday_on(self, date: dt.date) -> Optional[Holiday]:
        return self._holidays.get(date)

    def promotion_at(self, instant: dt.datetime) -> Optional[Promotion]:
        """The promotion (大促) running on the local date of `instant`, if any."""
        day = self._date(self._ts(instant))
        for p in self.calendar.promotions:
            if p.start <= day <= p.end:
                return p
        return None

    def _local(self, date: dt.date, minutes: int) -> int:
        """POSIX seconds of a wall time on `date` (minutes may be 1440: next midnight).
        A wall time skipped by a DST change is read with the offset before the change."""
        date += dt.timedelta(days=minutes // 1440)
        minutes %= 1440
        local = dt.datetime(date.year, date.month, date.day, minutes // 60, minutes % 60, tzinfo=self.tz)
        return int(local.timestamp())

    def _day(self, date: dt.date) -> tuple:
        spans = self._spans.get(date)
        if spans is None:
            out: list = []
            for r in self.hours_on(date):
                a, b = self._local(date, r.start), self._local(date, r.end)
                if out:
                    a = max(a, out[-1][1])  # never overlap, even around a DST gap
                if b > a:
                    out.append((a, b))
            spans = self._spans[date] = tuple(out)
        return spans

    def _total(self, date: dt.date) -> int:
        total = self._totals.get(date)
        if total is None:
            total = self._totals[date] = sum(b - a for a, b in self._day(date))
        return total

    def _week(self, date: dt.date) -> int:
        total = self._weeks.get(date)
        if total is None:
            total = self._weeks[date] = sum(self._total(date + dt.timedelta(days=i)) for i in range(7))
        return total

    def _next_day(self, date: dt.date) -> dt.date:
        date += _DAY
        if self._closed_after is not None and date > self._closed_after:
            raise ValueError(f"calendar '{self.calendar.name}' has no working hours after {self._closed_after}")
        return date

    # ------------------------------------------------------------ arithmetic

    def _locate(self, ts: Seconds, seconds: Seconds) -> Tuple[dt.date, Seconds]:
        """The earliest instant at which `seconds` of business time have passed since
        `ts`, and the working day whose hours hold it."""
        remaining = seconds
        first = self._date(ts)
        day = first - _DAY  # yesterday's hours may close at 24:00, i.e. at `ts`
        while True:
            if day > first and remaining > self._week(day):
                remaining -= self._week(day)  # a whole week, all after `ts`
                day += _WEEK
                continue
            for a, b in self._day(day):
                if b < ts:
                    continue
                a = max(a, ts)
                if remaining <= b - a:
                    return day, a + remaining
                remaining -= b - a
            day = self._next_day(day)

    def add(self, start: dt.datetime, seconds) -> dt.datetime:
        """The earliest instant at which `seconds` of business time have passed since `start`."""
        return self._dt(self._locate(self._ts(start), _seconds(seconds))[1])

    def elapsed(self, a: dt.datetime, b: dt.datetime) -> Seconds:
        """Business seconds between instants a and b (0 when b is not after a)."""
        sa, sb = self._ts(a), self._ts(b)
        if sb <= sa:
            return 0
        first, last = self._date(sa), self._date(sb)
        total: Seconds = 0
        day = first  # hours of the day before `first` end by midnight, before `sa`
        while day <= last:
            if first < day and day + _WEEK <= last:  # a whole week strictly inside
                total += self._week(day)
                day += _WEEK
            elif first < day < last:
                total += self._total(day)
                day += _DAY
            else:
                for x, y in self._day(day):
                    lo, hi = max(x, sa), min(y, sb)
                    if hi > lo:
                        total += hi - lo
                day += _DAY
        return total

    def add_working_days(self, start: dt.datetime, n: int) -> dt.datetime:
        """The deadline of "within n working days" from `start` (see the module docstring)."""
        if n < 0:
            raise ValueError(f"cannot count {n} working days")
        day, p = self._locate(self._ts(start), 0)
        if n == 0:
            return self._dt(p)
        offset = sum(min(b, p) - a for a, b in self._day(day) if a < p)
        if offset == 0:
            n -= 1  # the opening of the n-th day is the closing of the (n-1)-th
        for _ in range(n):
            day = self._next_day(day)
            while not self._day(day):
                day = self._next_day(day)
        spans = self._day(day)
        if offset == 0:
            return self._dt(spans[-1][1])
        return self._dt(self._locate(spans[0][0], min(offset, self._total(day)))[1])


def clock_for(policy, name: str):
    """The clock a timer names: "calendar" for wall-clock time, else a calendar id."""
    if name == "calendar":
        return WallClock(policy.shop.timezone)
    if name not in policy.calendars:
        from .schema import closest

        raise InputError(f"unknown calendar '{name}'; {closest(name, policy.calendars)}")
    return _business(policy.calendars[name])


@lru_cache(maxsize=32)
def _business(calendar: Calendar) -> BusinessCalendar:
    """One BusinessCalendar (and so one cache of working hours) per calendar."""
    return BusinessCalendar(calendar)
