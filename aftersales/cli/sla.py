"""`as sla-check`: every running time limit of the open tickets, for people and for cron."""

import re
from contextlib import nullcontext
from functools import lru_cache

import click

from ..render import span as _left
from .common import fmt_of, output_format

COLUMNS = ["ticket", "timer", "name", "state", "deadline", "left", "paused", "priority", "department",
           "assignee", "level", "tell"]


@click.command("sla-check")
@click.option("--notify", is_flag=True,
              help="Record each new warning, breach and escalation level once, as ticket events, and list only those.")
@click.option("--state", "states", multiple=True, type=click.Choice(["ok", "warning", "breached"]),
              help="Only these states (repeatable; default: all).")
@click.option("--reminders", is_flag=True,
              help="Also list the desk's weekly deadlines due later today (policies: reminders).")
@output_format
@click.pass_obj
def cli(app, notify, states, reminders, fmt):
    """Check every open ticket's time limits at --now; exit 1 if any is breached.

    For each running timer: its deadline, the time left (negative when overdue), its
    state (ok, warning, breached), the red-header escalation level and who is to be
    told. Run it from cron every five minutes as `aftersales sla-check --notify`: each
    warning, breach and new escalation level is then recorded once, so each run prints
    only what is new and a skipped run loses nothing.
    """
    from .. import actions, ids, ledger, sla
    from ..tickets import scan

    ws = app.ws()
    policy, now = ws.policy, ws.now
    f = fmt_of(app, fmt)
    tz = policy.tz()
    new_events: list = []
    clocks: dict = {}
    tells: dict = {}  # (responsible, level) -> who to tell, and as a payload joins it: the roster walk once per pair

    now_us = scan.micros(now)
    left_now = _lefts(now_us)

    def decide(t):
        """The ticket's running cycles at now as strings (see `_rows`), and until when they hold."""
        cycles = sla.evaluate(policy, t, now, clocks, running=True)
        out = [t.id, t.priority, t.department, t.assignee, ""]
        level, since = sla.escalation_level(policy, t, cycles, now) if cycles else (0, None)
        seen = t.notified if notify and any(c.state != "ok" for c in cycles) else set()
        pending = unknown = False
        lines = None
        for c in cycles:
            lvl = level if c.state == "breached" else 0
            if c.state == "ok":
                tell, told = [], ""
            else:
                key = (sla.responsible(policy, t), lvl)
                got = tells.get(key)
                if got is None:
                    got = tells[key] = (sla.to_tell(policy, t, lvl), _joined(sla.to_tell(policy, t, lvl)))
                tell, told = got
            if notify:
                fresh = bool(sla.unnoticed(c, seen))
                if fresh:
                    pending = True
                    new_events.extend(sla.notices(t, c, now, tell, seen))
            else:  # not looked at: a --notify run decides this ticket again
                fresh, unknown = False, unknown or c.state != "ok"
            if f == "csv":  # straight into the lines it prints (see _Lines)
                if lines is None:
                    lines = _Lines(t, now_us, left_now)
                lines.add(c, lvl, told, fresh)
                continue
            out += [c.timer_id, c.timer.name, c.state, c.deadline.isoformat(), str(scan.micros(c.deadline)),
                    c.deadline.astimezone(tz).strftime("%m-%d %H:%M") if f == "table" else "",
                    "1" if c.paused else "", str(lvl), told, c.start.isoformat(), "1" if fresh else ""]
        if level and since is not None:
            if not notify:
                unknown = True
            elif sla.unescalated(level, since, seen):
                pending = True
                new_events.extend(sla.escalations(policy, t, level, since, now, seen))
        out[4] = "1" if pending else "?" if unknown else ""  # ?: not looked at, without --notify
        until = sla.steady_until(policy, t, cycles, level, since, now, clocks)
        if f == "csv":
            out = lines.payload(out[4]) if lines is not None else [out[4], "", "", "", "", "", str(_FOREVER)]
        return scan.micros(now) + 1 if until is None else scan.micros(until), out

    with ledger.locked(ws.root) if notify else nullcontext():
        window = sla.owed_after_close(policy)  # a closed ticket may still owe its follow-up visit
        decided = scan.decided(ws.root, f"sla-check-{f}", now, decide, window,
                               redo=(lambda p: p[0 if f == "csv" else 4] != "") if notify else None,
                               pure=not notify)  # with --notify, decide collects the notices
        breach = [False]
        rows = _rows(decided, f, now, notify, states, breach)
        if reminders and not states:
            rows = _with_reminders(rows, f, policy, now)
        if notify or f == "table":
            rows = list(rows)  # record before printing; a table needs every row for its widths
        actions.record_notices(ws, new_events)
        _emit(rows, f, policy)
    _calendar_coverage(policy, now)
    if notify and f == "table":
        for e in (e for e in new_events if e.type == "escalate"):
            click.echo(f"{ids.short(e.ticket)}: red header level {e.ref}: copy {', '.join(e.data['to'])}")
    if breach[0]:
        click.get_current_context().exit(1)


#: the fields of one running cycle in a payload of `decide`
_CYCLE = 11


def _joined(who: list) -> str:
    """Who to tell as one string of a payload: joined by U+001E, or as JSON after U+001D
    when a name holds that separator."""
    if any(not w or "\x1e" in w or w.startswith("\x1d") for w in who):
        import json

        return "\x1d" + json.dumps(who)
    return "\x1e".join(who)


def _split(text: str) -> list:
    if not text:
        return []
    if text[0] == "\x1d":
        import json

        return json.loads(text[1:])
    return text.split("\x1e")


def _rows(decided: list, f: str, now, notify: bool, states, breach: list):
    """The listing's rows from the tickets' payloads, with the time left worked out at now.
    Sets breach[0] when any cycle is breached."""
    from .. import ids
    from ..tickets.scan import micros

    now_us = micros(now)
    left_of = _lefts(now_us)

    if f == "csv":
        plain = not notify and not states
        for p in decided:  # see _Lines
            codes = p[1]
            if "b" in codes:
                breach[0] = True
            if not codes:
                continue
            text, kept = p[2], now_us < int(p[6])  # the times left as written still hold
            if plain and kept:
                yield text
                continue
            marks = [int(x) for x in p[3].split(" ")]
            lefts = [text[a:b] for a, b in zip(marks[0::2], marks[1::2])] if kept else \
                [left_of(d) for d in p[5].split(" ")]
            if plain:
                pieces = [text[:marks[0]]]
                for i, left in enumerate(lefts):
                    pieces += [left, text[marks[2 * i + 1]:marks[2 * i + 2] if 2 * i + 2 < len(marks) else None]]
                yield "".join(pieces)
                continue
            start = 0
            for i, end in enumerate(int(x) for x in p[4].split(" ")):
                state, fresh = _STATES[codes[2 * i]], codes[2 * i + 1] == "1"
                if not (notify and not fresh or states and state not in states):
                    yield text[start:marks[2 * i]] + lefts[i] + text[marks[2 * i + 1]:end]
                start = end
        return
    for p in decided:
        tid, priority, department, assignee = p[0], p[1], p[2], p[3]
        short = None
        for i in range(5, len(p), _CYCLE):
            timer_id, name, state, deadline, deadline_us, local, paused, lvl, tell, start, fresh = p[i:i + _CYCLE]
            if state == "breached":
                breach[0] = True
            if notify and not fresh or states and state not in states:
                continue
            left = left_of(deadline_us)
            who = _split(tell)
            if f == "table":
                if short is None:
                    short = ids.short(tid)
                yield {"ticket": short, "timer": timer_id, "name": name, "state": state, "deadline": local,
                       "left": left, "paused": "paused" if paused else "", "priority": priority,
                       "department": department, "assignee": assignee, "level": int(lvl), "tell": ",".join(who)}
            else:
                yield (tid, timer_id, name, state, deadline, left, bool(paused), priority, department, assignee,
                       int(lvl), who, start)


_STATES = {"o": "ok", "w": "warning", "b": "breached"}


def _lefts(now_us: int):
    """The time left to a deadline (microseconds since the epoch, as text) at now, as
    span() writes it; each text made once."""
    from ..clock import spans

    span_of = spans()

    def left_of(deadline_us) -> str:  # microseconds, as an int or its text
        return span_of(int((int(deadline_us) - now_us) / 1000000))  # as int(timedelta.total_seconds()) gives it

    return left_of


def left_holds(deadline_us: int, now_us: int) -> int:
    """For how many microseconds after now the time left to the deadline is written as it
    is now: span() shows days and hours, or hours and minutes, of whole seconds cut
    toward zero, so the text holds while those seconds stay within one hour (or minute)."""
    diff = deadline_us - now_us
    s = int(diff / 1000000)
    a = -s if s < 0 else s
    step = 3600 if a >= 86400 else 60
    if s > 0:
        low = s // step * step  # a day's boundary is an hour's too: the step stays right
        return diff - low * 1000000 + 1 if low else diff + 1000000
    if s == 0:
        return diff + 1000000  # "0m" until a whole second past the deadline: then "-0m"
    return diff + (a // step + 1) * step * 1000000  # counting up past the deadline


_FOREVER = 1 << 62


class _Lines:
    """A ticket's lines as --format csv prints them at now, made as its cycles come. The
    payload (`payload`): [pending, a code per cycle (the state's initial, then 1 if a
    notice is fresh), the lines (quoted as csv.writer quotes), where each time left
    begins and ends in them, where each line ends, the deadlines in microseconds, until
    when the times left are written as they are]. A warm run prints the lines as they are
    until then, and after it puts in the times left of its own --now."""

    __slots__ = ("head", "tail", "now_us", "left_of", "micros", "codes", "parts", "marks", "ends", "deadlines", "n",
                 "holds")

    def __init__(self, t, now_us: int, left_of):
        self.head = _q(t.id) + ","
        self.tail = "," + ",".join(map(_q, (t.priority, t.department, t.assignee))) + ","
        from ..tickets.scan import micros

        self.now_us, self.left_of, self.micros = now_us, left_of, micros
        self.codes: list = []
        self.parts: list = []
        self.marks: list = []
        self.ends: list = []
        self.deadlines: list = []
        self.n = 0
        self.holds = _FOREVER

    def add(self, c, lvl: int, told: str, fresh: bool) -> None:
        deadline_us = self.micros(c.deadline)
        self.codes.append(c.state[0] + ("1" if fresh else "0"))
        before = f"{self.head}{_fields(c.timer_id, c.timer.name)},{c.state},{c.deadline.isoformat()},"
        left = self.left_of(deadline_us)
        after = f"{',yes' if c.paused else ',no'}{self.tail}{lvl},{_told(told)},{c.start.isoformat()}\n"
        n = self.n + len(before)
        self.marks += [n, n + len(left)]
        self.n = n + len(left) + len(after)
        self.ends.append(self.n)
        self.parts += [before, left, after]
        self.deadlines.append(str(deadline_us))
        self.holds = min(self.holds, left_holds(deadline_us, self.now_us))

    def payload(self, pending: str) -> list:
        until = self.now_us + self.holds if self.holds < _FOREVER else _FOREVER
        return [pending, "".join(self.codes), "".join(self.parts), " ".join(map(str, self.marks)),
                " ".join(map(str, self.ends)), " ".join(self.deadlines), str(until)]


_SPECIAL = re.compile(r'[,"\n]').search


@lru_cache(maxsize=1024)
def _fields(timer_id: str, name: str) -> str:
    return _q(timer_id) + "," + _q(name)


@lru_cache(maxsize=1024)
def _told(tell: str) -> str:
    return _q(", ".join(_split(tell)))


def _q(text: str) -> str:
    """A CSV field as csv.writer writes it (minimal quoting, lines ending in a newline)."""
    return text if _SPECIAL(text) is None else '"' + text.replace('"', '""') + '"'


def _with_reminders(rows, f: str, policy, now):
    """The rows, then the desk's weekly deadlines due later today (seed 004)."""
    from ..sla import reminders

    yield from rows
    for rid, r, due in reminders(policy, now):
        if f == "table":
            yield {"ticket": "-", "timer": rid, "name": r.name, "state": "reminder",
                   "deadline": due.strftime("%m-%d %H:%M"), "left": _left(due - now), "paused": "",
                   "priority": "", "department": "", "assignee": "", "level": "", "tell": ""}
        else:
            row = ("", rid, r.name, "reminder", due.isoformat(), _left(due - now), "no" if f == "csv" else False,
                   "", "", "", 0, "" if f == "csv" else [], "")
            yield ",".join(_q(str(x)) for x in row) + "\n" if f == "csv" else row


def _emit(rows, f, policy):
    """Print rows as they come (csv, json) or as one table."""
    import csv
    import json
    import sys

    out = sys.stdout
    if f == "table":
        from ..render import listing

        text = listing(rows, COLUMNS, f)
        if text:
            out.write(text)
        return
    cols = COLUMNS + ["started"]
    if f == "csv":
        csv.writer(out, lineterminator="\n").writerow(cols)
        batch: list = []
        for line in rows:  # lines of CSV text (see _rows)
            batch.append(line)
            if len(batch) == 4096:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
        return
    first = True
    out.write("[")
    for r in rows:
        out.write(("\n  " if first else ",\n  ") + json.dumps(dict(zip(cols, r)), ensure_ascii=False))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _calendar_coverage(policy, now):
    """Warn when a business calendar that timers use lists no holidays for a year it needs."""
    from ..sla import calendar_gaps

    for cid, y in calendar_gaps(policy, now):
        click.echo(f"warning: calendar '{cid}' lists no holidays for {y}; add {y}'s schedule to "
                   f"policies/calendars.toml (`aftersales calendar cn-schedule --year {y}`)", err=True)
