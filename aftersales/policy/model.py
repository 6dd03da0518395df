"""The policy as frozen dataclasses: one per section; the dataclasses are the schema."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping, Optional

from .. import schema
from ..notify.config import Notify
from .values import Cap, Duration, TimeRange

# ------------------------------------------------------------------ sections

#: Fields a ticket can carry; categories, departments and templates name these.
TICKET_FIELDS = (
    "channel", "order", "customer", "phone", "purchased_at", "member_level", "kind",
    "category", "summary", "demand", "item_amount", "order_amount", "shipping_fee",
    "model", "batch", "waybill", "courier", "bug_details", "address",
)

#: Items the closing checklist may require or record (seed 000 §6).
CHECKLIST_ITEMS = ("identity", "evidence", "wording", "first_contact", "accepted", "cause")

from ..events import TIMER_STARTS, TIMER_STOPS  # noqa: E402  (what events can start and stop a timer)
PAUSE_STATES = ("waiting",)


#: the items of an incident's archive (seed 002 §4.4): what each is, and how it is recorded
ARCHIVE_WHAT = {
    "grading": ("grading form (事件等级判定表)", "a level recorded"),
    "records": ("problem records (客户问题信息表)", "`incident join` its tickets"),
    "cause": ("cause analysis (原因分析报告)", "`incident cause`"),
    "approval": ("solution approval (解决方案审批表)", "`incident approve` by the level's owner"),
    "confirmation": ("customer confirmation (问题解决确认单)", "`incident confirm`"),
    "review": ("review report (复盘报告)", "`incident review` with the 5W1H"),
    "improvements": ("improvement list (改进措施清单)", "`incident improve`"),
}


@dataclass(frozen=True)
class Shop:
    name: str
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    calendar: str = ""  # the business calendar used where a rule names none
    form_of_address: str = "小主"  # how reply scripts address a customer (seed 001)
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
    # contact handles for notifications; the mobile for @-mentions is `phone`
    email: str = ""
    wecom_id: str = ""
    dingtalk_id: str = ""
    feishu_id: str = ""


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
    checklist: tuple[str, ...] = ("identity", "evidence", "accepted", "cause")  # a close needs these
    force_role: str = "lead"  # the lowest role that may force a close past the checklist
    #: items recorded with every close as Y/N (seed 000 §6), required or not
    record: tuple[str, ...] = CHECKLIST_ITEMS
    first_contact_within: Duration = Duration(Decimal(30), "min")  # the "first_contact" item
    #: what `ticket verify` needs on file (seed 000 §3: order, channel, phone, purchase time, member level)
    identity_fields: tuple[str, ...] = ()

    def validate(self):
        for key in ("checklist", "record"):
            for i, item in enumerate(getattr(self, key)):
                if item not in CHECKLIST_ITEMS:
                    yield (key, i), f"unknown checklist item '{item}'; {schema.closest(item, CHECKLIST_ITEMS)}"
        for i, f in enumerate(self.identity_fields):
            if f not in TICKET_FIELDS:
                yield ("identity_fields", i), f"unknown ticket field '{f}'; {schema.closest(f, TICKET_FIELDS)}"


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
    abnormal: Optional[bool] = None  # None: abnormal or not; judged at the cycle's start
    channels: tuple[str, ...] = ()  # empty: every channel (policies: channels)


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
    #: a close that ends a cycle before its stop: "cancelled" (not applicable), "missed"
    #: (the stop never happened), or "continue" (the cycle stays owed after the close)
    on_close: str = "cancelled"
    #: a daily deadline ("16:00"): while a cycle runs, each day's stop is due by then
    daily: str = ""

    def validate(self):
        if self.on_close not in ("cancelled", "missed", "continue"):
            yield ("on_close",), f"on_close must be cancelled, missed or continue, not '{self.on_close}'"
        if self.daily:
            import re as _re

            if not _re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.daily):
                yield ("daily",), f"daily must be a time of day like \"16:00\", not '{self.daily}'"
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
class Reminder:
    """A shop-level weekly deadline that comes due as a reminder in `sla-check` (seed 004:
    the Friday 17:00 weekly brief, the Monday 10:00 review)."""

    name: str
    weekday: str  # mon … sun
    at: str  # "17:00"
    seed: str = ""

    def validate(self):
        import re as _re

        if self.weekday not in WEEKDAYS:
            yield ("weekday",), f"weekday must be one of {', '.join(WEEKDAYS)}, not '{self.weekday}'"
        if not _re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.at):
            yield ("at",), f"at must be a time of day like \"17:00\", not '{self.at}'"


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
    liabilities: tuple[str, ...] = ()  # empty: whoever is at fault (seed 001: liability decides generosity)


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
    # open tickets that put their parcel or order on the chase list (seed 001 催件条件)
    asked_again_categories: tuple[str, ...] = ()  # the customer asks a second time (二次进线催促)
    out_of_stock_categories: tuple[str, ...] = ()  # confirmed out of stock (确定缺货订单)
    bad_address_categories: tuple[str, ...] = ()  # the address cannot be shipped to (地址异常无法发货)
    not_received_categories: tuple[str, ...] = ()  # signed but not received (签收未收到)


@dataclass(frozen=True)
class FieldCheck:
    """A remark field must match `pattern` (a regular expression), only when `when` matches it if given."""

    field: str
    pattern: str
    says: str  # what the pattern asks for, in words
    when: str = ""

    def validate(self):
        import re

        for key in ("pattern", "when"):
            try:
                re.compile(getattr(self, key))
            except re.error as e:
                yield (key,), f"not a regular expression: {e}"


@dataclass(frozen=True)
class Script:
    name: str
    text: str
    seed: str = ""
    checks: tuple[FieldCheck, ...] = ()  # what the filled fields must contain (seed 001 remark formats)


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
    approve_role: str = ""  # the lowest role that may approve the solution; empty: lead_role


@dataclass(frozen=True)
class Kpi:
    csat: float = 0.90
    first_contact_resolution: float = 0.85
    second_resolution: float = 0.98
    escalation_rate_max: float = 0.05
    finish_24h: float = 0.95
    complaint_first_feedback: Duration = Duration(Decimal(2), "h")
    satisfied_at: int = 4  # a survey score at or above this counts as satisfied
    #: escalation rate (seed 004 §6): complaints escalated outside (`ticket escalated`) over complaints
    #: opened; true: only escalations caused by a service failure count
    escalation_service_failure_only: bool = True
    #: the categories the weekly brief counts as quality problems, for purchasing
    quality_categories: tuple[str, ...] = ("quality", "batch_defect", "transit_damage", "product_complaint")


@dataclass(frozen=True)
class Inspection:
    """Quality inspection of conversations (质检, seed 001, 售前组长)."""

    coverage: float = 0.40  # share of each agent's conversations inspected each day, at least
    pass_score: int = 90  # a score under this is reviewed one-to-one
    inspector_role: str = "lead"  # the lowest role that may inspect


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
    #: who pays return shipping, by whose fault the return is (seed 001): "customer" or "shop"
    return_shipping: Mapping[str, str] = field(default_factory=lambda: {
        "customer": "customer", "shop": "shop", "warehouse": "shop", "courier": "shop"})


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
    reminders: Mapping[str, Reminder] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    compensation: Optional[Compensation] = None
    logistics: Optional[Logistics] = None
    scripts: Mapping[str, Script] = field(default_factory=dict)
    remarks: Mapping[str, Script] = field(default_factory=dict)
    incident_levels: Mapping[str, IncidentLevel] = field(default_factory=dict)
    #: kinds of incident (seed 002 §2): product quality, service failure, special scenario
    incident_types: Mapping[str, Named] = field(default_factory=lambda: {
        "quality": Named("产品质量"), "service": Named("服务失误"), "special": Named("特殊场景")})
    kpi: Kpi = Kpi()
    inspection: Inspection = Inspection()
    #: escalation targets (`ticket escalated --to`): where a complaint went beyond the shop (seed 004 §6)
    escalation_targets: Mapping[str, Named] = field(default_factory=lambda: {
        "regulator": Named("监管部门(12315等)"), "platform": Named("平台介入"), "media": Named("媒体")})
    #: the archive an incident cannot close without (seed 002 §4.4), in order
    incident_archive: tuple[str, ...] = ("grading", "records", "cause", "approval", "confirmation", "review",
                                         "improvements")
    reviews: Reviews = Reviews()
    returns: Returns = Returns()
    imports: Mapping[str, ImportMap] = field(default_factory=dict)
    notify: Optional[Notify] = None  # channels and who hears what (aftersales/notify/config.py)

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
