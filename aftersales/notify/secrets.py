"""Secrets of the notification channels: the environment first, then secrets.toml.

secrets.toml sits at the workspace root, is listed in .gitignore by `as init`, and holds
one table per channel:

    [desk]
    key = "…"          # WeCom: the key of the webhook URL
    [ding]
    token = "…"        # DingTalk: access_token of the webhook URL
    secret = "SEC…"    # DingTalk: the signing secret
    [mail]
    password = "…"

AFTERSALES_DESK_KEY (channel id upper-cased, other characters as _) overrides the file.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ..errors import InputError
from .config import SECRETS, env_name

SECRETS_FILE = "secrets.toml"


def read_file(root: Path) -> dict:
    path = Path(root) / SECRETS_FILE
    if not path.exists():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, OSError) as e:
        raise InputError(f"{SECRETS_FILE}: cannot read: {e}; save it as UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{SECRETS_FILE}: not valid TOML ({e}); write one [channel] table with key = \"…\" lines") from None
    return data


def for_channel(root: Path, cid: str, ctype: str, file_data: dict | None = None) -> dict:
    """name -> value of every secret this channel type reads (missing ones left out)."""
    data = read_file(root) if file_data is None else file_data
    table = data.get(cid, {}) if isinstance(data.get(cid), dict) else {}
    out = {}
    for name in SECRETS[ctype]:
        v = os.environ.get(env_name(cid, name)) or table.get(name)
        if isinstance(v, str) and v.strip():
            out[name] = v.strip()
    return out


def missing(ctype: str, values: dict) -> list:
    return [n for n, required in SECRETS[ctype].items() if required and n not in values]


def fingerprint(values: dict) -> str:
    """A one-way digest of a channel's secrets: a refusal is reported once per secret, and
    a changed secret is tried again. The secrets themselves are never written anywhere."""
    h = hashlib.sha256()
    for k in sorted(values):
        h.update(f"{k}={values[k]}\n".encode("utf-8"))
    return h.hexdigest()[:12]
