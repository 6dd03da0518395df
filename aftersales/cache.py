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
- `open-tickets` holds records, not decisions: each command decides again from them. It
  is keyed by the policy files all the same, so a policy change rebuilds it and nothing
  cached can ever outlive the rules it was read under;
- a decisions file (`sla-check-csv`, `ticket-list`, ...: tickets.decided) holds what a
  command made of each open ticket, with the span of time in which that holds (until a
  timer could warn or breach, a red-header level rise; see sla.steady_until). It is
  verified the same way (the ledger's bytes, corrections, policies, and a CRC of its own
  entries); a run decides again the tickets the appended rows touch and those whose span
  is over, and works out what moves with the clock (the time left, the age) at --now.

`--no-cache` (or AFTERSALES_NO_CACHE=1) reads the ledger cold and leaves the cache alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional

VERSION = 9
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


def jobs() -> int:
    """How many processes a command may use for its own work (a cache write beside the
    command, tickets.decided's two halves): the processors this one may run on, at most
    two; 1 without fork, or when AFTERSALES_JOBS=1 says so."""
    if not hasattr(os, "fork") or os.environ.get("AFTERSALES_JOBS", "").strip() == "1":
        return 1
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return min(n, 2)


def fork(child) -> int:
    """Fork a process that runs `child()` and leaves by os._exit: 0 when it returned, 1 when
    it raised. It must write only into its own pipes or cache files: no buffer of this
    process is flushed twice, no exit handler runs twice. Returns its process ID here."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def stop(pid: int) -> None:
    """Kill a child of `fork` whose work is no longer wanted, and reap it."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def beside(work):
    """Run `work()` in a forked process while this one goes on. Returns a function that
    waits for its answer: what work() returned (pickled back through a pipe), or None when
    the child failed in any way (then do the work here: an error is named as without the
    fork); `abandon=True` stops the child instead (this process failed first). Asked again
    once the answer was taken or abandoned (an interrupt in between), it gives None and
    touches nothing. The caller checks `jobs()` first."""
    import pickle

    r, w = os.pipe()

    def child() -> None:
        os.close(r)
        answer = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(w, "wb") as out:
            out.write(answer)

    pid = fork(child)
    os.close(w)
    taken: list = []  # once the answer was taken or abandoned: an interrupt may ask again

    def result(abandon: bool = False):
        if taken:
            return None
        taken.append(True)
        if abandon:
            os.close(r)
            stop(pid)
            return None
        try:
            with os.fdopen(r, "rb") as f:
                data = f.read()
        finally:
            _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            return None
        try:
            return pickle.loads(data)
        except Exception:
            return None

    return result


def halves(here, there) -> tuple:
    """(here(), there()), there() run in a forked process (`beside`) while here() runs in
    this one. Should the child fail in any way, there() is run here after all, so that
    any error is raised here and worded as one process words it. The caller checks
    `jobs()` first."""
    answer = beside(there)
    try:
        mine = here()
    except BaseException:
        answer(abandon=True)
        raise
    theirs = answer()
    return mine, (there() if theirs is None else theirs)


_writers: list = []  # the forked cache writers not waited for yet
_exit_settles: list = []  # [True] once the exit waits for them


#: a cache write of at least this many tickets goes beside the command (in_background)
BACKGROUND_MIN = 2000


def in_background(write, tickets: int, name: str) -> bool:
    """Run `write()`, a cache write (which needs nothing back) of so many `tickets`, in a
    forked process while this one goes on, given a second processor and a write big
    enough to be worth it (BACKGROUND_MIN); else here and now. The child (`fork`) writes
    only its cache file, atomically as ever. `settle` waits for it: a read of cache
    file `name`, and the end of the command, do. True when it was forked."""
    if tickets < BACKGROUND_MIN or jobs() < 2:
        write()
        return False
    settle()  # one writer at a time: each holds a copy of what this process changes meanwhile
    pid = fork(write)
    if not _exit_settles:
        import atexit

        atexit.register(settle)
        _exit_settles.append(True)
    _writers.append((pid, name))
    return True


def settle(name: Optional[str] = None) -> None:
    """Wait for this process's cache writers (`in_background`): of file `name`, or all."""
    for pid, of in list(_writers):
        if name is None or of == name:
            _writers.remove((pid, of))
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


#: Below this many appended bytes the cache is not rewritten: the next run reads them again.
SAVE_AFTER = 256 * 1024


def corrections_bytes(root: Path) -> bytes:
    from .ledger import ledger_path

    try:
        return ledger_path(root, "corrections").read_bytes()
    except FileNotFoundError:
        return b""


def _blob(where: tuple) -> bytes:
    f, pos, n, _closes = where
    data = os.pread(f.fileno(), n, pos)
    if len(data) != n:
        raise ValueError("the cache file is cut short")
    return data


class ClosedIDs:
    """The IDs of the closed tickets: as the cache file has them (sorted, a line each),
    searched by bisection without being parsed when every line is 12 bytes (as IDs are);
    or as a cold scan found them (`raw`, a set of the IDs' bytes, decoded only if looked
    through); and the ones added since."""

    __slots__ = ("blob", "raw", "added", "_all")

    def __init__(self, blob: bytes = b"", ids: Iterable = (), raw: Optional[set] = None):
        self.blob, self.raw, self.added = blob, raw, set(ids)
        self._all: Optional[set] = None
        n = len(blob)
        if n % 13 or blob[12::13] != b"\n" * (n // 13):
            self._all = set(blob.decode("utf-8").split("\n")) - {""}  # not all 12 bytes: a set

    def __contains__(self, tid: str) -> bool:
        if tid in self.added:
            return True
        if self.raw is not None:
            return tid.encode("utf-8") in self.raw
        if self._all is not None:
            return tid in self._all
        key = tid.encode("utf-8")
        if len(key) != 12:
            return False
        blob = self.blob
        lo, hi = 0, len(blob) // 13
        while lo < hi:
            mid = (lo + hi) // 2
            got = blob[mid * 13:mid * 13 + 12]
            if got == key:
                return True
            if got < key:
                lo = mid + 1
            else:
                hi = mid
        return False

    def add(self, tid: str) -> None:
        self.added.add(tid)

    def __iter__(self):
        if self._all is None:
            self._all = {t.decode("utf-8") for t in self.raw} if self.raw is not None else \
                set(self.blob.decode("utf-8").split("\n")) - {""}
        return iter(self._all | self.added)

    def writable(self) -> bool:
        """Can each ID be a line of the cache file (none holds a line break)?"""
        if self.raw is not None:
            return not any(b"\n" in t for t in self.raw) and not any("\n" in t for t in self.added)
        return not any("\n" in tid for tid in self)

    def encoded(self) -> bytes:
        """Every ID, sorted, a line each."""
        if self.raw is not None:  # sorted as bytes: the same order as with the line breaks
            ids = sorted(self.raw | {t.encode("utf-8") for t in self.added})
            return b"\n".join(ids) + b"\n" if ids else b""
        return b"".join(sorted(t.encode("utf-8") + b"\n" for t in self))


class Unparsed(list):
    """A ticket's records as text, in file order, parsed on first use (OpenRecords)."""


class OpenRecords:
    """The rows (lists of 7 strings, file order) of every ticket that was not closed at
    byte `size` of tickets.csv, or was closed at or after `closed_after` (ISO text); and
    the IDs of the tickets that were closed before it.

    `rows` maps a ticket ID to its rows, or to where its records are in the cache file
    (file, offset, length), not read yet, or to its records as text (`Unparsed`):
    `records_of` reads and parses them on first use, so a warm run parses only the
    tickets the appended rows touch, and a cold one leaves the parsing of a ticket to
    the process that decides it."""

    __slots__ = ("size", "crc", "fixes", "policy", "closed_after", "rows", "closed")

    def __init__(self, size: int, crc: int, fixes: bytes, policy: str, closed_after: Optional[str], rows: dict,
                 closed):
        self.size, self.crc, self.fixes, self.policy, self.closed_after = size, crc, fixes, policy, closed_after
        self.rows = rows
        self.closed = closed if isinstance(closed, ClosedIDs) else ClosedIDs(ids=closed)

    def records_of(self, tid: str) -> list:
        """The rows of ticket `tid`, parsed now if they were not yet."""
        got = self.rows[tid]
        if type(got) is tuple:
            got = self.rows[tid] = [r for r in csv.reader(io.StringIO(_blob(got).decode("utf-8"), newline=""),
                                                          strict=True) if r]
        elif type(got) is Unparsed:
            got = self.rows[tid] = list(csv.reader(got, strict=True))
        return got

    def all_rows(self) -> list:
        """Every row, each ticket's together, in file order within a ticket."""
        return [row for tid in list(self.rows) for row in self.records_of(tid)]


def _load_file(root: Path, name: str):
    """(header, file) of a cache file whose header says this VERSION, else None."""
    settle(name)  # this process's own write of it first
    try:
        f = open(root / DIR / name, "rb")
    except OSError:
        return None
    try:
        head = json.loads(f.readline())
        if not isinstance(head, dict) or head.get("version") != VERSION:
            f.close()
            return None
    except (OSError, ValueError):
        f.close()
        return None
    return head, f


def load(root: Path) -> Optional[OpenRecords]:
    """The cache as written by `save`, or None (missing, unreadable, another version or
    half-written by a crash: the caller rebuilds it). The tickets' records are read from
    the file only when asked for (`OpenRecords.records_of`)."""
    got = _load_file(root, FILE)
    if got is None:
        return None
    head, f = got
    try:
        fixes = f.read(head["fixes"])
        base = f.tell()
        f.seek(base + head["rows"])
        index, closed = f.read(head["index"]), f.read(head["closed"])
        if (len(fixes), len(index), len(closed)) != (head["fixes"], head["index"], head["closed"]):
            f.close()
            return None  # cut short
        rows: dict = {}
        pos = base
        for line in index.decode("utf-8").split("\n"):
            if line:
                tid, n, closes = line.split(" ")
                rows[tid] = (f, pos, int(n), closes == "c")
                pos += int(n)
        if pos != base + head["rows"]:
            f.close()
            return None
        return OpenRecords(head["size"], head["crc"], fixes, head["policy"], head["closed_after"], rows,
                           ClosedIDs(closed))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError):
        f.close()
        return None


HEAD = 1024  # bytes of the header line: written last, once the sizes are known


def _csv_text(rows: Iterable) -> bytes:
    """Rows as CSV text (UTF-8)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_atomic(path: Path, write) -> None:
    """Write cache file `path` atomically: `write(f)` fills a temporary file beside it,
    which then replaces it. The folder gets its `.gitignore` of `*`; a read-only
    workspace simply goes without."""
    d = path.parent
    tmp = d / f".{path.name}.{os.getpid()}.tmp"
    try:
        d.mkdir(parents=True, exist_ok=True)
        ignore = d / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# derived, rebuildable: never commit\n*\n", encoding="utf-8")
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, a read-only workspace, an interrupt: no half file left
        try:
            tmp.unlink()
        except OSError:
            pass
        if not isinstance(e, OSError):
            raise


def _write(root: Path, name: str, head: dict, sections: Iterable) -> None:
    """Write cache file `name` atomically: a header line of JSON (`head` and each
    section's length, under its key), then the sections' bytes."""

    def write(f):
        f.write(b" " * (HEAD - 1) + b"\n")
        sizes = {}
        for key, chunks in sections:
            n = 0
            for chunk in chunks:
                n += f.write(chunk)
            sizes[key] = n
        line = json.dumps({"version": VERSION, **head, **sizes}).encode("ascii")
        if len(line) >= HEAD:
            raise OSError("cache header too long")
        f.seek(0)
        f.write(line.ljust(HEAD - 1) + b"\n")

    write_atomic(root / DIR / name, write)


def save(root: Path, rec: OpenRecords, text: Optional[dict] = None) -> None:
    """Write the cache: a line of JSON (sizes, CRC, the cut), then corrections.csv as it
    was, each ticket's records as CSV text, an index (ticket ID, the byte length of its
    records, and "c" when they may hold a close) and the closed IDs: plain data, nothing that runs when read. `text`:
    tickets' records as the ledger had them (bytes), where the caller has them."""
    if any("\n" in tid or " " in tid for tid in rec.rows) or not rec.closed.writable():
        return
    index: list = []

    def blobs():
        for tid, got in rec.rows.items():
            blob = text[tid] if text is not None else _blob(got) if type(got) is tuple else _csv_text(got)
            index.append(f"{tid} {len(blob)} {'c' if b',close,' in blob else '-'}\n".encode("utf-8"))
            yield blob

    _write(root, FILE, {"size": rec.size, "crc": rec.crc, "policy": rec.policy, "closed_after": rec.closed_after},
           [("fixes", [rec.fixes]), ("rows", blobs()), ("index", index),
            ("closed", [rec.closed.encoded()])])


#: why_not's answer when the first `rec.size` bytes are not what the cache describes
CHANGED = "the cached part of the ledger changed"


def why_not(rec: OpenRecords, data, fixes: bytes, policy: str, closed_after: Optional[str], parse_time,
            crc: bool = True) -> str:
    """Why `rec` cannot be used with the ledger's bytes `data` as they are now, or "" when
    it can: it must describe the first `rec.size` bytes of `data`, with the same
    corrections and policies, and keep every ticket `closed_after` needs. Without `crc`
    the bytes themselves are left to the caller to check (`CHANGED`)."""
    if rec.size > len(data):
        return "the ledger is shorter than the cached part"
    if rec.fixes != fixes:
        return "corrections.csv changed"
    if rec.policy != policy:
        return "the policies changed"
    if closed_after is not None and (rec.closed_after is None or
                                     parse_time(closed_after) < parse_time(rec.closed_after)):
        return "an earlier --now"  # tickets closed before the cached cut are needed
    if crc and data.crc(0, rec.size) != rec.crc:
        return CHANGED
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
    for tid, got in rec.rows.items():
        if tid in keep or type(got) is tuple and not got[3]:  # no close row among its records
            continue
        last = _last_status(rec.records_of(tid), parse_time)
        if last is not None and last[3] == "close" and parse_time(last[1]) < cut:
            gone.append(tid)
    for tid in gone:
        del rec.rows[tid]
        rec.closed.add(tid)
    rec.closed_after = closed_after
    return bool(gone)


#: the rows that decide whether a ticket is closed: the last of them (a resolve after a
#: close, as a merge can leave, makes the ticket resolved again, as the fold says)
_STATUS_ROWS = ("close", "reopen", "resolve")
_REOPENING = ("reopen", "resolve")


def extend(rec: OpenRecords, tail: bytes, keep, parse_time) -> bool:
    """Fold the records appended since into `rec`, as a cold scan of the whole file would
    have found them: a ticket whose last close or reopen row is a close (before the cut)
    is closed, unless it has corrections (`keep`); anything else is open. False when a
    ticket closed before the cut comes back (a reopen): its earlier rows are not cached,
    so the caller rebuilds. Raises csv.Error / UnicodeDecodeError on a bad tail."""
    from .ledger import bare_quote_line

    cut = parse_time(rec.closed_after) if rec.closed_after is not None else None
    rows, closed = rec.rows, rec.closed
    lines = io.StringIO(tail.decode("utf-8"), newline="").readlines()
    if b'"' in tail and bare_quote_line(lines):
        raise ValueError("a quote inside a field that is not in quotes")  # as a cold scan finds it
    for row in csv.reader(lines, strict=True):
        if not row:
            continue
        tid = row[0]
        typ = row[3] if len(row) > 3 else ""
        if tid in closed:
            if typ in _REOPENING or typ == "close" and cut is not None and parse_time(row[1]) >= cut:
                return False
            continue
        lst = rec.records_of(tid) if tid in rows else None
        if lst is None:
            rows[tid] = lst = []
        lst.append(row)
        if typ == "close" and tid not in keep and (cut is None or parse_time(row[1]) < cut) and \
                _last_status(lst, parse_time) is row:
            del rows[tid]
            closed.add(tid)
    return True


def _last_status(rows: list, parse_time) -> Optional[list]:
    """The row of `rows` (file order) that decides whether the ticket is closed: the
    latest in time of its close, reopen and resolve rows, the later in the file among
    equal times (as the fold applies them)."""
    best, best_at = None, None
    for r in rows:
        if len(r) > 3 and r[3] in _STATUS_ROWS:
            try:
                at = parse_time(r[1])
            except ValueError:
                return r  # unreadable: the fold will name it; do not close on it
            if best_at is None or at >= best_at:
                best, best_at = r, at
    return best


# ------------------------------------------------------------------ decisions


def save_decisions(root: Path, name: str, rec: OpenRecords, size: int, crc: int, entries: dict) -> None:
    """Write decisions file `name`: for byte `size` of tickets.csv (CRC-32 `crc`), under
    the corrections and policies of `rec`, {ticket: (opening time, from, until, payload's
    strings or None when it is not listed)} (times in microseconds since the epoch; the
    payload holds in [from, until)), in marshal's format: the fastest to read back of
    what the standard library writes, for plain values; it is read only after the CRC of
    these bytes, recorded in the header, is found again (code_digest names the Python
    that wrote it)."""
    import marshal
    import zlib

    blob = marshal.dumps(entries)
    _write(root, name, {"size": size, "crc": crc, "policy": rec.policy, "fixes_crc": zlib.crc32(rec.fixes),
                        "fixes_len": len(rec.fixes), "code": code_digest(), "entries_crc": zlib.crc32(blob)},
           [("entries", (blob,))])


_code: list = []


def code_digest() -> str:
    """A digest of this package's source files (names, sizes, modification times): the
    code that made a decision. Another version, or an edited module, decides afresh."""
    if not _code:
        import hashlib

        import sys

        h = hashlib.sha256(sys.version.encode())
        todo = [os.path.dirname(os.path.abspath(__file__))]
        while todo:
            for e in sorted(os.scandir(todo.pop()), key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False) and e.name != "__pycache__":
                    todo.append(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat()
                    h.update(f"{e.path} {st.st_size} {st.st_mtime_ns}\n".encode())
        _code.append(h.hexdigest())
    return _code[0]


def crc_of_cached(root: Path, size: int) -> Optional[int]:
    """The CRC-32 of the first `size` bytes of tickets.csv as the open-tickets cache file
    records it, when it covers exactly those bytes (a cold run's cache writer worked it
    out: the decisions written after it need not read the ledger again); else None."""
    got = _load_file(root, FILE)
    if got is None:
        return None
    head, f = got
    f.close()
    crc = head.get("crc")
    return crc if head.get("size") == size and type(crc) is int else None


def made_under(root: Path, name: str) -> bool:
    """Whether decisions file `name` was written under the policy files, corrections and
    code of now (its header alone: whether its entries hold is `load_decisions`'s)."""
    got = _load_file(root, name)
    if got is None:
        return False
    head, f = got
    f.close()
    try:
        return _made_under(head, policy_digest(root), corrections_bytes(root))
    except (KeyError, TypeError):
        return False


def _made_under(head: dict, policy: str, fixes: bytes) -> bool:
    """Whether a decisions file's header says it was written under these policies (their
    digest), corrections (their bytes) and this code."""
    import zlib

    return (head["policy"], head["fixes_crc"], head["fixes_len"], head["code"]) == (
        policy, zlib.crc32(fixes), len(fixes), code_digest())


def load_decisions(root: Path, name: str, rec: OpenRecords) -> Optional[tuple]:
    """(size, crc, {ticket: (opened, from, until, payload or None)}) of decisions file
    `name` when it was written under the corrections and policies of `rec`; else None."""
    import marshal
    import zlib

    got = _load_file(root, name)
    if got is None:
        return None
    head, f = got
    try:
        with f:
            if not _made_under(head, rec.policy, rec.fixes):
                return None  # other corrections, policies or code decided it
            blob = f.read(head["entries"])
        if len(blob) != head["entries"] or zlib.crc32(blob) != head["entries_crc"]:
            return None  # cut short or damaged
        entries = marshal.loads(blob)
        if not isinstance(entries, dict):
            return None
        return head["size"], head["crc"], entries
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError):
        return None
