"""Print the messages of README's "What people read": a scratch shop, the local bots of
tests/bots.py, one run of sla-check --notify and notify deliver at fixed times.

    python tools/notify_sample.py

Ticket IDs are random, so they differ from run to run; everything else is the same.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import bots as B  # noqa: E402
from conftest import Runner  # noqa: E402
from notify_helpers import setup_shop  # noqa: E402

from aftersales.scaffold import init_workspace  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop"
        init_workspace(shop)
        bots = B.Bots()
        try:
            setup_shop(shop, bots.base, channels=("desk", "ding", "fs"), news=(
                '[notify.news.breach]\nchannels = ["desk", "ding", "fs"]\n'
                '[notify.news.warning]\nchannels = ["desk"]\n'
                '[notify.news.escalate]\nchannels = ["desk", "ding", "fs"]\n'
                '[notify.news.alert]\nchannels = ["desk"]\nurgent = true\npeople = ["e01"]\n'))
            run = Runner(shop)
            t1 = run.new(customer="王女士", phone="13812345678")
            run("ticket", "assign", t1, "--department", "warehouse", now="2026-11-23T09:04:00+08:00")
            run("ticket", "assign", t1, "--to", "a03", now="2026-11-23T09:05:00+08:00")
            run.new(customer="李先生", phone="13987654321", now="2026-11-23T11:10:00+08:00")
            run.new(customer="赵女士", phone="13611112222", summary="再不处理我就找媒体曝光", now="2026-11-23T11:20:00+08:00")
            run("sla-check", "--notify", now="2026-11-23T11:35:00+08:00")
            run("notify", "deliver", now="2026-11-23T11:35:00+08:00")
            for m in bots.received:
                print(f"---- {m['platform']} ({m['bytes']} bytes)")
                print(m["text"])
                print(json.dumps(m["json"], ensure_ascii=False))
        finally:
            bots.close()


if __name__ == "__main__":
    main()
