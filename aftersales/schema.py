"""Turn parsed TOML into frozen dataclasses, collecting every problem with its key path.

The dataclass is the schema: its fields' type hints say what each key holds, a field
without a default is required, and `field(metadata={"key": "from"})` names a TOML key
that is not a valid Python name. Types understood: str, int, float, bool, Decimal
(money), date, datetime, tuple[X, ...], Mapping[str, X], Optional[X], Literal[...],
nested dataclasses, and any class with a `from_toml(value)` classmethod that raises
ValueError with a message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import types
import typing
from decimal import Decimal

_BAD = object()


class Errors:
    """Collects (path, message) pairs while converting."""

    def __init__(self):
        self.items: list[tuple[tuple, str]] = []

    def add(self, path: tuple, message: str) -> None:
        self.items.append((tuple(path), message))


def closest(word: str, known) -> str:
    known = sorted(str(k) for k in known)
    same_case = [k for k in known if k.lower() == str(word).lower()]  # A01 -> a01, not w01 (issue 15)
    if same_case:
        return f"did you mean '{same_case[0]}'? (case matters)"
    match = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    if match:
        return f"did you mean '{match[0]}'?"
    return "known: " + (", ".join(known) if known else "none")


def describe(value) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f'a string ("{value}")'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime):
        return f"a date-time ({value.isoformat()})"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    return type(value).__name__


def parse_money(value) -> Decimal:
    """A non-negative amount in yuan with at most two decimal places; raises ValueError."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('write amounts as strings, e.g. "10.00", so no float rounding creeps in')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"must be an amount like \"10.00\", not {describe(value)}")
    from .money import parse_amount

    return parse_amount(value.replace(",", ""), allow_zero=True)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bool:
        return "true or false"
    if tp is dt.date:
        return "a date (2026-01-01)"
    if tp is dt.datetime:
        return "a date-time with offset (2026-01-01T09:00:00+08:00)"
    if origin in (tuple, list):
        return "an array"
    if dataclasses.is_dataclass(tp) or origin in (dict, typing.Mapping) or _is_mapping(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _is_mapping(tp) -> bool:
    import collections.abc

    return typing.get_origin(tp) in (collections.abc.Mapping, dict)


_hints_cache: dict = {}


def _hints(cls) -> dict:
    h = _hints_cache.get(cls)
    if h is None:
        h = typing.get_type_hints(cls)
        _hints_cache[cls] = h
    return h


def convert(tp, value, path: tuple, errs: Errors):
    """Convert one TOML value to type `tp`; on failure record errors and return _BAD."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        non_none = [a for a in args if a is not type(None)]
        if value is None:
            return None
        if len(non_none) == 1:
            return convert(non_none[0], value, path, errs)
        # a union of alternatives: the first that converts cleanly wins
        for alt in non_none:
            trial = Errors()
            out = convert(alt, value, path, trial)
            if out is not _BAD and not trial.items:
                return out
        errs.add(path, f"must be {' or '.join(_type_name(a) for a in non_none)}, not {describe(value)}")
        return _BAD

    if origin is typing.Literal:
        if value in args:
            return value
        errs.add(path, f"must be one of {', '.join(repr(a) for a in args)}, not {describe(value)}")
        return _BAD

    if hasattr(tp, "from_toml"):
        try:
            return tp.from_toml(value)
        except ValueError as e:
            errs.add(path, str(e))
            return _BAD

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errs.add(path, f"must be a table, not {describe(value)}")
            return _BAD
        return build(tp, value, path, errs)

    if origin in (tuple, list):
        if not isinstance(value, list):
            errs.add(path, f"must be an array, not {describe(value)}")
            return _BAD
        item_tp = args[0] if args else typing.Any
        out = [convert(item_tp, v, path + (i,), errs) for i, v in enumerate(value)]
        return _BAD if any(o is _BAD for o in out) else tuple(out)

    if _is_mapping(tp):
        if not isinstance(value, dict):
            errs.add(path, f"must be a table, not {describe(value)}")
            return _BAD
        val_tp = args[1] if len(args) == 2 else typing.Any
        out = {}
        for k, v in value.items():
            c = convert(val_tp, v, path + (k,), errs)
            out[k] = c
        if any(o is _BAD for o in out.values()):
            return _BAD
        return types.MappingProxyType(out)

    if tp is Decimal:
        try:
            return parse_money(value)
        except ValueError as e:
            errs.add(path, str(e))
            return _BAD

    if tp is typing.Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is dt.datetime:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                errs.add(path, "needs a UTC offset, e.g. 2026-06-18T00:00:00+08:00")
                return _BAD
            return value
    elif tp is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
    errs.add(path, f"must be {_type_name(tp)}, not {describe(value)}")
    return _BAD


def toml_key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def build(cls, data: dict, path: tuple, errs: Errors):
    """Build dataclass `cls` from a TOML table, reporting unknown, missing and mistyped keys."""
    hints = _hints(cls)
    fields = {toml_key(f): f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    bad = False
    for key, value in data.items():
        f = fields.get(key)
        if f is None:
            hint = getattr(cls, "MISPLACED", {}).get(key)
            errs.add(path + (key,), f"unknown key '{key}'; {hint or closest(key, fields)}")
            bad = True
            continue
        out = convert(hints[f.name], value, path + (key,), errs)
        if out is _BAD:
            bad = True
        else:
            kwargs[f.name] = out
    for key, f in fields.items():
        if key in data:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errs.add(path, f"missing required key '{key}'")
            bad = True
    if bad:
        return _BAD
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        for sub, message in check():
            errs.add(path + tuple(sub), message)
    return obj


BAD = _BAD
