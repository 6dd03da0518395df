"""Evidence files: stored once under evidence/ by content hash, referenced from ticket events."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from ..errors import InputError

EVIDENCE_DIR = "evidence"


def store_evidence(root: Path, src: Path) -> tuple:
    """Copy a file into evidence/ by content hash; returns (sha256, stored relative path)."""
    src = Path(src)
    if not src.is_file():
        raise InputError(f"{src}: no such file; give the path of the photo or video to attach")
    h = hashlib.sha256()
    with open(src, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    rel = evidence_path(digest, src.suffix)
    dest = Path(root) / rel
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return digest, rel


def evidence_path(digest: str, suffix: str = "") -> str:
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
    return f"{EVIDENCE_DIR}/{digest[:2]}/{digest}{suffix}"
