"""Evidence files: stored once under evidence/ by content hash, referenced from ticket events."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Optional

from ..errors import InputError

EVIDENCE_DIR = "evidence"


def store_evidence(root: Path, src: Path, max_bytes: Optional[int] = None) -> tuple:
    """Copy a file into evidence/ by content hash; returns (sha256, stored relative path).

    Only a plain file is taken (not a symbolic link, FIFO or device), and not over
    `max_bytes` (policies: shop.evidence_max_mb); what is copied is what was checked."""
    import stat

    src = Path(src)
    try:
        st = os.lstat(src)
    except OSError:
        raise InputError(f"{src}: no such file; give the path of the photo or video to attach") from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{src}: is a symbolic link; give the photo or video file itself")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{src}: not a plain file (a folder, FIFO or device); give the photo or video file itself")
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(f"{src}: {st.st_size / 1e6:.1f} MB is over the evidence limit of {max_bytes // 10**6} MB "
                         "(policies: shop.evidence_max_mb); attach a smaller file")
    h = hashlib.sha256()
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:  # the file checked above, read once to hash and once to copy
        if os.fstat(f.fileno()).st_ino != st.st_ino:
            raise InputError(f"{src}: changed while it was being attached; try again")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        digest = h.hexdigest()
        rel = evidence_path(digest, src.suffix)
        dest = Path(root) / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
            f.seek(0)
            with open(tmp, "wb") as out:
                shutil.copyfileobj(f, out)
            os.replace(tmp, dest)
    return digest, rel


def evidence_path(digest: str, suffix: str = "") -> str:
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
    return f"{EVIDENCE_DIR}/{digest[:2]}/{digest}{suffix}"
