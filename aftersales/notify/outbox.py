"""The outbox: what this machine queued for each channel, and what became of it.

It is an append-only CSV like the ledgers (same encoding, same validation), but it is
per-machine state, not shop records: it lives in `.aftersales/outbox.csv`, which `as init`
lists in .gitignore. Only the machine that holds the channels' secrets (the cron clone)
delivers, so only its outbox matters; keeping it out of git means no commit per run and
no merge of delivery bookkeeping. A news item is delivered once per channel: a `sent`
row is never followed by another attempt.

Rows, by state:
- queued   the news was first seen for this channel (news, kind, ticket, detail: a summary)
- sent     the news went out in `message` (a digest part's ID)
- failed   a delivery attempt failed and will be retried at `next_at` (channel-level: no news)
- refused  the platform refused for good (bad key, signature); `detail` holds the error and the
           fix, `message` the fingerprint of the secrets used: it is tried again only once the
           secret changes (or with `notify test`)
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..ledger import Column, Schema, encode_rows, ends_torn, locked, parse_time

STATE_DIR = ".aftersales"
STATES = ("queued", "sent", "failed", "refused")

SCHEMA = Schema("outbox", (
    Column("at", "time", True),
    Column("channel", "text", True),
    Column("state", "enum", True, choices=STATES),
    Column("news"),
    Column("kind"),
    Column("ticket"),
    Column("message"),
    Column("next_at", "time"),
    Column("detail"),
), "notification outbox (per machine, untracked)")


@contextmanager
def exclusive(root: Path, name: str):
    """Yield True when this process holds `.aftersales/<name>.lock`, False when another
    run holds it (a slow run overlapping the next cron run): that run is doing the work."""
    from filelock import FileLock, Timeout

    d = Path(root) / STATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(d / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def path_of(root: Path) -> Path:
    return Path(root) / STATE_DIR / "outbox.csv"


@dataclass
class ChannelState:
    queued: dict = field(default_factory=dict)  # news id -> row (dict)
    sent: dict = field(default_factory=dict)  # news id -> sent row
    fails: int = 0  # consecutive failed attempts since the last success
    next_at: Optional[dt.datetime] = None
    last_error: str = ""
    refused: Optional[dict] = None  # the refusal row, while it stands
    messages: list = field(default_factory=list)  # (at, message id) of parts sent

    def pending(self) -> list:
        return [r for nid, r in self.queued.items() if nid not in self.sent]


def read(root: Path) -> list:
    """Every complete row, as dicts; a last line cut off by a crash is ignored."""
    import csv
    import io

    p = path_of(root)
    if not p.exists():
        return []
    raw = p.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig", "replace"), newline="")))
    if not rows:
        return []
    names = SCHEMA.column_names
    if tuple(rows[0]) != names:
        from ..errors import InputError

        raise InputError(f"{STATE_DIR}/outbox.csv: header does not match ({','.join(names)}); move the file "
                         "away and run again (news already delivered may then be sent once more)")
    return [dict(zip(names, r)) for r in rows[1:] if len(r) == len(names)]


def states(rows: list) -> dict:
    """channel -> ChannelState, the fold of the outbox rows."""
    out: dict = {}
    for r in rows:
        st = out.setdefault(r["channel"], ChannelState())
        s = r["state"]
        if s == "queued":
            st.queued.setdefault(r["news"], r)
        elif s == "sent":
            if r["news"]:
                st.sent.setdefault(r["news"], r)
            st.messages.append((parse_time(r["at"]), r["message"]))
            st.fails, st.next_at, st.refused, st.last_error = 0, None, None, ""
        elif s == "failed":
            st.fails += 1
            st.next_at = parse_time(r["next_at"]) if r["next_at"] else None
            st.last_error = r["detail"]
        elif s == "refused":
            st.refused = r
            st.last_error = r["detail"]
    return out


def encode_value(v) -> str:
    from ..ledger import format_value

    return format_value(v)


def append(root: Path, rows: list) -> None:
    """Append rows in one locked, fsynced write (a torn last line is cut away first)."""
    if not rows:
        return
    data = encode_rows(SCHEMA, rows)
    p = path_of(root)
    p.parent.mkdir(parents=True, exist_ok=True)
    with locked(root):
        if p.exists() and p.stat().st_size and ends_torn(p):
            raw = p.read_bytes()
            with open(p, "r+b") as f:
                f.truncate(raw.rfind(b"\n") + 1)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            if os.fstat(fd).st_size == 0:
                data = SCHEMA.header.encode("utf-8") + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
