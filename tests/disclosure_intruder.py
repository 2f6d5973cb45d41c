"""An intruder for disclosure control: what can be worked out from a ProtectedTable as it is shown.

Independent of the method's own audit (evaluation.disclosure): an integer programme (scipy's milp) that knows
every shown figure, every column sum when the table has a total, that no count is above the count it is part
of (by default the group's size, its first column), and what each mark means:

- "fewer than N" (Mark.SMALL) is 0 to N-1 for a count in a hidden group (its size is small too, and 1 to N-1:
  a group of nobody shows its zeros), else 1 to N-1 (zeros are shown in a shown group);
- "hidden" (Mark.HIDDEN) is at least the smallest count that could have been shown: 1 on screen, N in
  outputs; when the whole table is withheld, any whole number.

It asks for the smallest and largest whole number each hidden count can be. A cell is (row, column) by
index, the total row being -1.
"""

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from mecc_volunteer.evaluation.disclosure import Mark, Mode, ProtectedTable

TOTAL = -1
# Far above any count in a test (and small enough for the solver's tolerances): a hidden count that reaches it
# has no upper limit.
UNBOUNDED = 1000


def grid(table: ProtectedTable) -> dict:
    """{(row, column): Figure}, the total row as -1."""
    cells = {(r, c): f for r, row in enumerate(table.rows) for c, f in enumerate(row.figures)}
    if table.total is not None:
        cells |= {(TOTAL, c): f for c, f in enumerate(table.total.figures)}
    return cells


class _Problem:
    """The intruder's integer programme for one table: a variable per hidden cell."""

    def __init__(self, table: ProtectedTable, within: dict[str, str] | None):
        self.cells = cells = grid(table)
        self.hidden = [cell for cell, f in cells.items() if not f.shown]
        self.index = index = {cell: i for i, cell in enumerate(self.hidden)}
        n = len(self.hidden)
        width = len(table.columns)
        floor = 0 if table.withheld else (1 if table.mode is Mode.SCREEN else table.threshold)
        low, high = np.zeros(n), np.full(n, float(UNBOUNDED))
        for cell, i in index.items():
            figure = cells[cell]
            if figure.mark is Mark.SMALL:
                group_small = cells[(cell[0], 0)].mark is Mark.SMALL
                # A small group has someone in it (a group of nobody shows its zeros); its other counts may be 0.
                low[i], high[i] = (0 if group_small and cell[1] != 0 else 1), table.threshold - 1
            else:
                low[i] = floor
        constraints = []
        rows = sorted({r for r, _ in cells})
        if table.total is not None:
            for c in range(width):
                a, rhs = np.zeros(n), 0.0
                for r in rows:
                    sign = -1.0 if r == TOTAL else 1.0
                    if (r, c) in index:
                        a[index[(r, c)]] += sign
                    else:
                        rhs -= sign * cells[(r, c)].value
                if a.any():
                    constraints.append(LinearConstraint(a, rhs, rhs))
        # Each count is part of another: by default of the group's size (the first column).
        parts = within or dict.fromkeys(table.columns[1:], table.columns[0])
        for part, whole in parts.items():
            p, w = table.column(part), table.column(whole)
            for r in rows:
                a, rhs = np.zeros(n), 0.0
                for cell, sign in (((r, p), 1.0), ((r, w), -1.0)):
                    if cell in index:
                        a[index[cell]] += sign
                    else:
                        rhs -= sign * cells[cell].value
                if a.any():
                    constraints.append(LinearConstraint(a, -np.inf, rhs))
        # HiGHS's presolve (scipy 1.17) calls some of these small feasible programmes infeasible: it is off.
        self.options = {
            "integrality": np.ones(n),
            "bounds": Bounds(low, high),
            "constraints": constraints,
            "options": {"presolve": False},
        }

    def solve(self, cell, direction: float):
        objective = np.zeros(len(self.hidden))
        objective[self.index[cell]] = direction
        result = milp(objective, **self.options)
        # The true table satisfies every constraint: no solution means the marks say something untrue.
        assert result.status == 0, f"the marks of {cell} contradict the table: {result.message}"
        return result


def zero_total_columns(table: ProtectedTable) -> set[int]:
    """Columns whose shown total is 0: every count in them is 0 for everyone to see, which discloses nothing
    about any group that the total does not."""
    if table.total is None:
        return set()
    return {c for c, f in enumerate(table.total.figures) if f.shown and f.value == 0}


def intruder_ranges(table: ProtectedTable, within: dict[str, str] | None = None) -> dict:
    """For every hidden cell, the (smallest, largest) whole number it can be; largest None when unbounded.
    `within` names the count each column is part of (default: every column is part of the first)."""
    problem = _Problem(table, within)
    ranges = {}
    for cell in problem.hidden:
        smallest = round(problem.solve(cell, 1.0).fun)
        largest = round(-problem.solve(cell, -1.0).fun)
        ranges[cell] = (smallest, None if largest >= UNBOUNDED else largest)
    return ranges


def exposed_cells(table: ProtectedTable, within: dict[str, str] | None = None) -> list:
    """The hidden cells with only one possible value. Faster than intruder_ranges: every solution found is a
    table the intruder cannot rule out, so a cell seen with two values in any of them is safe unsolved."""
    problem = _Problem(table, within)
    seen: dict = {cell: set() for cell in problem.hidden}
    exposed = []
    for cell in problem.hidden:
        for direction in (1.0, -1.0):
            if len(seen[cell]) > 1:
                break
            solution = problem.solve(cell, direction).x
            for other, i in problem.index.items():
                seen[other].add(round(solution[i]))
        if len(seen[cell]) < 2:
            exposed.append(cell)
    return exposed


def describe(table: ProtectedTable, cell) -> str:
    r, c = cell
    row = table.total if r == TOTAL else table.rows[r]
    return f"{row.label} / {table.columns[c]}"
