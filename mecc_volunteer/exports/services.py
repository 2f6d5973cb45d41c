"""The evaluation downloads (STYLE 1.8): one function per export, returning (headers, rows).

One row per booking that held a place (booked, attended, did not attend) at a session that has taken place
(ended, not cancelled), answers or not, so the funnel (registered for held sessions, e-learning confirmed,
attended, evaluated, followed up) can be rebuilt from the file. The columns are every question of every version
of the instrument (`instrument.all_questions`): an answer sits in the column of its (survey, question key), and
each survey has a column saying which version its answers were given under.

Rows are generated page by page (keyset pagination on the booking id, answers fetched per page in one
query), so the CSV can stream and the XLSX can be written to a temporary file with flat memory however many
bookings there are. Nothing here names a volunteer: each row carries a stable pseudonymous respondent code.
"""

import hashlib
import hmac
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import InstrumentedAttribute

from mecc_volunteer import settings
from mecc_volunteer.csv_export import plain_cell
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CURRENT, Instrument, Question, QuestionType, all_questions, versions_of
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    LONDON,
    Booking,
    BookingStatus,
    District,
    DownloadRecord,
    EvaluationAnswer,
    Organisation,
    OrganisationType,
    SessionKind,
    StaffUser,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.templating import format_date, format_datetime, format_session_label
from mecc_volunteer.volunteers.forms import AGE_BANDS, ETHNIC_GROUPS, GENDERS

PAGE_SIZE = 1000
NUMERIC = (QuestionType.SCALE_0_10, QuestionType.NUMBER)

RESPONSES_CSV = "responses.csv"
RESPONSES_XLSX = "responses.xlsx"
DICTIONARY_CSV = "data_dictionary.csv"

SURVEYS = (Survey.BASELINE, Survey.AFTER_SESSION, Survey.FOLLOWUP)
SURVEY_NAMES = {
    Survey.BASELINE: "the baseline survey (at registration)",
    Survey.AFTER_SESSION: "the after-session survey",
    Survey.FOLLOWUP: "the follow-up survey",
}
YES_NO = "yes; no"
DICTIONARY_HEADERS = ["column", "question", "scale", "versions", "concept", "scale_key"]
RESPONSES_SHEET = "Responses"
DICTIONARY_SHEET = "Data dictionary"
ABOUT_SHEET = "About"


def _keys(choices, not_answered: str = "empty = not answered") -> str:
    return "; ".join(f"{choice.value} = {choice.label}" for choice in choices) + f"; {not_answered}"


@dataclass(frozen=True)
class Column:
    name: str
    wording: str
    scale: str
    question: Question | None = None
    versions: str = ""  # the instrument versions that asked the question, "1, 2"

    @property
    def concept(self) -> str:
        return self.question.concept if self.question is not None else ""

    @property
    def scale_key(self) -> str:
        return self.question.scale_key if self.question is not None else ""


def _fixed_columns() -> list[Column]:
    """The columns before the surveys, with what they mean (for the data dictionary)."""
    weeks = settings.current().followup_after_weeks
    kinds = "; ".join(f"{kind.value} = {kind.label}" for kind in SessionKind)
    return [
        Column("respondent", "Pseudonymous respondent code, stable across downloads (one per booking)", "text"),
        Column("session_date", "Date of the training session (Europe/London)", "date, YYYY-MM-DD"),
        Column("session_kind", "Kind of session", kinds),
        Column("organisation", 'Organisation, from the organisation list ("Other" is not expanded)', "text"),
        Column(
            "organisation_type",
            "Type of the organisation, from the list of organisation types",
            "text; empty = the organisation has no type",
        ),
        Column("district", "Area (district)", "text; empty = outside Oxfordshire or not sure"),
        Column("age_band", "Age group (optional equality question at registration)", _keys(AGE_BANDS)),
        Column("gender", "What is your gender? (optional equality question at registration)", _keys(GENDERS)),
        Column(
            "ethnic_group",
            "What is your ethnic group? (optional equality question at registration)",
            _keys(ETHNIC_GROUPS),
        ),
        Column(
            "booking_status",
            "The booking's status when the file was made",
            "booked = held a place, attendance not recorded; attended = Attended; did_not_attend = Did not attend",
        ),
        Column(
            "elearning_confirmed",
            "Whether the volunteer confirmed they had completed the national MECC e-learning",
            YES_NO,
        ),
        Column("followup_consent", "Whether the volunteer agreed to be contacted for the follow-up survey", YES_NO),
        Column(
            "followup_due",
            f"Whether the follow-up survey had opened for this booking when the file was made: the session ended "
            f"at least {weeks} weeks before (the programme's follow-up setting)",
            YES_NO,
        ),
    ]


def version_column(survey: Survey) -> str:
    return f"{survey.value}.instrument_version"


def columns(instrument: Instrument = CURRENT) -> list[Column]:
    """Every column of the responses export, in order: who and when, then for each survey the version its answers
    were given under and its questions, every version's, in instrument order (`instrument` is the current one)."""
    result = _fixed_columns()
    questions = all_questions(instrument)
    for survey in SURVEYS:
        result.append(
            Column(
                version_column(survey),
                f"Version of the evaluation instrument the answers to {SURVEY_NAMES[survey]} were given under",
                "whole number; empty = not answered",
            )
        )
        for q in questions:
            if q.survey is survey:
                versions = ", ".join(str(v) for v in versions_of(q.survey, q.key, instrument))
                result.append(Column(f"{survey.value}.{q.key}", q.wording, q.scale, q, versions))
    return result


class RespondentCodes:
    """HMAC-SHA256 of "respondent:<booking id>" under the pseudonymisation key, as 10 hex digits; the keyed HMAC is
    made once and copied for each code."""

    def __init__(self):
        # Keyed on the stable pseudonymisation key, never SECRET_KEY: a rotation must not change any code.
        from mecc_volunteer import pseudonyms

        self._keyed = hmac.new(pseudonyms.pseudonymisation_key(current_app), digestmod=hashlib.sha256)

    def __call__(self, booking_id: int) -> str:
        mac = self._keyed.copy()
        mac.update(b"respondent:%d" % booking_id)
        return "R-" + mac.hexdigest()[:10]


def respondent_code(booking_id: int) -> str:
    """A stable pseudonym: the same booking always gets the same code; it cannot be reversed without the key (for
    many rows, make one RespondentCodes and call it for each)."""
    return RespondentCodes()(booking_id)


def _held(query: sa.Select, filters: ReviewFilters, now: datetime) -> sa.Select:
    """Bookings holding a place at a session that has taken place (ended by `now`, not cancelled), narrowed by the
    filters."""
    query = (
        query.join(TrainingSession, Booking.training_session_id == TrainingSession.id)
        .join(Volunteer, Booking.volunteer_id == Volunteer.id)
        .where(
            Booking.status.in_(HOLDING_PLACE_STATUSES),
            TrainingSession.ends_at <= now,
            TrainingSession.cancelled_at.is_(None),
        )
    )
    return filters.apply(query)


def count_responses(filters: ReviewFilters, *, now: datetime | None = None) -> int:
    query = _held(sa.select(sa.func.count(Booking.id)).select_from(Booking), filters, now or utcnow())
    return db.session.scalar(query) or 0


def _number_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


class _Numbers(dict):
    """_number_or_text, remembered: `numbers[text]` is its whole number, or the text if it is not one. The answers
    to a number question repeat a few values ("0" to "10"), so most cost one dict lookup; the memory is dropped when
    it grows too large."""

    LIMIT = 10_000

    def __missing__(self, value: str) -> int | str:
        if len(self) >= self.LIMIT:
            self.clear()
        number = self[value] = _number_or_text(value)
        return number


# Read as stored: sa.Enum keeps a member's name, and reading the name as text saves making an enum for every row.
def _stored(column: sa.ColumnElement | InstrumentedAttribute) -> sa.ColumnElement[str]:
    return sa.type_coerce(column, sa.String)


STATUS_VALUES = {status.name: status.value for status in BookingStatus}
YES_NO_CELLS = ("no", "yes")  # indexed by a bool (or SQLite's 0 and 1)


def _driver_rows(connection: sa.Connection, query: sa.Select, parameters: dict) -> Sequence[tuple]:
    """A query's rows as the driver returns them, plain tuples: SQLAlchemy builds and runs the SQL (parameters
    and all), but making a Row of each of a million answers was a tenth of a large export's time. Only for
    columns the driver returns as they are used: ints, text, and booleans only indexed (SQLite gives 0 or 1)."""
    result = connection.execute(query, parameters)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _sessions_by_id(ids: Iterable[int], followup_after: timedelta, now: datetime) -> dict[int, tuple[str, str, str]]:
    """Each session's cells, made once for all its bookings: its London date, its kind, whether the follow-up is
    due (the rule of evaluation.services.survey_window, which needs a loaded Booking, applied to its end time)."""
    found = db.session.execute(
        sa.select(TrainingSession.id, TrainingSession.starts_at, TrainingSession.ends_at, TrainingSession.kind).where(
            TrainingSession.id.in_(ids)
        )
    )
    return {
        session_id: (
            starts_at.astimezone(LONDON).date().isoformat(),
            kind.value,
            YES_NO_CELLS[ends_at + followup_after <= now],
        )
        for session_id, starts_at, ends_at, kind in found
    }


def response_rows(
    filters: ReviewFilters,
    instrument: Instrument = CURRENT,
    page_size: int = PAGE_SIZE,
    *,
    now: datetime | None = None,
) -> Iterator[list]:
    """One row per booking holding a place at a held session, page by page: memory stays flat in the number of
    bookings. The after-session and follow-up versions come from the answers: a submitted survey always stores its
    answers under its own version, and each of those surveys has a question that must be answered.

    A large export's time is spent per row and per answer, so both are read as the driver's tuples (no ORM
    loading, no Row objects, enums as stored) and what is the same for many rows (a session's cells, a number's
    value, the keyed HMAC) is made once."""
    now = now or utcnow()
    cols = columns(instrument)
    names = [c.name for c in cols]
    first = names.index(version_column(SURVEYS[0]))  # the survey columns, filled from the answers, start here
    width = len(cols) - first
    version_at = {survey: names.index(version_column(survey)) - first for survey in SURVEYS}
    # Where an answer goes, by a number the answers query gives it (cheaper to read and look up than the survey
    # and key): (its survey's version column, its question's column, the versions that asked it, and for a number
    # question the _Numbers that reads it). A key no version of the instrument has still counts for its survey's
    # version, under a place no version asked (its column is never written).
    places: list[tuple[int, int, frozenset[int], _Numbers | None]] = []
    place_by_key: dict[str, sa.Case] = {}
    for survey in SURVEYS:
        numbers = {}
        for i, q in enumerate(c.question for c in cols):
            if q is not None and q.survey is survey:
                numbers[q.key] = len(places)
                versions = frozenset(versions_of(q.survey, q.key, instrument))
                places.append((version_at[survey], i - first, versions, _Numbers() if q.type in NUMERIC else None))
        place_by_key[survey.name] = sa.case(numbers, value=EvaluationAnswer.question_key, else_=len(places))
        places.append((version_at[survey], version_at[survey], frozenset(), None))
    followup_after = timedelta(weeks=settings.current().followup_after_weeks)
    page_query = _held(
        sa.select(
            Booking.id,
            Booking.training_session_id,
            Organisation.name,
            OrganisationType.name,
            District.name,
            Volunteer.age_band,
            Volunteer.gender,
            Volunteer.ethnic_group,
            _stored(Booking.status),
            Booking.elearning_confirmed_at.is_not(None),
            Volunteer.followup_consent,
        ).select_from(Booking),
        filters,
        now,
    )
    page_query = (
        page_query.join(Organisation, Volunteer.organisation_id == Organisation.id)
        .outerjoin(OrganisationType, Organisation.organisation_type_id == OrganisationType.id)
        .outerjoin(District, Volunteer.district_id == District.id)
        .where(Booking.id > sa.bindparam("after"))
        .order_by(Booking.id)
        .limit(page_size)
    )
    answers_query = sa.select(
        EvaluationAnswer.booking_id,
        sa.case(place_by_key, value=_stored(EvaluationAnswer.survey)),
        EvaluationAnswer.value,
        EvaluationAnswer.instrument_version,
    ).where(EvaluationAnswer.booking_id.in_(sa.bindparam("ids", expanding=True)))
    connection = db.session.connection()
    code = RespondentCodes()
    sessions: dict[int, tuple[str, str, str]] = {}
    last_id = 0
    while True:
        page = _driver_rows(connection, page_query, {"after": last_id})
        if not page:
            return
        if new_sessions := {row[1] for row in page} - sessions.keys():
            sessions.update(_sessions_by_id(new_sessions, followup_after, now))
        # The page's survey columns in one list, `width` cells a booking in the page's order, filled from the
        # answers before any row is made: a list a row kept through the answers outlived the garbage collector's
        # young generations, and a large export spent a tenth of its time in full collections.
        answers = [None] * (len(page) * width)
        start_of = {row[0]: i * width for i, row in enumerate(page)}
        for booking_id, place, value, version in _driver_rows(connection, answers_query, {"ids": list(start_of)}):
            start = start_of[booking_id]
            at, column, versions, numbers = places[place]
            at += start
            if answers[at] is None or version > answers[at]:  # a survey's version is the highest of its answers'
                answers[at] = version
            if version in versions:  # never a question of another version
                answers[start + column] = value if numbers is None else numbers[value]
        for start, (
            booking_id,
            session_id,
            organisation,
            organisation_type,
            district,
            age_band,
            gender,
            ethnic_group,
            status,
            elearning_confirmed,
            followup_consent,
        ) in zip(range(0, len(answers), width), page, strict=True):
            session_date, kind, followup_due = sessions[session_id]
            yield [
                code(booking_id),
                session_date,
                kind,
                organisation,
                organisation_type,
                district,
                age_band,
                gender,
                ethnic_group,
                STATUS_VALUES[status],
                YES_NO_CELLS[elearning_confirmed],
                YES_NO_CELLS[followup_consent],
                followup_due,
                *answers[start : start + width],
            ]
        last_id = page[-1][0]
        if len(page) < page_size:
            return


def responses(
    filters: ReviewFilters, instrument: Instrument = CURRENT, *, now: datetime | None = None
) -> tuple[list[str], Iterator[list]]:
    return [c.name for c in columns(instrument)], response_rows(filters, instrument, now=now)


def data_dictionary(instrument: Instrument = CURRENT) -> tuple[list[str], list[list]]:
    return DICTIONARY_HEADERS, [
        [c.name, c.wording, c.scale, c.versions, c.concept, c.scale_key] for c in columns(instrument)
    ]


# --- What a file holds: filters in words and in its name, rows and versions --------------------------------


def filter_suffix(filters: ReviewFilters) -> str:
    """The filters for a file name: ids, ISO dates and the kind's key only, never a name
    ("-session-14-from-2026-09-01-organisation-3-kind-train-the-trainer")."""
    parts = []
    if filters.session_id is not None:
        parts.append(f"session-{filters.session_id}")
    if filters.date_from is not None:
        parts.append(f"from-{filters.date_from.isoformat()}")
    if filters.date_to is not None:
        parts.append(f"to-{filters.date_to.isoformat()}")
    if filters.organisation_id is not None:
        parts.append(f"organisation-{filters.organisation_id}")
    if filters.kind is not None:
        parts.append(f"kind-{filters.kind.value.replace('_', '-')}")
    return "".join(f"-{part}" for part in parts)


def filename(stem: str, extension: str, filters: ReviewFilters, *, now: datetime | None = None) -> str:
    """mecc-responses-2026-12-03-session-14.csv: the London date it was made, then the filters."""
    made = (now or utcnow()).astimezone(LONDON).date().isoformat()
    return f"mecc-{stem}-{made}{filter_suffix(filters)}.{extension}"


def filter_query(filters: ReviewFilters) -> str:
    """The filters as the downloads page's query string ("session=14&from=2026-09-01"), or "" for none."""
    return urlencode(filters.query_args())


def describe_filters(filters: ReviewFilters) -> list[tuple[str, str]]:
    """The filters in words: [("Session", "Tuesday 22 September 2026, 10:30am (Volunteer training)"), ...]."""
    described = []
    if filters.session_id is not None:
        training_session = db.session.get(TrainingSession, filters.session_id)
        if training_session is None:
            described.append(("Session", f"session {filters.session_id}, which does not exist"))
        else:
            described.append(("Session", format_session_label(training_session.starts_at, training_session.kind.label)))
    if filters.date_from is not None:
        described.append(("Sessions from", format_date(filters.date_from)))
    if filters.date_to is not None:
        described.append(("Sessions to", format_date(filters.date_to)))
    if filters.organisation_id is not None:
        organisation = db.session.get(Organisation, filters.organisation_id)
        name = organisation.name if organisation is not None else f"organisation {filters.organisation_id}, unknown"
        described.append(("Organisation", name))
    if filters.kind is not None:
        described.append(("Kind of session", filters.kind.label))
    return described


@dataclass
class Tally:
    """Counts the rows passing through `watch`, and the instrument versions their answers were given under."""

    headers: Sequence[str]
    rows: int = 0
    versions: set[int] = field(default_factory=set)

    def watch(self, rows: Iterable[list]) -> Iterator[list]:
        positions = [i for i, name in enumerate(self.headers) if name.endswith(".instrument_version")]
        for row in rows:
            self.rows += 1
            self.versions.update(row[i] for i in positions if row[i] is not None)
            yield row

    @property
    def versions_in_words(self) -> str:
        return ", ".join(str(v) for v in sorted(self.versions)) or "none (no answers)"


def made_at_in_words(now: datetime) -> str:
    return f"{format_datetime(now)} (Europe/London time)"


def about_rows(filters: ReviewFilters, tally: Tally, *, now: datetime) -> list[list[str]]:
    """The About sheet: what the file is, when it was made, the filters, rows, versions, and how to treat it."""
    described = describe_filters(filters)
    return [
        ["About this file", ""],
        [
            "What it is",
            (
                "Evaluation responses from the MECC Volunteer app: one row per booking that held a place (booked, "
                "attended or did not attend) at a training session that has taken place (ended, not cancelled), with "
                "or without answers, and that booking's answers to the baseline, after-session and follow-up surveys."
            ),
        ],
        ["Made", made_at_in_words(now)],
        ["Filters", "; ".join(f"{label}: {words}" for label, words in described) or "None: every session held"],
        ["Filters as a query", filter_query(filters) or "(none)"],
        ["Rows", str(tally.rows)],
        ["Instrument versions present", tally.versions_in_words],
        [
            "Pseudonymous, not anonymous",
            (
                "Each row has a respondent code instead of a name, but the people can be identified with other "
                "information (the code is stable, and session, organisation, area and equality answers narrow people "
                "down). Keep this file within the evaluation team, and do not publish figures about small groups."
            ),
        ],
        ["What each column means", f"See the {DICTIONARY_SHEET} sheet: each column, its question, scale and versions."],
    ]


# --- XLSX ---------------------------------------------------------------------------------------------------


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


class ResponsesWorkbook:
    """The responses XLSX, written in write-only mode: Responses, Data dictionary, About. The data is the first
    sheet, the one a program reads by default (pandas' read_excel, R's readxl). `watch(rows)` appends each row to
    the Responses sheet as it passes, so one pass over the rows can write the CSV and the XLSX of the evaluator
    pack alike."""

    def __init__(self, headers: Sequence[str]):
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(RESPONSES_SHEET)
        self.sheet.append(_xlsx_row(self.sheet, headers))
        self.tally = Tally(headers)

    def watch(self, rows: Iterable[list]) -> Iterator[list]:
        for row in self.tally.watch(rows):
            self.sheet.append(_xlsx_row(self.sheet, row))
            yield row

    def save(self, file, filters: ReviewFilters, *, now: datetime, instrument: Instrument = CURRENT) -> None:
        dictionary = self.workbook.create_sheet(DICTIONARY_SHEET)
        headers, rows = data_dictionary(instrument)
        for row in [headers, *rows]:
            dictionary.append(_xlsx_row(dictionary, row))
        about = self.workbook.create_sheet(ABOUT_SHEET)
        for row in about_rows(filters, self.tally, now=now):
            about.append(_xlsx_row(about, row))
        self.workbook.save(file)


def write_responses_xlsx(
    filters: ReviewFilters, instrument: Instrument = CURRENT, file=None, *, now: datetime | None = None
) -> IO[bytes]:
    """Responses, the data dictionary and the About sheet as an XLSX, written to a temporary file (returned open
    at its start, for the caller to close: send_file does) or to `file`."""
    now = now or utcnow()
    headers, rows = responses(filters, instrument, now=now)
    book = ResponsesWorkbook(headers)
    for _row in book.watch(rows):
        pass
    target = file if file is not None else tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open
    book.save(target, filters, now=now, instrument=instrument)
    if file is None:
        target.seek(0, os.SEEK_SET)
    return target


# --- Records and the filter form ----------------------------------------------------------------------------


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
