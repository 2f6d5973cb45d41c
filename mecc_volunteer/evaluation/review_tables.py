"""The review's figures as plain tables (headers, rows) for what leaves the app: the evaluator pack's
`tables/*.csv`. Built from a Review made in Mode.OUTPUT, so every count of 1 to N-1 already reads
"fewer than N" and every figure hidden to protect it reads "hidden"; nothing here decides what to hide."""

from mecc_volunteer.evaluation.disclosure import Figure, Mode, ProtectedTable
from mecc_volunteer.evaluation.review import COLUMN_LABELS, COUNT_COLUMNS, RATES, Review

Table = tuple[str, list[str], list[list[object]]]  # (file name, headers, rows)


def cell(figure: Figure, threshold: int) -> object:
    if figure.shown:
        return figure.value
    return f"fewer than {threshold}" if figure.mark is not None and figure.mark.value == "small" else "hidden"


def _rate_cell(table: ProtectedTable, row, part: str, whole: str) -> object:
    p = table.percent(row, part, whole)
    return p.value if p.value is not None else ("hidden" if p.hidden else "")


def counts_table(name: str, table: ProtectedTable, group_heading: str, extra: dict | None = None) -> Table:
    """A breakdown: every count, then each rate (as a percentage) with the count it is a rate of."""
    headers = [group_heading, *(COLUMN_LABELS[c] for c in COUNT_COLUMNS)]
    headers += [f"{COLUMN_LABELS[part]} (% {whole.replace('_', ' ')})" for part, whole in RATES]
    if extra is not None:
        headers.append("Mean change in confidence")
    rows: list[list[object]] = []
    if table.withheld:
        return name, headers, [["Withheld: too few people to show any of this table safely"]]
    for row in [*table.rows, *([table.total] if table.total else [])]:
        values: list[object] = [row.label, *(cell(f, table.threshold) for f in row.figures)]
        values += [_rate_cell(table, row, part, whole) for part, whole in RATES]
        if extra is not None:
            mean = extra.get(row.label)
            values.append(mean if mean is not None else "")
        rows.append(values)
    return name, headers, rows


def list_table(name: str, table: ProtectedTable, heading: str) -> Table:
    if table.withheld:
        return name, [heading, "People"], [["Withheld: too few people to show any of these figures safely", ""]]
    rows = [[row.label, cell(row.figures[0], table.threshold)] for row in table.rows]
    if table.total is not None:
        rows.append([table.total.label, cell(table.total.figures[0], table.threshold)])
    return name, [heading, "People"], rows


def output_tables(review: Review) -> list[Table]:
    """Every table of the review, for the evaluator pack. Refuses a review made for the screen."""
    if review.mode is not Mode.OUTPUT:
        raise ValueError("tables that leave the app are made from a review in Mode.OUTPUT")
    t = review.threshold
    tables: list[Table] = [counts_table("funnel_by_kind.csv", review.funnel, "Kind of session")]
    tables.append(list_table("registered_for_sessions_to_come.csv", review.upcoming, "Registrations"))
    for item in [*review.breakdowns, *review.inequalities]:
        if item.key == "session":
            # Outputs stop at kinds of session: a table by session beside a report of any chosen period would
            # let the period's total undo the table's suppression (review.linked_hidden).
            continue
        name = f"breakdown_{item.key}.csv"
        if any(existing[0] == name for existing in tables):
            continue  # the same table serves both sections
        tables.append(counts_table(name, item.table, item.title.removeprefix("By ").capitalize(), item.mean_change))
    for result in review.paired:
        c = result.comparison
        change = result.change
        rows: list[list[object]] = []
        if change is None:
            rows.append(["People paired", f"fewer than {t}"])
        else:
            rows += [
                ["People paired", change.n],
                ["Mean before", change.mean_before],
                ["Mean after", change.mean_after],
                ["Mean change", change.mean_change],
                ["Mean change, 95% CI low", change.mean_change_ci.low if change.mean_change_ci else ""],
                ["Mean change, 95% CI high", change.mean_change_ci.high if change.mean_change_ci else ""],
                ["Median change", change.median_change],
                ["Median change, 95% CI low", change.median_change_ci.low if change.median_change_ci else ""],
                ["Median change, 95% CI high", change.median_change_ci.high if change.median_change_ci else ""],
                ["Wilcoxon signed-rank p", change.wilcoxon_p if change.wilcoxon_p is not None else ""],
            ]
            rows += [[f"{row.label}", cell(row.figures[0], t)] for row in result.shares.rows]
        rows += [[f"Not paired: {row.label}", cell(row.figures[0], t)] for row in result.not_paired.rows]
        tables.append((f"paired_{c.key}.csv", ["Figure", f"{c.label} ({c.design}, 0 to {c.maximum})"], rows))
    for distribution in review.distributions.get("after_session", []):
        q = distribution.question
        tables.append(list_table(f"after_session_{q.key}.csv", distribution.table, q.wording))
    for kind, (distributions, numbers) in review.followup.items():
        for distribution in distributions:
            q = distribution.question
            tables.append(list_table(f"followup_{kind.value}_{q.key}.csv", distribution.table, q.wording))
        number_rows: list[list[object]] = []
        for stats in numbers:
            if stats.suppressed:
                number_rows.append([stats.question.wording, f"fewer than {t}", "", "", ""])
            else:
                number_rows.append([stats.question.wording, stats.n, stats.mean, stats.median, stats.total])
        if number_rows:
            tables.append(
                (f"followup_{kind.value}_numbers.csv", ["Question", "People", "Mean", "Median", "Total"], number_rows)
            )
    cascade = review.cascade
    row = cascade.table.rows[0]
    labels = {
        "trained": "Trained as MECC trainers (attended a train-the-trainer session held)",
        "followed_up": "Answered the follow-up",
        "reported_running": "Reported running at least one session",
        "in_app_trainers": "Ran at least one session held in this app",
        "running_any": "Ran at least one session (either source)",
    }
    cascade_rows: list[list[object]] = [
        [labels[name], "hidden" if cascade.withheld else cell(cascade.table.figure(row, name), t)]
        for name in cascade.table.columns
    ]
    if cascade.shown:
        f = cascade.figures
        reported, in_app = cascade.reached.rows
        cascade_rows += [
            ["Sessions delivered, reported at follow-up", f.reported_sessions],
            ["People trained, reported at follow-up", cell(reported.figures[0], t)],
            ["Sessions held in this app by trained trainers", f.in_app_sessions],
            ["People who attended those sessions", cell(in_app.figures[0], t)],
        ]
    tables.append(("cascade.csv", ["Figure", "Value"], cascade_rows))
    return tables
