"""render.simple_table is tabulate's "simple" format, only fast: the same text for any cells."""

from hypothesis import given, settings
from hypothesis import strategies as st

import tabulate as tab

from aftersales import render

CELL = st.text(alphabet=st.sampled_from(list("ab xZ-:.09,é中文\u3000")), max_size=6)


def tables():
    return st.integers(1, 4).flatmap(lambda n: st.tuples(
        st.lists(CELL, min_size=n, max_size=n),
        st.lists(st.lists(CELL, min_size=n, max_size=n), min_size=1, max_size=5)))


@settings(max_examples=400, deadline=None)
@given(tables(), st.sampled_from([0, 2]))
def test_the_fast_table_is_tabulates_simple_format(table, padding):
    heads, cells = table
    was, tab.MIN_PADDING = tab.MIN_PADDING, padding
    try:
        want = render._tabulate()(cells, headers=heads, tablefmt="simple", disable_numparse=True)
    finally:
        tab.MIN_PADDING = was
    assert render.simple_table(cells, heads, padding) == want


def test_cells_with_line_breaks_go_to_tabulate():
    text = render.simple_table([["第一行\n第二行", "x"]], ["a", "b"])
    assert text.splitlines()[2:] == ["第一行  x", "第二行"]
