"""`as calendar ...`: show the business calendars; draft China's official schedule."""

import click

from .common import fmt_of, output_format

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# chinesecalendar's short Chinese names -> the names the State Council notice uses.
_CN_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


@click.group("calendar")
def cli():
    """Show business calendars; draft China's official holiday schedule.

    A timer with clock = "<calendar id>" counts only the working hours of that
    calendar (policies/calendars.toml); clock = "calendar" counts plain elapsed
    time. Holidays and make-up working days (调休) are entered year by year.

    \b
    Examples:
      aftersales calendar show --year 2026
      aftersales calendar cn-schedule --year 2027
    """


def _week(week: dict) -> list:
    """Weekly hours with equal neighbouring days merged: ["mon-fri 09:00-12:00, ...", ...]."""
    out, i = [], 0
    while i < 7:
        j = i
        while j + 1 < 7 and week[_DAYS[j + 1]] == week[_DAYS[i]]:
            j += 1
        days = _DAYS[i] if i == j else f"{_DAYS[i]}-{_DAYS[j]}"
        out.append(f"{days} {', '.join(week[_DAYS[i]]) or 'closed'}")
        i = j + 1
    return out


def _summary(cal_id, cal, year) -> dict:
    """Everything `show` prints about one calendar in one year, as plain data."""
    import datetime as dt

    from ..calendar import BusinessCalendar

    bc = BusinessCalendar(cal)
    jan1, dec31 = dt.date(year, 1, 1), dt.date(year, 12, 31)

    def span(x):
        return {"name": x.name, "start": x.start, "end": x.end, "days": (x.end - x.start).days + 1}

    days = (dec31 - jan1).days + 1
    return {
        "calendar": cal_id,
        "name": cal.name,
        "timezone": cal.timezone,
        "year": year,
        "week": {d: [str(r) for r in getattr(cal.week, d)] for d in _DAYS},
        "workday_hours": [str(r) for r in (cal.workday_hours or cal.week.mon)],
        "holidays": [span(h) for h in sorted(cal.holidays, key=lambda h: h.start)
                     if h.start <= dec31 and h.end >= jan1],
        "workdays": [{"date": w.date, "weekday": _DAYS[w.date.weekday()], "name": w.name}
                     for w in sorted(cal.workdays, key=lambda w: w.date) if w.date.year == year],
        "promotions": [span(p) for p in sorted(cal.promotions, key=lambda p: p.start)
                       if p.start <= dec31 and p.end >= jan1],
        "working_days": sum(bc.is_working_day(jan1 + dt.timedelta(days=i)) for i in range(days)),
    }


def _csv_rows(s) -> list:
    """One calendar's summary flattened into rows: section, name, start, end, days, weekday."""
    rows = []
    for d in _DAYS:
        for r in s["week"][d]:
            a, b = r.split("-")
            rows.append({"section": "hours", "name": d, "start": a, "end": b})
    for r in s["workday_hours"]:
        a, b = r.split("-")
        rows.append({"section": "workday_hours", "name": "", "start": a, "end": b})
    rows += [{"section": "holiday", **h} for h in s["holidays"]]
    rows += [{"section": "workday", "name": w["name"], "start": w["date"], "end": w["date"], "days": 1,
              "weekday": w["weekday"]} for w in s["workdays"]]
    rows += [{"section": "promotion", **p} for p in s["promotions"]]
    rows.append({"section": "working_days", "name": str(s["year"]), "days": s["working_days"]})
    for r in rows:
        r.update(calendar=s["calendar"], timezone=s["timezone"])
    return rows


def _table(s) -> str:
    from ..render import listing

    y = s["year"]
    lines = [f"{s['calendar']}  {s['name']}",
             f"  zone:  {s['timezone']}",
             f"  hours: {'; '.join(_week(s['week']))}; make-up days {', '.join(s['workday_hours']) or 'closed'}",
             ""]

    def block(title, rows, columns, headers):
        lines.append(f"{title} in {y}: {len(rows) or 'none'}")
        if rows:
            lines.append(listing(rows, columns, "table", headers).rstrip("\n"))
        lines.append("")

    block("Holidays", s["holidays"], ["name", "start", "end", "days"], None)
    block("Make-up working days", s["workdays"], ["date", "weekday", "name"], None)
    block("Promotions", s["promotions"], ["name", "start", "end", "days"], None)
    lines.append(f"Working days in {y}: {s['working_days']}")
    return "\n".join(lines) + "\n"


@cli.command("show")
@click.option("--year", type=int, metavar="YEAR", help="Year to list (default: the year of --now).")
@click.option("--calendar", "cal_id", metavar="ID", help="Only this calendar (default: every calendar).")
@output_format
@click.pass_obj
def show(app, year, cal_id, fmt):
    """Show a year's hours, holidays, make-up days.

    For each calendar (or only --calendar ID): its time zone, weekly working hours,
    the holidays, make-up working days (调休) and promotions (大促) of the year, and
    how many working days the year has. With --format json each calendar is one
    object; with --format csv one row per hour range, holiday, make-up day and promotion.
    """
    from ..errors import InputError
    from ..render import listing
    from ..schema import closest

    ws = app.ws()
    calendars = ws.policy.calendars
    if cal_id is not None and cal_id not in calendars:
        raise InputError(f"--calendar {cal_id}: unknown calendar; {closest(cal_id, calendars)}")
    if year is None:
        year = ws.now.year
    if not 1 <= year <= 9999:
        raise InputError(f"--year {year}: not a year")
    ids = [cal_id] if cal_id else sorted(calendars)
    summaries = [_summary(i, calendars[i], year) for i in ids]
    fmt = fmt_of(app, fmt)
    if fmt == "json":
        click.echo(listing(summaries, list(summaries[0]) if summaries else [], "json"), nl=False)
    elif fmt == "csv":
        rows = [r for s in summaries for r in _csv_rows(s)]
        columns = ["calendar", "timezone", "section", "name", "start", "end", "days", "weekday"]
        click.echo(listing(rows, columns, "csv"), nl=False)
    elif not summaries:
        click.echo("no calendars in policies/calendars.toml")
    else:
        click.echo("\n".join(_table(s) for s in summaries), nl=False)


@cli.command("cn-schedule")
@click.option("--year", type=int, required=True, metavar="YEAR", help="The year to draft.")
@click.option("--calendar", "cal_id", default="cn", show_default=True, metavar="ID",
              help="Calendar id used in the TOML headers.")
def cn_schedule(year, cal_id):
    """Print China's holidays of a year as TOML.

    Prints the official public holidays and make-up working days (调休) of --year as
    [[calendars.ID.holidays]] and [[calendars.ID.workdays]] blocks. They are ready to paste into policies/calendars.toml. The data comes from the
    optional package chinesecalendar (pip install 'aftersales[cn]'); check it against the
    State Council notice, which is published each winter for the next year.
    """
    import datetime as dt
    import re

    from ..errors import InputError

    if not re.fullmatch(r"[A-Za-z0-9_-]+", cal_id):
        raise InputError(f"--calendar {cal_id}: use letters, digits, '_' and '-' only")
    try:
        import chinese_calendar
    except ImportError:
        raise InputError("cn-schedule needs the chinesecalendar package; "
                         "install it with: pip install 'aftersales[cn]'") from None
    version = getattr(chinese_calendar, "__version__", "?")

    def name_of(value) -> str:
        try:
            chinese = chinese_calendar.Holiday(getattr(value, "value", value)).chinese
        except ValueError:
            return str(value)
        return _CN_NAMES.get(chinese, chinese)

    holidays = sorted((d, name_of(v)) for d, v in chinese_calendar.holidays.items() if d.year == year)
    workdays = sorted((d, name_of(v)) for d, v in chinese_calendar.workdays.items() if d.year == year)
    if not holidays:
        raise InputError(f"chinesecalendar {version} has no schedule for {year}; upgrade it "
                         "(pip install -U chinesecalendar) or enter the State Council notice by hand")

    ranges = []  # [name, start, end]: consecutive days of one holiday
    for d, name in holidays:
        if ranges and ranges[-1][0] == name and ranges[-1][2] + dt.timedelta(days=1) == d:
            ranges[-1][2] = d
        else:
            ranges.append([name, d, d])

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [f"# China's official {year} schedule, from chinesecalendar {version}.",
           f"# Paste into policies/calendars.toml after [calendars.{cal_id}].", ""]
    for name, start, end in ranges:
        out += [f"[[calendars.{cal_id}.holidays]]", f"name = {q(name)}", f"start = {start}", f"end = {end}", ""]
    for d, name in workdays:
        out += [f"[[calendars.{cal_id}.workdays]]", f"date = {d}", f"name = {q(name + '调休')}", ""]
    click.echo("\n".join(out).rstrip("\n") + "\n", nl=False)
