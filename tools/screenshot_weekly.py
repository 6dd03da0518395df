"""Render the demo shop's weekly brief in headless Chromium and save a screenshot.

    python tools/screenshot_weekly.py [OUT.png]      (default: weekly-2026-W47.png)

Needs Chromium (Debian: apt-get install chromium). The brief is written to a temporary
folder with `aftersales report weekly`, at a fixed --now, and opened as a local file: the
page is self-contained, so the browser needs no network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "weekly-2026-W47.png").resolve()
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        sys.exit("no Chromium found; install it (Debian: apt-get install chromium)")
    aftersales = Path(sys.executable).parent / "aftersales"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(aftersales), "--workspace", str(ROOT), "--now", "2026-11-23T12:00:00+08:00",
                        "report", "weekly", "--week", "2026-W47", "-o", tmp], check=True, capture_output=True)
        page = Path(tmp) / "weekly-2026-W47.html"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp}/profile", "--hide-scrollbars", "--window-size=960,1500",
                        f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
