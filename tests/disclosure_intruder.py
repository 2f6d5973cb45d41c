"""An intruder for disclosure control: what can be worked out from a ProtectedTable as it is shown.

Independent of the method's own audit (evaluation.disclosure): an integer programme (scipy's milp) that knows
every shown figure, every column sum when the table has a total, that no count is above the count it is part
of (by default the group's size, its first column), and what each mark means:

- "fewer than N" (Mark.SMALL) is 0 to N-1 for a count in a hidden group (its size is small too, and 1 to N-1:
  a group of nobody shows its zeros), else 1 to N-1 (zeros are shown in a shown group);
- "hidden" (Mark.HIDDEN) is at least the smallest count that could have been shown: 1 on screen, N in
  outputs; when the whole table is withheld, or when some counts are hidden because a linked table hides
  them (table.forced: a filtered view), any whole number.

It asks for the smallest and largest whole number each hidden count can be. A cell is (row, column) by
index, the total row being -1.
"""

import itertools

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
        floor = 0 if table.withheld or table.forced else (1 if table.mode is Mode.SCREEN else table.threshold)
        low, high = np.zeros(n), np.full(n, float(UNBOUNDED))
        for cell, i in index.items():
            figure = cells[cell]
            if figure.mark is Mark.SMALL:
                group_small = cells[(cell[0], 0)].mark is Mark.SMALL
                # A small group has someone in it (a group of nobody shows its zeros); its other counts may be 0.
                low[i], high[i] = (0 if group_small and cell[1] != 0 else 1), table.threshold - 1
            else:
                low[i] = floor
        self.equalities: list = []
        self.inequalities: list = []
        self.low, self.high = low, high
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
                    self.equalities.append((a, rhs))
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
                    self.inequalities.append((a, rhs))
        self.options = {"integrality": np.ones(n), "bounds": Bounds(low, high), "constraints": self._constraints()}

    def _constraints(self) -> list:
        """The column sums (equal) and the parts within their wholes (at most), as one matrix each."""
        found = []
        if self.equalities:
            rhs = np.array([rhs for _, rhs in self.equalities])
            found.append(LinearConstraint(np.array([a for a, _ in self.equalities]), rhs, rhs))
        if self.inequalities:
            rhs = np.array([rhs for _, rhs in self.inequalities])
            found.append(LinearConstraint(np.array([a for a, _ in self.inequalities]), -np.inf, rhs))
        return found

    def feasible(self, tables: np.ndarray) -> np.ndarray:
        """Which of these whole-number tables (one a row, a value per hidden cell) satisfy everything the
        intruder knows."""
        ok = np.all((tables >= self.low) & (tables <= self.high), axis=1)
        if self.equalities:
            a = np.array([a for a, _ in self.equalities])
            ok &= np.all(tables @ a.T == np.array([rhs for _, rhs in self.equalities]), axis=1)
        if self.inequalities:
            a = np.array([a for a, _ in self.inequalities])
            ok &= np.all(tables @ a.T <= np.array([rhs for _, rhs in self.inequalities]), axis=1)
        return ok

    def moves(self) -> np.ndarray:
        """Small changes to try first, one a row: one hidden count by one, or two in a column or a row, in
        opposite or equal steps; most hidden counts are shown to have two possible values by one of these."""
        n = len(self.hidden)
        moves = [step * np.eye(n)[i] for i in range(n) for step in (1, -1)]
        for i, j in itertools.combinations(range(n), 2):
            (ri, ci), (rj, cj) = self.hidden[i], self.hidden[j]
            if ci == cj or ri == rj:
                for si, sj in ((1, -1), (-1, 1), (1, 1), (-1, -1)):
                    move = np.zeros(n)
                    move[i], move[j] = si, sj
                    moves.append(move)
        return np.array(moves)

    def solve(self, cell, direction: float):
        objective = np.zeros(len(self.hidden))
        objective[self.index[cell]] = direction
        result = milp(objective, **self.options)
        if result.status != 0 or not self.feasible(np.round(result.x)[np.newaxis])[0]:
            # HiGHS's presolve (scipy 1.17) calls some of these small feasible programmes infeasible; without it
            # (ten times slower) it does not. A solution is only ever used once checked, so a wrong answer from
            # the solver could make a count look easier to work out than it is, never harder.
            result = milp(objective, **self.options, options={"presolve": False})
        # The true table satisfies every constraint: no solution means the marks say something untrue.
        assert result.status == 0, f"the marks of {cell} contradict the table: {result.message}"
        assert self.feasible(np.round(result.x)[np.newaxis])[0], f"the solver's table for {cell} is not a table"
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


def exposed_cells(
    table: ProtectedTable, within: dict[str, str] | None = None, truth: dict | None = None, skip=frozenset()
) -> list:
    """The hidden cells with only one possible value. Faster than intruder_ranges: every whole-number table
    found that satisfies what the intruder knows (small changes to one solution first, then the programme's
    solutions) is one it cannot rule out, so a cell seen with two values in any of them is safe unsolved.
    `truth`, {cell: true count}, saves solving for the first table (it is checked like any other); the columns
    in `skip` (such as zero_total_columns) are not asked about."""
    problem = _Problem(table, within)
    if not problem.hidden:
        return []
    seen: dict = {cell: set() for cell in problem.hidden}

    def learn(x: np.ndarray) -> None:
        for other, i in problem.index.items():
            seen[other].add(round(x[i]))

    if truth is not None:
        start = np.array([float(truth[cell]) for cell in problem.hidden])
        assert problem.feasible(start[np.newaxis])[0], "the true table contradicts its marks"
    else:
        start = np.round(problem.solve(problem.hidden[0], 0.0).x)
    learn(start)
    candidates = start + problem.moves()
    for x in candidates[problem.feasible(candidates)]:
        learn(x)
    exposed = []
    for cell in problem.hidden:
        if cell[1] in skip:
            continue
        for direction in (1.0, -1.0):
            if len(seen[cell]) > 1:
                break
            learn(problem.solve(cell, direction).x)
        if len(seen[cell]) < 2:
            exposed.append(cell)
    return exposed


def describe(table: ProtectedTable, cell) -> str:
    r, c = cell
    row = table.total if r == TOTAL else table.rows[r]
    return f"{row.label} / {table.columns[c]}"
