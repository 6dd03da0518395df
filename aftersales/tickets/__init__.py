"""Tickets as append-only events: the model and its fold, the fast scan of open tickets,
intake and the lifecycle verbs, evidence files, and the ledger's checks.

    model      Event, Ticket, fold, reading the ledger, resolving typed IDs
    scan       the open tickets, read backwards from the end of the ledger
    lifecycle  intake and the verbs (reply, wait, close …): validated events, not yet written
    evidence   photos and videos stored by content hash
    checks     what `as check` verifies in tickets.csv

What each event type means lives in `aftersales.events`. The names below are imported
from their module when first used (a command that only lists kept decisions never
loads the lifecycle, nor through it the policy model).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .evidence import EVIDENCE_DIR, evidence_path, store_evidence
    from .lifecycle import ChecklistRefused, category_defaults, close, event, intake, missing_for_close
    from .model import (AMOUNT_FIELDS, LEDGER, OPEN_STATUSES, STATUSES, Event, Ticket, _event, append_events, fold,
                        iter_events, load_ticket, load_tickets, mask_phone, resolve_id)
    from .scan import iter_tickets, load_open_tickets, load_since, scan_open_records

_FROM = {
    "evidence": ("EVIDENCE_DIR", "evidence_path", "store_evidence"),
    "lifecycle": ("ChecklistRefused", "category_defaults", "close", "event", "intake", "missing_for_close"),
    "model": ("AMOUNT_FIELDS", "LEDGER", "OPEN_STATUSES", "STATUSES", "Event", "Ticket", "_event", "append_events",
              "fold", "iter_events", "load_ticket", "load_tickets", "mask_phone", "resolve_id"),
    "scan": ("iter_tickets", "load_open_tickets", "load_since", "scan_open_records"),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}

__all__ = list(_MODULE)


_SUBMODULES = frozenset(("checks", "evidence", "lifecycle", "listing", "model", "scan"))


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:  # `tickets.scan` without an import of it first
        return importlib.import_module(f"{__name__}.{name}")
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
