"""The evaluator pack: one ZIP holding the responses (CSV and XLSX), the data dictionary and a method note, and any
CSV tables passed in, with the same filters.

The ZIP is written to a temporary file (ZIP_DEFLATED), each entry as it is made: the responses are read from the
database once, page by page, and each row goes to the CSV entry and the XLSX's sheet as it passes, so memory stays
flat and both files hold exactly the same rows. The pilot review's tables go in `tables/`, made under the rules for
outputs that leave the app (evaluation.review_tables: every count of 1 to N-1 "fewer than N", and "hidden" where
one could be worked out), so the pack's aggregate figures match the board report's.
"""

import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from flask import render_template

from mecc_volunteer import settings
from mecc_volunteer.csv_export import stream_csv
from mecc_volunteer.evaluation import review, review_tables
from mecc_volunteer.evaluation.disclosure import Mode
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.statistics import METHOD
from mecc_volunteer.exports import services
from mecc_volunteer.instrument import CURRENT, VERSIONS, Instrument, all_questions
from mecc_volunteer.models import LONDON, utcnow

PACK_ZIP = "evaluator_pack.zip"
METHOD_NOTE = "method_note.txt"

# A CSV file in the pack: (name inside the ZIP, headers, rows). Rows may be a generator: they are streamed.
CsvFile = tuple[str, Sequence[str], Iterable[Sequence]]


def entry(name: str, now: datetime) -> zipfile.ZipInfo:
    """A file in the ZIP: compressed, dated `now` in London time, readable once unpacked."""
    info = zipfile.ZipInfo(name, date_time=now.astimezone(LONDON).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # rw-r--r--
    return info


def add_csv(
    archive: zipfile.ZipFile, name: str, headers: Sequence[str], rows: Iterable[Sequence], *, now: datetime
) -> None:
    """One CSV entry, written as the rows come (csv_export: UTF-8 with a BOM, the formula guard)."""
    with archive.open(entry(name, now), "w") as csv_file:
        for chunk in stream_csv(headers, rows):
            csv_file.write(chunk)


def add_csv_files(archive: zipfile.ZipFile, files: Iterable[CsvFile], *, now: datetime) -> list[str]:
    """Each (name, headers, rows) as a CSV entry; returns the names, in order."""
    names = []
    for name, headers, rows in files:
        add_csv(archive, name, headers, rows, now=now)
        names.append(name)
    return names


@dataclass(frozen=True)
class VersionNote:
    """One instrument version for the method note: its question columns, and what changed from the one before."""

    version: int
    columns: list[str]
    added: list[str]
    removed: list[str]
    reworded: list[str]


def _column(question) -> str:
    return f"{question.survey.value}.{question.key}"


def version_notes(versions: Sequence[Instrument] = VERSIONS) -> list[VersionNote]:
    notes = []
    previous: dict[str, str] = {}
    for instrument in versions:
        wordings = {_column(q): q.wording for q in instrument.questions}
        notes.append(
            VersionNote(
                version=instrument.version,
                columns=list(wordings),
                added=[c for c in wordings if previous and c not in previous],
                removed=[c for c in previous if c not in wordings],
                reworded=[c for c, w in wordings.items() if c in previous and previous[c] != w],
            )
        )
        previous = wordings
    return notes


def method_note(
    filters: ReviewFilters,
    tally: services.Tally,
    *,
    now: datetime,
    tables: Sequence[str] = (),
    instrument: Instrument = CURRENT,
) -> str:
    """The method note (exports/method_note.txt): plain English, from the instrument's data and the settings."""
    programme = settings.current()
    questions = all_questions(instrument)
    pairs = [(_column(q), f"baseline.{q.paired_with}") for q in questions if q.paired_with]
    retrospective = [(_column(q), f"{q.survey.value}.{q.retrospective_of}") for q in questions if q.retrospective_of]
    return (
        render_template(
            "exports/method_note.txt",
            made=services.made_at_in_words(now),
            filters=services.describe_filters(filters),
            query=services.filter_query(filters),
            rows=tally.rows,
            versions_present=tally.versions_in_words,
            tables=tables,
            followup_weeks=programme.followup_after_weeks,
            pairs=pairs,
            retrospective=retrospective,
            versions=version_notes(),
            threshold=programme.disclosure_threshold,
            method=METHOD,
        )
        + "\n"
    )


def pilot_review_tables(filters: ReviewFilters, *, now: datetime, instrument: Instrument = CURRENT) -> list[CsvFile]:
    """The pilot review's figures for these filters, as the board report shows them, one CSV each in tables/."""
    figures = review.build_review(filters, mode=Mode.OUTPUT, now=now, instrument=instrument)
    return [(f"tables/{name}", headers, rows) for name, headers, rows in review_tables.output_tables(figures)]


def write_evaluator_pack(
    filters: ReviewFilters,
    *,
    now: datetime | None = None,
    tables: Iterable[CsvFile] | None = None,
    instrument: Instrument = CURRENT,
    file: IO[bytes] | None = None,
) -> IO[bytes]:
    """The pack as a ZIP, written to a temporary file (returned open at its start, for the caller to close:
    send_file does) or to `file`: responses.csv, responses.xlsx, data_dictionary.csv, then each of `tables` (by
    default the pilot review's tables), then method_note.txt."""
    now = now or utcnow()
    if tables is None:
        tables = pilot_review_tables(filters, now=now, instrument=instrument)
    target = file if file is not None else tempfile.TemporaryFile(suffix=".zip")  # noqa: SIM115 - returned open
    headers, rows = services.responses(filters, instrument, now=now)
    book = services.ResponsesWorkbook(headers)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        add_csv(archive, services.RESPONSES_CSV, headers, book.watch(rows), now=now)
        with tempfile.TemporaryFile(suffix=".xlsx") as workbook:
            book.save(workbook, filters, now=now, instrument=instrument)
            workbook.seek(0)
            with archive.open(entry(services.RESPONSES_XLSX, now), "w") as xlsx:
                shutil.copyfileobj(workbook, xlsx)
        add_csv(archive, services.DICTIONARY_CSV, *services.data_dictionary(instrument), now=now)
        table_names = add_csv_files(archive, tables, now=now)
        note = method_note(filters, book.tally, now=now, tables=table_names, instrument=instrument)
        archive.writestr(entry(METHOD_NOTE, now), note.encode("utf-8"))
    if file is None:
        target.seek(0)
    return target
