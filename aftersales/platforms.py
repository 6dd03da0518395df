"""Platform exports in: the order and refund files staff download from Taobao/Tmall, JD,
Pinduoduo and Douyin, read by built-in profiles recognised from the header row.

A profile (`pack/profiles/NAME.toml`; a shop overrides or adds one in
`policies/platforms/NAME.toml`) names the platform, the kind of file (orders | refunds),
the header names that recognise it, and for each canonical field the file's column.

Reading is streaming: one row at a time, whatever the file's size. Each cell is cleaned
of the platforms' quirks (`="…"` wrappers, tab padding, `-`/`--` for empty, full-width
parentheses and line breaks in header names, `元` after amounts, status prefixes such as
`(删除)`), IDs stay text, and an ID a spreadsheet already turned into a number
(`3.45679E+18`) is refused with the fix.

What it feeds (see `plan_rows`): each order becomes a row of the `orders` ledger (the
facts a ticket needs) and, with a waybill, of `shipments`; a refund or after-sales
request opens a ticket of the right category, its platform deadline kept on the ticket;
later status changes append `set` events. Importing the same file again adds nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
import time
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from .errors import InputError, Problem

PROFILE_DIR = Path(__file__).parent / "pack" / "profiles"
SHOP_PROFILE_DIR = Path("policies") / "platforms"
KINDS = ("orders", "refunds", "tracking")

#: Canonical fields a profile may map; IDs are kept as text and checked for number damage.
ID_FIELDS = ("order", "sub_order", "refund", "waybill", "return_waybill", "phone")
TIME_FIELDS = ("created_at", "paid_at", "ship_by", "shipped_at", "signed_at", "applied_at", "deadline", "finished_at",
               "time")
MONEY_FIELDS = ("item_amount", "shipping_fee", "order_amount", "refund_amount")
STATUS_FIELDS = ("status", "after_sales")
TEXT_FIELDS = ("buyer", "receiver", "address", "province", "city", "district", "street", "product", "courier",
               "remark", "goods_status", "type", "reason", "description", "return_courier",
               "state", "detail", "context")  # the last three: tracking feeds (快递100, 快递鸟)
FIELDS = ID_FIELDS + TIME_FIELDS + MONEY_FIELDS + STATUS_FIELDS + TEXT_FIELDS

#: Platform-neutral after-sales types (kept next to the raw platform status).
AFTER_SALES_TYPES = ("refund_only", "return_refund", "exchange", "reship", "repair")
#: after-sales type -> ticket category, unless the profile's [categories] says otherwise.
DEFAULT_CATEGORIES = {"refund_only": "return_request", "return_refund": "return_request",
                      "exchange": "return_request", "reship": "short_wrong", "repair": "tech_fault", "": "return_request"}
#: Values of an after-sales status that mean "no request".
NO_AFTER_SALES = ("", "无退款申请", "无售后", "无售后或售后取消", "售后取消", "无", "未申请")

# ------------------------------------------------------------------ ledgers


def _schemas():
    from .ledger import Schema, _c

    orders = Schema("orders", (
        _c("order", required=True), _c("at", "time", True), _c("platform", required=True), _c("status"),
        _c("buyer"), _c("receiver"), _c("phone"), _c("address"), _c("destination"),
        _c("item_amount", "money"), _c("shipping_fee", "money"), _c("order_amount", "money"),
        _c("created_at", "time"), _c("paid_at", "time"), _c("ship_by", "time"), _c("shipped_at", "time"),
        _c("signed_at", "time"), _c("waybill"), _c("courier"), _c("product"), _c("remark"), _c("after_sales"),
        _c("source"),
    ), "platform orders (订单): the facts a ticket needs; a later row for the same order updates it")
    return (orders,)


def register_ledgers() -> None:
    """Declare the `orders` and `tracking` ledgers next to the others (idempotent).

    Merge note: move the schema into ledger.LEDGERS and drop this function."""
    from . import ledger

    for s in _schemas():
        ledger.LEDGERS.setdefault(s.name, s)
    from .tracking import register_ledger

    register_ledger()


ORDER_COLUMNS = ("order", "at", "platform", "status", "buyer", "receiver", "phone", "address", "destination",
                 "item_amount", "shipping_fee", "order_amount", "created_at", "paid_at", "ship_by", "shipped_at",
                 "signed_at", "waybill", "courier", "product", "remark", "after_sales", "source")
SHIPMENT_FIELDS = ("waybill", "courier_id", "destination", "shipped_at", "signed_at")


# ------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class Profile:
    name: str
    platform: str  # the channel of the tickets it opens
    kind: str  # orders | refunds
    title: str
    columns: Mapping[str, tuple]  # canonical field -> normalised header names, first present wins
    recognise: tuple  # normalised header names that must all be present
    encoding: str = ""
    types: Mapping[str, str] = field(default_factory=dict)  # raw after-sales type -> AFTER_SALES_TYPES
    categories: Mapping[str, str] = field(default_factory=dict)  # after-sales type -> ticket category
    done: tuple = ()  # raw statuses that end the request (the platform deadline stops)
    file: str = ""
    provider: str = ""  # tracking: kuaidi100 | kdniao
    locker_remind_after: str = "24h"  # tracking: remind the customer of a parcel in a locker after this


_FULLWIDTH = str.maketrans({"（": "(", "）": ")", "：": ":", "，": ",", "　": ""})
_SPACE = re.compile(r"[\s\u3000\ufeff\u200b]+")


def norm_header(name: str) -> str:
    """A header name as compared: no spaces or line breaks, half-width brackets, no `="…"`."""
    return _SPACE.sub("", unwrap(name).translate(_FULLWIDTH))


def unwrap(value: str) -> str:
    s = value.strip()
    if s.startswith('="') and s.endswith('"') and len(s) >= 3:
        return s[2:-1].strip()
    if s.startswith("=") and s[1:].strip().isdigit():
        return s[1:].strip()
    return s


def _profile_from(data: dict, name: str, file: str) -> Profile:
    def bad(msg):
        return InputError(f"{file}: {msg}")

    known = {"title", "platform", "kind", "encoding", "recognise", "columns", "types", "categories", "done",
             "provider", "locker_remind_after"}
    extra = set(data) - known
    if extra:
        raise bad(f"unknown key '{sorted(extra)[0]}'; a profile has {', '.join(sorted(known))}")
    kind = data.get("kind", "")
    if kind not in KINDS:
        raise bad(f"kind = '{kind}': use one of {', '.join(KINDS)}")
    cols = data.get("columns") or {}
    key = "waybill" if kind == "tracking" else "order"
    if not isinstance(cols, dict) or key not in cols:
        raise bad(f"[columns] must map at least '{key}' to the file's {key} column")
    if kind == "tracking" and data.get("provider") not in ("kuaidi100", "kdniao"):
        raise bad("a tracking profile needs provider = \"kuaidi100\" or \"kdniao\" (whose status codes it carries)")
    out = {}
    for f, src in cols.items():
        if f not in FIELDS:
            from .schema import closest

            raise bad(f"[columns] unknown field '{f}'; {closest(f, FIELDS)}")
        names = (src,) if isinstance(src, str) else tuple(src)
        out[f] = tuple(norm_header(n) for n in names)
    if kind == "refunds" and "refund" not in out:
        raise bad("a refunds profile must map 'refund' (the refund or service-order number)")
    types = {str(k).strip(): v for k, v in (data.get("types") or {}).items()}
    for k, v in types.items():
        if v not in AFTER_SALES_TYPES:
            raise bad(f"[types] '{k}' = '{v}': use one of {', '.join(AFTER_SALES_TYPES)}")
    recognise = tuple(norm_header(h) for h in data.get("recognise") or ())
    if not recognise:
        raise bad("recognise must list the header names that identify the file")
    return Profile(name, str(data.get("platform", "")), kind, str(data.get("title", name)), out, recognise,
                   str(data.get("encoding", "")), types, dict(data.get("categories") or {}),
                   tuple(data.get("done") or ()), file, str(data.get("provider", "")),
                   str(data.get("locker_remind_after", "24h")))


def load_profiles(root: Optional[Path] = None) -> dict:
    """name -> Profile: the built-in ones, then the shop's policies/platforms/*.toml over them."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    out = {}
    dirs = [(PROFILE_DIR, "aftersales/pack/profiles")]
    if root is not None:
        dirs.append((Path(root) / SHOP_PROFILE_DIR, str(SHOP_PROFILE_DIR)))
    for d, rel in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.toml")):
            file = f"{rel}/{p.name}"
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise InputError(f"{file}: not a readable TOML profile ({e}); fix it or remove it") from None
            out[p.stem] = _profile_from(data, p.stem, file)
    return out


def check_profiles(ctx) -> list:
    """For `as check`: every shop profile in policies/platforms/ must load."""
    d = Path(ctx.root) / SHOP_PROFILE_DIR
    problems = []
    if d.is_dir():
        for p in sorted(d.glob("*.toml")):
            try:
                from .tomlmap import tomllib

                _profile_from(tomllib.loads(p.read_text(encoding="utf-8-sig")), p.stem, f"{SHOP_PROFILE_DIR}/{p.name}")
            except InputError as e:
                problems.append(Problem(f"{SHOP_PROFILE_DIR}/{p.name}", 0, e.message.split(": ", 1)[-1]))
            except Exception as e:  # TOML syntax, encoding
                problems.append(Problem(f"{SHOP_PROFILE_DIR}/{p.name}", 0, f"not a readable TOML profile: {e}"))
    return problems


def recognise(header: list, profiles: dict) -> Optional[Profile]:
    """The profile whose recognising names are all in `header` (normalised), the most specific first."""
    names = {norm_header(h) for h in header}
    hits = [p for p in profiles.values() if set(p.recognise) <= names]
    if not hits:
        return None
    return max(hits, key=lambda p: (len(p.recognise), sum(1 for c in p.columns.values() if set(c) & names)))


# ------------------------------------------------------------------ cells

EMPTY = frozenset(("-", "--", "—", "——", "null", "NULL", "None", "无退款申请"))
_STATUS_PREFIX = re.compile(r"^\s*(?:[(（【\[][^)）】\]]*[)）】\]]\s*)+")
#: What a spreadsheet makes of a long number: 3.45679E+18, 4.56789012345679e+18.
SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_DECIMALS = re.compile(r"\d+\.0+")


def clean(value: str) -> str:
    """A cell without the platforms' quirks: padding, `="…"`, a leading ', dashes for empty."""
    s = value.strip()
    if not s:
        return s
    c = s[0]
    if c == "=":
        s = unwrap(s)
    elif c == "'" and s[1:].strip().isdigit():
        s = s[1:].strip()
    return "" if s in EMPTY else s


def strip_status(value: str) -> str:
    """`(删除)等待出库` -> `等待出库`."""
    return _STATUS_PREFIX.sub("", value).strip()


def id_problem(column: str, value: str) -> Optional[str]:
    """What is wrong with an ID cell, with the fix; None when it is fine."""
    if "." not in value and "e" not in value and "E" not in value:
        return None
    if SCIENTIFIC.match(value):
        return (f"column {column}: '{value}' is a number in scientific notation: a spreadsheet rounded this ID and its "
                "digits are lost. Download the export again from the platform and import it without opening and "
                "saving it in Excel/WPS (or, in the spreadsheet, set the column to Text before pasting)")
    if _DECIMALS.fullmatch(value):
        return (f"column {column}: '{value}' is an ID saved as a number with decimals by a spreadsheet; download the "
                "export again, or set the column to Text and retype it")
    return None


# ------------------------------------------------------------------ reading, streaming


def detect_encoding(head: bytes, file: str) -> str:
    """The encoding of a file from its first bytes: UTF-8 (BOM or not), else GB18030."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    dec: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
    try:
        dec.decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    dec = codecs.getincrementaldecoder("gb18030")()
    try:
        dec.decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError as e:
        line = head[: e.start].count(b"\n") + 1
        raise InputError(f"{file}:{line}: neither UTF-8 nor GBK/GB18030 text (byte 0x{head[e.start]:02x}); "
                         "pass --encoding with the file's encoding (e.g. --encoding big5)") from None


def _columns_of(prof: Profile, header: list) -> tuple:
    """(canonical field -> column index, canonical field -> the header name as the file writes it)."""
    normed = [norm_header(h) for h in header]
    index, names = {}, {}
    for f_, alts in prof.columns.items():
        for a in alts:
            if a in normed:
                index[f_] = normed.index(a)
                names[f_] = clean(header[index[f_]]).replace("\n", "")
                break
    return index, names


@dataclass
class Opened:
    """A platform file being read: its profile, header and where each field is."""

    file: str
    encoding: str
    profile: Profile
    header: list
    header_line: int
    index: dict  # canonical field -> column index
    names: dict  # canonical field -> the header name as written in the file (for messages)
    size: int
    rows: Iterator  # (line, raw row) after the header
    handle: Any = None
    plan: Any = None  # how read_row reads each field (`_plan`)
    lines: Any = None  # () -> the physical lines read so far (csv's line_num), for a CSV file

    def position(self) -> int:
        try:
            return self.handle.buffer.tell()
        except (AttributeError, ValueError, OSError):
            return 0

    def close(self):
        if self.handle is not None:
            self.handle.close()


def open_export(path, profiles: dict, profile_name: Optional[str] = None, encoding: Optional[str] = None) -> Opened:
    """Open a platform export for streaming: find the header row (among the first 20) and its profile.

    InputError when the file cannot be read or decoded, or no profile recognises it."""
    file = str(path)
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        return _open_xlsx(p, profiles, profile_name)
    try:
        size = p.stat().st_size
        raw = open(p, "rb")
    except OSError as e:
        raise InputError(f"{file}: cannot read: {e.strerror}") from None
    if encoding:
        try:
            enc = codecs.lookup(encoding).name
        except LookupError:
            raw.close()
            raise InputError(f"--encoding {encoding}: unknown encoding; use utf-8, gbk or gb18030") from None
        enc = "utf-8-sig" if enc == "utf-8" else enc
    else:
        enc = detect_encoding(raw.read(1 << 16), file)
        raw.seek(0)
    handle = io.TextIOWrapper(raw, encoding=enc, newline="", errors="strict")
    reader = csv.reader(handle)
    forced = None
    if profile_name:
        if profile_name not in profiles:
            from .schema import closest

            handle.close()
            raise InputError(f"--profile {profile_name}: unknown profile; {closest(profile_name, profiles)}")
        forced = profiles[profile_name]

    def fail(line, e):
        handle.close()
        if isinstance(e, UnicodeDecodeError):
            other = "utf-8" if enc == "gb18030" else "gb18030"
            shown = {"utf-8-sig": "UTF-8", "gb18030": "GBK/GB18030"}.get(enc, enc)
            return InputError(f"{file}:{line}: not {shown} text; pass --encoding {other} (the platforms export "
                              "UTF-8 or GBK/GB18030)")
        return InputError(f"{file}:{line}: malformed CSV: {e}; fix the quoting on that line")

    prev_end = 0
    seen = []
    header = header_line = prof = None
    try:
        for row in reader:
            start, prev_end = prev_end + 1, reader.line_num
            if not any(c.strip() for c in row):
                continue
            seen.append(row)
            prof = forced if forced is not None and _covers(forced, row) else (
                None if forced is not None else recognise(row, profiles))
            if prof is not None:
                header, header_line = row, start
                break
            if len(seen) >= 20:
                break
    except (UnicodeDecodeError, csv.Error) as e:
        raise fail(prev_end + 1, e) from None
    if header is None:
        handle.close()
        first = seen[0] if seen else []
        cols = ", ".join(clean(c) for c in first[:8] if c.strip())
        if forced is not None:
            missing = [h for h in forced.recognise if h not in {norm_header(c) for c in first}]
            raise InputError(f"{file}: no header row has the columns profile '{forced.name}' needs "
                             f"({', '.join(missing)} missing in: {cols or 'an empty file'}); check the file or the profile")
        raise InputError(f"{file}: no platform profile recognises this file (its first columns: {cols or 'none'}); "
                         f"pass --profile NAME (known: {', '.join(sorted(profiles))}), or describe the export in "
                         f"{SHOP_PROFILE_DIR}/NAME.toml")
    assert prof is not None and header_line is not None  # found above, or refused
    index, names = _columns_of(prof, header)

    def rows():
        nonlocal prev_end
        try:
            for row in reader:
                start, prev_end = prev_end + 1, reader.line_num
                if not any(map(str.strip, row)):
                    continue
                yield start, row
        except (UnicodeDecodeError, csv.Error) as e:
            raise fail(prev_end + 1, e) from None
        finally:
            handle.close()

    return Opened(file, enc, prof, header, header_line, index, names, size, rows(), handle,
                  lines=lambda: reader.line_num)


def _cell_text(v) -> str:
    """A workbook cell as the text a CSV export would have held."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if abs(v) >= 1e15:
            return f"{v:.15G}"  # an ID stored as a number: its digits are gone (refused as such)
        return repr(round(v, 6))
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    return str(v)


def _open_xlsx(p: Path, profiles: dict, profile_name: Optional[str]) -> Opened:
    """A platform export saved as .xlsx, read as a stream (openpyxl's read-only mode), first sheet."""
    file = str(p)
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise InputError(f"{file}: reading .xlsx needs openpyxl: pip install 'aftersales[xlsx]' (or save the "
                         "export as CSV)") from None
    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except OSError as e:
        raise InputError(f"{file}: cannot read: {e.strerror}") from None
    except Exception as e:  # not a workbook (zip or XML errors)
        raise InputError(f"{file}: not a readable .xlsx workbook ({e}); open it and save it again, or export CSV") from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    forced = profiles.get(profile_name) if profile_name else None
    if profile_name and forced is None:
        from .schema import closest

        wb.close()
        raise InputError(f"--profile {profile_name}: unknown profile; {closest(profile_name, profiles)}")
    header = prof = None
    header_line = 0
    seen = []
    for n, values in enumerate(it, 1):
        row = [_cell_text(v) for v in values]
        if not any(c.strip() for c in row):
            continue
        seen.append(row)
        prof = (forced if _covers(forced, row) else None) if forced is not None else recognise(row, profiles)
        if prof is not None:
            header, header_line = row, n
            break
        if len(seen) >= 20:
            break
    if header is None:
        wb.close()
        cols = ", ".join(clean(c) for c in (seen[0] if seen else [])[:8] if c.strip())
        raise InputError(f"{file}: no platform profile recognises its first sheet (its first columns: {cols or 'none'}); "
                         f"pass --profile NAME (known: {', '.join(sorted(profiles))}), or describe the export in "
                         f"{SHOP_PROFILE_DIR}/NAME.toml")
    assert prof is not None and header_line is not None  # found above, or refused
    index, names = _columns_of(prof, header)

    class _Handle:
        buffer = None

        def close(self):
            wb.close()

    def rows():
        try:
            for n, values in enumerate(it, header_line + 1):
                row = [_cell_text(v) for v in values]
                if any(c.strip() for c in row):
                    yield n, row
        finally:
            wb.close()

    return Opened(file, "xlsx", prof, header, header_line, index, names, 0, rows(), _Handle())


def _covers(p: Profile, row: list) -> bool:
    return set(p.recognise) <= {norm_header(c) for c in row}


# ------------------------------------------------------------------ one row


@dataclass
class Record:
    """One source row read through its profile."""

    line: int
    raw: list
    values: dict  # canonical field -> normalised text ("" when empty)
    problems: list  # messages


_AMOUNTS: dict = {}  # cell -> normalised amount: a file repeats its prices and fees


def _amount(cell: str) -> str:
    got = _AMOUNTS.get(cell)
    if got is None:
        from .spreadsheet import parse_source_amount

        got = str(parse_source_amount(cell))  # ValueError says what is wrong
        if len(_AMOUNTS) < 50000:
            _AMOUNTS[cell] = got
    return got


_STATUSES: dict = {}  # status cell -> without its prefix: a file repeats a few statuses


def _plan(op: Opened, tz) -> tuple:
    """How `read_row` reads each field of `op`: (fields as (name, index, kind, header name), the
    hours of source times in `tz`), made once per file."""
    from .spreadsheet import _Hours

    if op.plan is None or op.plan[1].tz is not tz:
        kinds = [(f_, i, 0 if f_ in ID_FIELDS else 1 if f_ in TIME_FIELDS else 2 if f_ in MONEY_FIELDS
                  else 3 if f_ in STATUS_FIELDS else 4, op.names[f_]) for f_, i in op.index.items()]
        op.plan = (kinds, _Hours(tz))
    return op.plan


def read_row(op: Opened, line: int, raw: list, tz, _fns: list = []) -> Record:
    if not _fns:
        from .ledger import format_time
        from .spreadsheet import _REST_OK, parse_source_time

        _fns.extend((format_time, parse_source_time, _REST_OK))
    format_time, parse_source_time, rest_ok = _fns
    plan = op.plan
    fields, hours = plan if plan is not None and plan[1].tz is tz else _plan(op, tz)
    v: dict = {}
    msgs: list = []
    n = len(raw)
    for f_, i, kind, col in fields:
        if i < n:
            cell = raw[i].strip()
            if cell and (cell[0] in "='" or cell in EMPTY):
                cell = clean(cell)
        else:
            cell = ""
        if not cell:
            v[f_] = ""
        elif kind == 0:  # an ID
            if "." in cell or "e" in cell or "E" in cell:
                bad = id_problem(col, cell)
                if bad:
                    msgs.append(bad)
            v[f_] = cell.replace(" ", "")
        elif kind == 1:  # a time: "2026-11-20 10:05:00" in a plain hour at once, else parsed
            hour = hours[cell[:13]] if len(cell) == 19 and cell[13:] in rest_ok else None
            if hour:
                v[f_] = hour[0] + cell[13:] + hour[1]
                continue
            try:
                v[f_] = format_time(parse_source_time(cell, tz))
            except ValueError as e:
                msgs.append(f"column {col}: '{cell}' is not a time: {e}")
                v[f_] = ""
        elif kind == 2:
            try:
                v[f_] = _amount(cell)
            except ValueError as e:
                msgs.append(f"column {col}: {e}")
                v[f_] = ""
        elif kind == 3:
            status = _STATUSES.get(cell)
            if status is None:
                status = strip_status(cell)
                if len(_STATUSES) < 10000:
                    _STATUSES[cell] = status
            v[f_] = status
        else:
            v[f_] = " ".join(cell.split())
    if op.profile.kind == "tracking":
        for f_ in ("waybill", "state", "time"):
            if not v.get(f_) and not msgs:
                msgs.append(f"column {op.names.get(f_) or f_}: empty; every tracking row needs a waybill, a state and a time")
        return Record(line, raw, v, msgs)
    if not v.get("order"):
        msgs.append(f"column {op.names.get('order') or 'order'}: the order number is empty; every row needs one")
    if op.profile.kind == "refunds" and not v.get("refund"):
        msgs.append(f"column {op.names.get('refund') or 'refund'}: the refund number is empty; every row needs one")
    return Record(line, raw, v, msgs)


_COURIERS = (("顺丰", "sf"), ("中通", "zto"), ("圆通", "yto"), ("申通", "sto"), ("韵达", "yunda"), ("京东", "jd"),
             ("邮政", "ems"), ("EMS", "ems"), ("极兔", "jt"), ("德邦", "deppon"), ("百世", "best"))


def courier_id(policy, name: str) -> str:
    """The policy's courier id for a platform's courier name (顺丰速运 -> sf), else ""."""
    if not name or policy.logistics is None:
        return ""
    known = policy.logistics.couriers
    if name in known:
        return name
    for cid, c in known.items():
        if getattr(c, "name", "") and (c.name in name or name in c.name):
            return cid
    for word, cid in _COURIERS:
        if word.lower() in name.lower() and cid in known:
            return cid
    return ""


def destination(v: dict) -> str:
    """Province and city, for the logistics zones: 浙江省杭州市."""
    if v.get("province"):
        return v["province"] + v.get("city", "")
    addr = v.get("address", "")
    parts = addr.split()
    if len(parts) >= 2:
        return parts[0] + parts[1]
    return addr[:9]


def order_row(v: dict, profile: Profile, policy, now_text: str) -> dict:
    addr = v.get("address", "")
    if not addr and v.get("province"):
        addr = " ".join(x for x in (v.get("province"), v.get("city"), v.get("district"), v.get("street")) if x)
    after = v.get("after_sales", "")
    return {
        "order": v["order"], "at": now_text, "platform": profile.platform, "status": v.get("status", ""),
        "buyer": v.get("buyer", ""), "receiver": v.get("receiver", ""), "phone": v.get("phone", ""),
        "address": addr, "destination": destination(v),
        "item_amount": v.get("item_amount", ""), "shipping_fee": v.get("shipping_fee", ""),
        "order_amount": v.get("order_amount", ""), "created_at": v.get("created_at", ""),
        "paid_at": v.get("paid_at", ""), "ship_by": v.get("ship_by", ""), "shipped_at": v.get("shipped_at", ""),
        "signed_at": v.get("signed_at", ""), "waybill": v.get("waybill", ""), "courier": v.get("courier", ""),
        "product": v.get("product", ""), "remark": v.get("remark", ""),
        "after_sales": "" if after in NO_AFTER_SALES else after, "source": profile.name,
    }


def merge_rows(a: dict, b: dict) -> dict:
    """Two rows of one order (one per item): the first non-empty value of each field, products joined."""
    out = dict(a)
    for k, val in b.items():
        if not val:
            continue
        if not out.get(k):
            out[k] = val
        elif k == "product" and val not in out[k].split("；") and len(out[k]) < 200:
            out[k] = out[k] + "；" + val
    return out


def fingerprint(row: dict, cols) -> int:
    return hash(tuple(row.get(c, "") for c in cols))


_ORDER_FP = tuple(c for c in ORDER_COLUMNS if c not in ("at", "source"))
_SHIP_FP = ("waybill", "courier", "destination", "shipped_at", "signed_at")


_M32 = 0xFFFFFFFF
_ORDER_FP_OF, _SHIP_FP_OF, _ORDER_VALUES = itemgetter(*_ORDER_FP), itemgetter(*_SHIP_FP), itemgetter(*ORDER_COLUMNS)


def state_value(row: dict) -> int:
    """One int per order (memory: ~105 bytes an order in the state dict): the high 32 bits
    fingerprint the order's facts, the low 32 bits its shipment."""
    try:  # an order row has every column: its values as fingerprint takes them
        return ((hash(_ORDER_FP_OF(row)) & _M32) << 32) | (hash(_SHIP_FP_OF(row)) & _M32)
    except KeyError:
        return ((fingerprint(row, _ORDER_FP) & _M32) << 32) | (fingerprint(row, _SHIP_FP) & _M32)


# ------------------------------------------------------------------ after-sales requests


def request_of(v: dict, profile: Profile) -> Optional[dict]:
    """The after-sales request a row carries, or None: refund files always, order files when
    their after-sales status says one was made."""
    if profile.kind == "refunds":
        status = v.get("status", "")
        ref = v["refund"]
    else:
        status = v.get("after_sales", "")
        if status in NO_AFTER_SALES:
            return None
        ref = v.get("sub_order") or v["order"]
    raw_type = v.get("type", "")
    typ = profile.types.get(raw_type, raw_type if raw_type in AFTER_SALES_TYPES else "")
    return {"ref": f"{profile.platform}:{ref}", "status": status, "type": typ, "raw_type": raw_type,
            "deadline": v.get("deadline", ""), "done": status in profile.done}


def existing_requests(root: Path) -> dict:
    """platform ref -> {'ticket', 'status', 'deadline', 'done'} from the ticket ledger."""
    import json

    from . import ledger

    out: dict = {}
    if not ledger.ledger_path(root, "tickets").exists():
        return out
    by_ticket: dict = {}
    for _line, row in ledger.records(root, "tickets"):
        tid, _at, _by, typ, ref, text, data = row
        if typ == "open" and "platform_ref" in data:
            try:
                d = json.loads(data)
            except ValueError:
                continue
            if d.get("platform_ref"):
                rec = {"ticket": tid, "status": d.get("platform_status", ""),
                       "deadline": d.get("platform_deadline", ""), "done": d.get("platform_done", "")}
                out[d["platform_ref"]] = rec
                by_ticket[tid] = rec
        elif typ == "set" and tid in by_ticket and ref in ("platform_status", "platform_deadline", "platform_done"):
            by_ticket[tid][ref.split("_", 1)[1]] = text
    return out


def order_facts(root: Path, orders: set) -> dict:
    """order -> its latest facts from the orders ledger, for the given order numbers only."""
    from . import ledger

    register_ledgers()
    out: dict = {}
    if not orders or not ledger.ledger_path(root, "orders").exists():
        return out
    names = ledger.schema_of("orders").column_names
    if len(orders) <= 8:
        found = _grep_orders(ledger.ledger_path(root, "orders"), orders, names)
        if found is not None:
            return found
    for _line, row in ledger.records(root, "orders"):
        if row[0] in orders:
            rec = dict(zip(names, row))
            cur = out.get(row[0])
            if cur is None:
                out[row[0]] = rec
            else:
                cur.update({k: x for k, x in rec.items() if x})
    return out


def _grep_orders(path: Path, orders: set, names: tuple) -> Optional[dict]:
    """order_facts for a few orders without parsing the whole ledger: find the lines that
    start with each order number (`ticket new --order X` on a shop with a million orders).
    None when a found line does not parse as one whole record (then the caller reads it all)."""
    import mmap

    out: dict = {}
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return out
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            for order in orders:
                needle = b"\n" + order.encode("utf-8") + b","
                pos = m.find(needle)
                while pos != -1:
                    end = m.find(b"\n", pos + 1)
                    line = m[pos + 1: end if end != -1 else len(m)].decode("utf-8")
                    rows = list(csv.reader([line]))
                    if len(rows) != 1 or len(rows[0]) != len(names):
                        return None
                    rec = dict(zip(names, rows[0]))
                    if order in out:
                        out[order].update({k: x for k, x in rec.items() if x})
                    else:
                        out[order] = rec
                    pos = m.find(needle, pos + 1)
    return out


def ticket_values(facts: dict, given: dict) -> dict:
    """Intake fields an order fills in (amounts, shipping fee, phone, address, customer,
    waybill, courier, purchase time), under what was given explicitly."""
    out = {}
    if facts:
        phone = facts.get("phone", "")
        from .tickets.lifecycle import _PHONE

        pairs = {"customer": facts.get("receiver") or facts.get("buyer"),
                 "phone": phone if phone and _PHONE.match(phone) else "",
                 "address": facts.get("address"), "order_amount": facts.get("order_amount"),
                 "shipping_fee": facts.get("shipping_fee"), "waybill": facts.get("waybill"),
                 "purchased_at": facts.get("paid_at") or facts.get("created_at")}
        if facts.get("item_amount") and facts.get("order_amount"):
            from decimal import Decimal

            if Decimal(facts["item_amount"]) <= Decimal(facts["order_amount"]):
                pairs["item_amount"] = facts["item_amount"]
        out = {k: x for k, x in pairs.items() if x and not (k in ("order_amount", "shipping_fee", "item_amount")
                                                           and x.strip("0.") == "")}  # free shipping: no fee
    out.update({k: x for k, x in given.items() if x not in (None, "")})
    return out


def fill_from_order(root: Path, values: dict) -> dict:
    """`ticket new --order X`: the intake values with what the orders ledger knows of X."""
    order = str(values.get("order") or "").strip()
    if not order:
        return values
    facts = order_facts(Path(root), {order}).get(order)
    if not facts:
        return values
    merged = ticket_values(facts, values)
    if "courier" not in values and facts.get("courier"):
        pass  # the platform's courier name is not a policy id; --courier stays the staff's to give
    return merged


def open_ticket(policy, now: dt.datetime, by: str, values: dict, platform: dict) -> list:
    """The events that open a ticket for an imported request: intake, then routing.

    Intake and routing are `actions.plan_open`, as for `ticket new`, logistics and reviews;
    `platform` (ref, status, deadline, type) rides in the open row's data."""
    from .actions import plan_open

    o = plan_open(policy, now, by, values)  # the one "open a ticket" of every command
    o.events[0].data.update({k: x for k, x in platform.items() if x})
    return o.events


def summary_of(req: dict, v: dict, profile: Profile) -> str:
    kind = {"refund_only": "仅退款", "return_refund": "退货退款", "exchange": "换货", "reship": "补寄",
            "repair": "维修"}.get(req["type"], "售后")
    bits = [f"{profile.title} {kind} {req['ref'].split(':', 1)[1]}", req["status"]]
    if v.get("refund_amount"):
        bits.append(f"¥{v['refund_amount']}")
    for k in ("reason", "description"):
        if v.get(k):
            bits.append(v[k])
    return ": ".join(bits[:1]) + " " + " ".join(b for b in bits[1:] if b)


def request_events(policy, now: dt.datetime, by: str, req: dict, v: dict, profile: Profile, facts: dict,
                   known: Optional[dict]) -> list:
    """Events for one after-sales request: a new ticket, status changes on a known one, or nothing.

    InputError when the ticket cannot be opened (the message names the field)."""
    from .tickets import Event

    if known is not None:
        evs = []
        tid = known["ticket"]
        for key in ("status", "deadline"):
            if req[key] and req[key] != known.get(key, ""):
                evs.append(Event(tid, now, by, "set", f"platform_{key}", req[key]))
        if req["done"] and not known.get("done"):
            evs.append(Event(tid, now, by, "set", "platform_done", "yes"))
        return evs
    cats = {**DEFAULT_CATEGORIES, **profile.categories}
    category = cats.get(req["type"], cats[""])
    if category not in policy.categories:
        from .schema import closest

        raise InputError(f"after-sales type '{req['type'] or 'unknown'}' maps to category '{category}', which the "
                         f"policy lacks; set [categories] in a profile of {SHOP_PROFILE_DIR}/ "
                         f"({closest(category, policy.categories)})")
    given = {"channel": profile.platform if profile.platform in policy.channels else "", "category": category,
             "order": v["order"], "summary": summary_of(req, v, profile)}
    if v.get("buyer"):
        given["customer"] = v["buyer"]
    values = ticket_values(facts or {}, given)
    if not values.get("channel"):
        raise InputError(f"profile '{profile.name}': platform '{profile.platform}' is not a channel of the policy; "
                         "add it under [channels] in policies/tickets.toml")
    cat = policy.categories[category]
    missing = [f for f in cat.required if f not in values]
    if missing:
        raise InputError(f"category '{category}' needs {', '.join(missing)}, which neither the row nor the orders "
                         f"ledger gives; import the order export first, or map the category in [categories] of a profile")
    platform = {"platform_ref": req["ref"], "platform_status": req["status"], "platform_deadline": req["deadline"],
                "platform_type": req["type"], "platform_done": "yes" if req["done"] else "",
                "refund_amount": v.get("refund_amount", "")}
    return open_ticket(policy, now, by, values, platform)


# ------------------------------------------------------------------ the platform's deadline as a time limit


def deadline_cycles(policy, t, now: dt.datetime) -> list:
    """A time-limit cycle for the platform's own deadline (超时时间) of an imported request.

    It runs from the opening to the deadline and stops when the ticket is resolved or
    closed, or the platform says the request is done. Hooked into sla.evaluate."""
    if not _may_have_deadline(t):
        return []
    deadline = t.fields.get("platform_deadline")
    if not deadline:
        return []
    from .ledger import parse_time
    from .policy import Duration, Timer
    from .sla import Cycle

    try:
        due = parse_time(deadline)
    except ValueError:
        return []
    start = t.opened_at
    if start is None or start > now:
        return []
    timer = _deadline_timer(Timer, Duration, due - start)
    c = Cycle("platform_deadline", timer, start)
    for e in t.events:
        if e.at > now:
            break
        if e.type in ("resolve", "close") or (e.type == "set" and e.ref == "platform_done" and e.text):
            c.stop, c.stopped_by = e.at, ("resolve" if e.type != "close" else "close")
            break
    c.deadline = due
    total = (due - start).total_seconds() or 1
    if c.stop is not None:
        c.state = "met" if c.stop <= due else "missed"
        c.used = (c.stop - start).total_seconds() / total
        return [c]
    c.used = (now - start).total_seconds() / total
    c.state = "breached" if now > due else ("warning" if c.used >= timer.warn_at else "ok")
    return [c]


def _may_have_deadline(t) -> bool:
    """Cheap: does any field event mention a platform deadline? (most tickets: no JSON parsed)."""
    for e in getattr(t, "_field_events", ()):
        if e.type == "set":
            if e.ref == "platform_deadline":
                return True
        elif e._data is None:
            if "platform_deadline" in e._raw:
                return True
        elif "platform_deadline" in e._data:
            return True
    return False


def _deadline_timer(Timer, Duration, span: dt.timedelta):
    from decimal import Decimal

    minutes = max(1, int(span.total_seconds() // 60))
    return Timer(name="平台处理时限", start="opened", stop="resolved", target=Duration(Decimal(minutes), "min"),
                 pause=(), seed="issue 14: the platform's own deadline (超时时间)")


# ------------------------------------------------------------------ progress


class Progress:
    """A progress line on a terminal (rows, rows per second, time left); silent otherwise."""

    def __init__(self, stream, total_bytes: int, label: str = "", every: float = 0.5):
        self.stream = stream
        self.on = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.total = total_bytes
        self.label = label
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, rows: int, pos: int) -> None:
        if not self.on:
            return
        t = time.monotonic()
        if t - self.last < self.every:
            return
        self.last = t
        el = max(t - self.started, 1e-6)
        rate = rows / el
        left = f"  {_clock((self.total - pos) / (pos / el))} left" if pos and self.total else ""
        self.stream.write(f"\r{self.label}{rows:,} rows  {rate:,.0f} rows/s{left}   ")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.on and self.shown:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# ------------------------------------------------------------------ importing a file


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged, "rejected": self.rejected}


@dataclass
class Outcome:
    """What importing one platform file did (or, in a dry run or when refused, would do)."""

    file: str
    profile: Profile
    encoding: str
    rows: int = 0
    orders: Counts = field(default_factory=Counts)
    shipments: Counts = field(default_factory=Counts)
    requests: Counts = field(default_factory=Counts)  # new = tickets opened, changed = tickets updated
    problems: list = field(default_factory=list)  # Problem per rejected row
    rejected_rows: list = field(default_factory=list)  # (line, raw row, message) for --rejects
    header: list = field(default_factory=list)
    written: bool = False

    def as_dict(self) -> dict:
        return {"file": self.file, "profile": self.profile.name, "title": self.profile.title,
                "platform": self.profile.platform, "kind": self.profile.kind, "encoding": self.encoding,
                "rows": self.rows, "orders": self.orders.as_dict(), "shipments": self.shipments.as_dict(),
                "tickets": {"opened": self.requests.new, "updated": self.requests.changed,
                            "unchanged": self.requests.unchanged, "rejected": self.requests.rejected},
                "rejected": len(self.problems), "written": self.written}


def _order_state(root: Path) -> dict:
    """(platform, order, profile) hash -> (fingerprint of the order, of its shipment) as the ledger has them."""
    from . import ledger

    out: dict = {}
    if not ledger.ledger_path(root, "orders").exists():
        return out
    names = ledger.schema_of("orders").column_names
    fo = itemgetter(*(names.index(c) for c in _ORDER_FP))
    fs = itemgetter(*(names.index(c) for c in _SHIP_FP))
    key = itemgetter(names.index("platform"), names.index("order"), names.index("source"))
    for _line, row in ledger.records(root, "orders"):
        out[hash(key(row))] = ((hash(fo(row)) & _M32) << 32) | (hash(fs(row)) & _M32)
    return out


def shipment_row(o: dict, policy, now_text: str) -> dict:
    return {"waybill": o["waybill"], "at": now_text, "order": o["order"], "courier": courier_id(policy, o["courier"]),
            "destination": o["destination"], "shipped_at": o["shipped_at"], "collected_at": "",
            "last_update_at": "", "signed_at": o["signed_at"], "signed_by": "", "source": o["source"]}


def import_export(root: Path, policy, path, now: dt.datetime, actor: Optional[str] = None, *,
                  profile: Optional[str] = None, encoding: Optional[str] = None, write: bool = True,
                  keep_going: bool = False, progress_stream=None, batch: int = 20000) -> Outcome:
    """Import one platform export: orders into `orders` and `shipments`, requests as tickets.

    One streaming pass over the file checks every row and counts what is new, changed,
    unchanged and rejected against the ledgers; the new and changed orders, and the
    events of the tickets to open or update, wait in temporary spool files. Only when
    writing and (without `keep_going`) nothing was rejected are they appended, in
    batches, under the ledger lock. Memory stays flat: one row at a time, plus an int per
    known order and a small record per known platform request. Re-running the same file
    adds nothing. InputError when the file as a whole cannot be used."""
    import tempfile

    from . import ledger
    from .ledger import format_time

    register_ledgers()
    root = Path(root)
    profiles = load_profiles(root)
    tz = policy.tz()
    now_text = format_time(now)
    op = open_export(path, profiles, profile, encoding)
    out = Outcome(op.file, op.profile, op.encoding, header=list(op.header))
    prof = op.profile
    if prof.kind == "tracking":
        from .tracking import import_tracking

        try:
            return import_tracking(root, policy, op, out, now, write=write, keep_going=keep_going,
                                   progress=Progress(progress_stream, op.size, ""))
        finally:
            op.close()
    size_before = _size(ledger.ledger_path(root, "orders"))
    state = _order_state(root) if prof.kind == "orders" else {}
    prog = Progress(progress_stream, op.size, "")
    spool = _Spool(policy, now_text, batch)  # the new and changed orders
    ev_spool = tempfile.TemporaryFile()  # the ticket events, in batches
    run = _Pass(root, policy, op, tz, now, now_text, actor, state, out, spool, ev_spool)
    try:
        split = _split_point(op, batch) if prof.kind == "orders" else None
        rows = 0
        left = op.rows
        if split is not None:
            rows, left = _in_two(run, split, prog)
        row = run.row
        for line, raw in left:
            rows += 1
            if rows % 4096 == 0:
                prog.update(rows, op.position())
            row(line, raw)
        run.end()
        out.rows = rows
        prog.done()
        if run.refunds:
            facts = order_facts(root, {v["order"] for _l, _r, _q, v in run.refunds})
            for line, raw, req, v in run.refunds:
                run.request(line, raw, req, v, facts.get(v["order"], {}))
        out.problems.sort(key=Problem.sort_key)
        if not write or (out.problems and not keep_going):
            return out
        state.clear()  # not needed any more: the write phase has its own memory
        with ledger.locked(root):
            _still_current(root, size_before, run.opening, set(run.known or ()))
            total = out.orders.new + out.orders.changed
            spool.write(root, Progress(progress_stream, total, "writing ") if total > batch else None)
            _write_events(root, policy, ev_spool, run.n_events)
        out.written = True
        return out
    finally:
        spool.close()
        ev_spool.close()
        op.close()


class _Pass:
    """The pass of `import_export` over an export's rows, a row at a time (`row`, then
    `end`): each checked and counted against the ledgers in `state`, the new and changed
    orders into `spool`, the events of the tickets to open or update into `ev_spool`."""

    def __init__(self, root: Path, policy, op: Opened, tz, now: dt.datetime, now_text: str, actor: Optional[str],
                 state: dict, out: "Outcome", spool: "_Spool", ev_spool):
        self.root, self.policy, self.op, self.tz, self.now, self.now_text, self.actor = \
            root, policy, op, tz, now, now_text, actor
        self.state, self.out, self.spool, self.ev_spool = state, out, spool, ev_spool
        self.refunds: list = []  # refund rows: their tickets need the orders ledger, read once after the pass
        self.pending: Optional[dict] = None  # the order being read: its rows are adjacent (one per item)
        self.known: Optional[dict] = None  # platform ref -> its ticket, read at the first request
        self.seen: set = set()  # refs handled in this file
        self.opening: set = set()  # refs this import opens a ticket for
        self.n_events = 0
        self.keys: Any = None  # in the later half's process (`_in_two`): the keys of the orders flushed there
        self.first: Optional[str] = None  # the first order a row gave (its rows may go on before it)
        from .ledger import format_time, parse_time

        self.parse_time, self.format_time, self.orders = parse_time, format_time, op.profile.kind == "orders"

    def row(self, line: int, raw: list) -> None:
        op = self.op
        prof = op.profile
        rec = read_row(op, line, raw, self.tz)
        msgs, v, o = rec.problems, rec.values, None
        if not msgs and self.orders:
            o = order_row(v, prof, self.policy, self.now_text)
            if o["shipped_at"] and o["signed_at"] and \
                    self.parse_time(o["shipped_at"]) > self.parse_time(o["signed_at"]):
                msgs = [f"column {op.names.get('signed_at', 'signed_at')}: signed at {o['signed_at']}, before it "
                        f"was shipped ({o['shipped_at']}); one of them is wrong"]
        if msgs:
            out = self.out
            msg = "; ".join(msgs)
            out.problems.append(Problem(op.file, line, msg, _csv_text(raw)))
            out.rejected_rows.append((line, raw, msg))
            if prof.kind == "orders":
                out.orders.rejected += 1
            else:
                out.requests.rejected += 1
            return
        req = request_of(v, prof)
        if req is not None:
            if o is not None:
                self.request(line, raw, req, v, o)  # an order file: the row has the order's facts
            else:
                self.refunds.append((line, raw, req, v))
        if o is None:
            return
        pending = self.pending
        if pending is not None and pending["order"] == o["order"]:
            self.pending = merge_rows(pending, o)
        else:
            if pending is not None:
                self.flush()
            elif self.first is None:
                self.first = o["order"]
            self.pending = o

    def end(self) -> None:
        if self.pending is not None:
            self.flush()

    def flush(self) -> None:
        o, self.pending = self.pending, None
        assert o is not None
        key = hash((o["platform"], o["order"], o["source"]))  # each layout against its own last row
        if self.keys is not None:
            self.keys.append(key)
        new_val = state_value(o)
        state = self.state
        old = state.get(key)
        if old is not None and old < 0:
            old = ~old
        state[key] = ~new_val  # negative: flushed by this import (`_in_two` asks)
        counts = self.out.orders
        if old is not None and old >> 32 == new_val >> 32:
            counts.unchanged += 1
            return
        if old is None:
            counts.new += 1
        else:
            counts.changed += 1
        ship = bool(o["waybill"]) and (old is None or old & _M32 != new_val & _M32)
        if ship:
            if old is None:
                self.out.shipments.new += 1
            else:
                self.out.shipments.changed += 1
        self.spool.add(_ORDER_VALUES(o), ship)

    def request(self, line, raw, req, v, facts) -> None:
        """Decide one after-sales request now; its events wait in the events spool."""
        import pickle

        format_time = self.format_time
        out = self.out
        if req["ref"] in self.seen:
            return
        self.seen.add(req["ref"])
        if self.actor is None:
            raise InputError(f"{out.file}: it holds after-sales requests, which open tickets; pass --by "
                             "STAFF_ID or set AS_USER (--by system in cron)")
        if self.known is None:
            self.known = existing_requests(self.root)
        try:
            evs = request_events(self.policy, self.now, self.actor, req, v, self.op.profile, facts,
                                 self.known.get(req["ref"]))
        except InputError as e:
            out.problems.append(Problem(out.file, line, e.message, _csv_text(raw)))
            out.rejected_rows.append((line, raw, e.message))
            out.requests.rejected += 1
            return
        if not evs:
            out.requests.unchanged += 1
            return
        if evs[0].type == "open":
            out.requests.new += 1
            self.opening.add(req["ref"])
        else:
            out.requests.changed += 1
        pickle.dump([{"ticket": e.ticket, "at": format_time(e.at), "by": e.by, "type": e.type, "ref": e.ref,
                      "text": e.text, "data": e.data} for e in evs], self.ev_spool)
        self.n_events += len(evs)


#: an order export of at least this many bytes is read in two halves at once (`_in_two`)
SPLIT_MIN = 8 << 20


def _split_point(op: Opened, batch: int) -> Optional[tuple]:
    """(byte, line): where a big CSV order export can be read in two halves, the second by
    a forked process: the line break at or after its middle that an even number of quotes
    comes before (so most likely between two records), and the physical lines up to it.
    None for a small file, an .xlsx, an encoding whose bytes a line break byte can be part
    of, a lone carriage return before it (csv would count lines otherwise), or one processor."""
    from . import cache
    from .spreadsheet import _SPLITS  # the encodings in which a line break byte is always one

    if op.size < SPLIT_MIN or op.handle is None or op.lines is None or op.encoding not in _SPLITS \
            or cache.jobs() < 2:
        return None
    middle = op.size // 2
    quotes = line = cr = crlf = 0
    last = b""
    with open(op.file, "rb") as f:  # the first half counted a MiB at a time
        while f.tell() < middle:
            block = f.read(min(1 << 20, middle - f.tell()))
            if not block:
                return None
            quotes += block.count(b'"')
            line += block.count(b"\n")
            cr += block.count(b"\r")
            crlf += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
            last = block[-1:]
        at = f.tell()
        tail = f.read(1 << 20)
    cut = tail.find(b"\n") + 1
    if not cut:
        return None
    quotes += tail.count(b'"', 0, cut)
    while quotes & 1:  # inside a quoted text: the next line break, within the MiB read
        nl = tail.find(b"\n", cut) + 1
        if not nl:
            return None
        quotes += tail.count(b'"', cut, nl)
        cut = nl
    crlf += tail.count(b"\r\n", 0, cut) + (last == b"\r" and tail[:1] == b"\n")
    if cr + tail.count(b"\r", 0, cut) != crlf:
        return None
    line += tail.count(b"\n", 0, cut)
    return (at + cut, line) if line > op.header_line else None


def _in_two(run: _Pass, split: tuple, prog) -> tuple:
    """Read the rows of `run`'s export up to `split` (byte, line) here, and those after it
    in a forked process (cache.beside) at the same time, into its own spools; then take its
    counts, problems and spools as if read here. (rows read, the rows left to read here):
    none when the halves joined; the rest of the file when the halves do not join as one pass would read them (a record
    across the split, an order or request in both halves, a failed child), so that the
    answer, and any error, is the one of a single pass."""
    import io
    import shutil
    import tempfile
    from array import array
    from itertools import chain

    from . import cache

    op = run.op
    at, line_at = split
    mine = _Spool(run.policy, run.now_text, run.spool.batch)
    theirs_ev = tempfile.TemporaryFile()
    other = _Pass(run.root, run.policy, op, run.tz, run.now, run.now_text, run.actor, run.state,
                  Outcome(op.file, op.profile, op.encoding), mine, theirs_ev)

    def later() -> tuple:
        import csv

        with open(op.file, "rb") as f:
            f.seek(at)
            text = io.TextIOWrapper(f, encoding="utf-8" if op.encoding == "utf-8-sig" else op.encoding,
                                    newline="", errors="strict")
            reader = csv.reader(text)
            end = line_at
            for row in reader:
                start, end = end + 1, line_at + reader.line_num
                if any(map(str.strip, row)):
                    other.out.rows += 1
                    other.row(start, row)
        other.end()
        mine.cut()
        mine.file.flush()
        theirs_ev.flush()
        o = other.out
        return (o.rows, o.orders, o.shipments, o.requests, o.problems, o.rejected_rows, other.first, other.keys,
                other.seen, other.opening, other.n_events, set(other.known) if other.known is not None else None,
                mine.count, mine.careful)

    other.keys = array("q")
    answer = cache.beside(later)
    try:
        rows = 0
        scale = op.size / at
        lines = op.lines
        held: list = []  # a record after the split, pulled before it was known to be one
        for line, raw in op.rows:
            if line > line_at:  # the records before it ended at the split only if the last ended there
                held.append((line, raw))  # (a blank record, skipped, may have crossed it)
                if line - 1 != line_at:
                    answer(abandon=True)
                    return rows, chain(held, op.rows)
                break
            rows += 1
            if rows % 4096 == 0:
                prog.update(int(rows * scale), int(op.position() * scale))
            if lines() > line_at:  # a record across the split: one pass after all
                answer(abandon=True)
                run.row(line, raw)
                return rows, op.rows
            run.row(line, raw)
            if lines() == line_at:
                break
        got = answer()
        ok = got is not None and not (run.pending is not None and got[6] == run.pending["order"])
        if ok:
            run.end()
            state = run.state  # an order flushed here holds a negative value
            ok = all(state.get(k, 0) >= 0 for k in got[7]) and run.seen.isdisjoint(got[8])
        if not ok:  # read the rest here, as one pass would
            return rows, chain(held, op.rows)
        out = run.out
        n, orders, ships, reqs, problems, rejected, _first, _keys, seen, opening, n_events, known, count, careful = got
        for mine_c, theirs_c in ((out.orders, orders), (out.shipments, ships), (out.requests, reqs)):
            for k in ("new", "changed", "unchanged", "rejected"):
                setattr(mine_c, k, getattr(mine_c, k) + getattr(theirs_c, k))
        out.problems += problems
        out.rejected_rows += rejected
        run.seen |= seen
        run.opening |= opening
        run.n_events += n_events
        if known is not None:  # the requests either half found in the tickets ledger (_still_current)
            run.known = {**dict.fromkeys(known), **(run.known or {})}
        run.spool.cut()
        mine.file.seek(0)
        shutil.copyfileobj(mine.file, run.spool.file)
        run.spool.count += count
        run.spool.careful = run.spool.careful or careful
        theirs_ev.seek(0)
        shutil.copyfileobj(theirs_ev, run.ev_spool)
        return rows + n, ()
    except BaseException:
        answer(abandon=True)
        raise
    finally:
        mine.close()
        theirs_ev.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _still_current(root: Path, orders_size: int, opening: set, known: set) -> None:
    """Under the lock, before writing: refuse when another import wrote the same things
    meanwhile (the counts would be wrong and rows doubled); running again is safe."""
    from . import ledger

    if _size(ledger.ledger_path(root, "orders")) != orders_size:
        raise InputError("ledgers/orders.csv changed while this file was read (another import?); nothing was "
                         "written: run the import again, it adds only what is new")
    if opening and (set(existing_requests(root)) - known) & opening:
        raise InputError("another import opened tickets for the same requests while this file was read; nothing "
                         "was written: run the import again, it adds only what is new")


def _write_events(root: Path, policy, ev_spool, n: int, batch: int = 5000) -> None:
    """The ticket events of an import, from its spool, in batches (one batch holds whole tickets)."""
    import pickle

    from . import ledger

    if not n:
        return
    ev_spool.seek(0)
    rows: list = []
    while True:
        try:
            rows.extend(pickle.load(ev_spool))
        except EOFError:
            break
        if len(rows) >= batch:
            ledger.append(root, "tickets", rows, policy)
            rows = []
    if rows:
        ledger.append(root, "tickets", rows, policy)


class _Spool:
    """The new and changed orders of an import, and their shipments, waiting in a temporary
    file until the pass over the export is done: in blocks of up to 1024 orders, each
    encoded for the ledgers as it is cut when `ledger.BlockCheck` finds nothing wrong in
    it (most blocks), else kept as values. `write` appends them in one streaming pass
    (encoded blocks as they are; values by `ledger.append`, in batches of `batch` orders as
    the careful path always did, so the first refusal is the same). Memory: one block."""

    BLOCK = 1024

    def __init__(self, policy, now_text: str, batch: int):
        import tempfile

        from . import ledger

        self.policy, self.now_text, self.batch = policy, now_text, batch
        self.file = tempfile.TemporaryFile()
        self.rows: list = []  # the block being filled: order values
        self.ships: list = []  # ... and whether each has a new or changed shipment
        self.count = 0  # orders spooled
        self.careful = False  # a block was kept as values
        self.checks = (ledger.BlockCheck(ledger.schema_of("orders"), policy),
                       ledger.BlockCheck(ledger.schema_of("shipments"), policy))
        self.couriers: dict = {}  # platform courier name -> courier id

    def add(self, values: tuple, ship: bool) -> None:
        self.rows.append(values)
        self.ships.append(ship)
        self.count += 1
        if len(self.rows) >= self.BLOCK:
            self.cut()

    def cut(self) -> None:
        import marshal

        rows, ships = self.rows, self.ships
        if not rows:
            return
        self.rows, self.ships = [], []
        ship_rows = [self._shipment(r) for r, s in zip(rows, ships) if s]
        enc = (_encode_block(self.checks[0], rows), _encode_block(self.checks[1], ship_rows) if ship_rows else b"")
        if None in enc:
            self.careful = True
            marshal.dump((None, None, ships, rows), self.file)
        else:
            marshal.dump((enc[0], enc[1], ships, None), self.file)

    def _shipment(self, values: tuple) -> tuple:
        o = dict(zip(ORDER_COLUMNS, values))
        courier = self.couriers.get(o["courier"])
        if courier is None:
            courier = self.couriers[o["courier"]] = courier_id(self.policy, o["courier"])
        return (o["waybill"], self.now_text, o["order"], courier, o["destination"], o["shipped_at"], "", "",
                o["signed_at"], "", o["source"])

    def _blocks(self):
        import marshal

        self.file.seek(0)
        while True:
            try:
                yield marshal.load(self.file)
            except EOFError:
                return

    def write(self, root: Path, prog=None) -> None:
        """Append every spooled order and shipment (inside the caller's `ledger.locked`)."""
        from . import ledger

        self.cut()
        if self.careful:
            return self._write_careful(root, prog)
        written = 0
        with ledger.appending(root, "orders") as orders, ledger.appending(root, "shipments") as shipments:
            for ob, sb, _ships, _rows in self._blocks():
                orders(ob)
                if sb:
                    shipments(sb)
                written += ob.count(b"\n")
                if prog is not None:
                    prog.update(written, written)  # the total is in rows here
        if prog is not None:
            prog.done()

    def _entries(self):
        """(order values, ship) of each spooled order; encoded blocks read back (their shipments:
        the orders with a waybill whose shipment is in the block, in order)."""
        for ob, sb, ships, rows in self._blocks():
            if rows is None:
                rows = [tuple(r) for r in csv.reader(io.StringIO(ob.decode("utf-8"), newline=""))]
            yield from zip(rows, ships)

    def _write_careful(self, root: Path, prog=None) -> None:
        from . import ledger

        policy, now_text, batch = self.policy, self.now_text, self.batch
        spooled = self._entries()
        obatch, sbatch = [], []
        written = 0
        while True:
            values, ship = next(spooled, (None, False))
            if values is not None:
                o = dict(zip(ORDER_COLUMNS, values))
                obatch.append(o)
                if ship:
                    sbatch.append(shipment_row(o, policy, now_text))
            if obatch and (values is None or len(obatch) >= batch):
                ledger.append(root, "orders", obatch, policy)
                written += len(obatch)
                obatch = []
                if sbatch:
                    ledger.append(root, "shipments", sbatch, policy)
                    sbatch = []
                if prog is not None:
                    prog.update(written, written)  # the total is in rows here
            if values is None:
                break
        if prog is not None:
            prog.done()

    def close(self) -> None:
        self.file.close()


def _encode_block(check, rows: list) -> Optional[bytes]:
    """Rows (tuples of text, a ledger's columns) as `ledger.encode_rows` writes them, when
    `check` finds nothing wrong in any and no field is over the limit; else None."""
    from .ledger import MAX_FIELD, _field

    if check.columns(rows) is None:
        return None
    lines = list(map(",".join, rows))
    if max(map(len, lines)) > MAX_FIELD:
        return None
    text = "\n".join(lines) + "\n"
    if '"' in text or "\r" in text or text.count(",") != (check.width - 1) * len(rows) or text.count("\n") != len(rows):
        text = "".join(",".join(map(_field, r)) + "\n" for r in rows)
    return text.encode("utf-8")


def _csv_text(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()[:300]


def write_rejects(out: Outcome, target) -> None:
    """The rejected rows as in the source plus 'error', UTF-8 with BOM, to fix and import again."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(out.header) + ["error"])
    for _line, raw, msg in sorted(out.rejected_rows, key=lambda r: r[0]):
        w.writerow(list(raw) + [msg])
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(codecs.BOM_UTF8 + buf.getvalue().encode("utf-8"))
    tmp.replace(target)


# ------------------------------------------------------------------ the platform's ship-by deadline


@dataclass
class ShipDue:
    order: str
    platform: str
    ship_by: dt.datetime
    status: str
    state: str  # overdue | due


def ship_by_due(root: Path, now: dt.datetime, within: dt.timedelta) -> list:
    """Orders not shipped whose platform ship-by time (承诺发货时间) has passed or falls
    within `within` of `now`, as known at `now`; streaming, one small tuple per order
    that has a ship-by time."""
    from . import ledger
    from .ledger import parse_time

    register_ledgers()
    path = ledger.ledger_path(root, "orders")
    if not path.exists():
        return []
    names = ledger.schema_of("orders").column_names
    ix = {c: names.index(c) for c in ("order", "at", "platform", "status", "ship_by", "shipped_at", "waybill")}
    state: dict = {}
    for _line, row in ledger.records(root, "orders"):
        key = (row[ix["platform"]], row[ix["order"]])
        cur = state.get(key)
        if cur is None and not row[ix["ship_by"]]:
            continue
        if cur is not None and parse_time(row[ix["at"]]) > now:
            continue  # an update written after `now`
        shipped = bool(row[ix["shipped_at"]] or row[ix["waybill"]])
        if cur is None:
            state[key] = (row[ix["ship_by"]], row[ix["status"]], shipped)
        else:
            state[key] = (row[ix["ship_by"]] or cur[0], row[ix["status"]] or cur[1], cur[2] or shipped)
    out = []
    for (platform, order), (ship_by, status, shipped) in state.items():
        if shipped:
            continue
        t = parse_time(ship_by)
        if t - now <= within:
            out.append(ShipDue(order, platform, t, status, "overdue" if t < now else "due"))
    out.sort(key=lambda d: (d.ship_by, d.order))
    return out
