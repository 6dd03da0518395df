"""clock.parse_time: the same instant, fields and offset as written, one tzinfo per offset."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from aftersales.clock import parse_time

OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


@given(st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9998, 12, 30)), OFFSETS,
       st.integers(-14 * 60, 14 * 60))
def test_parse_time_round_trips_and_shares_one_zone_per_offset(naive, tz, other):
    t = naive.replace(tzinfo=tz)
    got = parse_time(t.isoformat())
    assert got == t and got.utcoffset() == t.utcoffset() and got.isoformat() == t.isoformat()
    assert (got.year, got.month, got.day, got.hour, got.minute, got.second, got.microsecond) == \
        (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)
    again = parse_time(naive.replace(tzinfo=dt.timezone(tz.utcoffset(None))).isoformat())
    assert again.tzinfo is got.tzinfo
    u = parse_time(naive.replace(tzinfo=dt.timezone(dt.timedelta(minutes=other))).isoformat())
    assert (u.tzinfo is got.tzinfo) == (u.utcoffset() == got.utcoffset())
    assert (u < got) == (u.astimezone(dt.timezone.utc) < got.astimezone(dt.timezone.utc))
