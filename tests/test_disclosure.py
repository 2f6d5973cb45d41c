"""Disclosure control: no hidden figure can be worked out from what a table shows.

The intruder (tests/disclosure_intruder.py) is independent of the method's own audit: an integer programme
(scipy's milp) that knows every shown figure, every column sum, that no count is above its group's size, and
what each mark means, and asks for the smallest and largest whole number each hidden count can be.
"""

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecc_volunteer.evaluation.disclosure import Mark, Mode, protect
from mecc_volunteer.evaluation.review import COUNT_COLUMNS, COUNT_PARTS
from tests.disclosure_intruder import intruder_ranges, zero_total_columns

THRESHOLD = 5


def table_rows(draw_counts):
    return draw_counts


@st.composite
def tables(draw):
    """Small groups, often under the threshold: rows of (size, counts no larger than the size)."""
    width = draw(st.integers(min_value=1, max_value=4))
    n_rows = draw(st.integers(min_value=1, max_value=5))
    rows = []
    for i in range(n_rows):
        size = draw(st.integers(min_value=0, max_value=14))
        counts = [size] + [draw(st.integers(min_value=0, max_value=size)) for _ in range(width - 1)]
        rows.append((f"group {i}", counts))
    with_total = draw(st.booleans())
    total = [sum(r[1][c] for r in rows) for c in range(width)] if with_total else None
    return [f"c{c}" for c in range(width)], rows, total


@pytest.mark.parametrize("mode", list(Mode))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables())
def test_no_hidden_count_can_be_worked_out_from_the_table(mode, data):
    columns, rows, total = data
    table = protect(columns, rows, total, threshold=THRESHOLD, mode=mode)
    if table.withheld:
        return  # not shown at all (the pages and files say it is withheld)
    zeros = zero_total_columns(table)
    for cell, (smallest, largest) in intruder_ranges(table).items():
        if cell[1] in zeros:
            continue  # a total of 0 says so for every group
        assert largest is None or largest > smallest, f"{cell} can only be {smallest} in {rows} / {total}"


@pytest.mark.parametrize("mode", list(Mode))
@settings(max_examples=150, deadline=None)
@given(data=tables())
def test_shown_figures_are_true_and_every_small_group_is_hidden(mode, data):
    columns, rows, total = data
    table = protect(columns, rows, total, threshold=THRESHOLD, mode=mode)
    given_rows = [*rows, *([("All", total)] if total is not None else [])]
    shown_rows = [*table.rows, *([table.total] if table.total is not None else [])]
    for (_, counts), row in zip(given_rows, shown_rows, strict=True):
        for value, figure in zip(counts, row.figures, strict=True):
            if figure.shown:
                assert figure.value == value
            elif figure.mark is Mark.SMALL:
                assert value < THRESHOLD  # "fewer than 5" is never a lie
        if 0 < counts[0] < THRESHOLD:
            assert all(not f.shown for f in row.figures)
        if mode is Mode.OUTPUT:
            assert all(not f.shown for v, f in zip(counts, row.figures, strict=True) if 0 < v < THRESHOLD)


def test_a_hidden_session_cannot_be_recovered_from_the_total():
    """The evaluator's example: total 8, one session 7, so the hidden session was exactly 1."""
    table = protect(["people"], [("Session A", [7]), ("Session B", [1])], [8], threshold=5, mode=Mode.SCREEN)
    a, b = table.rows
    assert b.figures[0].mark is Mark.SMALL
    assert a.figures[0].mark is Mark.HIDDEN  # hidden to protect B
    assert table.total.figures[0].value == 8


def test_groups_of_five_are_shown_whole_on_screen():
    table = protect(["registered", "attended"], [("A", [5, 1]), ("B", [9, 6])], [14, 7], threshold=5, mode=Mode.SCREEN)
    assert [[f.value for f in row.figures] for row in table.rows] == [[5, 1], [9, 6]]
    assert table.hidden_count == 0


def test_outputs_hide_every_count_of_one_to_four():
    table = protect(["registered", "attended"], [("A", [5, 1]), ("B", [9, 6])], [14, 7], threshold=5, mode=Mode.OUTPUT)
    a, b = table.rows
    assert a.figures[1].mark is Mark.SMALL
    assert b.figures[1].mark is Mark.HIDDEN
    assert table.percent(a, "attended", "registered").hidden
    assert table.percent(b, "registered", "registered").value == 100.0


def test_a_percentage_on_a_hidden_count_is_hidden():
    table = protect(["registered", "attended"], [("A", [3, 2]), ("B", [9, 6])], [12, 8], threshold=5, mode=Mode.SCREEN)
    assert table.percent(table.rows[0], "attended", "registered").hidden
    assert table.percent(table.total, "attended", "registered").value == 66.7


def test_the_threshold_is_at_least_three():
    with pytest.raises(ValueError, match="at least 3"):
        protect(["people"], [("A", [1])], None, threshold=2, mode=Mode.SCREEN)


def test_a_subtotal_is_protected_with_the_rows_it_adds_up():
    """Sessions of 4, 4 and 9 of one kind and 6 of another: the kinds' rows are published too. The kind of one
    session is that session; the other kind's 17 would give both 4s away beside a shown 9, so the 9 is hidden."""
    table = protect(
        ["people"],
        [("A", [4]), ("B", [4]), ("C", [9]), ("D", [6])],
        [23],
        threshold=5,
        mode=Mode.SCREEN,
        subtotals=[("Volunteer training", [0, 1, 2]), ("Train the trainer", [3])],
    )
    marks = [row.figures[0].mark for row in table.rows]
    assert marks == [Mark.SMALL, Mark.SMALL, Mark.HIDDEN, None]
    kinds = table.subtotal_table()
    assert [row.figures[0].value for row in kinds.rows] == [17, 6]
    assert kinds.rows[1].figures == table.rows[3].figures  # one session's kind shows what that session shows
    three = replace(table, rows=table.rows[:3], total=kinds.rows[0])  # the kind's sessions, its row as their total
    assert all(low != high for low, high in intruder_ranges(three).values())


def test_a_count_a_linked_table_hides_is_hidden_and_cannot_be_worked_out():
    table = protect(
        ["people"],
        [("A", [8]), ("B", [9]), ("C", [10])],
        [27],
        threshold=5,
        mode=Mode.SCREEN,
        forced_rows={0: ["people"]},
    )
    assert table.forced
    assert table.rows[0].figures[0].mark is Mark.HIDDEN
    assert table.hidden_count == 2  # and one more, or 27 - 9 - 10 gives it
    assert all(low != high for low, high in intruder_ranges(table).values())


def test_a_union_of_groups_is_shown_only_where_it_leaves_every_hidden_count_unknown():
    """Sessions of 7, 1 and 9 (total 17): the 1 is small and the 7 hidden. The 7 alone, or the 1 and the 9,
    would give the 1 away; the 7 and the 1 together are 8, which the table says already (17 - 9)."""
    table = protect(["people"], [("A", [7]), ("B", [1]), ("C", [9])], [17], threshold=5, mode=Mode.SCREEN)
    shown = table.unions_shown([[0], [1, 2], [0, 1], [0, 1, 2], [2]])
    assert [flags[0] for flags in shown] == [False, False, True, True, True]


def test_a_hidden_count_goes_with_the_counts_in_its_row_that_equal_it():
    """The demo's table by gender. Everyone registered confirmed the e-learning: hiding a registered count alone
    would leave it pinned by the e-learning count beside it (and the method went on hiding until every group
    was hidden whole), so they are hidden together, and the other groups stay whole."""
    rows = [
        ("Woman", [63, 63, 55, 46, 30, 25, 46, 46, 31]),
        ("Man", [19, 19, 16, 13, 4, 2, 13, 13, 7]),
        ("In another way", [1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ("Prefer not to say", [1, 1, 1, 1, 0, 0, 1, 1, 1]),
        ("Not answered", [16, 16, 14, 11, 5, 2, 11, 11, 10]),
    ]
    total = [100, 100, 87, 72, 40, 30, 72, 72, 50]
    table = protect(COUNT_COLUMNS, rows, total, threshold=5, mode=Mode.SCREEN, within=COUNT_PARTS)
    assert all(f.shown for row in table.rows[:2] for f in row.figures)
    assert [f.shown for f in table.rows[4].figures] == [False, False] + [True] * 7
    assert all(low != high for low, high in intruder_ranges(table, COUNT_PARTS).values())
