"""Speed and peak memory of `aftersales import` on a large platform export (issue 14).

    python benchmarks/platform_import.py                 # 1,000,000 rows of a Taobao order report (GBK)
    python benchmarks/platform_import.py --rows 100000 --kind pdd_orders

It writes the synthetic export (tests/platform_files.py) and a fresh shop under
benchmarks/out/, then times, each under `/usr/bin/time -v`:

1. the first import (every row new),
2. the same file again (every row unchanged: nothing written),
3. `logistics check` over the shipments the import wrote,
4. a bare csv.reader pass over the export in its encoding (the floor: the file cannot be
   read in less), to which the two imports' CPU times are compared (issue 18: <= 2x).

Target: peak memory under 250 MB whatever the file size. The exit status is 1 when a
run goes over it. Wall time depends on what else the machine runs; the CPU time
(user + system) beside it does not; the ratios are given of both (on a quiet machine
the wall-time ratio is the one issue 18 sets: a big file is read by two processes at once,
whose CPU times add up). `--repeat N` runs
the imports and the bare pass N times (each first import into a fresh shop) and takes
the median of each.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import platform_files as pf  # noqa: E402

LIMIT_MB = 250


def timed(cmd: list) -> dict:
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    err = p.stderr
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", err).group(1)
    parts = [float(x) for x in wall.split(":")]
    seconds = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", err).group(1)) for k in ("User", "System"))
    return {"cmd": " ".join(cmd), "exit": p.returncode, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "peak_mb": round(rss_kb / 1024, 1),
            "stdout": p.stdout.strip()[-600:]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--kind", default="taobao_orders", choices=sorted(pf.HEADERS))
    ap.add_argument("--aftersales", default=str(Path(sys.executable).parent / "aftersales"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="reuse the export written by an earlier run")
    a = ap.parse_args()
    out = HERE / "out" / f"platform-{a.kind}-{a.rows}"
    src = out / f"{a.kind}.csv"
    if not (a.keep and src.exists()):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        pf.write(a.kind, src, a.rows)
    shop = out / "shop"
    enc = pf.ENCODINGS.get(a.kind, "utf-8")
    bare = [sys.executable, "-c", "import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], "
            "encoding=sys.argv[2], newline=''))))", str(src), "gb18030" if enc == "gbk" else enc]
    results = {"rows": a.rows, "kind": a.kind, "file_mb": round(src.stat().st_size / 2**20, 1)}
    runs: dict = {"first_import": [], "re_import": [], "logistics_check": [], "bare_csv": []}
    for _ in range(a.repeat):
        if shop.exists():
            shutil.rmtree(shop)
        subprocess.run([a.aftersales, "init", str(shop)], check=True, capture_output=True)
        base = [a.aftersales, "--workspace", str(shop), "--by", "a01", "--now", "2026-11-23T10:00:00+08:00"]
        runs["first_import"].append(timed(base + ["import", str(src)]))
        runs["bare_csv"].append(timed(bare))
        runs["re_import"].append(timed(base + ["import", str(src)]))
        runs["logistics_check"].append(timed(base + ["logistics", "check", "--format", "csv"]))
    for k, rs in runs.items():
        results[k] = sorted(rs, key=lambda r: r["cpu_seconds"])[len(rs) // 2]
        results[k]["median_wall"] = sorted(r["seconds"] for r in rs)[len(rs) // 2]
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    ok = True
    for k in ("first_import", "re_import", "logistics_check"):
        r = results[k]
        rate = a.rows / r["seconds"] if r["seconds"] else 0
        over = r["peak_mb"] > LIMIT_MB
        ok &= not over
        print(f"{k:16} {r['seconds']:7.1f} s wall ({r['cpu_seconds']:.1f} s CPU)  {rate:9,.0f} rows/s  "
              f"peak {r['peak_mb']:6.1f} MB"
              f"{'  OVER ' + str(LIMIT_MB) + ' MB' if over else ''}  (exit {r['exit']})")
    floor = results["bare_csv"]["cpu_seconds"] or 0.1
    wall = results["bare_csv"]["median_wall"] or 0.01
    print(f"bare csv.reader {results['bare_csv']['median_wall']:7.2f} s wall ({floor:.1f} s CPU); wall ratios (medians): "
          f"first import {results['first_import']['median_wall'] / wall:.2f}x, re-import "
          f"{results['re_import']['median_wall'] / wall:.2f}x; CPU ratios (a big file is read by two processes, "
          f"whose CPU adds up): first import {results['first_import']['cpu_seconds'] / floor:.2f}x, re-import "
          f"{results['re_import']['cpu_seconds'] / floor:.2f}x")
    print(f"file: {results['file_mb']} MB, {a.rows:,} rows of {a.kind}; details in {out / 'results.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
