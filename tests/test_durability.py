"""Writes that cannot corrupt (issue 17): journalled batches under kill -9, ENOSPC and EFBIG.

A batch (everything one locked section appends, over one ledger or several) is all or
nothing: after a kill, the next command rolls it back; a full disk or a file-size limit
rolls it back before the one-line error. The figures of the closing note come from the
`FIGURES` lines these tests print (`pytest -s -k durability`).
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aftersales import ledger
from aftersales.errors import InputError
from aftersales.scaffold import init_workspace

from conftest import Runner, installed_command, snapshot

NOW = "2026-11-23T11:00:00+08:00"
ROWS = 100_000
MAPPING = """\
[imports.ship]
ledger = "shipments"
columns = { waybill = "waybill", order = "order", courier = "courier", shipped_at = "shipped" }
"""


def write_import(path: Path, n: int, start: int = 0) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("waybill,order,courier,shipped\n")
        for i in range(start, start + n):
            f.write(f"SF{i:09d},TB{i:010d},sf,2026-11-20T10:00:00+08:00\n")
    return path


def make_shop(root: Path, existing: int = 1000) -> Path:
    init_workspace(root)
    (root / "policies" / "imports.toml").write_text(MAPPING, encoding="utf-8")
    if existing:
        Runner(root)("import", "ship", str(write_import(root.parent / f"{root.name}-base.csv", existing, 10**8)), now=NOW)
    return root


@pytest.fixture(scope="session")
def big(tmp_path_factory):
    """Made once per session: the 100,000-row import file, a shop with 1,000 shipments,
    the import's rows and the exact bytes a complete import appends."""
    from aftersales.spreadsheet import read_import
    from aftersales.workspace import Workspace

    d = tmp_path_factory.mktemp("big")
    src = write_import(d / "ship100k.csv", ROWS)
    shop = make_shop(d / "base")
    ws = Workspace(shop, now=NOW, by="a01")
    rows, problems = read_import(ws.policy, "ship", str(src), now=ws.now, actor="a01")
    assert not problems and len(rows) == ROWS
    data = ledger.encode_rows(ledger.schema_of("shipments"), rows, ws.policy)
    return {"src": src, "shop": shop, "rows": rows, "data": data, "policy": ws.policy}


def shipments(root: Path) -> bytes:
    return (root / "ledgers" / "shipments.csv").read_bytes()


def fresh(big, tmp_path, name="shop") -> Path:
    root = tmp_path / name
    shutil.copytree(big["shop"], root)
    return root


def forked_append(root: Path, big, *, kill_after: int | None = None, ready=None) -> int:
    """Run the import's append in a forked child; returns its pid.

    The child encodes nothing (the rows' bytes are made once per session) so that a kill
    lands in the write. `kill_after`: the child kills itself (SIGKILL) once that many
    bytes of rows are written. `ready`: a pipe fd the child writes a byte to as it begins."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child
        ledger.encode_rows = lambda *a, **k: big["data"]
        if kill_after is not None:
            real = ledger._write_all
            written = [0]

            def cut(fd, data):
                if len(data) < len(big["data"]):  # the header, the journal
                    return real(fd, data)
                real(fd, data[:kill_after])
                os.kill(os.getpid(), signal.SIGKILL)

            ledger._write_all = cut
        if ready is not None:
            os.write(ready, b"x")
        ledger.append(root, "shipments", big["rows"], big["policy"])
        os._exit(0)
    except BaseException:  # pragma: no cover - reported by the parent's assertions
        import traceback

        (root.parent / "child-error.txt").write_text(traceback.format_exc())
        os._exit(3)


def append_again(root: Path, big) -> None:
    """The import run again (its rows' bytes made once per session)."""
    real = ledger.encode_rows
    ledger.encode_rows = lambda *a, **k: big["data"]
    try:
        ledger.append(root, "shipments", big["rows"], big["policy"])
    finally:
        ledger.encode_rows = real


def next_command(root: Path):
    """The documented recovery: any next command rolls an unfinished batch back first."""
    return Runner(root)("ticket", "list", "--status", "all", by=None, now=NOW)


# ------------------------------------------------------------------ kill -9 during a 100,000-row import


@pytest.mark.slow
def test_kill_9_at_random_moments_of_a_100000_row_import_leaves_all_or_nothing(big, tmp_path):
    root = fresh(big, tmp_path)
    base = shipments(root)
    whole = base + big["data"]
    # how long one append takes from its start until all its rows are in the ledger, to
    # spread the kills over that (and a little past it: the fsync and the commit)
    r, w = os.pipe()
    pid = forked_append(root, big, ready=w)
    os.read(r, 1)
    t0 = time.monotonic()
    ledger_file = root / "ledgers" / "shipments.csv"
    while os.path.getsize(ledger_file) < len(whole):
        pass
    span = (time.monotonic() - t0) * 1.3
    os.waitpid(pid, 0)
    assert shipments(root) == whole
    rng = random.Random(17)
    seen = {"before": 0, "mid": 0, "written": 0, "committed": 0}
    partial = duplicates = 0
    for _ in range(20):
        (root / "ledgers" / "shipments.csv").write_bytes(base)
        pid = forked_append(root, big, ready=w)
        os.read(r, 1)
        time.sleep(rng.uniform(0, span))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        size = len(shipments(root))
        journal = ledger.journal_path(root).exists()
        seen["before" if size == len(base) else "mid" if size < len(whole) else "written" if journal else "committed"] += 1
        res = next_command(root)
        assert res.exit_code == 0, res.stderr
        after = shipments(root)
        partial += after not in (base, whole)
        if after == base:  # rolled back: the documented advice is to run the import again
            append_again(root, big)
        duplicates += len(shipments(root)) > len(whole)
        assert shipments(root) == whole
    print(f"\nFIGURES kill-9 at random moments: 20 kills {seen}; partial imports {partial}; duplicates {duplicates}")
    assert partial == 0 and duplicates == 0
    os.close(r)
    os.close(w)


@pytest.mark.slow
def test_kill_9_at_random_byte_offsets_of_the_write_is_rolled_back_whole(big, tmp_path):
    root = fresh(big, tmp_path)
    base = shipments(root)
    row_len = big["data"].index(b"\n") + 1
    rng = random.Random(1700)
    # anywhere, exactly between two rows (318 rows in: the cut that used to leave no trace), the last byte
    offsets = [rng.randrange(1, len(big["data"])) for _ in range(16)] + [318 * row_len, row_len, len(big["data"]) - 1, 0]
    rolled = 0
    for off in offsets:
        (root / "ledgers" / "shipments.csv").write_bytes(base)
        pid = forked_append(root, big, kill_after=off)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert len(shipments(root)) == len(base) + off  # the cut really is in the ledger ...
        res = next_command(root)
        assert res.exit_code == 0 and "rolled back" in res.stderr, res.stderr
        assert shipments(root) == base  # ... and the next command removed all of it
        rolled += 1
    check = Runner(root)("check", by=None)
    assert check.exit_code == 0, check.stdout
    print(f"\nFIGURES kill-9 at {len(offsets)} byte offsets of a {ROWS}-row write: {rolled} rolled back whole, "
          "0 partial, `as check` clean")


@pytest.mark.slow
def test_kill_9_of_the_import_command_itself(big, tmp_path):
    """The real `aftersales import`, killed as soon as its rows start to reach the ledger."""
    exe = installed_command()
    root = fresh(big, tmp_path)
    base = shipments(root)
    path = root / "ledgers" / "shipments.csv"
    outcomes = []
    for delay in (0.002,):
        path.write_bytes(base)
        p = subprocess.Popen([exe, "-w", str(root), "--by", "a01", "--now", NOW, "import", "ship", str(big["src"])],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while os.path.getsize(path) == len(base) and p.poll() is None:
            time.sleep(0.0005)
        time.sleep(delay)
        p.kill()
        p.wait()
        outcomes.append((len(shipments(root)) - len(base), ledger.journal_path(root).exists()))
        res = next_command(root)
        assert res.exit_code == 0, res.stderr
        assert shipments(root) in (base, base + big["data"])
    print(f"\nFIGURES `aftersales import` killed while writing: (bytes in the ledger at the kill, journal left) {outcomes}")


# ------------------------------------------------------------------ batches over two ledgers


def test_a_batch_over_two_ledgers_is_rolled_back_whole_when_the_section_fails(shop):
    before = snapshot(shop)
    with pytest.raises(RuntimeError):
        with ledger.locked(shop):
            Runner  # noqa: B018
            ledger.append(shop, "surveys", [{"ticket": "ABCDEFGHJKMN", "at": NOW_DT(), "by": "a01",
                                             "speed": 5, "result": 5, "attitude": 5}])
            ledger.append(shop, "incidents", [{"incident": "X1", "at": NOW_DT(), "by": "a01", "type": "open"}])
            raise RuntimeError("boom")
    assert snapshot(shop) == before
    assert not ledger.journal_path(shop).exists()


def NOW_DT():
    from aftersales.clock import parse_now
    from zoneinfo import ZoneInfo

    return parse_now(NOW, ZoneInfo("Asia/Shanghai"))


def test_a_kill_between_the_two_ledgers_of_a_payment_rolls_both_back(run, shop):
    tid = run.new()
    run("ticket", "set", tid, "item_amount", "100")
    before = snapshot(shop)
    pid = os.fork()
    if not pid:  # the child pays, and dies after the compensations row, before the ticket's events
        try:
            real = ledger.append

            def append(root, name, rows, policy=None):
                real(root, name, rows, policy)
                if name == "compensations":
                    os.kill(os.getpid(), signal.SIGKILL)

            ledger.append = append
            Runner(shop)("compensate", tid, "--amount", "8.00", "--method", "balance", "--liability", "courier",
                         now="2026-11-23T10:00:00+08:00")
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert (shop / "ledgers" / "compensations.csv").read_bytes() != before["compensations.csv"]
    r = run("compensate", tid, "--amount", "8.00", "--method", "balance", "--liability", "courier",
            now="2026-11-23T10:00:00+08:00")
    assert r.exit_code == 0, r.stderr
    assert "rolled back" in r.stderr
    # exactly one payment: the killed one is gone, so paying again is no duplicate
    assert (shop / "ledgers" / "compensations.csv").read_bytes().count(b"\n") == 2


def test_a_reader_rolls_back_an_unfinished_batch_before_reading(run, shop):
    run.new()
    before = snapshot(shop)
    pid = os.fork()
    if not pid:  # the child writes two ledgers in one batch and dies before its end
        try:
            with ledger.locked(shop):
                ledger.append(shop, "tickets", [{"ticket": "ABCDEFGHJKMN", "at": NOW_DT(), "by": "a01",
                                                 "type": "note", "text": "x"}])
                ledger.append(shop, "surveys", [{"ticket": "ABCDEFGHJKMN", "at": NOW_DT(), "by": "a01",
                                                 "speed": 5, "result": 5, "attitude": 5}])
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(3)
    os.waitpid(pid, 0)
    assert ledger.journal_path(shop).exists() and snapshot(shop) != before
    r = run("check", by=None)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stderr.startswith("note: rolled back the unfinished write")
    assert "1 line from ledgers/surveys.csv, 1 line from ledgers/tickets.csv" in r.stderr
    assert snapshot(shop) == before


# ------------------------------------------------------------------ repair


def test_repair_shows_and_cuts_a_torn_tail_back_to_the_last_complete_record(run, shop):
    run.new()
    path = shop / "ledgers" / "tickets.csv"
    good = path.read_bytes()
    path.write_bytes(good + b'ABCDEFGHJKMN,2026-11-23T09:00:00+08:00,a01,note,,"first line\nsecond')
    dry = run("repair", "--dry-run", by=None)
    assert dry.exit_code == 0 and "second" in dry.stdout and "dry run" in dry.stdout
    assert path.read_bytes() != good
    r = run("repair", by=None)
    assert r.exit_code == 0, r.stderr
    line = good.count(b"\n") + 1
    assert f"line {line}: remove the incomplete record" in r.stdout and "| second" in r.stdout
    assert path.read_bytes() == good
    assert run("check", by=None).exit_code == 0
    assert "nothing to repair" in run("repair", by=None).stdout


def test_repair_rolls_back_an_unfinished_batch_and_shows_it(big, tmp_path):
    root = fresh(big, tmp_path)
    base = shipments(root)
    pid = forked_append(root, big, kill_after=318 * (big["data"].index(b"\n") + 1))
    os.waitpid(pid, 0)
    run = Runner(root)
    dry = run("repair", "--dry-run", by=None)
    assert "ledgers/shipments.csv" in dry.stdout and "318 lines removed" in dry.stdout
    assert len(shipments(root)) > len(base)
    r = run("repair", by=None)
    assert r.exit_code == 0
    assert shipments(root) == base


def test_repair_writes_the_header_of_an_empty_ledger_that_check_reports(run, shop):
    path = shop / "ledgers" / "surveys.csv"
    path.write_bytes(b"")
    r = run("check", by=None)
    assert r.exit_code == 1 and "ledgers/surveys.csv:1: empty file: the header row is missing" in r.stdout
    assert run("repair", by=None).exit_code == 0
    assert path.read_bytes() == ledger.LEDGERS["surveys"].header.encode()


def test_append_after_a_cut_just_past_a_line_break_inside_a_quoted_field_is_refused(run, shop):
    tid = run.new()
    path = shop / "ledgers" / "tickets.csv"
    path.write_bytes(path.read_bytes() + f'{tid},2026-11-23T09:10:00+08:00,a01,note,,"第一行\n'.encode())
    before = snapshot(shop)
    r = run.runner.invoke(__import__("aftersales.cli.root", fromlist=["cli"]).cli,
                          ["-w", str(shop), "--by", "a01", "--now", "2026-11-23T09:30:00+08:00", "ticket", "new",
                           "--channel", "taobao", "--category", "quality", "--order", "TB1", "--customer", "王",
                           "--phone", "13812345678", "--model", "K-200", "--summary", "坏了", "--demand", "exchange"])
    assert r.exit_code == 2
    assert "torn last line" in r.stderr and r.stderr.count("\n") == 1
    assert snapshot(shop) == before


# ------------------------------------------------------------------ ENOSPC and EFBIG


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs (root only; skipped elsewhere)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root): ENOSPC is not tested")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_during_an_import_writes_nothing(tiny_disk, tmp_path):
    root = make_shop(tiny_disk / "shop", existing=0)
    src = write_import(tmp_path / "20k.csv", 20_000)  # 1.8 MB of rows for a 1 MB disk
    before = snapshot(root)
    r = Runner(root)("import", "ship", str(src), now=NOW)
    assert r.exit_code == 2
    assert r.stderr == golden("enospc", r.stderr)
    assert snapshot(root) == before
    assert not ledger.journal_path(root).exists()
    assert Runner(root)("check", by=None).exit_code == 0
    print(f"\nFIGURES ENOSPC (1 MB tmpfs, 20,000-row import): exit {r.exit_code}, {r.stderr.strip()!r}, ledgers byte-identical")


def test_a_file_size_limit_during_an_import_writes_nothing(tmp_path):
    exe = installed_command()
    root = make_shop(tmp_path / "shop", existing=0)
    src = write_import(tmp_path / "20k.csv", 20_000)
    before = snapshot(root)
    limit = 512 * 1024

    def ulimit_f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([exe, "-w", str(root), "--by", "a01", "--now", NOW, "import", "ship", str(src)],
                       capture_output=True, text=True, preexec_fn=ulimit_f)
    assert p.returncode == 2, p.stderr
    assert p.stderr == golden("efbig", p.stderr)
    assert snapshot(root) == before
    assert not ledger.journal_path(root).exists()
    print(f"\nFIGURES EFBIG (ulimit -f 512 KB, 20,000-row import): exit {p.returncode}, {p.stderr.strip()!r}, "
          "ledgers byte-identical")


# ------------------------------------------------------------------ golden messages

GOLDEN = Path(__file__).parent / "golden" / "refusals"  # one file per refusal of write safety


def golden(name: str, actual: str) -> str:
    """The expected text of error `name`; UPDATE_GOLDEN=1 writes it from `actual`."""
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    return path.read_text(encoding="utf-8")
