"""The evaluation downloads (STYLE 1.8): one function per export, returning (headers, rows).

Rows are generated page by page (keyset pagination on the booking id, answers fetched per page in one
query), so the CSV can stream and the XLSX can be written to a temporary file with flat memory however many
bookings there are. Nothing here names a volunteer: each row carries a stable pseudonymous respondent code.
"""

import hashlib
import hmac
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from mecc_volunteer.csv_export import plain_cell
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CURRENT, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    LONDON,
    Booking,
    District,
    DownloadRecord,
    EvaluationAnswer,
    Organisation,
    StaffUser,
    TrainingSession,
    Volunteer,
)

PAGE_SIZE = 1000
NUMERIC = (QuestionType.SCALE_0_10, QuestionType.NUMBER)

RESPONSES_CSV = "responses.csv"
RESPONSES_XLSX = "responses.xlsx"
DICTIONARY_CSV = "data_dictionary.csv"

# The columns before the questions, with what they mean (for the data dictionary).
FIXED_COLUMNS = (
    ("respondent", "Pseudonymous respondent code, stable across downloads (one per booking)", "text"),
    ("session_date", "Date of the training session (Europe/London)", "date, YYYY-MM-DD"),
    (
        "session_kind",
        "Kind of session",
        "volunteer_training = Volunteer training; train_the_trainer = Train the trainer",
    ),
    ("organisation", 'Organisation, from the organisation list ("Other" is not expanded)', "text"),
    ("district", "Area (district); empty when outside Oxfordshire or not sure", "text"),
)
VERSION_COLUMN = (
    "instrument_version",
    "Version of the evaluation instrument the answers were given under",
    "whole number",
)


@dataclass(frozen=True)
class Column:
    name: str
    wording: str
    scale: str
    question: Question | None = None


def columns(instrument: Instrument = CURRENT) -> list[Column]:
    """Every column of the responses export, in order: who/when, then each question in instrument order."""
    fixed = [Column(*c) for c in FIXED_COLUMNS]
    questions = [Column(f"{q.survey.value}.{q.key}", q.wording, q.scale, q) for q in instrument.questions]
    return fixed + questions + [Column(*VERSION_COLUMN)]


def respondent_code(booking_id: int, keyed=None) -> str:
    """A stable pseudonym: the same booking always gets the same code; it cannot be reversed without the key.
    `keyed` is an HMAC already holding the key (from _keyed_hmac), to save rebuilding it for every row."""
    mac = (keyed or _keyed_hmac()).copy()
    mac.update(f"respondent:{booking_id}".encode())
    return "R-" + mac.hexdigest()[:10]


def _keyed_hmac():
    return hmac.new(current_app.config["SECRET_KEY"].encode(), digestmod=hashlib.sha256)


def _with_answers(query: sa.Select) -> sa.Select:
    """Bookings with at least one evaluation answer (a baseline counts), narrowed by the filters' joins."""
    return query.where(sa.exists().where(EvaluationAnswer.booking_id == Booking.id))


def _joined(query: sa.Select) -> sa.Select:
    return query.join(TrainingSession, Booking.training_session_id == TrainingSession.id).join(
        Volunteer, Booking.volunteer_id == Volunteer.id
    )


def count_responses(filters: ReviewFilters) -> int:
    query = _with_answers(_joined(sa.select(sa.func.count(Booking.id)).select_from(Booking)))
    return db.session.scalar(filters.apply(query)) or 0


def _cell(question: Question, value: str):
    if question.type in NUMERIC:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def response_rows(
    filters: ReviewFilters, instrument: Instrument = CURRENT, page_size: int = PAGE_SIZE
) -> Iterator[list]:
    """One row per booking with any answer, page by page: memory stays flat in the number of bookings."""
    cols = columns(instrument)
    # (survey, question key) -> the question's column and the question
    index = {(c.question.survey, c.question.key): (i, c.question) for i, c in enumerate(cols) if c.question is not None}
    page_query = filters.apply(
        _with_answers(
            _joined(
                sa.select(
                    Booking.id, TrainingSession.starts_at, TrainingSession.kind, Organisation.name, District.name
                ).select_from(Booking)
            )
            .join(Organisation, Volunteer.organisation_id == Organisation.id)
            .outerjoin(District, Volunteer.district_id == District.id)
        )
    ).order_by(Booking.id)
    keyed = _keyed_hmac()
    london_dates: dict = {}  # many bookings share a session
    last_id = 0
    while True:
        page = db.session.execute(page_query.where(Booking.id > last_id).limit(page_size)).all()
        if not page:
            return
        ids = [row[0] for row in page]
        answers: dict[int, list] = {}
        for booking_id, survey, key, value, version in db.session.execute(
            sa.select(
                EvaluationAnswer.booking_id,
                EvaluationAnswer.survey,
                EvaluationAnswer.question_key,
                EvaluationAnswer.value,
                EvaluationAnswer.instrument_version,
            ).where(EvaluationAnswer.booking_id.in_(ids))
        ):
            answers.setdefault(booking_id, []).append((survey, key, value, version))
        for booking_id, starts_at, kind, organisation, district in page:
            row: list[object] = [None] * len(cols)
            row[0] = respondent_code(booking_id, keyed)
            if starts_at not in london_dates:
                london_dates[starts_at] = starts_at.astimezone(LONDON).date().isoformat()
            row[1] = london_dates[starts_at]
            row[2] = kind.value
            row[3] = organisation
            row[4] = district
            versions = set()
            for survey, key, value, version in answers.get(booking_id, ()):
                versions.add(version)
                found = index.get((survey, key))
                if found is not None:
                    position, question = found
                    row[position] = _cell(question, value)
            row[-1] = max(versions) if versions else None
            yield row
        last_id = ids[-1]
        if len(page) < page_size:
            return


def responses(filters: ReviewFilters, instrument: Instrument = CURRENT) -> tuple[list[str], Iterator[list]]:
    return [c.name for c in columns(instrument)], response_rows(filters, instrument)


def data_dictionary(instrument: Instrument = CURRENT) -> tuple[list[str], list[list]]:
    return ["column", "question", "scale"], [[c.name, c.wording, c.scale] for c in columns(instrument)]


def _xlsx_row(sheet, row) -> list:
    """Numbers stay numbers; text goes in as a text cell, exactly as given (single line, without the
    characters XML cannot hold). A text cell is never run as a formula, so unlike CSV it needs no quote
    in front: openpyxl would otherwise take text starting with `=` for a formula."""
    cells: list[object] = []
    for value in row:
        plain = None if value is None else plain_cell(value)  # None: an empty cell
        if isinstance(plain, str):
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", plain))
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(plain)
    return cells


def write_responses_xlsx(filters: ReviewFilters, instrument: Instrument = CURRENT, file=None):
    """Responses and the data dictionary as an XLSX, written in write-only mode to a temporary file
    (returned open at its start, for the caller to close: send_file does) or to `file`."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Responses")
    headers, rows = responses(filters, instrument)
    sheet.append(_xlsx_row(sheet, headers))
    for row in rows:
        sheet.append(_xlsx_row(sheet, row))
    dictionary = workbook.create_sheet("Data dictionary")
    dictionary_headers, dictionary_rows = data_dictionary(instrument)
    dictionary.append(_xlsx_row(dictionary, dictionary_headers))
    for row in dictionary_rows:
        dictionary.append(_xlsx_row(dictionary, row))
    target = file if file is not None else tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open

    workbook.save(target)
    if file is None:
        target.seek(0, os.SEEK_SET)
    return target


def record_download(staff_user_id: int | None, export_name: str, filters: ReviewFilters, row_count: int) -> None:
    db.session.add(
        DownloadRecord(
            staff_user_id=staff_user_id, export_name=export_name, filters=filters.as_dict(), row_count=row_count
        )
    )


def recent_downloads(limit: int = 10) -> Sequence[sa.Row[DownloadRecord, str | None]]:
    return db.session.execute(
        sa.select(DownloadRecord, StaffUser.name)
        .outerjoin(StaffUser, DownloadRecord.staff_user_id == StaffUser.id)
        .order_by(DownloadRecord.downloaded_at.desc(), DownloadRecord.id.desc())
        .limit(limit)
    ).all()


def filter_choices() -> tuple[Sequence[TrainingSession], Sequence[Organisation]]:
    """Sessions and organisations for the filter form."""
    sessions = db.session.scalars(sa.select(TrainingSession).order_by(TrainingSession.starts_at.desc())).all()
    organisations = db.session.scalars(
        sa.select(Organisation).order_by(Organisation.sort_order, Organisation.name)
    ).all()
    return sessions, organisations
