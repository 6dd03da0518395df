"""The open tickets, folded from the ledger faster than csv.reader reads it."""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Optional

from .. import ledger
from ..errors import InputError
from .model import LEDGER, _event, fold


def _ledger(root: Path) -> Optional[Path]:
    """tickets.csv, or None when the shop has none; a torn last line is reported first."""
    path = ledger.ledger_path(root, LEDGER)
    if not path.exists():
        return None
    if ledger.ends_torn(path):
        ledger.raise_first_problem(root, LEDGER)
    return path


@contextmanager
def _reading(root: Path, freeze: bool = False):
    """Around a quick reading of the ticket ledger: the collector off (many short-lived
    objects and no cycles, it would only cost time; with `freeze`, what was loaded is kept
    out of later collections), and a record it cannot read read again by the careful
    reader, whose error names the file and line."""
    import csv
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    except (UnicodeDecodeError, csv.Error, ValueError, InputError):
        ledger.raise_first_problem(root, LEDGER, check_values=True)
        raise
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()


def load_open_tickets(root: Path, closed_after: Optional[dt.datetime] = None) -> dict:
    """The tickets not closed, folded from the ledger faster than csv.reader reads it; with
    `closed_after`, also those closed at or after it (a follow-up visit may still be owed).

    See `_scan`: only the records of tickets still open are parsed, so time and memory
    follow the number of open tickets, not the length of the history. With the derived
    cache (aftersales/cache.py), only the records appended since the last run are read.
    """
    path = _ledger(root)
    if path is None:
        return {}
    with _reading(root, freeze=True):  # what was loaded lives to the end of the command
        from .. import corrections  # a voided close must not hide a ticket's rows

        fixes = corrections.state(root)
        rows = open_rows(root, path, set(fixes.events), closed_after)
        found = [t for t in _fold_rows(root, rows, fixes).values() if _listed(t, closed_after)]
    found.sort(key=lambda t: (t.opened_at, t.id))  # one order, whether the rows came from the cache or not
    return {t.id: t for t in found}


def _fold_rows(root: Path, rows: list, fixes) -> dict:
    from .. import corrections

    rel = ledger.schema_of(LEDGER).file
    events = [_event(0, row, rel) for row in rows if row]
    return fold(corrections.honour_events(root, events, fixes))


def _listed(t, closed_after: Optional[dt.datetime]) -> bool:
    return t.opened_at is not None and (
        t.is_open or closed_after is not None and t.closed_at is not None and t.closed_at >= closed_after)


def open_rows(root: Path, path: Path, keep: set, closed_after: Optional[dt.datetime]) -> list:
    """The rows (lists of strings) of every ticket not closed (or closed at or after
    `closed_after`, or in `keep`): from the cache and what was appended since when the
    cache holds, else from a cold scan (which then writes the cache)."""
    with open(path, "rb") as f:
        data = _Bytes(f.fileno(), os.fstat(f.fileno()).st_size)  # these bytes, even if a writer appends now
        rec, _, confirm = _open_records(root, data, keep, closed_after, beside=False)
        if not confirm():
            rec = _open_records(root, data, keep, closed_after, stale=True, beside=False)[0]
        return rec.all_rows()


def _open_records(root: Path, data, keep: set, closed_after: Optional[dt.datetime], stale: bool = False,
                  share=None, beside: bool = True) -> tuple:
    """(records, crc, confirm): the cache's OpenRecords brought up to the end of `data`
    (the ledger's bytes), or a cold scan's; the CRC-32 of all of `data` when it was
    worked out on the way (else None); and a function that says whether the cache's
    part of the ledger is as the cache recorded it, which must be called (and be true)
    before anything is made of the records: that CRC is worked out beside the caller
    (`_Bytes.crc_beside`). Else call again with `stale`: the cache is rebuilt. `share()`,
    when given, makes the `_Sharer` a cold scan hands its tickets to (or None). Without
    `beside`, a cold scan writes the cache here, not in a forked writer: a caller that goes
    on to fold every record (load_open_tickets) would leave the writer a private copy of
    all it changes meanwhile."""
    import csv

    from .. import cache

    header = ledger.schema_of(LEDGER).header.encode()
    size = len(data)
    fixes = cache.corrections_bytes(root) if cache.enabled else b""
    policy = cache.policy_digest(root) if cache.enabled else ""
    cut = closed_after.isoformat() if closed_after is not None else None
    if cache.enabled and size and not stale:
        rec = cache.load(root)
        why = "no cache" if rec is None else cache.why_not(rec, data, fixes, policy, cut, ledger.parse_time, crc=False)
        if rec is not None and not why:
            old = rec.size
            check = data.crc_beside(old, rec.crc)
            try:
                extended = old == size or cache.extend(rec, data[old:], keep, ledger.parse_time)
            except (csv.Error, UnicodeDecodeError, ValueError, IndexError):
                if not check():  # the cached part changed too: what follows it is not a tail of whole records
                    return rec, None, check
                raise  # a bad tail: the careful reader names it
            if extended:
                dropped = cache.advance(rec, cut, keep, ledger.parse_time)
                crc = data.crc(old, size, rec.crc)
                if size - old >= cache.SAVE_AFTER or dropped:  # else the next run reads the few new rows again
                    if not check():
                        return rec, crc, check
                    rec.size, rec.crc = size, crc
                    cache.save(root, rec)
                cache.last = "warm"
                return rec, crc, check
            if not check():
                return rec, None, check
            why = "a ticket closed before the cached cut was reopened"
        cache.last = ("cold: " if rec is None else "rebuilt: ") + why
    elif stale:
        cache.last = "rebuilt: " + cache.CHANGED
    counts: list = []
    sharer = share() if share is not None else None
    records, closed = _scan(data, header, keep, closed_after, counts, sharer)
    grouped: dict = {}  # each ticket's rows, and its records as text for the cache
    text: dict = {}
    i = 0
    if sharer is not None and all(map(_PLAIN_ID, records)):  # most are decided by the sharer: parsed there
        for n in counts:
            lines = records[i:i + n]
            i += n
            tid = lines[0][:12]
            if tid in grouped or any(r[:12] != tid for r in lines):
                break  # the same ID twice: the careful grouping below
            grouped[tid], text[tid] = cache.Unparsed(lines), lines
        else:
            return _with_cache(root, data, cache.OpenRecords(size, 0, fixes, policy, cut, grouped, cache.ClosedIDs(raw=closed)), text,
                               beside)
        grouped, text, i = {}, {}, 0
    rows = list(csv.reader(records, strict=True))
    for n in counts:  # the scan gives each ticket's records together
        got, lines = rows[i:i + n], records[i:i + n]
        i += n
        tid = got[0][0] if got[0] else None
        if tid is not None and tid not in grouped and all(r and r[0] == tid for r in got):
            grouped[tid], text[tid] = got, lines
            continue
        for record, row in zip(lines, got):  # blank lines, or IDs that only begin alike
            if row:
                grouped.setdefault(row[0], []).append(row)
                text.setdefault(row[0], []).append(record)
    return _with_cache(root, data, cache.OpenRecords(size, 0, fixes, policy, cut, grouped, cache.ClosedIDs(raw=closed)), text, beside)


def _with_cache(root: Path, data, rec, text: dict, beside: bool = True) -> tuple:
    """`_open_records`' answer after a cold scan, the cache written (beside the command
    when it is big) from each ticket's records as `text`."""
    from .. import cache

    if not cache.enabled or not len(data):
        return rec, None, _TRUE

    def write():
        rec.crc = data.crc()
        cache.save(root, rec, {tid: ("\n".join(lst) + "\n").encode("utf-8") for tid, lst in text.items()})

    if cache.in_background(write, len(text) if beside else 0, cache.FILE):
        return rec, None, _TRUE  # the CRC too is worked out beside the command
    return rec, rec.crc, _TRUE


def _PLAIN_ID(record: str) -> bool:
    """Does the record begin with an ID of twelve characters, neither quoted nor holding a
    comma (so that csv reads exactly those as its first field)?"""
    return record[12:13] == "," and '"' not in record[:12] and "," not in record[:12]


def _TRUE() -> bool:
    return True


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
FOREVER = 1 << 62  # an `until` that never comes


def micros(t: dt.datetime) -> int:
    """An aware time as whole microseconds since the epoch (exact: no float)."""
    return (t - _EPOCH) // _US


def decided(root: Path, name: str, now: dt.datetime, decide, window: Optional[dt.timedelta] = None,
            redo=None, pure: bool = False) -> list:
    """What `decide` says of every ticket `load_open_tickets(root, now - window)` gives,
    in its order: a list of payloads (lists of strings).

    `decide(ticket)` returns (until, payload): the payload holds at every moment from
    now until `until` (microseconds since the epoch, `micros`) so long as the ticket's
    records stay as they are. The payloads are kept in a derived cache file `name`
    (aftersales/cache.py), verified like the open-ticket cache against the ledger's
    bytes, the corrections and the policies; a warm run decides again only the tickets
    that the appended rows touch, whose `until` has come, or for which `redo(payload)`
    is true (sla-check --notify: a notice was pending). `decide` is called in the
    tickets' order, unless the caller says it is `pure` (its only effects are memos):
    then many tickets to decide are split between this process and a forked one (see
    `_in_two`)."""
    from .. import cache, corrections

    path = _ledger(root)
    if path is None:
        return []
    closed_after = now - window if window is not None else None
    now_us = micros(now)
    fixes = None

    def fold_and_decide(rows: list, fresh: dict, hold: list) -> None:
        with _reading(root):
            found = sorted(_fold_rows(root, rows, fixes).values(),
                           key=lambda t: (t.opened_at is None, t.opened_at, t.id))
            del rows[:]
        import gc

        was = gc.isenabled()
        gc.disable()  # many short-lived strings and no cycles: the collector would only cost time
        try:
            _decide_all(found, decide, closed_after, window, now_us, fresh, hold)
        finally:
            if was:
                gc.enable()

    def fold_and_decide_ids(ids: list, fresh: dict, hold: list) -> None:
        rows = [row for tid in ids for row in rec.records_of(tid)]
        for tid in ids:
            rec.rows[tid] = None  # parsed once, folded now: no second copy kept
        fold_and_decide(rows, fresh, hold)

    sharer: list = []  # the _Sharer of a cold scan, if one was made

    def share():
        if not (pure and len(data) >= SHARE_MIN and cache.jobs() > 1):
            return None
        sharer.append(_Sharer(fold_and_decide))
        return sharer[0]

    try:
        with _reading(root, freeze=True):
            fixes = corrections.state(root)
            keep = set(fixes.events)
            with open(path, "rb") as f:
                data = _Bytes(f.fileno(), os.fstat(f.fileno()).st_size)
                rec, crc, confirm = _open_records(root, data, keep, closed_after, share=share)
                known, touched = _known(root, name, rec, data, crc)
                if not confirm():  # the cache's part of the ledger changed (a merge, an edit): rebuild
                    rec, crc, _ = _open_records(root, data, keep, closed_after, stale=True, share=share)
                    known, touched = {}, set()
            hold = []  # (opened, ID, payload) kept
            todo = []  # IDs decided again
            for tid in rec.rows:
                got = known.get(tid) if tid not in touched else None
                if got is not None and got[1] <= now_us < got[2] and (redo is None or not got[3] or not redo(got[3])):
                    if got[3]:
                        hold.append((got[0], tid, got[3]))
                else:
                    todo.append(tid)
        fresh: dict = {}
        if sharer:  # the tickets it decided, and those decided here meanwhile
            gone = sharer[-1].finish(rec.rows, fold_and_decide_ids, fresh, hold)
            todo = [tid for tid in todo if tid not in gone]
        if pure and len(todo) >= PARALLEL_MIN and cache.jobs() > 1:
            _in_two(todo, fold_and_decide_ids, fresh, hold)
        else:
            fold_and_decide_ids(todo, fresh, hold)
    finally:
        for sh in sharer:
            sh.close()
    if cache.enabled and len(data) and (fresh and (len(fresh) >= DECIDE_SAVE or not known)):
        known.update(fresh)
        entries = {tid: known[tid] for tid in rec.rows if tid in known}
        size = len(data)

        def write():
            if crc is not None:
                cache.save_decisions(root, name, rec, size, crc, entries)
                return
            known_crc = cache.crc_of_cached(root, size)  # the cache writer of the cold run worked it out
            if known_crc is not None:
                cache.save_decisions(root, name, rec, size, known_crc, entries)
                return
            with open(path, "rb") as f:  # a cold run left the CRC to its cache writer: work it out here
                got = _Bytes(f.fileno(), size)
                if os.fstat(f.fileno()).st_size >= size:
                    cache.save_decisions(root, name, rec, size, got.crc(), entries)

        cache.in_background(write, len(entries), name)
    hold.sort(key=itemgetter(0, 1))
    return [p for _, _, p in hold]


#: `decided` splits the work between two processes from this many tickets to decide on
PARALLEL_MIN = 2000


def _in_two(todo: list, work, fresh: dict, hold: list) -> None:
    """work(ids, fresh, hold) for every other ID of `todo` in a forked process, and for
    the rest here at the same time (`cache.halves`: should the child fail in any way,
    its half is worked here after all, any error then worded as ever)."""
    from .. import cache

    mine, theirs = todo[0::2], todo[1::2]

    def half() -> tuple:
        got_fresh: dict = {}
        got_hold: list = []
        work(theirs, got_fresh, got_hold)
        return got_fresh, got_hold

    _, got = cache.halves(lambda: work(mine, fresh, hold), half)
    fresh.update(got[0])
    hold.extend(got[1])


#: a cold scan of a ledger of at least this many bytes shares the deciding (`_Sharer`)
SHARE_MIN = 8 << 20
#: about this many bytes of records go to the sharing process at a time
SHARE_BATCH = 128 << 10


class _Sharer:
    """A forked process that folds and decides the tickets a cold backward scan completes,
    while the scan goes on. Going backwards, a ticket's `open` record is its first: once
    it is met, all its records are read (`done`). A whole batch goes down a pipe only
    when the pipe has room for it, so the scan never waits; the rest stays `pending`.
    The child answers each batch as it is decided, up a second pipe (`_drain` reads it
    as the scan goes: `tick`). `finish` decides the pending batches here, sending more
    while the child keeps up, then takes the child's answers. A ticket `spoiled` after it
    was taken (a record before its `open` one, as a merge can leave, or one the time-order
    check reads again) is decided here; so are those of a batch the child could not read,
    and all of them if the child fails: then any error is raised here, worded as ever.

    Up the second pipe come 4-byte numbers: 5 or more, the bytes of a batch the child has
    read (room in the first pipe again); 1, an answer of 8-byte length follows; 0, the end."""

    def __init__(self, work):
        from .. import cache

        self.taken: set = set()  # IDs (bytes) handed over by the scan
        self.spoiled: set = set()  # of those, the ones decided here after all
        self.batch: list = []  # (ID, records in file order) not yet a whole batch
        self.size = 0
        self.pending: list = []  # (IDs, pickled batch) not sent
        self.sent: list = []  # IDs sent
        self.flight = 0  # bytes sent that the child has not read yet
        self.dead = False  # the child is gone
        self.got = bytearray()  # what came up the second pipe, not yet taken apart
        self.answers: list = []  # the child's answers (pickled), one per batch
        self.ended = False  # the child said it is done
        r, w = os.pipe()  # batches to the child
        back_r, back_w = os.pipe()  # what the child read, and its answers
        self.room = 1 << 16
        try:
            import fcntl

            self.room = fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ (Linux): room for a few batches
            fcntl.fcntl(back_w, 1031, 1 << 20)  # and for a few answers
        except (ImportError, OSError):
            pass

        def child() -> None:
            os.close(w)
            os.close(back_r)
            self._child(r, back_w, work)

        self.pid = cache.fork(child)
        os.close(r)
        os.close(back_w)
        self.w, self.back = w, back_r
        os.set_blocking(back_r, False)

    @staticmethod
    def _child(r: int, back: int, work) -> None:
        import csv
        import pickle

        while True:
            n = int.from_bytes(_read_exactly(r, 4), "big")
            if not n:
                break
            blob = _read_exactly(r, n)
            os.write(back, (n + 4).to_bytes(4, "big"))  # read: room in the pipe again
            batch = pickle.loads(blob)
            fresh: dict = {}
            hold: list = []
            bad: list = []
            try:
                rows = list(csv.reader([rec.decode("utf-8") for _, recs in batch for rec in recs], strict=True))
                i = 0
                for tid, recs in batch:
                    if any(not row or row[0] != tid for row in rows[i:i + len(recs)]):
                        raise ValueError(tid)  # IDs that only begin alike, a blank line: decided there
                    i += len(recs)
                work(rows, fresh, hold)
            except Exception:  # anything odd: the parent decides these, and words any error
                fresh, hold, bad = {}, [], [tid for tid, _ in batch]
            answer = pickle.dumps((fresh, hold, bad), protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(back, (1).to_bytes(4, "big") + len(answer).to_bytes(8, "big") + answer)
        os.write(back, (0).to_bytes(4, "big"))

    def done(self, tid: bytes, records: list) -> None:
        """The scan met the `open` record of ticket `tid` (records: last first)."""
        self.taken.add(tid)
        self.batch.append((tid.decode("utf-8", "replace"), records[::-1]))
        self.size += sum(map(len, records))
        if self.size >= SHARE_BATCH:
            self._seal()
            self._send()

    def tick(self) -> None:
        """Between two chunks of the scan: take what came up, so the child never waits."""
        self._drain()

    def _seal(self) -> None:
        import pickle

        if self.batch:
            blob = pickle.dumps(self.batch, protocol=pickle.HIGHEST_PROTOCOL)
            self.pending.append(([tid for tid, _ in self.batch], len(blob).to_bytes(4, "big") + blob))
            self.batch, self.size = [], 0

    def _drain(self, block: bool = False) -> None:
        """Read what came up the second pipe (waiting for some when `block`), and take
        apart what is whole of it."""
        try:
            while True:
                chunk = os.read(self.back, 1 << 16)
                if not chunk:
                    self.dead = self.dead or not self.ended
                    break
                self.got += chunk
                if block:
                    break
        except BlockingIOError:
            pass
        got, at = self.got, 0
        while len(got) - at >= 4:
            v = int.from_bytes(got[at:at + 4], "big")
            if v >= 5:
                self.flight -= v
                at += 4
            elif v == 1:
                if len(got) - at < 12:
                    break
                n = int.from_bytes(got[at + 4:at + 12], "big")
                if len(got) - at < 12 + n:
                    break
                self.answers.append(bytes(got[at + 12:at + 12 + n]))
                at += 12 + n
            else:
                self.ended = True
                at += 4
                break
        del got[:at]

    def _send(self) -> None:
        """Send the oldest pending batches the pipe has room for, without waiting."""
        self._drain()
        while not self.dead and self.pending and self.flight + len(self.pending[0][1]) <= self.room:
            self._send_oldest()

    def _send_oldest(self) -> None:
        """Write the oldest pending batch down the pipe (the caller saw room for it)."""
        ids, frame = self.pending[0]
        try:
            _write_all(self.w, frame)
        except OSError:  # the child is gone: what it had is decided here
            self.dead = True
            return
        del self.pending[0]
        self.flight += len(frame)
        self.sent.extend(ids)

    def finish(self, listed: dict, work_ids, fresh: dict, hold: list) -> set:
        """Decide here the batches not sent, newest first, sending the oldest to the child
        only while it has less in hand than is left here (so that both end at about the
        same time), then add the child's answers for the tickets it decided alone, taken
        apart while it works. Returns the IDs decided either way; the caller decides the rest."""
        import pickle

        self._seal()
        here: list = []
        left = sum(len(frame) for _, frame in self.pending)  # bytes of records not sent
        while self.pending:
            self._drain()
            n = len(self.pending[0][1])
            if not self.dead and self.flight + n <= min(self.room, left - n):
                self._send_oldest()
                if not self.dead:
                    left -= n
                continue  # else still pending: decided here
            ids, frame = self.pending.pop()
            left -= len(frame)
            ids = [tid for tid in ids if tid in listed and tid.encode("utf-8") not in self.spoiled]
            work_ids(ids, fresh, hold)
            here.extend(ids)
        os.set_blocking(self.back, True)
        taken: list = []  # the answers taken apart

        def take() -> None:
            taken.extend(pickle.loads(blob) for blob in self.answers)
            del self.answers[:]

        while not self.dead and self.flight + 4 > self.room:  # room for the end: take what comes up meanwhile
            self._drain(block=True)
            take()
        try:
            os.write(self.w, (0).to_bytes(4, "big"))
        except OSError:
            self.dead = True
        while not self.dead and not self.ended:
            take()
            self._drain(block=True)
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        gone = set(here)
        if status != 0 or self.dead or not self.ended:
            return gone
        take()
        skip = {t.decode("utf-8", "replace") for t in self.spoiled}
        their_fresh: dict = {}
        their_hold: list = []
        for f, h, bad in taken:
            their_fresh.update(f)
            their_hold.extend(h)
            skip.update(bad)
        ok = {tid for tid in self.sent if tid in listed and tid not in skip}
        fresh.update((tid, v) for tid, v in their_fresh.items() if tid in ok)
        hold.extend(h for h in their_hold if h[1] in ok)
        return gone | ok

    def close(self) -> None:
        """Stop the child if it is still there (the scan failed); close the pipes."""
        if self.pid:
            from .. import cache

            cache.stop(self.pid)
            self.pid = 0
        for fd in (self.w, self.back):
            try:
                os.close(fd)
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> bytes:
    parts = []
    while n:
        got = os.read(fd, n)
        if not got:
            raise EOFError
        parts.append(got)
        n -= len(got)
    return b"".join(parts)


def _decide_all(found: list, decide, closed_after, window, now_us: int, fresh: dict, hold: list) -> None:
    for i, t in enumerate(found):
        found[i] = None  # each ticket freed once decided
        if not _listed(t, closed_after):
            until = FOREVER if t.opened_at is None or t.is_open or window is None else micros(t.closed_at + window)
            fresh[t.id] = (0, now_us, until, None)
            continue
        until, payload = decide(t)
        if window is not None and not t.is_open:
            until = min(until, micros(t.closed_at + window))  # then it leaves the list
        opened = micros(t.opened_at)
        fresh[t.id] = (opened, now_us, until, payload)
        hold.append((opened, t.id, payload))


#: A warm run rewrites a decisions file when it decided at least this many tickets again.
DECIDE_SAVE = 200


def _known(root: Path, name: str, rec, data, crc) -> tuple:
    """(decisions, touched): the decisions file `name` if it describes a prefix of the
    ledger's bytes `data` under the same corrections and policies as `rec`, and the IDs
    of the tickets with a record after that prefix; else ({}, set())."""
    import csv
    import io

    from .. import cache

    if not cache.enabled or crc is None:
        return {}, set()
    got = cache.load_decisions(root, name, rec)
    if got is None:
        return {}, set()
    size, dcrc, known = got
    if size > len(data) or (data.crc(rec.size, size, rec.crc) if size >= rec.size else data.crc(0, size)) != dcrc:
        return {}, set()
    tail = data[size:]
    touched = {row[0] for row in csv.reader(io.StringIO(tail.decode("utf-8"), newline=""), strict=True) if row}
    return known, touched


def _at(rec: bytes) -> dt.datetime:
    """The time of a ledger record (its second field), read without csv-parsing the record."""
    return ledger.parse_time(rec[13:rec.find(b",", 13)].decode("ascii"))


_CHUNK = 1 << 17
_NOT_QUOTE_OR_NL = bytes(range(256)).translate(None, b'"\n')


def _odd_lines(body: bytes) -> list:
    """Indices of the lines of `body` that hold an odd number of quotes: the first and
    last lines of the records that span lines (a quoted field holds an even number)."""
    return odd_quote_lines(body.translate(None, _NOT_QUOTE_OR_NL).replace(b'""', b""))


def odd_quote_lines(q: bytes) -> list:
    """Indices of the lines of `q` (a block reduced to its quotes and line breaks, pairs of
    quotes removed: one quote is left on each odd line) that hold a quote."""
    odd, line, last = [], 0, 0
    pos = q.find(b'"')
    while pos >= 0:
        line += q.count(b"\n", last, pos)
        last = pos
        odd.append(line)
        pos = q.find(b'"', pos + 1)
    return odd


def scan_open_records(path: Path, header: bytes, keep: Iterable = (), closed_after: Optional[dt.datetime] = None) -> list:
    """The records (decoded) of the tickets that are not closed, each ticket's in file order."""
    with open(path, "rb") as f:
        return _scan(_Bytes(f.fileno(), os.fstat(f.fileno()).st_size), header, keep, closed_after)[0]


#: below this many bytes a cached prefix's CRC is worked out at once (_Bytes.crc_beside)
CRC_BESIDE_MIN = 8 << 20


class _Bytes:
    """The first `size` bytes of an open file, read on demand: slices are `os.pread`s, so a
    scan holds one chunk at a time, and a writer appending meanwhile changes nothing here."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, s: slice) -> bytes:
        start, stop = s.start or 0, self.size if s.stop is None else min(s.stop, self.size)
        return os.pread(self.fd, stop - start, start) if stop > start else b""

    def first_line_end(self) -> int:
        """The offset after the header's newline (the whole file when it has none)."""
        head = self[0:1 << 16]
        return head.find(b"\n") + 1 or self.size

    def crc_beside(self, stop: int, expected: int):
        """A function saying whether the CRC-32 of bytes [0, stop) is `expected`: worked out
        by a forked process while the caller goes on, given a second processor and enough
        bytes to be worth it; else here, at once. The function waits for the answer; any
        failure of the child counts as a mismatch (the caller then reads the ledger cold)."""
        from .. import cache

        if stop < CRC_BESIDE_MIN or cache.jobs() < 2:
            now_same = self.crc(0, stop) == expected
            return lambda: now_same
        answer = cache.beside(lambda: self.crc(0, stop))
        known: list = []

        def same() -> bool:
            if not known:
                known.append(answer() == expected)
            return known[0]

        return same

    def crc(self, start: int = 0, stop: Optional[int] = None, value: int = 0) -> int:
        """CRC-32 of bytes [start, stop), continued from `value`: read 64 KiB at a time into
        one buffer, which stays in the processor's cache."""
        import zlib

        stop = self.size if stop is None else stop
        buf = bytearray(1 << 16)
        view = memoryview(buf)
        while start < stop:
            n = os.preadv(self.fd, [view[:min(len(buf), stop - start)]], start)
            if n <= 0:
                raise OSError("the ledger got shorter while it was read")
            value = zlib.crc32(view[:n], value)
            start += n
        return value


def _chunks(data, header: bytes):
    """The records of the ledger bytes `data`, from the end backwards: one list per chunk
    of about 128 KiB, in file order within the list. Records that span lines (a quoted
    text with line breaks) are joined, found by quote parity, never csv-parsed here.
    ValueError when the header is not the ledger's or a quote is left open."""
    begin = data.first_line_end()
    first = data[:begin]
    if first.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n") != header.rstrip(b"\n"):
        raise ValueError("header")
    pos = len(data)
    carry = b""  # the start of the later chunk, not yet whole records
    while pos > begin:
        n = min(_CHUNK, pos - begin)
        pos -= n
        buf = data[pos:pos + n] + carry
        cut = buf.find(b"\n") + 1 if pos > begin else 0  # the first line may have begun earlier
        if pos > begin and cut == 0:
            carry = buf
            continue
        body = buf[cut:]
        odd = _odd_lines(body)
        if len(odd) & 1:  # the first odd line ends a record that began earlier
            if pos == begin:
                raise ValueError("unterminated quote")
            end = 0
            for _ in range(odd[0] + 1):
                end = body.index(b"\n", end) + 1
            cut += end
            body = body[end:]
            odd = [o - odd[0] - 1 for o in odd[1:]]
        carry = buf[:cut]
        lines = body.split(b"\n")
        lines.pop()  # after the last newline
        for a, b in reversed(list(zip(odd[0::2], odd[1::2]))):
            lines[a:b + 1] = [b"\n".join(lines[a:b + 1])]
        yield lines
    if carry.strip():
        raise ValueError("a record before the first line")


def _scan(data, header: bytes, keep: Iterable = (), closed_after: Optional[dt.datetime] = None,
          counts: Optional[list] = None, share: Optional["_Sharer"] = None) -> tuple:
    """(records, closed): the records (decoded) of the tickets in the ledger bytes `data`
    that are not closed, each ticket's in file order; and the IDs (bytes) of the closed ones.
    `counts`, when given, gets the number of records of each ticket, in that order.
    `share`, when given, is handed each ticket still open once its `open` record is met
    (`_Sharer.done`), and told of one that has records before it (`_Sharer.spoiled`).

    Reads the file backwards, a chunk at a time. Going backwards, the first close, reopen
    or resolve row met for a ticket is its last one (the rows that can take a ticket out of
    closed: a resolve after a close, as a merge of two clones can leave, makes it resolved
    again): at a close the ticket is known closed
    and its earlier records cost a slice and a dictionary lookup each. Nothing is
    csv-parsed here; records that span lines are found by quote parity, so a line inside
    a customer's text is never taken for a record.
    """
    closed: dict = {}  # ticket ID -> True once its last status row is known to be a close, False if a reopen
    closed.update((k.encode(), False) for k in keep)  # `keep`: tickets read whole whatever their last row says
    closed_set: set = set()  # the IDs known closed
    closes: dict = {}  # ticket ID -> the time (as written) of the close record that closed it
    later: set = set()  # closed tickets with a reopen or resolve row later in time than that close
    floor: Optional[bytes] = _TOP  # the earliest time (as written) of the records after this chunk; None: not known
    rows: dict = {}  # ticket ID -> its records, last first
    get = closed.get
    # a close written as the cut is (same length and UTC offset) compares with it as text
    cut = closed_after.isoformat().encode() if closed_after is not None else b""
    cut_zone = cut[19:] if len(cut) == 25 else None
    for lines in _chunks(data, header):
        for rec in [rec for rec in reversed(lines) if rec[:12] not in closed_set]:  # skip known-closed cheaply
            tid = rec[:12]
            known = get(tid)
            if known:
                continue
            if known is None:  # its last close or reopen row not met yet: is this one? (the 4th field)
                e = rec.find(b",", 13)
                k = rec.find(b",", e + 1) + 1
                if rec.startswith(b"close,", k) and not (closed_after is not None and (
                        rec[13:e] >= cut if e == 38 and rec[32:38] == cut_zone and rec[23:24] == b"T"
                        else _at(rec) >= closed_after)):
                    closed[tid] = True
                    closed_set.add(tid)
                    closes[tid] = rec[13:e]
                    rows.pop(tid, None)
                    continue
                if rec.startswith(b"reopen,", k) or rec.startswith(b"resolve,", k) or rec.startswith(b"close,", k):
                    closed[tid] = False  # reopened or resolved last (or a recent close): read it all
            lst = rows.get(tid)
            if lst is None:
                lst = rows[tid] = [rec]
            else:
                lst.append(rec)
            if share is not None:
                if tid in share.taken:
                    share.spoiled.add(tid)  # a record before its `open` one: decided here after all
                elif b",open," in rec and rec.startswith(b"open,", rec.find(b",", rec.find(b",", 13) + 1) + 1):
                    share.done(tid, lst)
        floor = _in_order(lines, floor, closed_set, closes, later)
        if share is not None:
            share.tick()
    if share is not None:
        share.spoiled.update(later)
    if later:  # read those tickets whole again: the fold decides
        for tid in later:
            closed_set.discard(tid)
            rows[tid] = []
        for lines in _chunks(data, header):
            for rec in reversed(lines):
                if rec[:12] in later:
                    rows[rec[:12]].append(rec)
    records = [rec.decode("utf-8") for lst in rows.values() for rec in reversed(lst)]
    if counts is not None:
        counts.extend(len(lst) for lst in rows.values())
    return records, closed_set


_TIME = itemgetter(slice(13, 38))
_TOP = b"~"  # above every time as written: no record after the chunk yet
_ZONE = itemgetter(slice(32, 39))


def _in_order(lines: list, floor, closed_set: set, closes: dict, later: set):
    """After a chunk of the backward scan: the earliest time of its records and those after
    it (as written; _TOP before any), or None when not known (then every earlier chunk is
    looked at record by record). Where the chunk is not in time order with
    them (a merge of two clones can do that), a reopen or resolve row of a ticket closed by
    a later row of the file may be later in time than that close, and the fold applies it
    last: such tickets go to `later`, to be read whole. A time-ordered ledger costs three
    passes in C per chunk."""
    zones = set(map(_ZONE, lines))
    if floor is not None and len(zones) == 1 and next(iter(zones))[0:1] in b"+-" and next(iter(zones))[-1:] == b",":
        times = list(map(_TIME, lines))
        if (floor is _TOP or (max(times) <= floor and next(iter(zones)) == floor[19:] + b",")) \
                and times == sorted(times):
            return times[0] if floor is _TOP or times[0] < floor else floor
    for rec in lines:  # out of order, or times written otherwise: look at each reopen and resolve
        if b",resolve," in rec or b",reopen," in rec:
            tid = rec[:12]
            if tid in closed_set and tid not in later:
                k = rec.find(b",", rec.find(b",", 13) + 1) + 1
                if (rec.startswith(b"resolve,", k) or rec.startswith(b"reopen,", k)) and \
                        _later(rec[13:rec.find(b",", 13)], closes[tid]):
                    later.add(tid)
    return None


def _later(a: bytes, b: bytes) -> bool:
    """Is ledger time `a` later than `b` (both as written)? As text when both are written
    alike (same length and UTC offset), else parsed."""
    if len(a) == len(b) == 25 and a[19:] == b[19:]:
        return a > b
    try:
        return ledger.parse_time(a.decode("ascii")) > ledger.parse_time(b.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return True  # unreadable: read the ticket whole, and the careful reader names the row


def load_since(root: Path, since: dt.datetime) -> dict:
    """The tickets with at least one row at or after `since`, each folded whole (its
    earlier rows too), as corrected: all that a report of a period from `since` counts.

    One backward pass: going backwards a ticket's later rows come first, so once one of
    them is at or after `since` every earlier row of that ticket is kept, and the rows of
    every other ticket cost a slice and a comparison."""
    import csv

    from .. import corrections

    rel = ledger.schema_of(LEDGER).file
    path = _ledger(root)
    if path is None:
        return {}
    with _reading(root, freeze=True):
        with open(path, "rb") as f:
            data = _Bytes(f.fileno(), os.fstat(f.fileno()).st_size)
            if len(data) == 0:
                raise ValueError("empty")
            records = _scan_since(data, ledger.schema_of(LEDGER).header.encode(), since)
        events = [_event(0, row, rel) for row in csv.reader(records, strict=True) if row]
        events = list(corrections.honour_events(root, events))
        found = [t for t in fold(events).values() if t.opened_at is not None]
    found.sort(key=lambda t: (t.opened_at, t.id))
    return {t.id: t for t in found}


def _scan_since(data, header: bytes, since: dt.datetime):
    """The records (decoded, each ticket's in file order) of the tickets with a row at or
    after `since`. Times written as `since` is (same length and UTC offset) compare as
    text; any other is parsed.

    Going backwards a ticket's later rows usually come first, so its earlier rows are kept
    once one is at or after `since`. A merge can put a ticket's earlier row after a later
    one: such a ticket (a row dropped before it was wanted) is read again whole by a
    second pass, which only then costs a second read."""
    key = since.isoformat().encode()
    plain = len(key) == 25
    off = key[19:]
    rows: dict = {}
    dropped: set = set()  # tickets with a row passed over while they were not wanted
    again: set = set()  # wanted tickets that had a row passed over: read whole again
    form = b"T" + off + b","  # bytes 23 and 32..38 of a record whose time is written as `since` is
    first12 = slice(0, 12)
    for lines in _chunks(data, header):
        if plain and {rec[23:24] + rec[32:39] for rec in lines} == {form} and max(rec[13:38] for rec in lines) < key:
            # the whole chunk is before `since` (the usual case): only the rows of tickets
            # already wanted count, kept in bulk
            keep = [rec for rec in reversed(lines) if rec[first12] in rows]
            for rec in keep:
                rows[rec[first12]].append(rec)
            if len(keep) < len(lines):
                dropped.update(rec[first12] for rec in lines if rec[first12] not in rows)
            continue
        for rec in reversed(lines):
            tid = rec[first12]
            lst = rows.get(tid)
            if lst is not None:
                lst.append(rec)
                continue
            at = rec[13:rec.find(b",", 13)]
            if (at >= key) if plain and len(at) == 25 and at[19:] == off and at[10:11] == b"T" else _at(rec) >= since:
                rows[tid] = [rec]
                if tid in dropped:
                    again.add(tid)
            else:
                dropped.add(tid)
    if again:
        for tid in again:
            rows[tid] = []
        for lines in _chunks(data, header):
            for rec in reversed(lines):
                if rec[first12] in again:
                    rows[rec[first12]].append(rec)
    return _drain(rows)


def _drain(rows: dict):
    """Each ticket's records decoded, in file order, freeing them as they are given out."""
    while rows:
        _tid, lst = rows.popitem()
        for rec in reversed(lst):
            yield rec.decode("utf-8")


def iter_tickets(root: Path):
    """Every ticket, folded whole and as corrected, one at a time: memory follows the
    tickets that span one point of the ledger, not its length.

    Two backward passes: the first counts each ticket's records; in the second a ticket is
    complete, folded and given out when its count is reached, and its records are freed.
    The order is that of each ticket's first record, latest first."""
    import csv
    from collections import Counter
    from operator import itemgetter

    from .. import corrections

    rel = ledger.schema_of(LEDGER).file
    path = _ledger(root)
    if path is None:
        return
    fixes = corrections.state(root)
    header = ledger.schema_of(LEDGER).header.encode()
    with _reading(root), open(path, "rb") as f:
        data = _Bytes(f.fileno(), os.fstat(f.fileno()).st_size)
        if len(data) == 0:
            raise ValueError("empty")
        counts: Counter = Counter()
        first12 = itemgetter(slice(0, 12))
        for lines in _chunks(data, header):
            counts.update(map(first12, lines))
        pending: dict = {}
        for lines in _chunks(data, header):
            for rec in reversed(lines):
                tid = rec[:12]
                lst = pending.get(tid)
                if lst is None:
                    lst = pending[tid] = []
                lst.append(rec)
                if len(lst) == counts[tid]:
                    del pending[tid]
                    events = [_event(0, row, rel) for row in
                              csv.reader([r.decode("utf-8") for r in reversed(lst)], strict=True) if row]
                    t = fold(corrections.honour_events(root, events, fixes)).get(tid.decode("utf-8"))
                    if t is not None and t.opened_at is not None:
                        yield t


# ------------------------------------------------------------------ the weekly brief's span


def load_span(root: Path, since: dt.datetime, early: dt.datetime) -> tuple:
    """(whole, opened) for a report that counts openings over weeks from `early` and
    everything else from `since` (the weekly brief): `whole` as `load_since(root, since)`
    gives it; `opened`, the tickets with rows at or after `early` but none at or after
    `since`, folded from their `open` and `set` rows only (when, by whom and how they
    were opened: category and intake fields). Their other rows are not parsed.
    `iter_span_openings` gives the same one ticket at a time."""
    found: tuple = ([], [])
    for whole, t in iter_span_openings(root, since, early):
        found[0 if whole else 1].append(t)
    out = []
    for lst in found:
        lst.sort(key=lambda t: (t.opened_at, t.id))
        out.append({t.id: t for t in lst})
    return out[0], out[1]


def iter_span_openings(root: Path, since: dt.datetime, early: dt.datetime):
    """`load_span` one ticket at a time, in no particular order: (True, ticket) for the
    tickets with a row at or after `since`, folded whole; (False, ticket) for those with
    rows at or after `early` only, folded from their open and set rows."""
    found = span_records(root, since, early)
    if found is not None:
        yield from fold_span(root, *found)


def _scan_span(data, header: bytes, since: dt.datetime, early: dt.datetime, seen: Optional[list] = None) -> tuple:
    """(whole, light): ticket ID -> its records, last first. `whole`: every record of the
    tickets with a row at or after `since`; `light`: the open and set records (and any
    whose type cannot be told without csv-parsing it) of the tickets with rows at or
    after `early` but none at or after `since`. With `seen`, the first 12 bytes of every
    other record are appended to it, joined (a few bytes strings, not one object each).

    One backward pass, as `_scan_since`; times written as `since` is compare as text.
    In a ledger in time order, going backwards, no ticket becomes wanted after a record
    before its threshold was met. When one does (a merge put rows out of time order), it
    may have had rows passed over: it is read whole by a second pass, and only then."""
    from itertools import compress
    from operator import itemgetter

    key, ekey = since.isoformat().encode(), early.isoformat().encode()
    off = key[19:]
    plain = len(key) == len(ekey) == 25 and ekey[19:] == off
    comma_off, tee = off + b",", {ord("T")}
    first12, at_cell, off_cell, tee_cell = itemgetter(slice(0, 12)), itemgetter(slice(13, 38)), itemgetter(slice(32, 39)), itemgetter(23)

    def when(rec: bytes) -> int:  # 2: at or after `since`; 1: at or after `early`; 0: before
        at = rec[13:rec.find(b",", 13)]
        if plain and len(at) == 25 and at[19:] == off and at[10:11] == b"T":
            return 2 if at >= key else 1 if at >= ekey else 0
        t = _at(rec)
        return 2 if t >= since else 1 if t >= early else 0

    def opening(rec: bytes) -> bool:  # an open or set record, or one with a quote before its type
        k = rec.find(b",", rec.find(b",", 13) + 1) + 1
        return rec.startswith(b"open,", k) or rec.startswith(b"set,", k) or b'"' in rec[:k + 5]

    whole: dict = {}
    light: dict = {}
    again: set = set()
    low = lower = False  # a record before `since` / before `early` has been met
    for lines in _chunks(data, header):
        if plain and lines and set(map(off_cell, lines)) == {comma_off} and set(map(tee_cell, lines)) == tee \
                and max(map(at_cell, lines)) < ekey:
            # the whole chunk is before `early` (the usual case): only the tickets already wanted
            low = lower = True
            rev = lines[::-1]
            ids = list(map(first12, rev))
            if seen is not None:
                seen.append(b"".join(ids))
            for rec in compress(rev, map(whole.__contains__, ids)):
                whole[rec[:12]].append(rec)
            for rec in compress(rev, map(light.__contains__, ids)):
                if opening(rec):
                    light[rec[:12]].append(rec)
            continue
        for rec in reversed(lines):
            tid = rec[:12]
            lst = whole.get(tid)
            if lst is not None:
                lst.append(rec)
                continue
            at = rec[13:38]
            if plain and rec[38:39] == b"," and at[19:] == off and at[10:11] == b"T":  # `when`, inlined
                w = 2 if at >= key else 1 if at >= ekey else 0
            else:
                w = when(rec)
            if w == 2:
                whole[tid] = [rec]
                if low:
                    again.add(tid)
                    light.pop(tid, None)
                continue
            low = True
            if seen is not None:
                seen.append(tid)
            lst = light.get(tid)
            if lst is None:
                if w == 0:
                    lower = True
                    continue
                lst = light[tid] = []
                if lower:
                    again.add(tid)
            elif w == 0:
                lower = True
            if opening(rec):
                lst.append(rec)
    if again:
        found: dict = {tid: [] for tid in again}
        for lines in _chunks(data, header):
            for rec in reversed(lines):
                lst = found.get(rec[:12])
                if lst is not None:
                    lst.append(rec)
        for tid, lst in found.items():
            whole.pop(tid, None)
            light.pop(tid, None)
            marks = [when(rec) for rec in lst]
            if 2 in marks:
                whole[tid] = lst
            elif 1 in marks:
                light[tid] = [rec for rec in lst if opening(rec)]
    return whole, light


def iter_span(root: Path, data, since: dt.datetime, seen: Optional[list] = None, types: Optional[frozenset] = None):
    """The tickets `load_since(root, since)` gives, of the ledger bytes `data` (a
    `_Bytes`), folded whole and as corrected, one at a time and in no particular order:
    memory follows the records of the period, not its folded tickets. With `seen`, the
    first 12 bytes (the ticket ID) of every record of the other tickets are appended to it,
    joined (see `_scan_span`); with `types`, only the rows of those types are folded (for a
    report that looks at no other: the others are csv-parsed, not read further)."""
    return (t for _whole, t in _iter_span(root, data, since, since, seen, types))


def _iter_span(root: Path, data, since: dt.datetime, early: dt.datetime, seen: Optional[list] = None,
               types: Optional[frozenset] = None):
    whole, light = _span_of(root, data, since, early, seen)
    yield from fold_span(root, whole, light, types)


def _span_of(root: Path, data, since: dt.datetime, early: dt.datetime, seen: Optional[list] = None) -> tuple:
    """`_scan_span` of the ledger bytes `data`, a record it cannot read named as ever."""
    with _reading(root):
        if len(data) == 0:
            raise ValueError("empty")
        return _scan_span(data, ledger.schema_of(LEDGER).header.encode(), since, early, seen)


def span_records(root: Path, since: dt.datetime, early: dt.datetime) -> Optional[tuple]:
    """The records `iter_span_openings` folds, not folded yet: (whole, light) as
    `_scan_span` gives them (ticket ID -> its records, last first), for `fold_span` to fold
    all or part of them; None without a ticket ledger."""
    path = _ledger(root)
    if path is None:
        return None
    with open(path, "rb") as f:
        return _span_of(root, _Bytes(f.fileno(), os.fstat(f.fileno()).st_size), since, early)


def fold_span(root: Path, whole: dict, light: dict, types: Optional[frozenset] = None):
    """(True, ticket) for each ticket of `whole` folded from all its records (only those
    of `types` with `types`), and (False, ticket) for each of `light` folded from its open
    and set records, as corrected; the dicts are emptied as they are read. The collector
    stays off until the last ticket is given out."""
    import csv

    from .. import corrections

    rel = ledger.schema_of(LEDGER).file
    with _reading(root):
        fixes = corrections.state(root)
        for recs, only, flag in ((whole, types, True), (light, frozenset(("open", "set")), False)):
            while recs:
                batch: list = []  # the records of a few hundred tickets at a time
                while recs and len(batch) < 4096:
                    batch.extend(reversed(recs.popitem()[1]))
                events = [_event(0, row, rel) for row in csv.reader([rec.decode("utf-8") for rec in batch], strict=True)
                          if row and (only is None or len(row) < 4 or row[3] in only)]
                for t in fold(corrections.honour_events(root, events, fixes)).values():
                    if t.opened_at is not None:
                        yield flag, t
