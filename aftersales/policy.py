"""The shop's policy: every TOML file under policies/, read once into frozen dataclasses.

Each file holds one or more top-level sections (`[shop]`, `[roles.*]`, `[[rules]]` ...);
which file a section lives in is the shop's choice, but a section may appear in only one
file. `load_policy(workspace)` returns a `Policy` or raises InputError naming the first
problem; `check_policy(workspace)` returns every problem as data for `as check`.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Mapping, Optional

from . import schema
from .errors import InputError, Problem, problems_error
from .tomlmap import load as load_toml

# ---------------------------------------------------------------- value types


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
        per = {"s": 1, "min": 60, "h": 3600, "d": 86400}[self.unit]
        return int(self.amount * per)

    def timedelta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds())

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
        return self.written or f"{self.percent.normalize():f}% {self.of}"


# ------------------------------------------------------------------ sections

#: Fields a ticket can carry; categories, departments and templates name these.
TICKET_FIELDS = (
    "channel", "order", "customer", "phone", "purchased_at", "member_level", "kind",
    "category", "summary", "demand", "item_amount", "order_amount", "shipping_fee",
    "model", "batch", "waybill", "courier", "bug_details", "address",
)

#: Items the closing checklist may require (seed 000 §6).
CHECKLIST_ITEMS = ("identity", "evidence", "accepted", "cause")

TIMER_STARTS = ("opened", "abnormal", "customer_message", "resolved")
TIMER_STOPS = ("first_reply", "reply", "assigned", "resolved", "closed", "visited")
PAUSE_STATES = ("waiting",)


@dataclass(frozen=True)
class Shop:
    name: str
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    calendar: str = ""  # the business calendar used where a rule names none
    evidence_max_mb: int = 50  # the largest evidence file `ticket evidence` copies into evidence/ (and git)

    def validate(self):
        if not isinstance(self.evidence_max_mb, int) or self.evidence_max_mb < 1:
            yield ("evidence_max_mb",), f"evidence_max_mb must be a whole number of MB, 1 or more, not {self.evidence_max_mb!r}"
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:
            yield ("timezone",), f"unknown time zone '{self.timezone}'; use an IANA name such as 'Asia/Shanghai'"
        if self.currency != "CNY":
            yield ("currency",), f"currency '{self.currency}' is not supported; amounts are in yuan (CNY)"


@dataclass(frozen=True)
class Named:
    """An entry that only needs a display name."""

    name: str


@dataclass(frozen=True)
class Role:
    name: str
    rank: int = 0  # approval order: a higher rank may approve what a lower rank may; 0 approves nothing


@dataclass(frozen=True)
class Department:
    name: str
    required_fields: tuple[str, ...] = ()  # ticket fields work here needs (e.g. "batch")
    group: bool = False  # a group of experts that tickets are handed to


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str
    department: str
    reports_to: str = ""  # the next superior, for red-header copies
    phone: str = ""
    active: bool = True  # set false when someone leaves: their past rows stay valid


@dataclass(frozen=True)
class MemberLevel:
    name: str
    rank: int = 0


@dataclass(frozen=True)
class Kind:
    name: str


@dataclass(frozen=True)
class Priority:
    name: str
    rank: int  # 0 is the most urgent


@dataclass(frozen=True)
class Category:
    kind: str
    name: str
    priority: str
    required: tuple[str, ...] = ()  # ticket fields intake must have
    evidence: tuple[str, ...] = ()  # evidence kinds a close needs
    department: str = ""  # where tickets of this category go before any routing rule


@dataclass(frozen=True)
class Closing:
    checklist: tuple[str, ...] = CHECKLIST_ITEMS
    force_role: str = "lead"  # the lowest role that may force a close past the checklist

    def validate(self):
        for i, item in enumerate(self.checklist):
            if item not in CHECKLIST_ITEMS:
                yield ("checklist", i), f"unknown checklist item '{item}'; {schema.closest(item, CHECKLIST_ITEMS)}"


@dataclass(frozen=True)
class Holiday:
    name: str
    start: dt.date
    end: dt.date  # inclusive

    def validate(self):
        if self.end < self.start:
            yield ("end",), f"ends ({self.end}) before it starts ({self.start})"


@dataclass(frozen=True)
class Workday:
    date: dt.date
    name: str = ""


@dataclass(frozen=True)
class Promotion:
    name: str
    start: dt.date
    end: dt.date  # inclusive

    def validate(self):
        if self.end < self.start:
            yield ("end",), f"ends ({self.end}) before it starts ({self.start})"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Week:
    mon: tuple[TimeRange, ...] = ()
    tue: tuple[TimeRange, ...] = ()
    wed: tuple[TimeRange, ...] = ()
    thu: tuple[TimeRange, ...] = ()
    fri: tuple[TimeRange, ...] = ()
    sat: tuple[TimeRange, ...] = ()
    sun: tuple[TimeRange, ...] = ()

    def validate(self):
        for day in WEEKDAYS:
            ranges = getattr(self, day)
            for i in range(1, len(ranges)):
                if ranges[i].start < ranges[i - 1].end:
                    yield (day, i), f"{ranges[i]} overlaps or precedes {ranges[i - 1]}; list working hours in order"


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: str
    week: Week
    holidays: tuple[Holiday, ...] = ()
    workdays: tuple[Workday, ...] = ()  # make-up working days (调休) on weekends
    workday_hours: tuple[TimeRange, ...] = ()  # hours on a make-up day; default: Monday's
    promotions: tuple[Promotion, ...] = ()

    def validate(self):
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:
            yield ("timezone",), f"unknown time zone '{self.timezone}'; use an IANA name such as 'Asia/Shanghai'"
        seen: dict = {}
        for i, h in enumerate(self.holidays):
            day = h.start
            while day <= h.end:
                if day in seen:
                    yield ("holidays", i), f"{day} is already a holiday in '{seen[day]}'"
                seen[day] = h.name
                day += dt.timedelta(days=1)
        for i, w in enumerate(self.workdays):
            if w.date in seen:
                yield ("workdays", i), f"{w.date} is both a holiday ('{seen[w.date]}') and a make-up working day"


@dataclass(frozen=True)
class Applies:
    kinds: tuple[str, ...] = ()  # empty: every kind
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    abnormal: Optional[bool] = None  # None: abnormal or not


@dataclass(frozen=True)
class Timer:
    name: str
    start: str
    stop: str
    target: Duration
    clock: str = "calendar"  # "calendar" for wall-clock time, or a calendar id for business time
    applies: Applies = Applies()
    pause: tuple[str, ...] = ("waiting",)
    warn_at: float = 0.75  # share of the target at which to warn
    goal: Optional[float] = None  # share of cycles that must meet the target (attainment reports)
    seed: str = ""  # where the limit comes from

    def validate(self):
        if self.start not in TIMER_STARTS:
            yield ("start",), f"unknown start '{self.start}'; {schema.closest(self.start, TIMER_STARTS)}"
        if self.stop not in TIMER_STOPS:
            yield ("stop",), f"unknown stop '{self.stop}'; {schema.closest(self.stop, TIMER_STOPS)}"
        for i, p in enumerate(self.pause):
            if p not in PAUSE_STATES:
                yield ("pause", i), f"unknown pause state '{p}'; {schema.closest(p, PAUSE_STATES)}"
        if self.goal is not None and not 0 < self.goal <= 1:
            yield ("goal",), f"goal must be a share between 0 and 1 (e.g. 0.95), not {self.goal}"
        if not 0 < self.warn_at < 1:
            yield ("warn_at",), f"warn_at must be a share between 0 and 1 (e.g. 0.75), not {self.warn_at}"
        if self.target.amount <= 0:
            yield ("target",), "the target must be longer than zero"
        if self.target.working_days and self.target.amount != int(self.target.amount):
            yield ("target",), f"working days must be whole (\"1wd\", \"2wd\"), not {self.target}; use hours on the calendar instead"
        if self.target.working_days and self.clock == "calendar":
            yield ("clock",), "a target in working days needs a business calendar; set clock to a calendar id"


@dataclass(frozen=True)
class Escalation:
    every: Duration = Duration(Decimal(2), "h")  # 红头工单: copy the next superior every 2 h late
    levels: int = 3  # how many superiors up the roster at most


@dataclass(frozen=True)
class Conditions:
    """All given conditions must hold for a rule to match."""

    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    member_levels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # any of these in the summary or a customer message
    item_amount_at_least: Optional[Decimal] = None
    order_amount_at_least: Optional[Decimal] = None
    older_than: Optional[Duration] = None
    resolved: Optional[bool] = None
    abnormal: Optional[bool] = None
    compensation_over_limit: Optional[bool] = None
    missing: tuple[str, ...] = ()  # ticket fields that must be empty
    present: tuple[str, ...] = ()  # ticket fields that must be filled

    # a rule's own keys written after [rules.when] or [rules.then] land in that table
    MISPLACED = {k: f"'{k}' belongs to the rule itself: write it above [rules.when] and [rules.then]"
                 for k in ("name", "stop", "note")}


@dataclass(frozen=True)
class Actions:
    department: str = ""
    priority: str = ""
    abnormal: str = ""  # the reason, e.g. "over_48h"
    alert: str = ""  # the alert text
    group: str = ""  # hand the ticket to this group (a department with group = true)

    # a rule's own keys written after [rules.when] or [rules.then] land in that table
    MISPLACED = {k: f"'{k}' belongs to the rule itself: write it above [rules.when] and [rules.then]"
                 for k in ("name", "stop", "note")}


@dataclass(frozen=True)
class Rule:
    name: str
    then: Actions
    when: Conditions = Conditions()  # no conditions: every ticket matches
    stop: bool = False  # true: later rules are not evaluated once this one matches
    note: str = ""


@dataclass(frozen=True)
class Method:
    name: str
    discouraged: bool = False  # using it needs a reason (e.g. Alipay transfer)


@dataclass(frozen=True)
class Liability:
    name: str
    claimable: bool = False  # the shop claims it back (courier)


@dataclass(frozen=True)
class Authority:
    role: str
    cap: Cap
    categories: tuple[str, ...] = ()  # empty: every category
    note: str = ""


@dataclass(frozen=True)
class Compensation:
    methods: Mapping[str, Method]
    liabilities: Mapping[str, Liability]
    authority: tuple[Authority, ...]
    abnormal_above_role: str = "lead"  # a payment beyond this role's authority makes the ticket abnormal
    duplicate_window: Duration = Duration(Decimal(10), "min")


@dataclass(frozen=True)
class Zone:
    name: str
    stale_after: Duration  # no tracking update for this long: chase
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Logistics:
    couriers: Mapping[str, Named]
    zones: Mapping[str, Zone]
    uncollected_after: Duration = Duration(Decimal(24), "h")
    suspend_uncollected_in_promotions: bool = True
    verify_signed_within: Duration = Duration(Decimal(24), "h")
    report_lost_after: Duration = Duration(Decimal(24), "h")
    calendar: str = ""
    default_zone: str = ""  # for a destination no zone lists; empty: such parcels are reported
    self_signed: tuple[str, ...] = ("本人",)  # signed_by values that mean the customer signed
    ticket_channel: str = "mall"  # tickets `logistics check --open-tickets` opens
    ticket_category: str = "logistics_query"


@dataclass(frozen=True)
class Script:
    name: str
    text: str
    seed: str = ""


@dataclass(frozen=True)
class IncidentLevel:
    name: str
    min_complaints: int
    lead_role: str
    response: Duration
    review: Duration
    satisfaction: float
    media: bool = False  # media exposure makes this level
    injury: bool = False  # injury or property loss makes this level


@dataclass(frozen=True)
class Kpi:
    csat: float = 0.90
    first_contact_resolution: float = 0.85
    second_resolution: float = 0.98
    escalation_rate_max: float = 0.05
    finish_24h: float = 0.95
    complaint_first_feedback: Duration = Duration(Decimal(2), "h")
    satisfied_at: int = 4  # a survey score at or above this counts as satisfied


@dataclass(frozen=True)
class Reviews:
    bad_at_most: int = 2  # a review score at or under this is a bad review
    contact_within: Duration = Duration(Decimal(1), "h")
    ticket_channel: str = "mall"  # follow-up tickets `reviews check --open-tickets` opens
    ticket_category: str = "product_complaint"


@dataclass(frozen=True)
class Returns:
    no_reason_days: int = 7  # 七天无理由, counted from signing
    price_difference_days: int = 7
    fast_refund_max: Optional[Decimal] = None
    fast_refund_member_levels: tuple[str, ...] = ()
    out_of_stock_coupon: Optional[Decimal] = None


@dataclass(frozen=True)
class Lookup:
    """Columns joined in from a second file of the same export (e.g. the customers' states)."""

    file: str  # relative to the imported file's folder
    key: str  # the column of `file` to match
    on: str  # the column of the imported file that holds the key
    columns: Mapping[str, str]  # name to use in `columns` -> column of `file`
    encoding: str = ""


@dataclass(frozen=True)
class ImportMap:
    ledger: str
    columns: Mapping[str, str]  # ledger column -> source column (or a lookup's column name)
    encoding: str = "utf-8"
    timezone: str = ""  # zone for naive timestamps; default the shop's
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # column -> source value -> ledger value
    lookups: Mapping[str, Lookup] = field(default_factory=dict)
    # source column -> its value -> ledger columns a row with that value must have,
    # e.g. an order "delivered" must have its signing time
    require_when: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # source column -> the values a row must have to be imported at all (others are skipped)
    only_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    shop: Shop
    roles: Mapping[str, Role]
    departments: Mapping[str, Department]
    staff: tuple[Staff, ...]
    channels: Mapping[str, Named]
    member_levels: Mapping[str, MemberLevel]
    demands: Mapping[str, Named]
    kinds: Mapping[str, Kind]
    priorities: Mapping[str, Priority]
    categories: Mapping[str, Category]
    evidence_kinds: Mapping[str, Named]
    closing: Closing = Closing()
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    timers: Mapping[str, Timer] = field(default_factory=dict)
    escalation: Escalation = Escalation()
    rules: tuple[Rule, ...] = ()
    compensation: Optional[Compensation] = None
    logistics: Optional[Logistics] = None
    scripts: Mapping[str, Script] = field(default_factory=dict)
    remarks: Mapping[str, Script] = field(default_factory=dict)
    incident_levels: Mapping[str, IncidentLevel] = field(default_factory=dict)
    kpi: Kpi = Kpi()
    reviews: Reviews = Reviews()
    returns: Returns = Returns()
    imports: Mapping[str, ImportMap] = field(default_factory=dict)

    # -- lookups used across the code
    def staff_member(self, staff_id: str) -> Optional[Staff]:
        for s in self.staff:
            if s.id == staff_id:
                return s
        return None

    def tz(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.shop.timezone)

    def rank(self, staff_id: str) -> int:
        s = self.staff_member(staff_id)
        return self.roles[s.role].rank if s else 0


# ------------------------------------------------------------------- loading

SECTIONS = {f: f for f in Policy.__dataclass_fields__}


@dataclass
class PolicySource:
    """Where each section came from, to give problems a file and line."""

    docs: dict  # section -> TomlDoc
    workspace: Path

    def problem(self, section: str, path: tuple, message: str) -> Problem:
        doc = self.docs.get(section)
        if doc is None:
            return Problem("policies", 0, message)
        return Problem(doc.file, doc.line_of((section,) + tuple(path)), message)


def _read_docs(root: Path) -> tuple[list, list]:
    problems: list = []
    docs: list = []
    pdir = root / "policies"
    if not pdir.is_dir():
        problems.append(Problem("policies", 0, "no policies/ folder; run `aftersales init DIR` to create a workspace"))
        return docs, problems
    files = sorted(pdir.glob("*.toml"))
    if not files:
        problems.append(Problem("policies", 0, "no *.toml files in policies/; copy the default pack with `aftersales init`"))
    for p in files:
        rel = f"policies/{p.name}"
        try:
            raw = p.read_bytes()
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            problems.append(Problem(rel, line, "not UTF-8 text; save the file as UTF-8", unreadable=True))
            continue
        except OSError as e:
            problems.append(Problem(rel, 0, f"cannot read: {e.strerror}", unreadable=True))
            continue
        try:
            docs.append(load_toml(text, rel))
        except InputError as e:
            problems.extend(e.problems)
    return docs, problems


def check_policy(root: Path) -> tuple[Optional[Policy], list[Problem]]:
    """Load and validate every policy file; return the policy (None if unusable) and all problems."""
    docs, problems = _read_docs(Path(root))
    merged: dict = {}
    by_section: dict = {}
    for doc in docs:
        for key in doc.data:
            if key not in SECTIONS:
                problems.append(doc.problem((key,), f"unknown section '{key}'; {schema.closest(key, SECTIONS)}"))
                continue
            if key in by_section:
                other = by_section[key]
                problems.append(
                    doc.problem((key,), f"section '{key}' is already defined in {other.file}:{other.line_of((key,))}; keep it in one file")
                )
                continue
            by_section[key] = doc
            merged[key] = doc.data[key]
    src = PolicySource(by_section, Path(root))
    if problems and not merged:
        return None, sorted(problems, key=Problem.sort_key)
    errs = schema.Errors()
    policy = schema.build(Policy, merged, (), errs)
    unreadable = any(p.unreadable for p in problems)
    for path, message in errs.items:
        if unreadable and not path and message.startswith("missing required key"):
            continue  # the section is most likely in the file that could not be read
        if path:
            problems.append(src.problem(path[0], path[1:], message))
        else:
            problems.append(Problem("policies", 0, message.replace("key", "section", 1)))
    if policy is schema.BAD:
        return None, sorted(problems, key=Problem.sort_key)
    for check in REFERENCE_CHECKS:
        problems.extend(check(policy, src))
    problems = sorted(set(problems), key=Problem.sort_key)
    return (None if problems else policy), problems


_cache: dict = {}


def load_policy(root: Path) -> Policy:
    """The workspace's policy, or InputError naming the first problem and its fix."""
    root = Path(root).resolve()
    if root in _cache:
        return _cache[root]
    policy, problems = check_policy(root)
    if problems:
        raise problems_error(problems)
    _cache[root] = policy
    return policy


# ------------------------------------------------------------ reference checks
# Each check is a small function (policy, source) -> problems; a new check is a new function.


def _ref(src, section, path, kind, name, known):
    return src.problem(section, path, f"unknown {kind} '{name}'; {schema.closest(name, known)}")


def _check_staff(p: Policy, src: PolicySource):
    ids = {}
    for i, s in enumerate(p.staff):
        if s.id in ids:
            yield src.problem("staff", (i, "id"), f"duplicate staff id '{s.id}' (first at line {src.docs['staff'].line_of(('staff', ids[s.id], 'id'))})")
        ids.setdefault(s.id, i)
        if s.role not in p.roles:
            yield _ref(src, "staff", (i, "role"), "role", s.role, p.roles)
        if s.department not in p.departments:
            yield _ref(src, "staff", (i, "department"), "department", s.department, p.departments)
    for i, s in enumerate(p.staff):
        if s.reports_to and s.reports_to not in ids:
            yield _ref(src, "staff", (i, "reports_to"), "staff member", s.reports_to, ids)
    # a reporting chain must end: no cycles
    boss = {s.id: s.reports_to for s in p.staff}
    for i, s in enumerate(p.staff):
        seen, cur = set(), s.id
        while cur and cur in boss and cur not in seen:
            seen.add(cur)
            cur = boss[cur]
        if cur and cur in seen and cur == s.id:
            yield src.problem("staff", (i, "reports_to"), f"reporting chain of '{s.id}' loops back to itself")


def _fields_known(src, section, path, names):
    for j, f in enumerate(names):
        if f not in TICKET_FIELDS:
            yield src.problem(section, path + (j,), f"unknown ticket field '{f}'; {schema.closest(f, TICKET_FIELDS)}")


def _check_departments(p: Policy, src):
    for d, dep in p.departments.items():
        yield from _fields_known(src, "departments", (d, "required_fields"), dep.required_fields)


def _check_categories(p: Policy, src):
    for c, cat in p.categories.items():
        if cat.kind not in p.kinds:
            yield _ref(src, "categories", (c, "kind"), "kind", cat.kind, p.kinds)
        if cat.priority not in p.priorities:
            yield _ref(src, "categories", (c, "priority"), "priority", cat.priority, p.priorities)
        if cat.department and cat.department not in p.departments:
            yield _ref(src, "categories", (c, "department"), "department", cat.department, p.departments)
        for j, e in enumerate(cat.evidence):
            if e not in p.evidence_kinds:
                yield _ref(src, "categories", (c, "evidence", j), "evidence kind", e, p.evidence_kinds)
        yield from _fields_known(src, "categories", (c, "required"), cat.required)
    for k in p.kinds:
        if not any(cat.kind == k for cat in p.categories.values()):
            yield src.problem("kinds", (k,), f"kind '{k}' has no category; add one under [categories] or remove the kind")
    ranks = {}
    for pr, val in p.priorities.items():
        if val.rank in ranks:
            yield src.problem("priorities", (pr, "rank"), f"priority '{pr}' has the same rank as '{ranks[val.rank]}'; ranks order priorities")
        ranks[val.rank] = pr


def _check_closing(p: Policy, src):
    if p.closing.force_role not in p.roles:
        yield _ref(src, "closing", ("force_role",), "role", p.closing.force_role, p.roles)
    elif p.roles[p.closing.force_role].rank == 0:
        yield src.problem("closing", ("force_role",), f"role '{p.closing.force_role}' has rank 0 and may approve nothing; name a ranked role")


def _check_logistics_and_reviews(p: Policy, src):
    lg = p.logistics
    if lg is not None:
        if lg.default_zone and lg.default_zone not in lg.zones:
            yield _ref(src, "logistics", ("default_zone",), "zone", lg.default_zone, lg.zones)
        if lg.ticket_channel not in p.channels:
            yield _ref(src, "logistics", ("ticket_channel",), "channel", lg.ticket_channel, p.channels)
        if lg.ticket_category not in p.categories:
            yield _ref(src, "logistics", ("ticket_category",), "category", lg.ticket_category, p.categories)
        seen: dict = {}
        for z, zone in lg.zones.items():
            for j, region in enumerate(zone.regions):
                if region in seen:
                    yield src.problem("logistics", ("zones", z, "regions", j), f"region '{region}' is already in zone '{seen[region]}'")
                seen.setdefault(region, z)
    if p.reviews.ticket_channel not in p.channels:
        yield _ref(src, "reviews", ("ticket_channel",), "channel", p.reviews.ticket_channel, p.channels)
    if p.reviews.ticket_category not in p.categories:
        yield _ref(src, "reviews", ("ticket_category",), "category", p.reviews.ticket_category, p.categories)


def _check_calendars(p: Policy, src):
    if p.shop.calendar and p.shop.calendar not in p.calendars:
        yield _ref(src, "shop", ("calendar",), "calendar", p.shop.calendar, p.calendars)
    if p.logistics and p.logistics.calendar and p.logistics.calendar not in p.calendars:
        yield _ref(src, "logistics", ("calendar",), "calendar", p.logistics.calendar, p.calendars)


def _check_timers(p: Policy, src):
    for t, timer in p.timers.items():
        if timer.clock != "calendar" and timer.clock not in p.calendars:
            yield src.problem(
                "timers", (t, "clock"),
                f"unknown clock '{timer.clock}'; use \"calendar\" for wall-clock time or a calendar id: "
                + (", ".join(sorted(p.calendars)) or "none defined"),
            )
        a = timer.applies
        for j, k in enumerate(a.kinds):
            if k not in p.kinds:
                yield _ref(src, "timers", (t, "applies", "kinds", j), "kind", k, p.kinds)
        for j, c in enumerate(a.categories):
            if c not in p.categories:
                yield _ref(src, "timers", (t, "applies", "categories", j), "category", c, p.categories)
        for j, pr in enumerate(a.priorities):
            if pr not in p.priorities:
                yield _ref(src, "timers", (t, "applies", "priorities", j), "priority", pr, p.priorities)


def _check_rules(p: Policy, src):
    names: dict = {}
    for i, r in enumerate(p.rules):
        if r.name in names:
            first = src.docs["rules"].line_of(("rules", names[r.name], "name"))
            yield src.problem("rules", (i, "name"), f"duplicate rule name '{r.name}' (rule {names[r.name] + 1}, line {first}, has it too)")
        names.setdefault(r.name, i)
        w, t = r.when, r.then
        for attr, known, kind in (
            ("kinds", p.kinds, "kind"), ("categories", p.categories, "category"),
            ("channels", p.channels, "channel"), ("member_levels", p.member_levels, "member level"),
            ("priorities", p.priorities, "priority"),
        ):
            for j, v in enumerate(getattr(w, attr)):
                if v not in known:
                    yield _ref(src, "rules", (i, "when", attr, j), kind, v, known)
        for j, word in enumerate(w.words):
            if not word.strip():
                yield src.problem("rules", (i, "when", "words", j), "an empty word matches every text; remove it")
        yield from _fields_known(src, "rules", (i, "when", "missing"), w.missing)
        yield from _fields_known(src, "rules", (i, "when", "present"), w.present)
        if t.department and t.department not in p.departments:
            yield _ref(src, "rules", (i, "then", "department"), "department", t.department, p.departments)
        if t.group:
            if t.group not in p.departments:
                yield _ref(src, "rules", (i, "then", "group"), "group", t.group, p.departments)
            elif not p.departments[t.group].group:
                yield src.problem("rules", (i, "then", "group"), f"department '{t.group}' is not a group; set group = true on it or use department =")
        if t.priority and t.priority not in p.priorities:
            yield _ref(src, "rules", (i, "then", "priority"), "priority", t.priority, p.priorities)
        if t == Actions():
            yield src.problem("rules", (i, "then"), f"rule '{r.name}' does nothing; give it at least one action under [rules.then]")
    # a rule after a catch-all rule that stops can never fire
    for i, r in enumerate(p.rules):
        if r.stop and r.when == Conditions() and i + 1 < len(p.rules):
            nxt = p.rules[i + 1]
            yield src.problem(
                "rules", (i + 1, "name"),
                f"rule '{nxt.name}' is unreachable: rule '{r.name}' before it matches every ticket and stops; move it up or drop stop = true",
            )
            break


def _check_compensation(p: Policy, src):
    c = p.compensation
    if c is None:
        return
    if c.abnormal_above_role not in p.roles:
        yield _ref(src, "compensation", ("abnormal_above_role",), "role", c.abnormal_above_role, p.roles)
    for i, a in enumerate(c.authority):
        if a.role not in p.roles:
            yield _ref(src, "compensation", ("authority", i, "role"), "role", a.role, p.roles)
        for j, cat in enumerate(a.categories):
            if cat not in p.categories:
                yield _ref(src, "compensation", ("authority", i, "categories", j), "category", cat, p.categories)


def _check_incidents(p: Policy, src):
    for lv, level in p.incident_levels.items():
        if level.lead_role not in p.roles:
            yield _ref(src, "incident_levels", (lv, "lead_role"), "role", level.lead_role, p.roles)
        if not 0 < level.satisfaction <= 1:
            yield src.problem("incident_levels", (lv, "satisfaction"), f"satisfaction must be a share between 0 and 1, not {level.satisfaction}")


_FORMATTER = string.Formatter()
TEMPLATE_FIELDS = TICKET_FIELDS + (
    "ticket", "agent", "agent_name", "date", "time", "shop", "new_waybill", "form_of_address",
    "product", "quantity", "ship_date", "text", "deadline",
)


def template_fields(text: str) -> list:
    """The {field} names a template uses; ValueError on a malformed template or a format spec."""
    out = []
    for _, name, spec, conv in _FORMATTER.parse(text):
        if name is not None:
            if spec or conv:  # {order:>99999999999} renders gigabytes, {order:d} raises: plain fields only
                raise ValueError(f"'{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}' has a format "
                                 "spec; only plain fields are allowed")
            out.append(name)
    return out


def _check_scripts(p: Policy, src):
    for section, entries in (("scripts", p.scripts), ("remarks", p.remarks)):
        for key, script in entries.items():
            try:
                names = template_fields(script.text)
            except ValueError as e:
                yield src.problem(section, (key, "text"), f"malformed template: {e}; write fields as {{order}}, and braces as {{{{ }}}}")
                continue
            for n in names:
                if n == "" or not n.isidentifier():
                    yield src.problem(section, (key, "text"), f"template field '{{{n}}}' must be a name like {{order}}")
                elif n not in TEMPLATE_FIELDS:
                    yield src.problem(section, (key, "text"), f"unknown template field '{{{n}}}'; {schema.closest(n, TEMPLATE_FIELDS)}")


def _check_imports(p: Policy, src):
    from .ledger import LEDGERS

    for name, imp in p.imports.items():
        if imp.ledger in ("tickets", "incidents"):
            yield src.problem("imports", (name, "ledger"), f"'{imp.ledger}' is written only by its commands (a close "
                              "must pass the checklist); import into another ledger")
            continue
        if imp.ledger not in LEDGERS:
            yield _ref(src, "imports", (name, "ledger"), "ledger", imp.ledger, LEDGERS)
            continue
        cols = LEDGERS[imp.ledger].column_names
        for col in imp.columns:
            if col not in cols:
                yield src.problem("imports", (name, "columns", col), f"ledger '{imp.ledger}' has no column '{col}'; {schema.closest(col, cols)}")
        for source_col, by_value in imp.require_when.items():
            for value, needed in by_value.items():
                for j, col in enumerate(needed):
                    if col not in cols:
                        yield src.problem("imports", (name, "require_when", source_col, value, j),
                                          f"ledger '{imp.ledger}' has no column '{col}'; {schema.closest(col, cols)}")
        for col in imp.values:
            if col not in imp.columns:
                yield src.problem("imports", (name, "values", col),
                                  f"values for '{col}', which the mapping does not import; add it under columns or drop it")
        if imp.timezone:
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(imp.timezone)
            except Exception:
                yield src.problem("imports", (name, "timezone"), f"unknown time zone '{imp.timezone}'; use an IANA name such as 'Asia/Shanghai'")
        try:
            "".encode(imp.encoding)
        except LookupError:
            yield src.problem("imports", (name, "encoding"), f"unknown encoding '{imp.encoding}'; use utf-8, utf-8-sig, gbk or gb18030")


REFERENCE_CHECKS = [
    _check_staff, _check_departments, _check_categories, _check_closing, _check_calendars,
    _check_timers, _check_rules, _check_compensation, _check_incidents, _check_scripts, _check_imports,
    _check_logistics_and_reviews,
]
