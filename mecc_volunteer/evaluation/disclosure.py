"""Disclosure control for the pilot review: the one place small numbers are hidden (issue 10, SPEC 2).

Every table of counts the review shows or lets leave the app goes through `protect`:

- **Primary suppression.** A group (a row) of 1 to N-1 people shows "fewer than N" for every figure, on
  screen and in outputs. In outputs (the board report, the pack's tables) every count of 1 to N-1 is hidden
  as well. Zeros are shown (a group of nobody too), and a zero that a column's total of 0 implies is no
  disclosure: the total already says it.
- **Secondary suppression.** A hidden count must not be recoverable by arithmetic on what is shown: a column's
  total minus the other rows, or a count's limits (no group count is above the group's size, which is its
  first column). `protect` audits the table as an intruder would, with a linear programme (scipy's HiGHS)
  that finds the smallest and largest value each hidden count can take given every shown figure, every
  column sum and those limits; while any hidden count has only one possible value, it hides one more count
  (the smallest shown count in the same column, else in the same row), marked "hidden". Totals are never
  hidden to protect a group, so the same total is shown alike in every breakdown of it. If nothing is left
  to hide, the table is withheld.

The intruder is assumed to know this method: that a count shown as "fewer than N" is 1 to N-1 (0 to N-1 for a
count inside a small group, other than its size), and that a count hidden to protect another is at least the
smallest count that could have been shown (1 on screen, N in outputs).

Percentages built on a hidden count are hidden too (`ProtectedTable.percent`).

**Linked tables.** A table published beside this one may show unions of its groups: sessions by kind, or
organisations by type. Such a union is a `subtotal` of the table, protected with it (its sum is one more thing
the intruder knows, and a subtotal's counts may be hidden to protect a group); a subtotal of one group is that
group, and shows what it shows. A filtered view is the same people as a union of groups of the whole pilot's
table (a session, a period, a kind): `ProtectedTable.unions_shown` says which of its counts can be shown
beside that table without letting any count it hides be worked out, and the view hides the rest (`forced`).
"""

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np


class Mode(enum.Enum):
    SCREEN = "screen"  # for signed-in evaluators: small groups hidden whole
    OUTPUT = "output"  # leaves the app: also every count of 1 to N-1


class Mark(enum.Enum):
    SMALL = "small"  # "fewer than N"
    HIDDEN = "hidden"  # hidden so that a small figure cannot be worked out


@dataclass(frozen=True)
class Figure:
    """One count as the table shows it: the value, or a mark in its place."""

    value: int | None
    mark: Mark | None = None

    @property
    def shown(self) -> bool:
        return self.mark is None


@dataclass(frozen=True)
class Percent:
    value: float | None  # None when hidden (or when the denominator is 0)
    hidden: bool = False


@dataclass(frozen=True)
class Row:
    label: str
    figures: list[Figure]

    @property
    def small(self) -> bool:
        """The whole group is hidden (its size is marked small)."""
        return self.figures[0].mark is Mark.SMALL


@dataclass(frozen=True)
class ProtectedTable:
    columns: list[str]
    rows: list[Row]
    total: Row | None
    threshold: int
    mode: Mode
    withheld: bool = False
    subtotals: list[Row] = field(default_factory=list)
    # Some counts are hidden because a linked table hides them: a hidden count here may then be any number.
    forced: bool = False
    # What the audit needs to check a union of groups later (true values included): never shown.
    linked: "_Linked | None" = field(default=None, repr=False, compare=False)

    def subtotal_table(self) -> "ProtectedTable":
        """The subtotals as a table of their own, with the same total (e.g. the funnel by kind)."""
        return ProtectedTable(
            self.columns, self.subtotals, self.total, self.threshold, self.mode, self.withheld, forced=self.forced
        )

    def unions_shown(self, unions: Sequence[Sequence[int]]) -> list[list[bool]]:
        """For each union of groups (row indices), which of its counts can be shown beside this table: adding
        each shown count's sum, one at a time, must leave every hidden count with more than one possible
        value. A count that would not is hidden (and so adds nothing an intruder can use)."""
        if self.linked is None:
            raise ValueError("this table cannot check unions")
        return self.linked.unions_shown(unions)

    def column(self, name: str) -> int:
        return self.columns.index(name)

    def figure(self, row: Row, name: str) -> Figure:
        return row.figures[self.column(name)]

    def percent(self, row: Row, part: str, whole: str) -> Percent:
        """part as a percentage of whole, in the same row; hidden when either count is hidden."""
        numerator, denominator = self.figure(row, part), self.figure(row, whole)
        if not (numerator.shown and denominator.shown):
            return Percent(None, hidden=True)
        if not denominator.value:
            return Percent(None)
        return Percent(round(100 * (numerator.value or 0) / denominator.value, 1))

    @property
    def hidden_count(self) -> int:
        rows = [*self.rows, *([self.total] if self.total else [])]
        return sum(1 for row in rows for f in row.figures if not f.shown)


# --- The method ------------------------------------------------------------------------------------------

TOTAL = -1  # the row index of the total row

Cell = tuple[int, int]


def protect(
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int]]],
    total: Sequence[int] | None,
    *,
    threshold: int,
    mode: Mode,
    total_label: str = "All",
    within: dict[str, str] | None = None,
    subtotals: Sequence[tuple[str, Sequence[int]]] = (),
    forced_total: Collection[str] = (),
    forced_subtotals: dict[int, Collection[str]] | None = None,
    forced_rows: dict[int, Collection[str]] | None = None,
) -> ProtectedTable:
    """Hide what must be hidden in a table of counts about people.

    Each row is one group with its counts, the first being the group's size (people in it); no other count
    in the row is above it. `within` names, for a column, the column it is part of (evaluated of attended…),
    which an intruder would know too; a relation the figures do not keep is not a rule and is left out.
    `total`, when given, is the column-by-column sum of the rows (the groups partition the total).
    `subtotals` are unions of rows (label, row indices) published in a linked table, protected with this one.
    `forced_total`, `forced_subtotals` and `forced_rows` name counts hidden before anything else (a linked
    table hides them), which may be 0. The threshold is at least 3: below that, "fewer than 2" would itself say "1"."""
    if threshold < 3:
        raise ValueError("the disclosure threshold is at least 3")
    width = len(columns)
    names = list(columns)
    values: dict[Cell, int] = {}
    for r, (_, counts) in enumerate(rows):
        _check_row(counts, width)
        values.update({(r, c): int(v) for c, v in enumerate(counts)})
    if total is not None:
        _check_row(total, width)
        values.update({(TOTAL, c): int(v) for c, v in enumerate(total)})
    base = list(range(len(rows)))

    # A subtotal of one group is that group, and one of every group is the total: they show what it shows.
    sums: dict[int, list[int]] = {}
    mirrors: list[int] = []
    for _, members in subtotals:
        group = sorted(set(members))
        if not group or any(m not in range(len(rows)) for m in group):
            raise ValueError("a subtotal is a union of some of the table's rows")
        if len(group) == 1:
            mirrors.append(group[0])
        elif total is not None and len(group) == len(rows):
            mirrors.append(TOTAL)
        else:
            sid = len(rows) + len(sums)
            sums[sid] = group
            values.update({(sid, c): sum(values[(m, c)] for m in group) for c in range(width)})
            mirrors.append(sid)
    row_ids = base + list(sums) + ([TOTAL] if total is not None else [])

    marks: dict[Cell, Mark] = {}
    # A group of nobody is not a small group: its zeros are shown, like every zero.
    small_rows = {r for r in row_ids if 0 < values[(r, 0)] < threshold}
    for cell, value in values.items():
        if cell[0] in small_rows or (mode is Mode.OUTPUT and 0 < value < threshold):
            marks[cell] = Mark.SMALL
    forced: set[Cell] = set()
    if total is not None:
        forced |= {(TOTAL, names.index(name)) for name in forced_total}
    for j, hidden_names in (forced_subtotals or {}).items():
        forced |= {(mirrors[j], names.index(name)) for name in hidden_names}
    for r, hidden_names in (forced_rows or {}).items():
        forced |= {(r, names.index(name)) for name in hidden_names}
    for cell in forced:
        marks.setdefault(cell, Mark.HIDDEN)

    parts = {names.index(p): names.index(w) for p, w in (within or {}).items()}
    parts = {c: parts.get(c, 0) for c in range(1, width)}  # by default, part of the group's size
    parts = {p: w for p, w in parts.items() if all(values[(g, p)] <= values[(g, w)] for g in row_ids)}
    structure = _Structure(values, base, sums, row_ids, width, threshold, mode, small_rows, parts, forced)
    audit = _Audit(structure)
    if total is not None:
        _hide_single_unknowns(structure, marks)
    withheld = False
    while True:
        exposed = audit.exposed(marks)
        if exposed is None:
            break
        complement = _complement_for(structure, exposed, marks)
        if complement is None:
            withheld = True
            marks = dict.fromkeys(values, Mark.HIDDEN) | {c: m for c, m in marks.items() if m is Mark.SMALL}
            break
        for cell in structure.tied(complement):
            marks.setdefault(cell, Mark.HIDDEN)

    def row(r: int, label: str) -> Row:
        return Row(
            label, [Figure(None, marks[(r, c)]) if (r, c) in marks else Figure(values[(r, c)]) for c in range(width)]
        )

    return ProtectedTable(
        columns=list(columns),
        rows=[row(r, label) for r, (label, _) in enumerate(rows)],
        total=row(TOTAL, total_label) if total is not None else None,
        threshold=threshold,
        mode=mode,
        withheld=withheld,
        subtotals=[row(m, label) for m, (label, _) in zip(mirrors, subtotals, strict=True)],
        forced=bool(forced),
        linked=_Linked(structure, marks, withheld),
    )


def _check_row(counts: Sequence[int], width: int) -> None:
    if len(counts) != width:
        raise ValueError(f"a row has {len(counts)} counts for {width} columns")
    if any(v < 0 for v in counts):
        raise ValueError("counts are never negative")


@dataclass
class _Structure:
    """A table's true counts and what an intruder knows of its shape."""

    values: dict[Cell, int]
    base: list[int]  # the groups
    sums: dict[int, list[int]]  # subtotal row -> the groups it adds up
    row_ids: list[int]  # groups, subtotals and the total
    width: int
    threshold: int
    mode: Mode
    small_rows: set[int]
    parts: dict[int, int]  # column -> the column it is part of
    forced: set[Cell]

    @property
    def has_total(self) -> bool:
        return TOTAL in self.row_ids

    @property
    def complement_floor(self) -> int:
        # A count hidden to protect another was chosen from those that could be shown.
        return 1 if self.mode is Mode.SCREEN else self.threshold

    def tied(self, cell: Cell) -> list[Cell]:
        """The count and those in its row equal to it through the part-of relation (everyone registered
        confirmed the e-learning): hidden alone, it would be pinned by the shown one, so they go together."""
        r, _ = cell
        found, todo = [cell], [cell]
        while todo:
            _, c = todo.pop()
            near = [w for p, w in self.parts.items() if p == c] + [p for p, w in self.parts.items() if w == c]
            for k in near:
                if (r, k) not in found and self.values[(r, k)] == self.values[cell]:
                    found.append((r, k))
                    todo.append((r, k))
        return found

    def shared(self, r: int, g: int) -> int:
        """How many sums hold both rows: a count in a row that shares more of them protects more."""
        count = int(self.has_total and (r == TOTAL or r in self.base) and g in self.base)
        return count + sum(1 for s, members in self.sums.items() if {r, g} <= {s, *members})


def _hide_single_unknowns(structure: _Structure, marks: dict) -> None:
    """The quick first step: a column whose sum is shown never has exactly one hidden count (it would be the
    total minus the rest). The audit then checks what this cannot see (limits, subtotals, several columns)."""
    values = structure.values
    changed = True
    while changed:
        changed = False
        for c in range(structure.width):
            hidden = [g for g in [*structure.base, TOTAL] if (g, c) in marks]
            if len(hidden) == 1 and values[(TOTAL, c)] != 0:
                complement = _complement_for(structure, (hidden[0], c), marks, column_only=True)
                if complement is not None:
                    for cell in structure.tied(complement):
                        marks.setdefault(cell, Mark.HIDDEN)
                    changed = True


def _complement_for(structure: _Structure, cell: Cell, marks: dict, *, column_only: bool = False) -> Cell | None:
    """The count to hide next to protect `cell`: in its column (never a total), else in its row, else anywhere,
    a shown count of at least the floor, preferring a row that shares more sums with it, then a group that
    already has a hidden count (so hiding gathers in as few groups as it can and the others stay whole), then
    the smallest; None when nothing is left to hide."""
    r, c = cell
    values, width, floor = structure.values, structure.width, structure.complement_floor
    touched = {g for g, _ in marks}
    column_rows = structure.base if column_only else [g for g in structure.row_ids if g != TOTAL]
    in_column = [(values[(g, c)], g, c) for g in column_rows if (g, c) not in marks]
    in_row = [(values[(r, k)], r, k) for k in range(width) if (r, k) not in marks]
    # Else anywhere: a count can be pinned through another column (by a count it is part of), and hiding
    # one more count never makes another easier to work out; the audit says when it is enough.
    anywhere = [(v, g, k) for (g, k), v in values.items() if g != TOTAL and (g, k) not in marks]
    if r == TOTAL or column_only:
        in_row = []
    if column_only:
        anywhere = []
    for candidates in (in_column, in_row, anywhere):
        eligible = sorted(
            (-structure.shared(r, g) if k == c else 0, g not in touched, v, g, k)
            for v, g, k in candidates
            if v >= floor
        )
        if eligible:
            *_, g, k = eligible[0]
            return (g, k)
    return None


Union = tuple[tuple[int, ...], int, int]  # the groups, a column, and their sum there


class _Audit:
    """What an intruder can work out: the range of each hidden count, by linear programming. `unions` are
    sums of groups known from a linked view, one column each."""

    def __init__(self, structure: _Structure, unions: Sequence[Union] = ()):
        self.s = structure
        self.unions = list(unions)
        values = structure.values
        # A column whose shown total is 0 says every group's count is 0: nothing there is told by arithmetic
        # that the total has not already told everyone (a hidden total of 0 tells nothing).
        self.zero_columns = {c for c in range(structure.width) if structure.has_total and values[(TOTAL, c)] == 0}
        # Hiding more only widens what a hidden count could be, so a count once found safe stays safe.
        self.safe: set[Cell] = set()
        self.seen: dict[Cell, set[int]] = {}

    def bounds(self, cell: Cell, mark: Mark) -> tuple[float, float | None]:
        if mark is Mark.SMALL:
            # A small group has someone in it; its other counts may be 0. A small count elsewhere is not 0,
            # as zeros are shown.
            in_small_group = cell[0] in self.s.small_rows and cell[1] != 0
            return (0 if in_small_group else 1, self.s.threshold - 1)
        if cell in self.s.forced:
            return (0, None)  # hidden because a linked table hides it: any count, 0 included
        return (self.s.complement_floor, None)

    def _sums_of(self, cell: Cell) -> frozenset:
        """The sums a group's count is in, besides the column total: its subtotals and the known unions."""
        r, c = cell
        subtotals = {("subtotal", s) for s, members in self.s.sums.items() if r in members}
        unions = {("union", i) for i, (groups, column, _) in enumerate(self.unions) if column == c and r in groups}
        return frozenset(subtotals | unions)

    def _swap_witnesses(self, hidden, bounds, seen) -> None:
        """Cheap proof first: move one hidden count up by one and another in its column down by one (two groups
        in the same sums), or a count and its hidden total together (a group in no other sum); if the table
        still satisfies every constraint, both counts have two possible values. What this cannot prove goes to
        the linear programme."""
        values, parts = self.s.values, self.s.parts

        def allowed(cell, value: int) -> bool:
            low, high = bounds[cell]
            if value < low or (high is not None and value > high):
                return False
            r, c = cell
            # A count stays within the count it is part of, and at least each count that is part of it.
            if c in parts and value > values[(r, parts[c])]:
                return False
            return all(value >= values[(r, p)] for p, w in parts.items() if w == c)

        for c in range(self.s.width):
            column = [cell for cell in hidden if cell[1] == c]
            groups = [cell for cell in column if cell[0] in self.s.base]
            total = next((cell for cell in column if cell[0] == TOTAL), None)
            for a in groups:
                sums_a = self._sums_of(a)
                if not self.s.has_total:  # no sum to keep: a count in no other sum moves alone
                    for step in (1, -1):
                        if not sums_a and allowed(a, values[a] + step):
                            seen[a].add(values[a] + step)
                    continue
                for b in groups:
                    if (
                        a != b
                        and sums_a == self._sums_of(b)
                        and allowed(a, values[a] + 1)
                        and allowed(b, values[b] - 1)
                    ):
                        seen[a].add(values[a] + 1)
                        seen[b].add(values[b] - 1)
                if total is not None and not sums_a:
                    for step in (1, -1):
                        if allowed(a, values[a] + step) and allowed(total, values[total] + step):
                            seen[a].add(values[a] + step)
                            seen[total].add(values[total] + step)

    def _equations(self, index: dict[Cell, int]) -> tuple[list, list]:
        """Every sum the intruder knows, with shown counts moved to the right-hand side."""
        s, n = self.s, len(index)
        equations, rhs_list = [], []

        def add(terms: list[tuple[Cell, float]], constant: float) -> None:
            coefficients = np.zeros(n)
            rhs = constant
            for cell, sign in terms:
                if cell in index:
                    coefficients[index[cell]] += sign
                else:
                    rhs -= sign * s.values[cell]
            if coefficients.any():
                equations.append(coefficients)
                rhs_list.append(rhs)

        for c in range(s.width):
            if s.has_total:  # the groups add up to the total
                add([((g, c), 1.0) for g in s.base] + [((TOTAL, c), -1.0)], 0.0)
            for sid, members in s.sums.items():  # and each subtotal's groups to the subtotal
                add([((g, c), 1.0) for g in members] + [((sid, c), -1.0)], 0.0)
        for groups, c, value in self.unions:
            add([((g, c), 1.0) for g in groups], float(value))
        return equations, rhs_list

    def exposed(self, marks: dict) -> Cell | None:
        """The first hidden count with only one possible value, or None."""
        s = self.s
        hidden = sorted(marks, key=lambda cell: (cell[0] == TOTAL, cell))
        if not hidden:
            return None
        index = {cell: i for i, cell in enumerate(hidden)}
        n = len(hidden)
        equalities, equality_rhs = self._equations(index)
        inequalities, inequality_rhs = [], []
        for g in s.row_ids:
            for c, w in s.parts.items():
                # a count <= the count it is part of (by default the group's size)
                if (g, c) not in index and (g, w) not in index:
                    continue
                coefficients = np.zeros(n)
                rhs = 0.0
                if (g, c) in index:
                    coefficients[index[(g, c)]] += 1.0
                else:
                    rhs -= s.values[(g, c)]
                if (g, w) in index:
                    coefficients[index[(g, w)]] -= 1.0
                else:
                    rhs += s.values[(g, w)]
                inequalities.append(coefficients)
                inequality_rhs.append(rhs)
        bounds = [self.bounds(cell, marks[cell]) for cell in hidden]
        problem = {
            "A_eq": np.array(equalities) if equalities else None,
            "b_eq": np.array(equality_rhs) if equalities else None,
            "A_ub": np.array(inequalities) if inequalities else None,
            "b_ub": np.array(inequality_rhs) if inequalities else None,
            "bounds": bounds,
            "method": "highs",
        }
        # Whole-number points known to satisfy every constraint: the true table, then each solution found. A
        # count taking two values among them has more than one possible value, with no further programme.
        # Kept between rounds: hiding one more count keeps every earlier point possible (at its true value).
        seen = self.seen
        for cell in hidden:
            seen.setdefault(cell, {s.values[cell]})

        self._swap_witnesses(hidden, {cell: bounds[index[cell]] for cell in hidden}, seen)

        def learn(solution) -> None:
            for cell, i in index.items():
                value = float(solution[i])
                if abs(value - round(value)) < 1e-6:
                    seen[cell].add(round(value))

        for cell in hidden:
            zero_column = cell[1] in self.zero_columns and (TOTAL, cell[1]) not in marks
            if cell in self.safe or len(seen[cell]) > 1 or zero_column:
                self.safe.add(cell)
                continue
            from scipy.optimize import linprog  # imported when first needed: scipy takes seconds to load

            objective = np.zeros(n)
            objective[index[cell]] = 1.0
            for direction in (1.0, -1.0):
                if len(seen[cell]) > 1:
                    break
                result = linprog(direction * objective, **problem)
                if result.status == 3:  # unbounded: it can be as large as you like
                    seen[cell].add(s.values[cell] + 1)
                elif result.status != 0:  # the true table satisfies every constraint, so this cannot happen
                    raise RuntimeError(f"disclosure audit failed: {result.message}")
                else:
                    learn(result.x)
            if len(seen[cell]) < 2:
                return cell  # its smallest and largest possible values are the same: it can be worked out
            self.safe.add(cell)
        return None


@dataclass
class _Linked:
    """A protected table's structure and marks, kept to check views that are unions of its groups."""

    structure: _Structure
    marks: dict[Cell, Mark]
    withheld: bool

    def unions_shown(self, unions: Sequence[Sequence[int]]) -> list[list[bool]]:
        if self.withheld:  # nothing of the table is shown, so nothing of a view of it is
            return [[False] * self.structure.width for _ in unions]
        values, marks = self.structure.values, self.marks
        known: list[Union] = []
        answer = []
        for union in unions:
            groups = tuple(sorted(set(union)))
            shown_here = []
            for c in range(self.structure.width):
                value = sum(values[(g, c)] for g in groups)
                hidden = [g for g in groups if (g, c) in marks]
                if not hidden:
                    shown_here.append(True)  # every part is shown: the sum tells nothing new
                    continue
                if len(hidden) == 1:
                    shown_here.append(False)  # it would be the sum less the shown parts
                    continue
                candidate = (groups, c, value)
                if _Audit(self.structure, [*known, candidate]).exposed(marks) is None:
                    known.append(candidate)
                    shown_here.append(True)
                else:
                    shown_here.append(False)
            answer.append(shown_here)
        return answer
