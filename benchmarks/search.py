"""How fast a customer's ticket is found on a big shop (issue 15): `ticket search`,
`ticket show ORDER` and `ticket list --order`, timed like benchmarks/run.py times its
commands (a fresh wrapper process, best of 3, the child's own peak RSS).

    python benchmarks/search.py [--workspace DIR]          # default: benchmarks/out/shop-1000000

The queries are taken from the shop itself: the order number, phone, customer name and
summary words of an early ticket (so a search has to look through the whole year).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import NOW, OUT, run_once  # noqa: E402


def sample(ws: Path) -> dict:
    with open(ws / "ledgers" / "tickets.csv", encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            if row[3] == "open":
                data = json.loads(row[6])
                if data.get("phone") and data.get("order") and data.get("customer"):
                    return {"ticket": row[0], "order": data["order"], "phone": data["phone"],
                            "customer": data["customer"], "summary": row[5]}
    raise SystemExit("no ticket with an order, a phone and a name in the ledger")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=OUT / "shop-1000000")
    args = ap.parse_args(argv)
    ws = args.workspace
    exe = str(Path(sys.executable).parent / "aftersales")
    s = sample(ws)
    words = s["summary"][:4]
    base = [exe, "--workspace", str(ws), "--now", NOW]
    cases = [
        ("search order", ["ticket", "search", s["order"], "--format", "csv"]),
        ("search whole phone", ["ticket", "search", s["phone"], "--format", "csv"]),
        ("search last 4 of phone", ["ticket", "search", s["phone"][-4:], "--in", "phone", "--format", "csv"]),
        ("search customer name", ["ticket", "search", s["customer"], "--format", "csv"]),
        ("search summary words", ["ticket", "search", words, "--format", "csv"]),
        ("show by order", ["ticket", "show", s["order"]]),
        ("show by ID prefix", ["ticket", "show", s["ticket"][:7]]),
        ("list --status all --order", ["ticket", "list", "--status", "all", "--order", s["order"]]),
    ]
    print(f"workspace {ws}; ticket {s['ticket']}, order {s['order']}, phone {s['phone']}, "
          f"customer {s['customer']}, words {words}")
    print(f"{'case':<28} {'best s':>7} {'peak MB':>8}  lines out")
    out = OUT / "search.csv"
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, cmd in cases:
        runs = [run_once(base + cmd, stdout=str(out)) for _ in range(3)]
        best = min(r["wall"] for r in runs)
        peak = max(r["maxrss_mb"] for r in runs)
        rows = max(0, sum(1 for _ in open(out, encoding="utf-8")) - 1)
        results[name] = {"best_s": round(best, 3), "peak_mb": round(peak, 1), "rows": rows, "command": base + cmd}
        print(f"{name:<28} {best:7.3f} {peak:8.1f}  {rows}")
    (OUT / "search-results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
