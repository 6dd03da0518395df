"""A derived cache of the ticket ledger: the records of the tickets still open, as they
were at byte N of tickets.csv, so that a command reads only what was appended since.

The ledger is append-only, so what was true of its first N bytes stays true while those
bytes are unchanged. The cache is never the source of truth:

- it lives in `.aftersales/cache/` (per machine, untracked: a `.gitignore` of `*` sits
  beside it, as ruff and pytest do with their caches) and can be deleted at any time;
- before use, the first N bytes of tickets.csv are checked against the CRC-32 and size
  recorded when the cache was written; corrections.csv must be byte for byte what it was
  (a correction can void the close that hid a ticket), and the policy files too. A git merge that inserted rows
  in the middle, an edited byte, a truncated or replaced file: the check fails and the
  cache is rebuilt from the ledger, the same way a cold run reads it;
- it only ever covers whole records: a torn last line is never cached (the careful reader
  reports it, as without a cache);
- it holds records, not decisions: every decision is taken again on each run. It is
  keyed by the policy files all the same, so a policy change rebuilds it and nothing
  cached can ever outlive the rules it was read under.

`--no-cache` (or AFTERSALES_NO_CACHE=1) reads the ledger cold and leaves the cache alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional

VERSION = 3
DIR = Path(".aftersales") / "cache"
FILE = "open-tickets"

def env_enabled() -> bool:
    return os.environ.get("AFTERSALES_NO_CACHE", "") in ("", "0")


#: False under the global `--no-cache` option or AFTERSALES_NO_CACHE=1.
enabled = env_enabled()

#: How the last read went: "warm", "cold: ..." or "rebuilt: <why>" (for tests and debugging).
last = ""


def path(root: Path) -> Path:
    return root / DIR / FILE


#: Below this many appended bytes the cache is not rewritten: the next run reads them again.
SAVE_AFTER = 256 * 1024


def corrections_bytes(root: Path) -> bytes:
    from .ledger import ledger_path

    try:
        return ledger_path(root, "corrections").read_bytes()
    except FileNotFoundError:
        return b""


class OpenRecords:
    """The rows (lists of 7 strings, file order) of every ticket that was not closed at
    byte `size` of tickets.csv, or was closed at or after `closed_after` (ISO text); and
    the IDs of the tickets that were closed before it."""

    __slots__ = ("size", "crc", "fixes", "policy", "closed_after", "rows", "closed", "text")
    text: Optional[list]

    def __init__(self, size: int, crc: int, fixes: bytes, policy: str, closed_after: Optional[str], rows: dict,
                 closed: set, text: Optional[list] = None):
        self.size, self.crc, self.fixes, self.policy, self.closed_after = size, crc, fixes, policy, closed_after
        self.rows, self.closed = rows, closed
        self.text = text  # the records as CSV text, one string each, when the caller has them (a cold scan)


def load(root: Path) -> Optional[OpenRecords]:
    """The cache as written by `save`, or None (missing, unreadable, another version or
    half-written by a crash: the caller rebuilds it)."""
    try:
        with open(path(root), "rb") as f:
            head = json.loads(f.readline())
            if head.get("version") != VERSION:
                return None
            fixes, blob, closed = (f.read(head[k]) for k in ("fixes", "rows", "closed"))
        if (len(fixes), len(blob), len(closed)) != (head["fixes"], head["rows"], head["closed"]):
            return None  # cut short
        rows: dict = {}
        for row in csv.reader(io.StringIO(blob.decode("utf-8"), newline=""), strict=True):
            if not row:
                continue
            lst = rows.get(row[0])
            if lst is None:
                rows[row[0]] = [row]
            else:
                lst.append(row)
        return OpenRecords(head["size"], head["crc"], fixes, head["policy"], head["closed_after"], rows,
                           set(closed.decode("utf-8").split("\n")) - {""})
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, csv.Error):
        return None


HEAD = 1024  # bytes of the header line: written last, once the sizes are known


def _csv_lines(rows: Iterable) -> Iterator[str]:
    """Each row as one CSV line."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        buf.seek(0)
        buf.truncate()
        w.writerow(row)
        yield buf.getvalue()


def save(root: Path, rec: OpenRecords) -> None:
    """Write the cache atomically; a read-only workspace simply goes without. A line of
    JSON (sizes, CRC, the cut), then corrections.csv as it was, the rows as CSV text and
    the closed IDs: plain data, nothing that runs when read. The rows are written as they
    are encoded, never joined into one string."""
    if any("\n" in tid for tid in rec.closed):
        return
    if rec.text is None:
        lines = _csv_lines(row for lst in rec.rows.values() for row in lst)
    else:
        lines = (r + "\n" for r in rec.text)
    closed = "\n".join(rec.closed).encode("utf-8")
    d = root / DIR
    tmp = d / f".{FILE}.{os.getpid()}.tmp"
    try:
        d.mkdir(parents=True, exist_ok=True)
        ignore = d / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# derived, rebuildable: never commit\n*\n", encoding="utf-8")
        with open(tmp, "wb") as f:
            f.write(b" " * (HEAD - 1) + b"\n")
            f.write(rec.fixes)
            n = 0
            for line in lines:
                n += f.write(line.encode("utf-8"))
            f.write(closed)
            head = json.dumps({"version": VERSION, "size": rec.size, "crc": rec.crc, "policy": rec.policy,
                               "closed_after": rec.closed_after, "fixes": len(rec.fixes), "rows": n,
                               "closed": len(closed)}).encode("ascii")
            if len(head) >= HEAD:
                raise OSError("cache header too long")
            f.seek(0)
            f.write(head.ljust(HEAD - 1) + b"\n")
        os.replace(tmp, d / FILE)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def why_not(rec: OpenRecords, data, fixes: bytes, policy: str, closed_after: Optional[str], parse_time) -> str:
    """Why `rec` cannot be used with the ledger's bytes `data` as they are now, or "" when
    it can: it must describe the first `rec.size` bytes of `data`, with the same
    corrections and policies, and keep every ticket `closed_after` needs."""
    if rec.size > len(data):
        return "the ledger is shorter than the cached part"
    if rec.fixes != fixes:
        return "corrections.csv changed"
    if rec.policy != policy:
        return "the policies changed"
    if closed_after is not None and (rec.closed_after is None or
                                     parse_time(closed_after) < parse_time(rec.closed_after)):
        return "an earlier --now"  # tickets closed before the cached cut are needed
    if data.crc(0, rec.size) != rec.crc:
        return "the cached part of the ledger changed"
    return ""


def policy_digest(root: Path) -> str:
    """SHA-256 of every policy file's name and bytes. The cache holds no decision, but a
    policy change rebuilds it all the same: nothing cached can outlive the rules."""
    import hashlib

    h = hashlib.sha256()
    base = root / "policies"
    for p in sorted(base.rglob("*.toml")) if base.is_dir() else ():
        h.update(p.relative_to(base).as_posix().encode() + b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"\1unreadable")
        h.update(b"\0")
    return h.hexdigest()


def advance(rec: OpenRecords, closed_after: Optional[str], keep, parse_time) -> bool:
    """Move the cut up to `closed_after`: the tickets closed before it are dropped.
    True when anything was dropped."""
    if closed_after is None or rec.closed_after is None or closed_after == rec.closed_after:
        return False
    cut = parse_time(closed_after)
    gone = []
    for tid, lst in rec.rows.items():
        if tid in keep:
            continue
        last = next((r for r in reversed(lst) if len(r) > 3 and r[3] in ("close", "reopen")), None)
        if last is not None and last[3] == "close" and parse_time(last[1]) < cut:
            gone.append(tid)
    for tid in gone:
        del rec.rows[tid]
        rec.closed.add(tid)
    rec.closed_after = closed_after
    return bool(gone)


def extend(rec: OpenRecords, tail: bytes, keep, parse_time) -> bool:
    """Fold the records appended since into `rec`, as a cold scan of the whole file would
    have found them: a ticket whose last close or reopen row is a close (before the cut)
    is closed, unless it has corrections (`keep`); anything else is open. False when a
    ticket closed before the cut comes back (a reopen): its earlier rows are not cached,
    so the caller rebuilds. Raises csv.Error / UnicodeDecodeError on a bad tail."""
    cut = parse_time(rec.closed_after) if rec.closed_after is not None else None
    rows, closed = rec.rows, rec.closed
    for row in csv.reader(io.StringIO(tail.decode("utf-8"), newline=""), strict=True):
        if not row:
            continue
        tid = row[0]
        typ = row[3] if len(row) > 3 else ""
        if tid in closed:
            if typ == "reopen" or typ == "close" and cut is not None and parse_time(row[1]) >= cut:
                return False
            continue
        lst = rows.get(tid)
        if lst is None:
            rows[tid] = lst = []
        lst.append(row)
        if typ == "close" and tid not in keep and (cut is None or parse_time(row[1]) < cut):
            del rows[tid]
            closed.add(tid)
    return True
