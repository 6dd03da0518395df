"""Speed and memory benchmark of the installed `aftersales` command on a big shop.

    python benchmarks/run.py [--workspace DIR] [--events N]

Run it with the python of the venv that has aftersales installed: the console script next
to that python (bin/aftersales) is what gets timed. Without --workspace it uses
benchmarks/out/shop-N, generating it first with benchmarks/generate.py (N events, seed 1)
when it does not exist yet. It measures, in one run:

1. `aftersales sla-check` on the big ledger against a bare `csv.reader` pass over the same
   ledgers/tickets.csv (best of 3 each; target ratio <= 2.0) and the sla-check process's
   peak memory (max RSS, target < 250 MB);
2. `aftersales ticket new` on the big workspace against a fresh empty one (best of 5 each,
   alternating; target ratio <= 1.15);
3. `aftersales --help` against `python -c "import click"` (best of 10 each, alternating;
   target ratio <= 1.5).

Each timed command runs under a small fresh wrapper process that starts it with
posix_spawn and reaps it with os.wait4, which returns the resource usage of exactly that
process: the wall time is taken around spawn and reap, the peak memory is that child's
own ru_maxrss (see WRAPPER for why the wrapper is needed). It prints a table, pass/fail against the
targets and the exact commands, writes benchmarks/out/results.json, and exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
NOW = "2026-11-23T12:00:00+08:00"

TARGETS = {
    "sla_check_ratio": 2.0,
    "sla_check_peak_mb": 250.0,
    "ticket_new_ratio": 1.15,
    "help_ratio": 1.5,
}

CSV_PASS = ("import csv, sys; f = open(sys.argv[1], encoding='utf-8', newline=''); "
            "print(sum(1 for _ in csv.reader(f)))")


# Runs one command and reports on it. It is a fresh, small process on purpose: Linux
# carries the parent's peak RSS over into a child's ru_maxrss at exec, so a child of this
# script (which may have read the ledger) would inherit its peak; a child of this wrapper
# inherits only the wrapper's few MB. The wall time is taken inside the wrapper, around
# spawn and reap, so the wrapper's own start-up is not counted.
WRAPPER = """\
import json, os, sys, time
out, err, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
           (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
           (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
_pid, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "rc": os.waitstatus_to_exitcode(status), "maxrss": ru.ru_maxrss,
                  "user": ru.ru_utime, "sys": ru.ru_stime}))
"""


def run_once(argv: list, stdout: str = os.devnull, ok=(0,)) -> dict:
    """Run argv once; wall seconds, exit status and the child's own peak RSS in MB."""
    err = tempfile.NamedTemporaryFile(prefix="bench-err-", delete=False)
    err.close()
    try:
        w = subprocess.run([sys.executable, "-I", "-S", "-c", WRAPPER, stdout, err.name] + list(argv),
                           capture_output=True, text=True)
        errtext = Path(err.name).read_text(encoding="utf-8", errors="replace")
    finally:
        os.unlink(err.name)
    if w.returncode != 0:
        raise SystemExit(f"could not run {shlex.join(argv)}:\n{w.stderr[-3000:]}")
    r = json.loads(w.stdout)
    if r["rc"] not in ok:
        raise SystemExit(f"benchmark command failed (exit status {r['rc']}):\n  {shlex.join(argv)}\n{errtext[-3000:]}")
    rss = r["maxrss"] / (2**20 if sys.platform == "darwin" else 2**10)  # bytes on macOS, KiB on Linux
    return {"wall": r["wall"], "rc": r["rc"], "maxrss_mb": rss, "user": r["user"], "sys": r["sys"]}


def best_of(n: int, commands: dict, ok: dict | None = None, stdout: dict | None = None) -> dict:
    """Run each named command n times, alternating between them; every run is kept."""
    runs = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            runs[name].append(run_once(argv, (stdout or {}).get(name, os.devnull), (ok or {}).get(name, (0,))))
    return {name: {"best": min(r["wall"] for r in rs), "median": sorted(r["wall"] for r in rs)[len(rs) // 2],
                   "runs": [round(r["wall"], 4) for r in rs], "peak_mb": max(r["maxrss_mb"] for r in rs),
                   "exit_status": sorted({r["rc"] for r in rs}), "command": shlex.join(commands[name])}
            for name, rs in runs.items()}


def git_state(repo: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def count_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, help="big shop workspace to measure (default: benchmarks/out/shop-N)")
    ap.add_argument("--events", type=int, default=1_000_000, help="events to generate when the workspace is made here")
    ap.add_argument("--seed", type=int, default=1, help="seed for a generated workspace (default 1)")
    ap.add_argument("--results", type=Path, default=OUT / "results.json", help="where to write the results JSON")
    a = ap.parse_args(argv)

    py = sys.executable
    exe = str(Path(py).parent / "aftersales")
    if not os.access(exe, os.X_OK):
        raise SystemExit(f"{exe}: no aftersales console script next to {py}; run this with the venv's python")

    results: dict = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "source": git_state(HERE.parent)},
        "targets": TARGETS,
    }

    # -------------------------------------------------------- the big workspace
    ws = a.workspace or OUT / f"shop-{a.events}"
    gen = None
    if not (ws / "ledgers" / "tickets.csv").exists():
        if a.workspace and ws.exists() and any(ws.iterdir()):
            raise SystemExit(f"{ws}: not a shop workspace (no ledgers/tickets.csv)")
        sys.path.insert(0, str(HERE))
        import generate

        print(f"generating {ws} ({a.events:,} events, seed {a.seed}) ...", flush=True)
        t0 = time.perf_counter()
        gen = generate.generate(ws, a.events, a.seed)
        gen["wall_seconds"] = round(time.perf_counter() - t0, 2)
        print()
    ledger = ws / "ledgers" / "tickets.csv"
    size = ledger.stat().st_size
    rows = count_rows(ledger)
    results["workspace"] = {"path": str(ws), "tickets_csv_bytes": size, "tickets_csv_rows": rows, "generated": gen}
    print(f"workspace {ws}: ledgers/tickets.csv {rows:,} rows, {size / 2**20:.1f} MiB")
    with open(ledger, "rb") as f:  # into the page cache before anything is timed
        while f.read(1 << 20):
            pass

    # -------------------------------------------------------- 1. sla-check vs csv.reader
    print("1. sla-check vs a bare csv.reader pass (best of 3) ...", flush=True)
    sla_cmd = [exe, "--workspace", str(ws), "--now", NOW, "--format", "csv", "sla-check"]
    csv_cmd = [py, "-c", CSV_PASS, str(ledger)]
    m1 = best_of(3, {"sla_check": sla_cmd, "csv_reader": csv_cmd}, ok={"sla_check": (0, 1)})
    sla_out = OUT / "sla-check.csv"
    OUT.mkdir(parents=True, exist_ok=True)
    run_once(sla_cmd, str(sla_out), ok=(0, 1))  # one more run, kept, to count what it reports
    sla_rows = max(0, sla_out.read_text(encoding="utf-8").count("\n") - 1)
    ratio1 = m1["sla_check"]["best"] / m1["csv_reader"]["best"]
    peak = m1["sla_check"]["peak_mb"]

    # -------------------------------------------------------- 2. ticket new: big vs empty
    print("2. ticket new on the big workspace vs an empty one (best of 5) ...", flush=True)
    empty = OUT / "empty-shop"
    if empty.exists():
        shutil.rmtree(empty)
    from aftersales.scaffold import init_workspace

    init_workspace(empty)
    new_args = ["--by", "a01", "--now", NOW, "ticket", "new", "--channel", "taobao", "--category", "usage",
                "--summary", "测试"]
    m2 = best_of(5, {"ticket_new_big": [exe, "--workspace", str(ws)] + new_args,
                     "ticket_new_empty": [exe, "--workspace", str(empty)] + new_args})
    shutil.rmtree(empty)
    ratio2 = m2["ticket_new_big"]["best"] / m2["ticket_new_empty"]["best"]

    # -------------------------------------------------------- 3. --help vs import click
    print("3. aftersales --help vs python -c 'import click' (best of 10) ...", flush=True)
    m3 = best_of(10, {"help": [exe, "--help"], "import_click": [py, "-c", "import click"]})
    ratio3 = m3["help"]["best"] / m3["import_click"]["best"]

    checks = [
        ("sla-check / csv.reader", ratio1, TARGETS["sla_check_ratio"], "x"),
        ("sla-check peak RSS", peak, TARGETS["sla_check_peak_mb"], " MB"),
        ("ticket new big / empty", ratio2, TARGETS["ticket_new_ratio"], "x"),
        ("--help / import click", ratio3, TARGETS["help_ratio"], "x"),
    ]
    results["measurements"] = {**m1, **m2, **m3}
    results["sla_check_output_rows"] = sla_rows
    results["ratios"] = {"sla_check_vs_csv_reader": round(ratio1, 3), "ticket_new_big_vs_empty": round(ratio2, 3),
                         "help_vs_import_click": round(ratio3, 3)}
    results["checks"] = [{"what": w, "value": round(v, 3), "target": f"<= {t}" if u == "x" else f"< {t}",
                          "pass": (v <= t if u == "x" else v < t)} for w, v, t, u in checks]

    # -------------------------------------------------------- report
    print()
    print(f"{'measurement':<34}{'best s':>9}{'median s':>10}{'peak MB':>9}  runs")
    for name, m in results["measurements"].items():
        runs = " ".join(f"{x:.3f}" for x in m["runs"])
        print(f"{name:<34}{m['best']:>9.3f}{m['median']:>10.3f}{m['peak_mb']:>9.1f}  {runs}")
    print()
    print(f"{'check':<34}{'value':>9}{'target':>10}  result")
    for c, (w, v, t, u) in zip(results["checks"], checks):
        shown = f"{v:.2f}{u}"
        print(f"{w:<34}{shown:>9}{c['target']:>10}  {'PASS' if c['pass'] else 'FAIL'}")
    print()
    print(f"sla-check reported {sla_rows:,} running time limits (exit status {m1['sla_check']['exit_status']}).")
    print("commands:")
    for name, m in results["measurements"].items():
        print(f"  {name}: {m['command']}")
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nresults written to {a.results}")
    return 0 if all(c["pass"] for c in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
