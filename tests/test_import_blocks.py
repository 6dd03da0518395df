"""The import's reader in blocks (issue 18): the records, lines and errors of csv.reader,
wherever the blocks are cut."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales.errors import InputError

_CSV = st.text(alphabet=["a", "中", ",", '"', "\n", "\r", " ", "\u3000", "\x00", "\ufeff"], max_size=60)


def _read(records) -> list:
    out = []
    try:
        for rec in records:
            out.append(rec)
    except InputError as e:
        out.append(e.message)
    return out


def _reference(text: str):
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(c.strip() for c in row):
                yield start, row
    except csv.Error as e:
        raise InputError(f"f:{end + 1}: malformed CSV: {e}; fix the quoting on that line") from None


def _flat(blocks):
    for lines, rows in blocks:
        assert len(lines) == len(rows)
        yield from zip(lines, map(list, rows))


@settings(max_examples=400)
@given(_CSV, st.integers(1, 12))
def test_blocks_of_any_size_are_what_csv_reader_reads(text, size):
    from aftersales.spreadsheet import _blocks

    got = _read(_flat(_blocks(io.StringIO(text, newline=""), "f", size)))
    assert got == _read(_reference(text))


@given(st.lists(st.sampled_from(["a,b", " , ", "", "x,中", "\u3000,", "1,2,3"]), max_size=30),
       st.sampled_from(["\n", "\r\n"]), st.booleans(), st.integers(1, 20))
def test_plain_lines_in_blocks(lines, end, last, size):
    from aftersales.spreadsheet import _blocks

    text = end.join(lines) + (end if last else "")
    got = _read(_flat(_blocks(io.StringIO(text, newline=""), "f", size)))
    assert got == _read(_reference(text))
