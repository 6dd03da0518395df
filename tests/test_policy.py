"""Policy loading and `as check`: every user-facing policy error, with its exact file, line and text.

Each test starts from the `shop` fixture (a fresh copy of the default pack), breaks one
thing in one policies/*.toml file, and compares what `as check` prints with the golden
line `policies/FILE:LINE: message`. Expected lines are found by searching the edited text,
so the tests survive edits to the pack's comments and ordering.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aftersales
from aftersales.errors import InputError
from aftersales.policy import check_policy, load_policy
from aftersales.tomlmap import key_lines, tomllib

REPO = Path(__file__).resolve().parent.parent
PACK_POLICIES = Path(aftersales.__file__).parent / "pack" / "policies"


# ------------------------------------------------------------------ helpers


def edit(shop: Path, name: str, old: str, new: str) -> str:
    """Replace the first `old` with `new` in policies/<name>; return the edited text."""
    path = shop / "policies" / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{name} no longer contains {old!r}; update the test"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text


def line_no(text: str, line: str, after: int = 0) -> int:
    """1-based number of the first line after line `after` that reads exactly `line`."""
    lines = text.splitlines()
    return lines.index(line, after) + 1


def reported(result) -> list:
    """The `FILE:LINE: message; fix` of each problem `as check` printed: the message line with
    its `hint: fix` line joined by "; " (records and markers under a message are indented)."""
    out: list = []
    for ln in result.stdout.splitlines():
        if ln.startswith("hint: ") and out:
            out[-1] += "; " + ln[len("hint: "):]
        elif ln and not ln.startswith("    "):
            out.append(ln)
    return out


def check(run, *args):
    return run(*args, "check")


# ---------------------------------------------------------- the default pack


def test_default_pack_has_no_problems(shop, run):
    policy, problems = check_policy(PACK_POLICIES.parent)
    assert problems == []
    assert policy is not None

    r = check(run)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout == f"ok: {shop} has no problems\n"


def test_load_policy_of_fresh_shop(shop):
    policy = load_policy(shop)
    assert policy.shop.name == "示例小店"
    assert policy.staff_member("a01").role == "agent"


# The demo shop is the default pack plus the Olist mappings and Brazil's states as zones.
DEMO_ONLY = {"imports.toml"}
DEMO_EXTENDED = {"logistics.toml"}


def test_demo_shop_policies_are_the_pack():
    pack = {p.name: p.read_bytes() for p in sorted(PACK_POLICIES.glob("*.toml"))}
    demo = {p.name: p.read_bytes() for p in sorted((REPO / "policies").glob("*.toml"))}
    assert sorted(demo) == sorted(set(pack) | DEMO_ONLY)
    for name in set(pack) - DEMO_EXTENDED:
        assert demo[name] == pack[name], f"policies/{name} differs from aftersales/pack/policies/{name}"


def test_the_demo_logistics_only_adds_regions():
    from aftersales.tomlmap import load

    pack_regions = load((PACK_POLICIES / "logistics.toml").read_text(encoding="utf-8"), "pack").data["logistics"]
    demo_regions = load((REPO / "policies" / "logistics.toml").read_text(encoding="utf-8"), "demo").data["logistics"]
    for zid in pack_regions["zones"]:
        p, d = pack_regions["zones"][zid].pop("regions"), demo_regions["zones"][zid].pop("regions")
        assert d[: len(p)] == p, f"the demo's {zid} must keep the pack's regions first"
    assert demo_regions == pack_regions  # nothing else differs


# ------------------------------------------------------------ unreadable files


def _break_syntax(shop) -> str:
    """Drop the ']' of a table header; return the golden problem line."""
    text = edit(shop, "staff.toml", "[roles.lead]\n", "[roles.lead\n")
    line = line_no(text, "[roles.lead")
    return f"policies/staff.toml:{line}: invalid TOML: Expected ']' at the end of a table declaration; fix the syntax on that line"


def _break_encoding(shop) -> str:
    """Save shop.toml as GBK; return the golden problem line."""
    path = shop / "policies" / "shop.toml"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("gbk"))
    line = line_no(text, 'name = "示例小店"')  # the first non-ASCII byte
    return f"policies/shop.toml:{line}: not UTF-8 text; save the file as UTF-8"


def test_invalid_toml_syntax(shop, run):
    expected = _break_syntax(shop)

    r = check(run)
    assert r.exit_code == 2
    message, hint = expected.split("; ")
    assert message + "\n    [roles.lead\n    ^^^^^^^^^^^\nhint: " + hint + "\n" in r.stdout  # the line, marked, then the fix


def test_policy_file_not_utf8(shop, run):
    expected = _break_encoding(shop)

    r = check(run)
    assert r.exit_code == 2
    assert expected in reported(r)


@pytest.mark.parametrize("breaker", [_break_syntax, _break_encoding], ids=["syntax", "encoding"])
def test_unreadable_file_is_the_only_problem(shop, run, breaker):
    """The sections of a file that cannot be read are not 'missing': say only what is wrong."""
    expected = breaker(shop)

    r = check(run)
    assert r.exit_code == 2
    assert reported(r) == [expected]

    with pytest.raises(InputError) as e:
        load_policy(shop)
    assert "; ".join(filter(None, (e.value.message, e.value.hint))) == expected  # the fix is the hint


# ----------------------------------------------------- keys, sections, types


def test_unknown_key_with_close_match(shop, run):
    text = edit(shop, "staff.toml", 'id = "a02"\n', 'id = "a02"\ndepartmnt = "cs"\n')
    line = line_no(text, 'departmnt = "cs"')

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/staff.toml:{line}: unknown key 'departmnt'; did you mean 'department'?"]
    assert r.stderr == "1 problem found\n"


def test_unknown_key_without_close_match_lists_known_keys(shop, run):
    text = edit(shop, "shop.toml", 'currency = "CNY"\n', 'currency = "CNY"\nowner = "x"\n')
    line = line_no(text, 'owner = "x"')

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/shop.toml:{line}: unknown key 'owner'; known: calendar, currency, evidence_max_mb, form_of_address, name, timezone"]


def test_unknown_section(shop, run):
    text = edit(shop, "shop.toml", "[shop]\n", '[shopp]\nname = "x"\n\n[shop]\n')
    line = line_no(text, "[shopp]")

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/shop.toml:{line}: unknown section 'shopp'; did you mean 'shop'?"]


def test_unknown_section_written_as_subtable_has_a_line(shop, run):
    """`[rolez.optimizer]` is the usual way to misspell a section; its line must be named."""
    text = edit(shop, "staff.toml", "[roles.optimizer]\n", "[rolez.optimizer]\n")
    line = line_no(text, "[rolez.optimizer]")

    r = check(run)
    assert r.exit_code == 1
    assert f"policies/staff.toml:{line}: unknown section 'rolez'; did you mean 'roles'?" in reported(r)


def test_wrong_type(shop, run):
    text = edit(shop, "staff.toml", "rank = 2\n", 'rank = "2"\n')
    line = line_no(text, 'rank = "2"')

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f'policies/staff.toml:{line}: must be an integer, not a string ("2")']


def test_missing_required_key(shop, run):
    text = edit(shop, "staff.toml", 'name = "王总监"\n', "")
    header = line_no(text, 'id = "d01"') - 1  # the entry's [[staff]] line
    assert text.splitlines()[header - 1] == "[[staff]]"

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/staff.toml:{header}: missing required key 'name'"]


def test_missing_required_section(shop, run):
    (shop / "policies" / "shop.toml").unlink()

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == ["policies: missing required section 'shop'"]


# ------------------------------------------------------------------ references

REFERENCES = [
    pytest.param(
        "staff.toml", 'role = "director"', 'role = "directer"',
        "unknown role 'directer'; did you mean 'director'?", id="staff-role",
    ),
    pytest.param(
        "staff.toml", 'department = "qc"', 'department = "qcc"',
        "unknown department 'qcc'; did you mean 'qc'?", id="staff-department",
    ),
    pytest.param(
        "staff.toml", 'reports_to = "gm"', 'reports_to = "gn"',
        "unknown staff member 'gn'; known: a01, a02, a03, d01, e01, gm, l01, m01, o01, p01, q01, w01",
        id="staff-reports-to",
    ),
    pytest.param(
        "tickets.toml", 'kind = "complaint"', 'kind = "complain"',
        "unknown kind 'complain'; did you mean 'complaint'?", id="category-kind",
    ),
    pytest.param(
        "tickets.toml", 'priority = "P0"', 'priority = "P9"',
        "unknown priority 'P9'; known: P0, P1, P2, P3", id="category-priority",
    ),
    pytest.param(
        "tickets.toml", 'evidence = ["item", "six_sides"]', 'evidence = ["itme", "six_sides"]',
        "unknown evidence kind 'itme'; did you mean 'item'?", id="category-evidence",
    ),
    pytest.param(
        "routing.toml", 'department = "warehouse"', 'department = "warehous"',
        "unknown department 'warehous'; did you mean 'warehouse'?", id="rule-department",
    ),
    pytest.param(
        "timers.toml", 'clock = "cn"', 'clock = "cm"',
        "unknown clock 'cm'; use \"calendar\" for wall-clock time or a calendar id: cn", id="timer-clock",
    ),
]


@pytest.mark.parametrize("file, old, new, message", REFERENCES)
def test_reference_to_unknown_name(shop, run, file, old, new, message):
    text = edit(shop, file, old, new)
    line = line_no(text, new)

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/{file}:{line}: {message}"]


# ------------------------------------------------------------------ duplicates


def test_duplicate_staff_id(shop, run):
    text = edit(shop, "staff.toml", 'id = "a03"', 'id = "a02"')
    first = line_no(text, 'id = "a02"')
    second = line_no(text, 'id = "a02"', after=first)

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/staff.toml:{second}: duplicate staff id 'a02' (first at line {first})"]


def test_duplicate_rule_name(shop, run):
    text = edit(shop, "routing.toml", 'name = "batch-quality-defect"', 'name = "technical-fault"')
    first = line_no(text, 'name = "technical-fault"')
    second = line_no(text, 'name = "technical-fault"', after=first)

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/routing.toml:{second}: duplicate rule name 'technical-fault' (rule 2, line {first}, has it too)"]


def test_section_in_two_files(shop, run):
    text = edit(shop, "shop.toml", "[shop]\n", '[escalation]\nevery = "4h"\n\n[shop]\n')
    first = line_no(text, "[escalation]")
    timers = (shop / "policies" / "timers.toml").read_text(encoding="utf-8")
    second = line_no(timers, "[escalation]")

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [
        f"policies/timers.toml:{second}: section 'escalation' is already defined in "
        f"policies/shop.toml:{first}; keep it in one file"
    ]


def test_section_of_subtables_in_two_files(shop, run):
    """A section written only as [demands.x] subtables (most of the pack) still has a line."""
    text = edit(shop, "shop.toml", "[shop]\n", '[demands.gift]\nname = "赠品"\n\n[shop]\n')
    first = line_no(text, "[demands.gift]")
    tickets = (shop / "policies" / "tickets.toml").read_text(encoding="utf-8")
    second = line_no(tickets, "[demands.refund]")

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [
        f"policies/tickets.toml:{second}: section 'demands' is already defined in "
        f"policies/shop.toml:{first}; keep it in one file"
    ]


# ------------------------------------------------------------ malformed values

MALFORMED = [
    pytest.param(
        "compensation.toml", 'duplicate_window = "10m"', 'duplicate_window = "30 minutes"',
        '"30 minutes" is not a duration; write it like "30m", "24h", "3d" or "1wd"', id="duration",
    ),
    pytest.param(
        "calendars.toml", 'wed = ["09:00-12:00", "13:30-18:00"]', 'wed = ["9-12", "13:30-18:00"]',
        '"9-12" is not working hours; write it like "09:00-12:00"', id="working-hours",
    ),
    pytest.param(
        "compensation.toml", 'cap = "10.00"', "cap = 10.5",
        'write amounts as strings, e.g. "10.00", so no float rounding creeps in',
        id="cap-float",
    ),
    pytest.param(
        "reports.toml", 'fast_refund_max = "200.00"', 'fast_refund_max = "200.005"',
        '"200.005" has more than two decimal places (fen are the smallest unit)', id="money-3-decimals",
    ),
]


@pytest.mark.parametrize("file, old, new, message", MALFORMED)
def test_malformed_value(shop, run, file, old, new, message):
    text = edit(shop, file, old, new)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(new))

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"policies/{file}:{line}: {message}"]


# ------------------------------------------------------------------- routing

CATCH_ALL = """\
[[rules]]
name = "everything-to-cs"
stop = true
[rules.when]
[rules.then]
department = "cs"

"""


def test_unreachable_rule(shop, run):
    later = '[[rules]]\nname = "technical-fault"\n'
    text = edit(shop, "routing.toml", later, CATCH_ALL + later)
    line = line_no(text, 'name = "technical-fault"')

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [
        f"policies/routing.toml:{line}: rule 'technical-fault' is unreachable: rule 'everything-to-cs' "
        "before it matches every ticket and stops; move it up or drop stop = true"
    ]


# --------------------------------------------------------- all problems, ordered


def _four_problems(shop) -> list[tuple[str, int, str]]:
    """Break two files in ways found by different checks, in an order unlike the output's."""
    staff = edit(shop, "staff.toml", 'role = "specialist"\ndepartment = "qc"', 'role = "specialst"\ndepartment = "qc"')
    staff = edit(shop, "staff.toml", 'reports_to = "gm"', 'reports_to = "gn"')
    tickets = edit(shop, "tickets.toml", 'kind = "complaint"', 'kind = "complain"')
    routing = edit(shop, "routing.toml", 'department = "warehouse"', 'department = "warehous"')
    return [
        ("policies/routing.toml", line_no(routing, 'department = "warehous"'),
         "unknown department 'warehous'; did you mean 'warehouse'?"),
        ("policies/staff.toml", line_no(staff, 'reports_to = "gn"'),
         "unknown staff member 'gn'; known: a01, a02, a03, d01, e01, gm, l01, m01, o01, p01, q01, w01"),
        ("policies/staff.toml", line_no(staff, 'role = "specialst"'),
         "unknown role 'specialst'; did you mean 'specialist'?"),
        ("policies/tickets.toml", line_no(tickets, 'kind = "complain"'),
         "unknown kind 'complain'; did you mean 'complaint'?"),
    ]


def test_every_problem_in_one_run_sorted_by_file_and_line(shop, run):
    expected = _four_problems(shop)
    assert [e[:2] for e in expected] == sorted(e[:2] for e in expected)

    r = check(run)
    assert r.exit_code == 1
    assert reported(r) == [f"{f}:{line}: {msg}" for f, line, msg in expected]
    assert r.stderr == "4 problems found\n"


@pytest.mark.parametrize(
    "argv", [("--format", "json", "check"), ("check", "--format", "json")], ids=["global-option", "command-option"]
)
def test_check_json(shop, run, argv):
    expected = _four_problems(shop)

    r = run(*argv)
    assert r.exit_code == 1
    # the fix is its own field, and the offending source line is the record
    assert json.loads(r.stdout) == [
        {"file": f, "line": line, "message": msg.split("; ")[0], "hint": msg.split("; ", 1)[1],
         "record": (shop / f).read_text(encoding="utf-8").splitlines()[line - 1].strip()}
        for f, line, msg in expected
    ]
    assert json.loads(r.stdout)[0]["record"] == 'department = "warehous"'


def test_check_json_when_clean(shop, run):
    r = run("--format", "json", "check")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == []


def test_load_policy_names_the_first_problem(shop):
    (file, line, message), *rest = _four_problems(shop)
    with pytest.raises(InputError) as e:
        load_policy(shop)
    message, hint = message.split("; ")
    assert e.value.message == f"{file}:{line}: {message} (and 3 more problems: `aftersales check` lists them)"
    assert e.value.hint == hint
    assert len(e.value.problems) == 1 + len(rest)


def test_other_commands_refuse_a_broken_policy(shop, run):
    text = edit(shop, "staff.toml", 'id = "a02"\n', 'id = "a02"\ndepartmnt = "cs"\n')
    line = line_no(text, 'departmnt = "cs"')

    r = run("ticket", "list")
    assert r.exit_code == 2
    assert r.stderr == (f"error: policies/staff.toml:{line}: unknown key 'departmnt'\n"  # the source line, marked
                        '    departmnt = "cs"\n    ^^^^^^^^^^^^^^^^\n'
                        "hint: did you mean 'department'?\n")


# --------------------------------------------------------------- tomlmap

TOML_SAMPLE = '''\
# arrays of tables, nested
[[rules]]
name = "a"
[rules.when]
kinds = ["x"]

[[rules]]
name = "b"
[[rules.steps]]
do = 1
[[rules.steps]]
do = 2

[[rules]]
name = "c"

[timers.t]
applies.kinds = ["complaint"]
applies.abnormal = true
limits = { warn = [
  1,
  2], hard = 3 }
people = [
  { id = "a01" },
  { id = "a02", tags = [
      "x"] },
]
note = """
first line
second line"""
after_note = 1
lit = \'\'\'
raw \\ "quotes" [brackets] # no comment
\'\'\'
after_lit = "# not a comment"
"quoted.key" = 2
'''


def test_key_lines_sample():
    lines = key_lines(TOML_SAMPLE)
    tomllib.loads(TOML_SAMPLE)  # the sample is valid TOML
    expected = {
        ("rules",): 2,
        ("rules", 0): 2,
        ("rules", 0, "name"): 3,
        ("rules", 0, "when"): 4,
        ("rules", 0, "when", "kinds"): 5,
        ("rules", 0, "when", "kinds", 0): 5,
        ("rules", 1): 7,
        ("rules", 1, "name"): 8,
        ("rules", 1, "steps", 0): 9,
        ("rules", 1, "steps", 0, "do"): 10,
        ("rules", 1, "steps", 1): 11,
        ("rules", 1, "steps", 1, "do"): 12,
        ("rules", 2): 14,
        ("rules", 2, "name"): 15,
        ("timers", "t"): 17,
        ("timers", "t", "applies", "kinds"): 18,
        ("timers", "t", "applies", "abnormal"): 19,
        ("timers", "t", "limits"): 20,
        ("timers", "t", "limits", "warn"): 20,
        ("timers", "t", "limits", "warn", 0): 21,
        ("timers", "t", "limits", "warn", 1): 22,
        ("timers", "t", "limits", "hard"): 22,
        ("timers", "t", "people"): 23,
        ("timers", "t", "people", 0): 24,
        ("timers", "t", "people", 0, "id"): 24,
        ("timers", "t", "people", 1): 25,
        ("timers", "t", "people", 1, "id"): 25,
        ("timers", "t", "people", 1, "tags"): 25,
        ("timers", "t", "people", 1, "tags", 0): 26,
        ("timers", "t", "note"): 28,
        ("timers", "t", "after_note"): 31,
        ("timers", "t", "lit"): 32,
        ("timers", "t", "after_lit"): 35,
        ("timers", "t", "quoted.key"): 36,
    }
    assert {path: lines.get(path) for path in expected} == expected


def test_key_lines_records_implicit_parent_tables():
    """A table made only by `[a.b]` headers or `a.b = ...` dotted keys gets the line it first appears on."""
    lines = key_lines('# roster\n[roles.agent]\nname = "x"\n\n[roles.lead]\nname = "y"\n')
    assert lines[("roles",)] == 2
    lines = key_lines("x = 1\napplies.kinds = []\n")
    assert lines[("applies",)] == 2


# ------------------------------------------------------ key_lines, property

_bare_key = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
_any_key = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8)
_one_line_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_multi_line_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\') | st.just("\n"), max_size=20
)


def _toml_string(s: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but TOML also escapes DEL."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    bare = key and all(c in string.ascii_letters + string.digits + "_-" for c in key)
    return key if bare else _toml_string(key)


@st.composite
def _value(draw):
    """(TOML text of a value, the Python value)."""
    kind = draw(st.sampled_from(["int", "bool", "string", "multiline", "array"]))
    if kind == "int":
        n = draw(st.integers(-10**6, 10**6))
        return str(n), n
    if kind == "bool":
        b = draw(st.booleans())
        return str(b).lower(), b
    if kind == "string":
        s = draw(_one_line_text)
        return _toml_string(s), s
    if kind == "multiline":
        s = draw(_multi_line_text)
        return '"""\n' + s + '"""', s
    items = draw(st.lists(st.integers(0, 99), max_size=4))
    sep = draw(st.sampled_from([", ", ",\n  "]))
    return "[" + sep.join(map(str, items)) + "]", items


_tables = st.dictionaries(
    _bare_key,
    st.dictionaries(_any_key, _value(), max_size=5),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(tables=_tables, gap=st.sampled_from(["", "\n", "# comment [x] = 1\n"]))
def test_key_lines_property(tables, gap):
    out: list[str] = []
    expected: dict = {}

    def write(chunk: str) -> int:
        """Append text; return the 1-based line it starts on."""
        start = "".join(out).count("\n") + 1
        out.append(chunk)
        return start

    for name, entries in tables.items():
        write(gap)
        expected[(name,)] = write(f"[{name}]\n")
        for key, (value_text, _) in entries.items():
            write(gap)
            expected[(name, key)] = write(f"{_toml_key(key)} = {value_text}\n")
    text = "".join(out)

    parsed = tomllib.loads(text)
    assert parsed == {n: {k: v for k, (_, v) in e.items()} for n, e in tables.items()}
    lines = key_lines(text)
    assert {path: lines.get(path) for path in expected} == expected
