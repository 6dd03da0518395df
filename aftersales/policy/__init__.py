"""The shop's policy: every TOML file under policies/, read once into frozen dataclasses.

Each file holds one or more top-level sections (`[shop]`, `[roles.*]`, `[[rules]]` ...);
which file a section lives in is the shop's choice, but a section may appear in only one
file. `load_policy(workspace)` returns a `Policy` or raises InputError naming the first
problem; `check_policy(workspace)` returns every problem as data for `as check`.

    values   value types of the files: durations, clock times, compensation caps
    model    one frozen dataclass per section, and `Policy`: the dataclasses are the schema
    load     reading the files into a `Policy`; every problem as data
    checks   reference checks across sections (a role that does not exist, a category
             nobody routes …), each a small function in REFERENCE_CHECKS
"""

from .load import SECTIONS, PolicySource, check_policy, load_policy
from .model import (CHECKLIST_ITEMS, PAUSE_STATES, TICKET_FIELDS, WEEKDAYS, Actions, Applies, Authority, Calendar,
                    Category, Closing, Compensation, Conditions, Department, Escalation, Holiday, ImportMap,
                    IncidentLevel, Kind, Kpi, Liability, Logistics, Lookup, MemberLevel, Method, Named, Policy,
                    Priority, Promotion, Returns, Reviews, Role, Rule, Script, Shop, Staff, Timer, Week, Workday,
                    Zone)
from .values import Cap, Duration, TimeRange

__all__ = [
    "SECTIONS", "PolicySource", "check_policy", "load_policy", "CHECKLIST_ITEMS", "PAUSE_STATES",
    "TICKET_FIELDS", "WEEKDAYS", "Actions", "Applies", "Authority", "Calendar", "Category", "Closing",
    "Compensation", "Conditions", "Department", "Escalation", "Holiday", "ImportMap", "IncidentLevel", "Kind",
    "Kpi", "Liability", "Logistics", "Lookup", "MemberLevel", "Method", "Named", "Policy", "Priority",
    "Promotion", "Returns", "Reviews", "Role", "Rule", "Script", "Shop", "Staff", "Timer", "Week", "Workday",
    "Zone", "Cap", "Duration", "TimeRange",
]
