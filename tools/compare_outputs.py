"""Print every read-only command's output on the demo shop, to compare before and after a refactor.

    python tools/compare_outputs.py --save /tmp/before     # on the old code
    python tools/compare_outputs.py --compare /tmp/before  # on the new code: lists every difference

Each command runs in-process on a copy of the demo shop at a fixed --now, in every output
format; stdout, stderr and the exit status are kept, byte for byte.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T10:00:00+08:00"
LATER = "2026-11-25T18:00:00+08:00"

#: (name, argv after the global options); {T} is the first open ticket, {C} the first closed one
COMMANDS = [
    ("check", ["check"]),
    ("ticket-list", ["ticket", "list"]),
    ("ticket-list-all", ["ticket", "list", "--status", "all"]),
    ("ticket-show-open", ["ticket", "show", "{T}"]),
    ("ticket-show-closed", ["ticket", "show", "{C}"]),
    ("ticket-categories", ["ticket", "categories"]),
    ("sla-check", ["sla-check"]),
    ("route-all-dry", ["route", "--all", "--dry-run"]),
    ("route-explain", ["route", "{T}", "--explain", "--dry-run"]),
    ("report-sla-month", ["report", "sla", "--month", "2026-11"]),
    ("report-sla-week-agent", ["report", "sla", "--week", "2026-W47", "--by", "agent"]),
    ("report-sla-dept", ["report", "sla", "--from", "2026-11-01", "--to", "2026-11-15", "--by", "department"]),
    ("report-kpi", ["report", "kpi", "--month", "2026-11"]),
    ("report-claims", ["report", "claims", "--month", "2026-11"]),
    ("survey-report", ["survey", "report", "--month", "2026-11"]),
    ("calendar-show", ["calendar", "show", "--year", "2026"]),
    ("incident-list", ["incident", "list", "--all"]),
    ("intercept-list", ["intercept", "list"]),
    ("lost-list", ["lost", "list"]),
    ("reship-list", ["reship", "list"]),
    ("short-list", ["short", "list"]),
    ("logistics-check", ["logistics", "check"]),
    ("reviews-check", ["reviews", "check"]),
    ("reviews-by-product", ["reviews", "check", "--by-product"]),
    ("reply-list", ["reply", "--list"]),
    ("reply-photo", ["reply", "photo_request", "{T}"]),
    ("eligibility", ["eligibility", "--ticket", "{T}"]),
    ("policy-replay", ["policy", "replay", "--old", "policies", "--new", "policies"]),
]
FORMATS = ("table", "json", "csv")


def run_all(out: Path) -> None:
    from aftersales.cli.root import cli

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop"
        shop.mkdir()
        for part in ("policies", "ledgers", "evidence"):
            if (REPO / part).exists():
                shutil.copytree(REPO / part, shop / part)
        runner = CliRunner()
        ids = runner.invoke(cli, ["--workspace", str(shop), "--now", NOW, "--format", "csv", "ticket", "list",
                                  "--status", "all"]).output.splitlines()[1:]
        opened = [r.split(",")[0] for r in ids if ",closed," not in r]
        closed = [r.split(",")[0] for r in ids if ",closed," in r]
        subst = {"{T}": opened[0], "{C}": closed[0]}
        for now in (NOW, LATER):
            for name, argv in COMMANDS:
                argv = [subst.get(a, a) for a in argv]
                for fmt in FORMATS:
                    res = runner.invoke(cli, ["--workspace", str(shop), "--now", now, "--by", "a01", "--format", fmt]
                                        + argv)
                    text = f"exit {res.exit_code}\n--- stdout\n{res.stdout}--- stderr\n{res.stderr}"
                    if res.exception and not isinstance(res.exception, SystemExit):
                        text += f"--- exception\n{res.exception!r}\n"
                    text = text.replace(str(shop), "<shop>")
                    (out / f"{now[:10]}-{name}.{fmt}.txt").write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path)
    g.add_argument("--compare", type=Path)
    a = ap.parse_args()
    if a.save:
        run_all(a.save)
        print(f"saved {len(list(a.save.iterdir()))} outputs to {a.save}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        now = Path(tmp)
        run_all(now)
        differ = [p.name for p in sorted(a.compare.iterdir())
                  if not (now / p.name).exists() or (now / p.name).read_bytes() != p.read_bytes()]
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(differ)} of {len(list(a.compare.iterdir()))} outputs differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
