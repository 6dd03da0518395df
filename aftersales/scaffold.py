"""Create a new shop workspace: the default policy pack, every ledger, git settings."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import InputError
from .ledger import LEDGER_DIR, LEDGERS, LOCK_NAME, create

PACK = Path(__file__).parent / "pack"

GITATTRIBUTES = """\
# Ledgers are append-only: when two clones both append, keep both sides' lines.
ledgers/*.csv merge=union text eol=lf
# Policies diff by meaning once the driver is set up (see README.md):
#   git config diff.aftersales-policy.textconv "aftersales policy textconv"
policies/*.toml text eol=lf diff=aftersales-policy
evidence/** binary
"""

PRE_COMMIT = """\
#!/bin/sh
# Refuse a commit whose policies or ledgers do not pass `aftersales check`.
# Enable it once per clone: git config core.hooksPath .githooks
exec aftersales check
"""

GITIGNORE = f"""\
/{LEDGER_DIR}/{LOCK_NAME}
# notifications (issue 13): bot keys and passwords, and this machine's outbox, never go in git
/secrets.toml
/.aftersales/
/{LEDGER_DIR}/.journal*
"""

SHOP_README = """\
# {name}: after-sales workspace

This folder is a shop workspace for `aftersales` (also installed as `as`).

- `policies/`: the shop's rules as TOML. Change them in a commit of their own; run
  `aftersales check` before committing.
- `ledgers/`: append-only CSV records. Never edit or reorder existing lines; every
  command appends one line per event. `.gitattributes` merges them with `merge=union`.
- `evidence/`: photos attached to tickets, stored by content hash.

Start with:

    aftersales check
    aftersales --by a01 ticket new --help

Keep it in git (`git init && git add -A && git commit -m "New shop"`) and pull/push as
usual: two people who both appended merge without conflicts. Once per clone:

    git config core.hooksPath .githooks      # commits must pass `aftersales check`
    git config diff.aftersales-policy.textconv "aftersales policy textconv"

Before merging a policy change, read it by meaning and replay it on the last 30 days:

    aftersales policy diff
    aftersales policy replay

Share your records with `aftersales sync` (commit, pull, push). One machine runs the
cron line `*/5 * * * * /path/to/aftersales --workspace /path/to/shop cron`, which also
sends alerts to the chat bots and mailboxes of `policies/notify.toml`; their keys go in
`secrets.toml` (ignored by git), never in `policies/`.
"""


def init_workspace(target: Path) -> list:
    """Create the workspace at `target`; returns the paths created (relative)."""
    if not str(target).strip():
        raise InputError("give the folder for the new shop, e.g. `aftersales init ~/myshop`")
    target = Path(target).expanduser()
    if (target / "policies").exists() or (target / "ledgers").exists():
        raise InputError(f"{target}: already holds policies/ or ledgers/; choose an empty or new folder")
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    try:
        return _create(target)
    except OSError as e:
        raise InputError(f"{target}: cannot create the workspace: {e.strerror}") from None


def _create(target: Path) -> list:
    created = []
    (target / "policies").mkdir(parents=True)
    for src in sorted((PACK / "policies").glob("*.toml")):
        shutil.copyfile(src, target / "policies" / src.name)
        created.append(f"policies/{src.name}")
    for name in LEDGERS:
        create(target, name)
        created.append(LEDGERS[name].file)
    hook = target / ".githooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(PRE_COMMIT, encoding="utf-8", newline="\n")
    hook.chmod(0o755)
    created.append(".githooks/pre-commit")
    for fname, text in ((".gitattributes", GITATTRIBUTES), (".gitignore", GITIGNORE),
                        ("README.md", SHOP_README.format(name=target.resolve().name))):
        p = target / fname
        if p.exists():
            existing = p.read_text(encoding="utf-8")
            if text not in existing:
                p.write_text(existing.rstrip("\n") + "\n" + text, encoding="utf-8", newline="\n")
        else:
            p.write_text(text, encoding="utf-8", newline="\n")
        created.append(fname)
    return created
