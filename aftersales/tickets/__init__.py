"""Tickets as append-only events: the model and its fold, the fast scan of open tickets,
intake and the lifecycle verbs, evidence files, and the ledger's checks.

    model      Event, Ticket, fold, reading the ledger, resolving typed IDs
    scan       the open tickets, read backwards from the end of the ledger
    lifecycle  intake and the verbs (reply, wait, close …): validated events, not yet written
    evidence   photos and videos stored by content hash
    checks     what `as check` verifies in tickets.csv

What each event type means lives in `aftersales.events`.
"""

from .evidence import EVIDENCE_DIR, evidence_path, store_evidence
from .lifecycle import ChecklistRefused, category_defaults, close, event, intake, missing_for_close
from .model import (AMOUNT_FIELDS, LEDGER, OPEN_STATUSES, STATUSES, Event, Ticket, _event, append_events, fold,
                    iter_events, load_ticket, load_tickets, mask_phone, resolve_id)
from .scan import iter_tickets, load_open_tickets, load_since, scan_open_records

__all__ = [
    "EVIDENCE_DIR", "evidence_path", "store_evidence", "ChecklistRefused", "category_defaults", "close", "event", "intake",
    "missing_for_close", "AMOUNT_FIELDS", "LEDGER", "OPEN_STATUSES", "STATUSES", "Event", "Ticket", "_event",
    "append_events", "fold", "iter_events", "load_ticket", "load_tickets", "mask_phone", "resolve_id",
    "iter_tickets", "load_open_tickets", "load_since", "scan_open_records",
]
