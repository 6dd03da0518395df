"""Bad inputs (issue 17): each is one line on stderr, exit 2, and every ledger byte-identical.

The exact messages are kept in tests/golden/refusals/<name>.txt (UPDATE_GOLDEN=1 rewrites
them from the actual output; review the diff).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from test_durability import golden

NEW = ["ticket", "new", "--channel", "taobao", "--category", "quality", "--order", "TB2", "--customer", "李",
       "--phone", "13912345678", "--model", "K-200", "--summary", "壶坏了", "--demand", "exchange"]
LATER = "2026-11-23T10:00:00+08:00"


def snapshot(shop) -> dict:
    """Every entry of ledgers/ but the lock: a plain file's bytes, else its kind (a folder, FIFO or link is never opened)."""
    import stat

    out = {}
    for p in sorted((shop / "ledgers").iterdir()):
        if p.name == ".lock":
            continue
        st = os.lstat(p)
        out[p.name] = p.read_bytes() if stat.S_ISREG(st.st_mode) else (stat.S_IFMT(st.st_mode), os.readlink(p) if p.is_symlink() else "")
    return out


def refused(run, shop, name, *args, now=LATER, by="a01", outside=None):
    """Run a command that must be refused: exit 2, the golden error (one line, and its hint
    when the fix is known), no ledger (or `outside` file) changed.

    The temporary folder in a message is written TMP in the golden file."""
    before = snapshot(shop)
    other = outside.read_bytes() if outside else None
    r = run(*args, now=now, by=by)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: ") and not any(x.startswith("error: ") for x in lines[1:]), r.stderr
    assert len(lines) == 1 or lines[-1].startswith("hint: "), r.stderr  # one error, with its source line and fix
    tmp = str(shop.parent)
    assert r.stderr.replace(tmp, "TMP") == golden(name, r.stderr.replace(tmp, "TMP"))
    assert snapshot(shop) == before
    if outside:
        assert outside.read_bytes() == other
    return r


@pytest.fixture
def tid(run):
    return run.new()


def tickets(shop) -> Path:
    return shop / "ledgers" / "tickets.csv"


# ------------------------------------------------------------------ what the ledger file is


def test_a_ledger_that_is_a_folder(run, shop):
    tickets(shop).unlink()
    tickets(shop).mkdir()
    refused(run, shop, "ledger_is_a_folder", *NEW)
    r = run("check", by=None)
    assert r.exit_code == 2 and "ledgers/tickets.csv: is a folder, not a file" in r.stdout


def test_a_ledger_that_is_a_fifo_does_not_hang(run, shop):
    tickets(shop).unlink()
    os.mkfifo(tickets(shop))
    refused(run, shop, "ledger_is_a_fifo", *NEW)
    refused(run, shop, "ledger_is_a_fifo_read", "ticket", "list")


def test_a_ledger_that_is_a_symlink_sends_nothing_outside(run, shop, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(tickets(shop).read_bytes())
    tickets(shop).unlink()
    tickets(shop).symlink_to(outside)
    refused(run, shop, "ledger_is_a_symlink", *NEW, outside=outside)


def test_an_immutable_ledger(run, shop):
    if subprocess.run(["chattr", "+i", str(tickets(shop))], capture_output=True).returncode:
        pytest.skip("chattr +i is not possible here (needs root and a file system that has it)")
    try:
        refused(run, shop, "ledger_immutable", *NEW)
    finally:
        subprocess.run(["chattr", "-i", str(tickets(shop))])


def test_a_read_only_ledgers_folder(tmp_path):
    from aftersales.scaffold import init_workspace
    from conftest import Runner

    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); a read-only folder is not tested")
    try:
        shop = mnt / "shop"
        init_workspace(shop)
        (shop / "ledgers" / ".lock").touch()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        refused(Runner(shop), shop, "ledgers_read_only", *NEW)
        assert Runner(shop)("check", by=None).exit_code == 0  # reading still works
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_an_empty_ledger_is_reported_by_check(run, shop):
    (shop / "ledgers" / "reviews.csv").write_bytes(b"")
    r = run("check", by=None)
    assert r.exit_code == 1
    assert r.stdout == golden("empty_ledger_check", r.stdout)  # the problem and its hint


# ------------------------------------------------------------------ what the ledger holds


def test_append_to_a_gbk_ledger_is_refused(run, shop, tid):
    path = tickets(shop)
    path.write_bytes(path.read_bytes() + f"{tid},2026-11-23T09:30:00+08:00,a01,note,,收到\n".encode("gbk"))
    refused(run, shop, "append_to_gbk_ledger", *NEW)


def test_append_after_a_cut_inside_a_quoted_field_is_refused(run, shop, tid):
    path = tickets(shop)
    path.write_bytes(path.read_bytes() + f'{tid},2026-11-23T09:30:00+08:00,a01,note,,"第一行\n'.encode())
    refused(run, shop, "append_after_open_quote", *NEW)


def test_a_field_over_the_limit_is_refused_and_a_long_one_already_written_still_reads(run, shop, tid):
    refused(run, shop, "field_too_long", "ticket", "note", tid, "长" * 70_000)
    # a 70 KB field an older version wrote: every reader still reads it
    path = tickets(shop)
    path.write_bytes(path.read_bytes() + f'{tid},2026-11-23T09:30:00+08:00,a01,note,,"{"x" * 70_000}",\n'.encode())
    assert run("ticket", "list", now=LATER).exit_code == 0
    assert run("ticket", "show", tid, now=LATER).exit_code == 0
    assert run("check", by=None).exit_code == 0


def test_a_reply_that_renders_past_the_limit_is_not_sent(run, shop, tid):
    with open(shop / "policies" / "replies.toml", "a", encoding="utf-8") as f:
        f.write('\n[scripts.long]\nname = "长"\ntext = "{address}{address}"\n')
    assert run("ticket", "set", tid, "address", "路" * 20_000, now="2026-11-23T09:10:00+08:00").exit_code == 0
    refused(run, shop, "reply_too_long", "reply", "long", tid, "--send")


@pytest.mark.parametrize("name,template", [
    ("format_spec_d", "{order:d}"),
    ("format_spec_width", "{order:>99999999999999999999}"),
    ("format_spec_time", "{address:%Y}"),
    ("format_conversion", "{order!r}"),
])
def test_a_format_spec_in_a_reply_script_is_refused_when_the_policy_loads(run, shop, tid, name, template):
    with open(shop / "policies" / "replies.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[scripts.bad]\nname = "坏"\ntext = "订单 {template}"\n')
    refused(run, shop, name, "reply", "bad", tid)
    r = run("check", by=None)
    assert r.exit_code == 1 and "has a format spec\n" in r.stdout and "hint: only plain fields are allowed" in r.stdout


IMPORT_MAP = """
[imports.comp]
ledger = "lost_parcels"
columns = { id = "id", order = "order", waybill = "waybill", courier = "courier", status = "status", amount = "amount", note = "note" }
"""


@pytest.mark.parametrize("name,amount,note", [("import_decimal_comma", "10,5", "ok"), ("import_nul_byte", "10.50", "a\x00b")])
def test_an_import_with_a_decimal_comma_or_a_nul_byte_is_refused(run, shop, tmp_path, name, amount, note):
    with open(shop / "policies" / "imports.toml", "a", encoding="utf-8") as f:
        f.write(IMPORT_MAP)
    src = tmp_path / "in.csv"
    src.write_text(f'id,order,waybill,courier,status,amount,note\nL1,TB1,SF1,sf,claimed,"{amount}",{note}\n', encoding="utf-8")
    before = snapshot(shop)
    r = run("import", "comp", str(src), now=LATER)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "nothing was imported" in r.stderr
    shown = r.stdout.replace(str(src), "IN.csv").replace("\x00", "\\x00")  # the golden file stays text
    assert shown == golden(name, shown)
    assert snapshot(shop) == before


def test_a_nul_byte_in_a_ledger_is_reported_by_check(run, shop, tid):
    path = tickets(shop)
    path.write_bytes(path.read_bytes() + f"{tid},2026-11-23T09:30:00+08:00,a01,note,,a\x00b,\n".encode())
    r = run("check", by=None)
    assert r.exit_code == 1 and "holds a NUL byte" in r.stdout


# ------------------------------------------------------------------ money and approvals


@pytest.fixture
def paid_ticket(run):
    t = run.new()
    assert run("ticket", "set", t, "item_amount", "299", now="2026-11-23T09:05:00+08:00").exit_code == 0
    return t


@pytest.mark.parametrize("name,approver", [("approver_is_payer", "a01"), ("approver_is_system", "system")])
def test_an_approval_within_authority_must_still_be_a_person_other_than_the_payer(run, shop, paid_ticket, name, approver):
    refused(run, shop, name, "compensate", paid_ticket, "--amount", "5.00", "--method", "balance",
            "--liability", "courier", "--approved-by", approver)


# ------------------------------------------------------------------ output


def test_output_into_git_hooks_is_refused_even_with_force(run, shop):
    for name, target in (("output_git_hooks", shop / ".git" / "hooks" / "pre-commit"),
                         ("output_githooks", shop / ".githooks" / "pre-commit")):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n")
        r = refused(run, shop, name, "export", "tickets", "-o", str(target), "--force")
        assert target.read_text() == "#!/bin/sh\n"
        assert r


def test_csv_output_neutralises_formulas_and_json_stays_raw(run, shop):
    t = run.new(summary='=HYPERLINK("http://x","点我")', customer="@SUM(A1)")
    out = run("ticket", "list", "--format", "csv", now=LATER).stdout
    assert "'=HYPERLINK" in out and "'@SUM(A1)" in out
    assert "'=HYPERLINK" in run("ticket", "show", t, "--format", "csv", now=LATER).stdout
    doc = json.loads(run("ticket", "list", "--format", "json", now=LATER).stdout)
    assert doc[0]["summary"].startswith("=HYPERLINK")


def test_export_masks_phone_numbers_unless_asked(run, shop, tid):
    assert run("ticket", "set", tid, "phone", "13700001111", now="2026-11-23T09:10:00+08:00").exit_code == 0
    masked = run("export", "tickets", "-o", "-").stdout  # one row per ticket: its current phone
    assert "13812345678" not in masked and "13700001111" not in masked and "137****1111" in masked
    events = run("export", "tickets", "--events", "-o", "-").stdout  # the opening row and the `set … phone` row
    assert "13812345678" not in events and "138****5678" in events
    assert "13700001111" not in events and "137****1111" in events
    full = run("export", "tickets", "--events", "-o", "-", "--full-phone").stdout
    assert "13812345678" in full and "13700001111" in full


def test_ticket_show_strips_terminal_control_sequences(run, shop, tid):
    assert run("ticket", "message", tid, "hi\x1b]0;pwned\x07\x1b[2Jthere", now="2026-11-23T09:10:00+08:00").exit_code == 0
    out = run("ticket", "show", tid, now=LATER).stdout
    assert "\x1b" not in out and "\x07" not in out and "hi]0;pwned[2Jthere" in out


# ------------------------------------------------------------------ evidence


def test_evidence_refuses_a_symlink_a_fifo_and_a_file_over_the_limit(run, shop, tid, tmp_path):
    link = tmp_path / "passwd.jpg"
    link.symlink_to("/etc/passwd")
    refused(run, shop, "evidence_symlink", "ticket", "evidence", tid, "item", str(link))
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    refused(run, shop, "evidence_fifo", "ticket", "evidence", tid, "item", str(fifo))
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.truncate(51 * 10**6)  # sparse: 51 MB that take no disk
    refused(run, shop, "evidence_too_large", "ticket", "evidence", tid, "item", str(big))
    assert not (shop / "evidence").exists() or not any((shop / "evidence").rglob("*.*"))
