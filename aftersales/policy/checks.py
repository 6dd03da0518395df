"""Reference checks: each a small function (policy, source) -> problems; a new check is a new function."""

from __future__ import annotations

import string

from .. import schema
from .load import PolicySource
from .model import ARCHIVE_WHAT, TICKET_FIELDS, Actions, Conditions, Policy

# ------------------------------------------------------------ reference checks
# Each check is a small function (policy, source) -> problems; a new check is a new function.


def _ref(src, section, path, kind, name, known):
    return src.problem(section, path, f"unknown {kind} '{name}'; {schema.closest(name, known)}")


def _check_staff(p: Policy, src: PolicySource):
    ids: dict[str, int] = {}
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
    ranks: dict[int, str] = {}
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
        for key in ("asked_again_categories", "out_of_stock_categories", "bad_address_categories",
                    "not_received_categories"):
            for j, c in enumerate(getattr(lg, key)):
                if c not in p.categories:
                    yield _ref(src, "logistics", (key, j), "category", c, p.categories)
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
        for j, ch in enumerate(a.channels):
            if ch not in p.channels:
                yield _ref(src, "timers", (t, "applies", "channels", j), "channel", ch, p.channels)


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
        for j, li in enumerate(a.liabilities):
            if li not in c.liabilities:
                yield _ref(src, "compensation", ("authority", i, "liabilities", j), "liability", li, c.liabilities)


def _check_incidents(p: Policy, src):
    for lv, level in p.incident_levels.items():
        if level.lead_role not in p.roles:
            yield _ref(src, "incident_levels", (lv, "lead_role"), "role", level.lead_role, p.roles)
        if level.approve_role and level.approve_role not in p.roles:
            yield _ref(src, "incident_levels", (lv, "approve_role"), "role", level.approve_role, p.roles)
        if not 0 < level.satisfaction <= 1:
            yield src.problem("incident_levels", (lv, "satisfaction"), f"satisfaction must be a share between 0 and 1, not {level.satisfaction}")
    for i, item in enumerate(p.incident_archive):
        if item not in ARCHIVE_WHAT:
            yield src.problem("incident_archive", (i,), f"unknown archive item '{item}'; {schema.closest(item, ARCHIVE_WHAT)}")
    if p.inspection.inspector_role not in p.roles:
        yield _ref(src, "inspection", ("inspector_role",), "role", p.inspection.inspector_role, p.roles)
    if not 0 < p.inspection.coverage <= 1:
        yield src.problem("inspection", ("coverage",), f"coverage must be a share between 0 and 1 (e.g. 0.40), not {p.inspection.coverage}")


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
    from ..ledger import LEDGERS

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


def _check_reports(p: Policy, src):
    for j, c in enumerate(p.kpi.quality_categories):
        if c not in p.categories:
            yield _ref(src, "kpi", ("quality_categories", j), "category", c, p.categories)
    for fault, payer in p.returns.return_shipping.items():
        if payer not in ("customer", "shop"):
            yield src.problem("returns", ("return_shipping", fault),
                              f"return_shipping.{fault} = '{payer}': write \"customer\" or \"shop\"")


from ..notify.config import check_notify, check_secret_values  # noqa: E402

REFERENCE_CHECKS = [
    _check_reports, _check_staff, _check_departments, _check_categories, _check_closing, _check_calendars,
    _check_timers, _check_rules, _check_compensation, _check_incidents, _check_scripts, _check_imports,
    _check_logistics_and_reviews,
    check_notify, check_secret_values,
]
