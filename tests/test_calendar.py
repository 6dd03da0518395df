"""Business time (aftersales.calendar) and `as calendar`.

Property tests run on the default pack's China calendar and on two Berlin calendars whose
hours cross the DST changes; table tests pin the cases helpdesks get wrong (holiday eves,
make-up Saturdays, the lunch break, closing time, DST days, working-day limits).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aftersales
from aftersales.calendar import BusinessCalendar, WallClock, clock_for
from aftersales.cli import COMMANDS
from aftersales.errors import InputError
from aftersales.policy import WEEKDAYS, Calendar, Duration, Holiday, TimeRange, Week, Workday, load_policy
from aftersales.tomlmap import tomllib

PACK = Path(aftersales.__file__).parent / "pack"
POLICY = load_policy(PACK)
CN = BusinessCalendar(POLICY.calendars["cn"])
H = 3600
CN_DAY = 7.5 * H  # 09:00-12:00 and 13:30-18:00


def hours(*texts) -> tuple:
    return tuple(TimeRange.from_toml(t) for t in texts)


# Every day 09:00-17:00: 09:00 local is 08:00 UTC in winter, 07:00 UTC in summer.
BERLIN = BusinessCalendar(Calendar("Berlin office", "Europe/Berlin", Week(**{d: hours("09:00-17:00") for d in WEEKDAYS})))
# Round the clock: a day is as long as the wall clock says (23 h or 25 h on a DST day).
ROUND = BusinessCalendar(Calendar("Berlin 24/7", "Europe/Berlin", Week(**{d: hours("00:00-24:00") for d in WEEKDAYS})))
# Night shifts with ends inside the skipped DST hour, holidays and a make-up Saturday with its own hours.
SHIFTS = BusinessCalendar(Calendar(
    "Berlin shifts", "Europe/Berlin",
    Week(mon=hours("08:00-12:00", "13:00-17:00"), tue=hours("08:00-12:00", "13:00-17:00"),
         wed=hours("08:00-12:00", "13:00-17:00"), thu=hours("08:00-12:00", "13:00-17:00"),
         fri=hours("08:00-12:00", "13:00-17:00"), sat=hours("22:00-24:00"),
         sun=hours("00:00-02:30", "03:00-03:30", "20:00-24:00")),
    holidays=(Holiday("Ostern", dt.date(2026, 4, 3), dt.date(2026, 4, 6)),
              Holiday("Weihnachten", dt.date(2026, 12, 24), dt.date(2026, 12, 26))),
    workdays=(Workday(dt.date(2026, 5, 2), "Brückentag"),),
    workday_hours=hours("10:00-14:00"),
))
CALENDARS = {"cn": CN, "berlin": BERLIN, "round": ROUND, "shifts": SHIFTS}


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def ts(x: dt.datetime):
    return x.timestamp()


def shift(x: dt.datetime, seconds) -> dt.datetime:
    """x moved by real seconds (`x + timedelta` moves the wall clock, wrong across DST)."""
    return dt.datetime.fromtimestamp(x.timestamp() + seconds, x.tzinfo)


# ------------------------------------------------------------------ strategies


def local(cal, date, minutes) -> dt.datetime:
    """A wall time on `date` in the calendar's zone, normalised (minutes may be 1440)."""
    date += dt.timedelta(days=minutes // 1440)
    naive = dt.datetime.combine(date, dt.time(minutes % 1440 // 60, minutes % 60))
    return dt.datetime.fromtimestamp(naive.replace(tzinfo=cal.tz).timestamp(), cal.tz)


def instants(cal):
    """Any second of 2026, or a second near an opening or closing time."""
    lo = int(dt.datetime(2025, 12, 28, tzinfo=cal.tz).timestamp())
    hi = int(dt.datetime(2027, 1, 3, tzinfo=cal.tz).timestamp())
    anywhere = st.integers(lo, hi).map(lambda s: dt.datetime.fromtimestamp(s, cal.tz))
    edges = sorted({m for d in WEEKDAYS for r in getattr(cal.calendar.week, d) for m in (r.start, r.end)}
                   | {m for r in cal.calendar.workday_hours for m in (r.start, r.end)})
    near = st.tuples(st.dates(dt.date(2025, 12, 28), dt.date(2027, 1, 3)), st.sampled_from(edges),
                     st.sampled_from([0, 0, 0, -1, 1, -60, 60])).map(
        lambda x: dt.datetime.fromtimestamp(local(cal, x[0], x[1]).timestamp() + x[2], cal.tz))
    return st.one_of(anywhere, near)


durations = st.one_of(
    st.integers(0, 40 * 86400),
    st.sampled_from([0, 1, 1800, H, 2 * H, 3 * H, 4 * H, int(CN_DAY), 8 * H, 24 * H]),
    st.integers(0, 60).map(lambda n: n * int(CN_DAY)),
)


def inside(cal, x: dt.datetime):
    """The day whose working hours hold x (closing time included), else None."""
    day = x.astimezone(cal.tz).date()
    for d in (day - dt.timedelta(days=1), day):
        if any(ts(a) <= ts(x) <= ts(b) for a, b in cal.working_intervals(d)):
            return d
    return None


def brute_elapsed(cal, a, b) -> int:
    """Reference: clip every day's working intervals, one day at a time."""
    total, day = 0, a.astimezone(cal.tz).date() - dt.timedelta(days=1)
    while day <= b.astimezone(cal.tz).date():
        for x, y in cal.working_intervals(day):
            total += max(0, min(ts(y), ts(b)) - max(ts(x), ts(a)))
        day += dt.timedelta(days=1)
    return total


def each_calendar(test):
    """Run a property test on every calendar above, each with its own instants."""
    @pytest.mark.parametrize("name", sorted(CALENDARS))
    @settings(max_examples=120, deadline=None)
    @given(data=st.data())
    def run(name, data):
        cal = CALENDARS[name]
        test(cal, data.draw, instants(cal))

    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    return run


# ------------------------------------------------------------------ properties


@each_calendar
def test_add_then_elapsed_gives_the_duration(cal, draw, when):
    """add(s, d) is the earliest instant with d of business time since s."""
    s, d = draw(when), draw(durations)
    end = cal.add(s, d)
    assert end >= s
    assert end.tzinfo is cal.tz
    assert cal.elapsed(s, end) == d
    if d > 0:
        assert cal.elapsed(s, shift(end, -1)) < d
    elif inside(cal, s):
        assert end == s


@pytest.mark.parametrize("name", sorted(CALENDARS))
def test_working_intervals_are_ordered_and_disjoint(name):
    cal = CALENDARS[name]
    last = 0
    for i in range(-3, 370):
        for a, b in cal.working_intervals(dt.date(2026, 1, 1) + dt.timedelta(days=i)):
            assert last <= ts(a) < ts(b), (a, b)
            last = ts(b)


@each_calendar
def test_elapsed_is_additive_and_matches_a_day_by_day_count(cal, draw, when):
    a, b, c = sorted([draw(when), draw(when), draw(when)], key=ts)
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)
    assert cal.elapsed(a, c) == brute_elapsed(cal, a, c)
    assert cal.elapsed(c, a) == 0


@each_calendar
def test_a_deadline_is_within_working_hours_of_a_working_day(cal, draw, when):
    s, d = draw(when), draw(durations)
    for end in (cal.add(s, d), cal.add_working_days(s, draw(st.integers(0, 30)))):
        day = inside(cal, end)
        assert day is not None, f"{end} is outside working hours"
        assert cal.is_working_day(day) and cal.holiday_on(day) is None


@each_calendar
def test_a_pause_adds_exactly_its_business_time(cal, draw, when):
    """Time paused (e.g. waiting for the customer) is taken out of the span and added
    to the deadline; a pause within working hours adds exactly its wall length."""
    a, x, y, b = sorted([draw(when) for _ in range(4)], key=ts)
    assert cal.elapsed(a, b) - cal.elapsed(x, y) == cal.elapsed(a, x) + cal.elapsed(y, b)

    s, d = draw(when), draw(durations)
    end = cal.add(s, d)
    p = cal.elapsed(x, y)
    assert cal.add(s, d + p) == cal.add(end, p)
    # a pause inside one working interval
    start, stop = draw(st.sampled_from(cal.working_intervals(draw(st.dates(dt.date(2026, 1, 1),
                                                                           dt.date(2026, 12, 31))))
                                       or [(s, s)]))
    length = draw(st.integers(0, int(ts(stop) - ts(start))))
    assert cal.elapsed(start, shift(start, length)) == length


@pytest.mark.parametrize("name,day", [("cn", int(CN_DAY)), ("berlin", 8 * H)])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_working_days_equal_business_days_where_all_days_are_alike(name, day, data):
    cal = CALENDARS[name]
    s, n = data.draw(instants(cal)), data.draw(st.integers(0, 30))
    assert cal.add_working_days(s, n) == cal.add(s, n * day)


# ------------------------------------------------------------------ the hard cases


@pytest.mark.parametrize("cal,start,seconds,expected", [
    # holiday eve: 1 h left on Wed 09-30, National Day 10-01..10-07, Thu 10-08 is a working day
    (CN, "2026-09-30T17:00:00+08:00", 2 * H, "2026-10-08T10:00:00+08:00"),
    # make-up Saturday (调休) 02-28 counts as a working day, with Monday's hours
    (CN, "2026-02-27T17:00:00+08:00", 2 * H, "2026-02-28T10:00:00+08:00"),
    # New Year: 01-01..01-03 off, Sunday 01-04 is a make-up day
    (CN, "2025-12-31T17:00:00+08:00", 2 * H, "2026-01-04T10:00:00+08:00"),
    # the lunch break 12:00-13:30 does not count
    (CN, "2026-11-23T11:30:00+08:00", H, "2026-11-23T14:00:00+08:00"),
    (CN, "2026-11-23T12:45:00+08:00", H, "2026-11-23T14:30:00+08:00"),
    # time running out at closing time is closing time, not the next morning
    (CN, "2026-11-23T17:00:00+08:00", H, "2026-11-23T18:00:00+08:00"),
    (CN, "2026-11-23T17:00:00+08:00", H + 1, "2026-11-24T09:00:01+08:00"),
    (CN, "2026-11-23T10:00:00+08:00", 2 * H, "2026-11-23T12:00:00+08:00"),
    # zero: in hours or at closing it is the start itself; else the next opening
    (CN, "2026-11-23T18:00:00+08:00", 0, "2026-11-23T18:00:00+08:00"),
    (CN, "2026-11-23T20:00:00+08:00", 0, "2026-11-24T09:00:00+08:00"),
    (CN, "2026-11-23T12:30:00+08:00", 0, "2026-11-23T13:30:00+08:00"),
    (CN, "2026-11-21T10:00:00+08:00", 0, "2026-11-23T09:00:00+08:00"),
    # Spring Festival 02-15..02-23; make-up Saturday 02-14 before it
    (CN, "2026-02-13T16:00:00+08:00", 10 * H, "2026-02-24T09:30:00+08:00"),
    (CN, "2026-02-14T17:00:00+08:00", H, "2026-02-14T18:00:00+08:00"),
    (CN, "2026-02-14T17:00:00+08:00", 2 * H, "2026-02-24T10:00:00+08:00"),
    # 24 h of business time over a weekend: Fri 6.5 h, Mon 7.5, Tue 7.5, Wed 2.5
    (CN, "2026-11-20T10:00:00+08:00", 24 * H, "2026-11-25T11:30:00+08:00"),
    # a start given in another zone (09:00 in Shanghai)
    (CN, "2026-11-23T01:00:00+00:00", H, "2026-11-23T10:00:00+08:00"),
    # Berlin, every day 09:00-17:00: the DST days keep 09:00 local
    (BERLIN, "2026-03-28T16:00:00+01:00", 2 * H, "2026-03-29T10:00:00+02:00"),
    (BERLIN, "2026-10-24T16:00:00+02:00", 2 * H, "2026-10-25T10:00:00+01:00"),
    # round the clock: the spring day has 23 hours, the autumn day 25
    (ROUND, "2026-03-29T00:00:00+01:00", 24 * H, "2026-03-30T01:00:00+02:00"),
    (ROUND, "2026-10-25T00:00:00+02:00", 24 * H, "2026-10-25T23:00:00+01:00"),
    # night shift over the skipped hour: 02:30 does not exist on 03-29; the shift
    # 00:00-02:30 ends at 03:30 CEST (02:30 read at +01:00), so 03:00-03:30 adds nothing
    (SHIFTS, "2026-03-29T00:00:00+01:00", 3 * H, "2026-03-29T20:30:00+02:00"),
    (SHIFTS, "2026-10-25T00:00:00+02:00", 3 * H, "2026-10-25T03:30:00+01:00"),  # 02:30 is read as CEST
    # Monday 00:00 is Sunday's closing time (24:00)
    (SHIFTS, "2026-03-30T00:00:00+02:00", 0, "2026-03-30T00:00:00+02:00"),
    (SHIFTS, "2026-03-30T00:00:00+02:00", 1, "2026-03-30T08:00:01+02:00"),
])
def test_business_time_table(cal, start, seconds, expected):
    got = cal.add(t(start), seconds)
    assert got.isoformat() == expected
    assert cal.elapsed(t(start), got) == seconds


@pytest.mark.parametrize("start,n,expected", [
    ("2026-11-20T17:00:00+08:00", 1, "2026-11-23T17:00:00+08:00"),  # Fri 17:00 -> Mon 17:00
    ("2026-11-20T18:00:00+08:00", 1, "2026-11-23T18:00:00+08:00"),  # at closing: by Monday's closing
    ("2026-11-21T10:00:00+08:00", 1, "2026-11-23T18:00:00+08:00"),  # Saturday: by Monday's closing
    ("2026-11-23T09:00:00+08:00", 1, "2026-11-23T18:00:00+08:00"),  # at opening: the same day
    ("2026-11-23T09:01:00+08:00", 1, "2026-11-24T09:01:00+08:00"),
    ("2026-11-23T12:45:00+08:00", 1, "2026-11-24T12:00:00+08:00"),  # lunch: offset 3 h
    ("2026-11-20T17:00:00+08:00", 3, "2026-11-25T17:00:00+08:00"),
    ("2026-11-23T10:00:00+08:00", 0, "2026-11-23T10:00:00+08:00"),
    ("2026-11-23T20:00:00+08:00", 0, "2026-11-24T09:00:00+08:00"),
    ("2026-09-30T17:00:00+08:00", 1, "2026-10-08T17:00:00+08:00"),  # across National Day
    ("2026-09-30T17:00:00+08:00", 3, "2026-10-10T17:00:00+08:00"),  # ... onto make-up Saturday 10-10
    ("2026-10-03T10:00:00+08:00", 1, "2026-10-08T18:00:00+08:00"),  # opened during the holiday
    ("2026-02-13T10:00:00+08:00", 1, "2026-02-14T10:00:00+08:00"),  # Fri -> make-up Sat
    ("2026-02-13T10:00:00+08:00", 2, "2026-02-24T10:00:00+08:00"),  # ... -> after Spring Festival
])
def test_working_days_table(start, n, expected):
    assert CN.add_working_days(t(start), n).isoformat() == expected
    assert CN.deadline(t(start), Duration.from_toml(f"{n}wd")).isoformat() == expected


def test_working_days_on_a_shorter_day_stop_at_its_closing():
    # SHIFTS: Fri 16:00 is 7 h into the day; make-up Sat 05-02 has only 10:00-14:00
    assert SHIFTS.add_working_days(t("2026-05-01T16:00:00+02:00"), 1).isoformat() == "2026-05-02T14:00:00+02:00"
    assert SHIFTS.add_working_days(t("2026-05-01T09:00:00+02:00"), 1).isoformat() == "2026-05-02T11:00:00+02:00"


def test_dst_day_intervals_and_lengths():
    (a, b), = BERLIN.working_intervals(dt.date(2026, 3, 29))
    assert (a.isoformat(), b.isoformat()) == ("2026-03-29T09:00:00+02:00", "2026-03-29T17:00:00+02:00")
    assert ROUND.elapsed(t("2026-03-29T00:00:00+01:00"), t("2026-03-30T00:00:00+02:00")) == 23 * H
    assert ROUND.elapsed(t("2026-10-25T00:00:00+02:00"), t("2026-10-26T00:00:00+01:00")) == 25 * H
    assert BERLIN.elapsed(t("2026-03-28T12:00:00+01:00"), t("2026-03-30T12:00:00+02:00")) == 16 * H


def test_working_days_and_lookups():
    assert CN.is_working_day(dt.date(2026, 2, 28))  # make-up Saturday
    assert not CN.is_working_day(dt.date(2026, 10, 7))
    assert not CN.is_working_day(dt.date(2026, 11, 22))
    assert CN.holiday_on(dt.date(2026, 10, 3)).name == "国庆节"
    assert CN.holiday_on(dt.date(2026, 10, 8)) is None
    assert CN.promotion_at(t("2026-11-11T23:30:00+08:00")).name == "双11"
    assert CN.promotion_at(t("2026-11-12T16:00:00+00:00")) is None  # 11-13 00:00 in Shanghai
    assert CN.elapsed(t("2026-02-13T18:00:00+08:00"), t("2026-02-24T09:00:00+08:00")) == CN_DAY


def test_deadline_dispatch_and_wall_clock():
    start = t("2026-11-23T17:00:00+08:00")
    assert CN.deadline(start, Duration.from_toml("1h")).isoformat() == "2026-11-23T18:00:00+08:00"
    with pytest.raises(ValueError):
        CN.deadline(start, Duration.from_toml("1.5wd"))
    with pytest.raises(ValueError):
        CN.add(start, -1)
    wall = WallClock("Europe/Berlin")
    assert wall.add(t("2026-03-28T12:00:00+01:00"), 24 * H).isoformat() == "2026-03-29T13:00:00+02:00"
    assert wall.deadline(t("2026-03-28T12:00:00+01:00"), Duration.from_toml("1d")).isoformat() == \
        "2026-03-29T13:00:00+02:00"
    assert wall.elapsed(t("2026-03-29T00:00:00+01:00"), t("2026-03-30T00:00:00+02:00")) == 23 * H
    assert wall.elapsed(t("2026-03-30T00:00:00+02:00"), t("2026-03-29T00:00:00+01:00")) == 0
    assert wall.is_working_day(dt.date(2026, 10, 1)) and wall.holiday_on(dt.date(2026, 10, 1)) is None
    with pytest.raises(ValueError):
        wall.deadline(start, Duration.from_toml("1wd"))


def test_clock_for():
    wall = clock_for(POLICY, "calendar")
    assert isinstance(wall, WallClock) and wall.tz == ZoneInfo("Asia/Shanghai")
    cn = clock_for(POLICY, "cn")
    assert isinstance(cn, BusinessCalendar) and clock_for(POLICY, "cn") is cn
    with pytest.raises(InputError, match="unknown calendar 'cm'; known: cn"):
        clock_for(POLICY, "cm")


# ------------------------------------------------------------------ the pack vs chinesecalendar


def _pack_days(year):
    cal = POLICY.calendars["cn"]
    holidays = {h.start + dt.timedelta(days=i) for h in cal.holidays for i in range((h.end - h.start).days + 1)}
    return {d for d in holidays if d.year == year}, {w.date for w in cal.workdays if w.date.year == year}


def test_pack_2026_schedule_matches_chinesecalendar():
    cc = pytest.importorskip("chinese_calendar")
    holidays, workdays = _pack_days(2026)
    assert holidays == {d for d in cc.holidays if d.year == 2026}
    assert workdays == {d for d in cc.workdays if d.year == 2026}


# ------------------------------------------------------------------ the command


@pytest.fixture
def cal_run(run, monkeypatch):
    """`run` (the calendar group is registered in COMMANDS)."""
    assert "calendar" in COMMANDS
    return run


def test_show_table(cal_run):
    r = cal_run("calendar", "show", "--year", "2026")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "Asia/Shanghai" in out
    assert "mon-fri 09:00-12:00, 13:30-18:00; sat-sun closed" in out
    assert "Holidays in 2026: 7" in out
    assert "国庆节  2026-10-01  2026-10-07  7" in out
    assert "2026-02-28  sat" in out and "春节调休" in out
    assert "双11" in out
    assert out.rstrip().endswith("Working days in 2026: 248")


def test_show_defaults_to_the_year_of_now(cal_run):
    r = cal_run("calendar", "show", "--calendar", "cn", now="2027-03-01T10:00:00+08:00")
    assert r.exit_code == 0, r.stderr
    assert "Holidays in 2027: none" in r.stdout


def test_show_json_and_csv(cal_run):
    r = cal_run("calendar", "show", "--year", "2026", "--format", "json")
    assert r.exit_code == 0, r.stderr
    (cn,) = json.loads(r.stdout)
    assert cn["calendar"] == "cn" and cn["timezone"] == "Asia/Shanghai" and cn["working_days"] == 248
    assert cn["week"]["mon"] == ["09:00-12:00", "13:30-18:00"] and cn["week"]["sat"] == []
    assert cn["holidays"][1] == {"name": "春节", "start": "2026-02-15", "end": "2026-02-23", "days": 9}
    assert [w["date"] for w in cn["workdays"]] == ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09",
                                                    "2026-09-20", "2026-10-10"]
    assert cn["workdays"][0]["weekday"] == "sun"
    r = cal_run("calendar", "show", "--year", "2026", "--format", "csv")
    lines = r.stdout.splitlines()
    assert lines[0] == "calendar,timezone,section,name,start,end,days,weekday"
    assert "cn,Asia/Shanghai,holiday,国庆节,2026-10-01,2026-10-07,7," in lines
    assert lines[-1] == "cn,Asia/Shanghai,working_days,2026,,,248,"


def test_show_unknown_calendar(cal_run):
    r = cal_run("calendar", "show", "--calendar", "cm")
    assert r.exit_code == 2
    assert r.stderr == "error: --calendar cm: unknown calendar; known: cn\n"


def test_cn_schedule_reproduces_the_pack(cal_run):
    pytest.importorskip("chinese_calendar")
    r = cal_run("calendar", "cn-schedule", "--year", "2026")
    assert r.exit_code == 0, r.stderr
    assert cal_run("calendar", "cn-schedule", "--year", "2026").stdout == r.stdout  # stable bytes
    drafted = tomllib.loads(r.stdout)["calendars"]["cn"]
    pack = tomllib.loads((PACK / "policies" / "calendars.toml").read_text(encoding="utf-8"))["calendars"]["cn"]
    assert drafted["holidays"] == [h for h in pack["holidays"] if h["start"].year == 2026]
    assert drafted["workdays"] == [w for w in pack["workdays"] if w["date"].year == 2026]
    other = cal_run("calendar", "cn-schedule", "--year", "2026", "--calendar", "cn_office").stdout
    assert "[[calendars.cn_office.holidays]]" in other


def test_cn_schedule_unknown_year(cal_run):
    pytest.importorskip("chinese_calendar")
    r = cal_run("calendar", "cn-schedule", "--year", "1999")
    assert r.exit_code == 2
    assert "has no schedule for 1999" in r.stderr


def test_cn_schedule_without_the_package(cal_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "chinese_calendar", None)  # import fails as if not installed
    r = cal_run("calendar", "cn-schedule", "--year", "2026")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == ("error: cn-schedule needs the chinesecalendar package; "
                        "install it with: pip install 'aftersales[cn]'\n")


def test_help_texts(cal_run):
    r = cal_run("calendar", "--help")
    assert r.exit_code == 0
    assert "Show business calendars; draft China's official holiday schedule." in r.stdout
    assert "cn-schedule  Print China's holidays of a year as TOML." in r.stdout
    assert "show         Show a year's hours, holidays, make-up days." in r.stdout
