"""Evaluator downloads: the responses as CSV and XLSX, the data dictionary, the evaluator pack, filters, records,
streaming. One row per booking holding a place at a session that has taken place, with every version's questions."""

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.statistics import METHOD
from mecc_volunteer.exports import pack, services
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CURRENT, VERSION_2, Instrument, Question, QuestionType, all_questions
from mecc_volunteer.models import (
    LONDON,
    Base,
    Booking,
    BookingStatus,
    District,
    DownloadRecord,
    EvaluationAnswer,
    Organisation,
    OrganisationType,
    Programme,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.templating import format_date, format_time
from tests.helpers import confirm_elearning, read_csv, store_answers

B, A, F = Survey.BASELINE, Survey.AFTER_SESSION, Survey.FOLLOWUP
FIXED = [
    "respondent",
    "session_date",
    "session_kind",
    "organisation",
    "organisation_type",
    "district",
    "age_band",
    "gender",
    "ethnic_group",
    "booking_status",
    "elearning_confirmed",
    "followup_consent",
    "followup_due",
]
PACK_FILES = ["responses.csv", "responses.xlsx", "data_dictionary.csv", "method_note.txt"]


def pack_layout(names: list[str]) -> list[str]:
    """The pack's files with the pilot review's tables (tables/*.csv, between the dictionary and the note) as one
    entry: the tables themselves are the review's (tests/test_review_tables.py)."""
    tables = [name for name in names if name.startswith("tables/")]
    assert tables, "the pilot review's tables are in the pack"
    assert all(name.endswith(".csv") for name in tables)
    assert names[3 : 3 + len(tables)] == tables
    return [name for name in names if not name.startswith("tables/")]


def expected_headers(current: Instrument = CURRENT) -> list[str]:
    headers = list(FIXED)
    for survey in (B, A, F):
        headers.append(f"{survey.value}.instrument_version")
        headers += [f"{survey.value}.{q.key}" for q in all_questions(current) if q.survey is survey]
    return headers


@pytest.fixture
def answer(app):
    def add(booking_id: int, survey: Survey, key: str, value: str, version: int = 1):
        with app.app_context():
            db.session.add(
                EvaluationAnswer(
                    booking_id=booking_id, survey=survey, question_key=key, value=value, instrument_version=version
                )
            )
            db.session.commit()

    return add


@pytest.fixture
def evaluator(auth):
    auth.login("evaluator")
    return auth


def read_xlsx(response) -> dict[str, list[tuple]]:
    assert response.status_code == 200
    data = response.data
    response.close()  # the temporary file behind send_file
    return xlsx_sheets(data)


def xlsx_sheets(data: bytes) -> dict[str, list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def read_zip(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    data = response.data
    response.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
        return {name: archive.read(name) for name in archive.namelist()}


def as_dicts(rows: list[list]) -> list[dict]:
    header, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Organisation.id).where(Organisation.name == name))


def attachment_name(response) -> str:
    match = re.search(r'filename="?([^";]+)"?', response.headers["Content-Disposition"])
    assert match, response.headers["Content-Disposition"]
    return match.group(1)


def today() -> str:
    return utcnow().astimezone(LONDON).date().isoformat()


# --- Columns ---------------------------------------------------------------------------------------------


def test_responses_list_every_question_of_every_version_in_instrument_order(
    app, client, evaluator, make_training_session, make_booking, answer
):
    training_session = make_training_session(days_ahead=-10, kind=SessionKind.TRAIN_THE_TRAINER)
    booking = make_booking(training_session.id, status=BookingStatus.ATTENDED)
    answer(booking, B, "confidence", "3", version=2)
    answer(booking, A, "confidence", "8", version=2)
    answer(booking, A, "confidence_before", "5", version=2)
    answer(booking, A, "overall", "very_good", version=2)
    answer(booking, F, "topics", "smoking|alcohol", version=2)
    answer(booking, F, "people_trained", "12", version=2)

    rows = read_csv(client.get("/manage/exports/responses.csv"))
    header = rows[0]
    assert header == expected_headers()
    assert header[header.index("after_session.confidence") + 1] == "after_session.confidence_before"
    assert header.index("baseline.instrument_version") == len(FIXED)
    assert header.index("after_session.instrument_version") == header.index("baseline.knowledge") + 1
    assert "instrument_version" not in header
    assert len(rows) == 2
    [row] = as_dicts(rows)
    assert row["respondent"].startswith("R-")
    assert len(row["respondent"]) == 12
    assert row["session_date"] == training_session.starts_at.astimezone(LONDON).date().isoformat()
    assert row["session_kind"] == "train_the_trainer"
    assert row["organisation"] == "Oxfordshire Library Service"
    assert row["baseline.confidence"] == "3"
    assert row["after_session.confidence"] == "8"
    assert row["after_session.confidence_before"] == "5"
    assert row["after_session.overall"] == "very_good"
    assert row["followup.topics"] == "smoking|alcohol"
    assert row["baseline.knowledge"] == ""
    assert [row[f"{s.value}.instrument_version"] for s in (B, A, F)] == ["2", "2", "2"]

    sheets = read_xlsx(client.get("/manage/exports/responses.xlsx"))
    assert list(sheets) == ["Responses", "Data dictionary", "About"]
    header, values = sheets["Responses"]
    cells = dict(zip(header, values, strict=True))
    assert list(header) == expected_headers()
    assert cells["baseline.confidence"] == 3
    assert cells["after_session.confidence_before"] == 5
    assert cells["followup.people_trained"] == 12
    assert cells["followup.instrument_version"] == 2
    assert cells["followup.topics"] == "smoking|alcohol"
    dictionary = sheets["Data dictionary"]
    assert dictionary[0] == ("column", "question", "scale", "versions", "concept", "scale_key")
    assert [r[0] for r in dictionary[1:]] == expected_headers()
    by_column = {r[0]: r for r in dictionary[1:]}
    assert by_column["after_session.overall"][1] == "Overall, how was your experience of the training?"
    assert by_column["baseline.confidence"][2:] == (
        "0 (not at all) to 10 (extremely)",
        "1, 2",
        "confidence",
        "scale_0_10",
    )
    assert by_column["after_session.confidence_before"][3:] == ("2", "confidence_retrospective", "scale_0_10")
    assert by_column["after_session.relevant"][5].startswith("agree_5:strongly_agree,agree,")
    assert "under-25 = Under 25" in by_column["age_band"][2]
    assert "empty = not answered" in by_column["ethnic_group"][2]
    assert "8 weeks" in by_column["followup_due"][1]
    assert by_column["after_session.instrument_version"][3:] == (None, None, None)  # not a question

    dictionary_csv = read_csv(client.get("/manage/exports/data-dictionary.csv"))
    assert [["" if c is None else str(c) for c in r] for r in dictionary] == dictionary_csv


def test_a_question_added_in_a_new_version_becomes_a_column_and_a_dictionary_entry(
    app, make_training_session, make_booking, answer
):
    extra = Question(
        "anything_else", F, QuestionType.TEXT, "Is there anything else you would like to tell us?", required=False
    )
    version_3 = Instrument(version=3, questions=(*VERSION_2.questions, extra))
    booking = make_booking(make_training_session(days_ahead=-5).id, BookingStatus.ATTENDED)
    answer(booking, B, "confidence", "5", version=3)
    answer(booking, F, "anything_else", "More sessions please", version=3)
    with app.test_request_context():
        headers, rows = services.responses(ReviewFilters(), instrument=version_3)
        rows = list(rows)
        assert headers == expected_headers(version_3)
        assert headers[-1] == "followup.anything_else"
        assert rows[0][-1] == "More sessions please"
        assert rows[0][headers.index("followup.instrument_version")] == 3
        dictionary = {r[0]: r for r in services.data_dictionary(version_3)[1]}
        assert dictionary["followup.anything_else"][1:4] == [extra.wording, "free text, up to 2000 characters", "3"]
        with services.write_responses_xlsx(ReviewFilters(), version_3) as file:
            workbook = openpyxl.load_workbook(file)
        assert workbook["Responses"]["A1"].value == "respondent"
        assert [c.value for c in workbook["Responses"][1]][-1] == "followup.anything_else"


# --- Rows -------------------------------------------------------------------------------------------------


def test_rows_are_the_bookings_holding_a_place_at_sessions_that_have_taken_place(
    app, client, evaluator, make_training_session, make_booking, answer
):
    held = make_training_session(days_ahead=-7)
    future = make_training_session(days_ahead=20)
    cancelled = make_training_session(days_ahead=-7, cancelled_at=utcnow() - timedelta(days=9))
    rows_expected = {
        "booked, no answers": make_booking(held.id),
        "attended": make_booking(held.id, BookingStatus.ATTENDED),
        "did not attend": make_booking(held.id, BookingStatus.DID_NOT_ATTEND),
    }
    not_rows = [
        make_booking(held.id, BookingStatus.WAITING),
        make_booking(held.id, BookingStatus.CANCELLED),
        make_booking(future.id),
        make_booking(cancelled.id, BookingStatus.ATTENDED),
    ]
    for booking in not_rows:
        answer(booking, B, "confidence", "4")
    answer(rows_expected["attended"], A, "confidence", "9")

    with app.test_request_context():
        code = {booking: services.respondent_code(booking) for booking in [*rows_expected.values(), *not_rows]}
    rows = as_dicts(read_csv(client.get("/manage/exports/responses.csv")))
    assert sorted(r["respondent"] for r in rows) == sorted(code[b] for b in rows_expected.values())
    by_code = {r["respondent"]: r for r in rows}
    unanswered = by_code[code[rows_expected["booked, no answers"]]]
    assert unanswered["booking_status"] == "booked"
    assert all(unanswered[f"{s.value}.instrument_version"] == "" for s in (B, A, F))
    assert unanswered["baseline.confidence"] == ""
    assert by_code[code[rows_expected["did not attend"]]]["booking_status"] == "did_not_attend"
    assert by_code[code[rows_expected["attended"]]]["after_session.confidence"] == "9"

    # `now` is a parameter: the same bookings a week before the session ended, and just after it did.
    with app.app_context():
        assert services.count_responses(ReviewFilters(), now=held.ends_at - timedelta(seconds=1)) == 0
        assert services.count_responses(ReviewFilters(), now=held.ends_at) == 3
    with app.test_request_context():
        _headers, earlier = services.responses(ReviewFilters(), now=held.starts_at)
        assert list(earlier) == []
        _headers, later = services.responses(ReviewFilters(), now=future.ends_at)
        assert len(list(later)) == 4  # the future session's booking, once it has taken place


def test_status_consent_due_and_the_volunteers_details_are_columns(
    app, client, evaluator, make_training_session, make_booking, make_volunteer
):
    with app.app_context():
        kind = OrganisationType(name="Charity")
        db.session.add(kind)
        db.session.flush()
        restore = db.session.scalar(sa.select(Organisation).where(Organisation.name == "Restore"))
        restore.organisation_type_id = kind.id
        district_id = db.session.scalar(sa.select(District.id).where(District.name == "Cherwell"))
        db.session.commit()
        restore_id = restore.id
    long_ago = make_training_session(days_ahead=-63)  # 9 weeks: the follow-up survey has opened
    recent = make_training_session(days_ahead=-20)  # 3 weeks: not yet
    described = make_volunteer(
        organisation_id=restore_id,
        district_id=district_id,
        age_band="35-44",
        gender="woman",
        ethnic_group="prefer-not",
        followup_consent=True,
    )
    first = make_booking(long_ago.id, BookingStatus.ATTENDED, volunteer_id=described)
    confirm_elearning(app, first)
    second = make_booking(recent.id, BookingStatus.DID_NOT_ATTEND)

    with app.test_request_context():
        code = {b: services.respondent_code(b) for b in (first, second)}
    rows = {r["respondent"]: r for r in as_dicts(read_csv(client.get("/manage/exports/responses.csv")))}
    fixed = [name for name in FIXED if name not in ("respondent", "session_date")]
    assert [rows[code[first]][name] for name in fixed] == [
        "volunteer_training",
        "Restore",
        "Charity",
        "Cherwell",
        "35-44",
        "woman",
        "prefer-not",
        "attended",
        "yes",
        "yes",
        "yes",
    ]
    assert [rows[code[second]][name] for name in fixed] == [
        "volunteer_training",
        "Oxfordshire Library Service",
        "",
        "",
        "",
        "",
        "",
        "did_not_attend",
        "no",
        "no",
        "no",
    ]


def test_answers_of_two_versions_sit_side_by_side(app, client, evaluator, make_training_session, make_booking, answer):
    training_session = make_training_session(days_ahead=-30)
    under_1 = make_booking(training_session.id, BookingStatus.ATTENDED)
    under_2 = make_booking(training_session.id, BookingStatus.ATTENDED)
    answer(under_1, B, "confidence", "3", version=1)
    answer(under_1, A, "confidence", "7", version=1)
    # A version 1 answer to a question only version 2 asks (it cannot happen through the survey) stays out.
    answer(under_1, A, "confidence_before", "2", version=1)
    answer(under_2, B, "confidence", "4", version=2)
    answer(under_2, A, "confidence", "8", version=2)
    answer(under_2, A, "confidence_before", "3", version=2)
    answer(under_2, F, "conversations", "6", version=2)

    with app.test_request_context():
        code = {b: services.respondent_code(b) for b in (under_1, under_2)}
    rows = {r["respondent"]: r for r in as_dicts(read_csv(client.get("/manage/exports/responses.csv")))}
    columns = [
        "baseline.instrument_version",
        "baseline.confidence",
        "after_session.instrument_version",
        "after_session.confidence",
        "after_session.confidence_before",
        "followup.instrument_version",
        "followup.conversations",
    ]
    assert [rows[code[under_1]][c] for c in columns] == ["1", "3", "1", "7", "", "", ""]
    assert [rows[code[under_2]][c] for c in columns] == ["2", "4", "2", "8", "3", "2", "6"]
    sheets = read_xlsx(client.get("/manage/exports/responses.xlsx"))
    cells = {r["respondent"]: r for r in as_dicts(sheets["Responses"])}
    assert [cells[code[under_2]][c] for c in columns] == [2, 4, 2, 8, 3, 2, 6]
    assert cells[code[under_1]]["after_session.confidence_before"] is None
    about = dict(sheets["About"])
    assert about["Instrument versions present"] == "1, 2"


def funnel_from(rows: list[dict]) -> dict:
    """The funnel and its rates, worked out from the responses file as the method note says."""
    attended = [r for r in rows if r["booking_status"] == "attended"]
    evaluated = [r for r in attended if r["after_session.instrument_version"] != ""]
    could_follow_up = [r for r in attended if r["followup_consent"] == "yes" and r["followup_due"] == "yes"]
    followed_up = [r for r in could_follow_up if r["followup.instrument_version"] != ""]
    return {
        "registered": len(rows),
        "elearning_confirmed": sum(r["elearning_confirmed"] == "yes" for r in rows),
        "attended": len(attended),
        "evaluated": len(evaluated),
        "followed_up": len(followed_up),
        "evaluation_rate": (len(evaluated), len(attended)),
        "followup_rate": (len(followed_up), len(could_follow_up)),
    }


def test_the_funnel_is_rebuilt_from_the_csv(
    app, client, evaluator, make_training_session, make_booking, make_volunteer
):
    held = make_training_session(days_ahead=-70)  # ten weeks ago: follow-up due
    recent = make_training_session(days_ahead=-14)  # two weeks ago: not yet
    consenting = {"followup_consent": True}

    def booking(session, status, *, elearning=True, consent=True, after=False, followup=False):
        booking_id = make_booking(session.id, status, volunteer_id=make_volunteer(**(consenting if consent else {})))
        if elearning:
            confirm_elearning(app, booking_id)
        store_answers(app, booking_id, B, confidence=4, knowledge=5)
        if after:
            store_answers(app, booking_id, A, respond=True, confidence=8, knowledge=7)
        if followup:
            store_answers(app, booking_id, F, respond=True, conversations=3)
        return booking_id

    booking(held, BookingStatus.ATTENDED, after=True, followup=True)
    booking(held, BookingStatus.ATTENDED, after=True)
    booking(held, BookingStatus.ATTENDED, consent=False, after=True)
    booking(held, BookingStatus.ATTENDED, elearning=False)
    booking(held, BookingStatus.DID_NOT_ATTEND)
    booking(held, BookingStatus.BOOKED)
    make_booking(held.id, BookingStatus.WAITING)
    make_booking(held.id, BookingStatus.CANCELLED)
    booking(recent, BookingStatus.ATTENDED, after=True)
    booking(make_training_session(days_ahead=10), BookingStatus.BOOKED)  # still to come

    in_held = funnel_from(as_dicts(read_csv(client.get(f"/manage/exports/responses.csv?session={held.id}"))))
    assert in_held == {
        "registered": 6,
        "elearning_confirmed": 5,
        "attended": 4,
        "evaluated": 3,
        "followed_up": 1,
        "evaluation_rate": (3, 4),
        "followup_rate": (1, 3),
    }
    everything = funnel_from(as_dicts(read_csv(client.get("/manage/exports/responses.csv"))))
    assert everything["registered"] == 7
    assert everything["evaluation_rate"] == (4, 5)
    assert everything["followup_rate"] == (1, 3), "the recent attendee's follow-up is not due yet"


# --- Pseudonymity and safe cells -----------------------------------------------------------------------------


def test_downloads_are_pseudonymous_with_a_stable_respondent_code(
    app, client, evaluator, make_training_session, make_volunteer, make_booking, answer
):
    training_session = make_training_session(days_ahead=-3)
    other = org_id(app, "Other")
    people = [
        make_volunteer(
            name="Zephyrine Quillfeather",
            email="zephyrine.q@example.org",
            phone="07700 900461",
            organisation_id=other,
            organisation_other="Quillfeather Family Trust",
        ),
        make_volunteer(name="Bartholomew Xanadu", email="bart.xanadu@example.net", phone="+447700900987"),
    ]
    bookings = [make_booking(training_session.id, volunteer_id=person) for person in people]
    for booking in bookings:
        answer(booking, B, "confidence", "4")

    # Read each streamed response before the next request: its generator holds the request context.
    first = read_csv(client.get("/manage/exports/responses.csv"))
    second = read_csv(client.get("/manage/exports/responses.csv"))
    with client.get("/manage/exports/responses.csv") as response:
        csv_text = response.data.decode("utf-8-sig")
    with client.get("/manage/exports/responses.xlsx") as response:
        contents = [csv_text, xlsx_text(response.data)]
    files = read_zip(client.get("/manage/exports/evaluator-pack.zip"))
    contents.append(xlsx_text(files.pop("responses.xlsx")))
    contents += [data.decode("utf-8-sig") for data in files.values()]
    for secret in (
        "Zephyrine",
        "Quillfeather",
        "zephyrine.q@example.org",
        "07700 900461",
        "Bartholomew",
        "Xanadu",
        "bart.xanadu",
        "447700900987",
        "@example",
    ):
        for content in contents:
            assert secret.lower() not in content.lower()
    rows, again = first[1:], second[1:]
    codes = [row[0] for row in rows]
    assert codes == [row[0] for row in again]
    assert len(set(codes)) == 2
    assert {row[3] for row in rows} == {"Other", "Oxfordshire Library Service"}  # the list name, not the typed one
    with app.test_request_context():
        assert sorted(codes) == sorted(services.respondent_code(b) for b in bookings)


FORMULA_LIKE = {
    "do_differently": '=HYPERLINK("http://evil.example","click")',
    "improve": "+44 7700 900123",
    "barriers": "@x",
    "cascade_organisations": "-2",
}


def formula_like_answers(make_training_session, make_booking, answer, texts: dict) -> None:
    booking = make_booking(make_training_session(days_ahead=-3).id, BookingStatus.ATTENDED)
    answer(booking, B, "confidence", "4")
    for key, text in texts.items():
        answer(booking, A if key in ("do_differently", "improve") else F, key, text)


def column_of(key: str) -> str:
    return ("after_session." if key in ("do_differently", "improve") else "followup.") + key


def test_cells_that_a_spreadsheet_would_run_are_quoted_in_the_csv(
    app, client, evaluator, make_training_session, make_booking, answer
):
    texts = FORMULA_LIKE | {"cascade_organisations": "|cmd", "barriers": "%0A"}
    formula_like_answers(make_training_session, make_booking, answer, texts)

    header, row = read_csv(client.get("/manage/exports/responses.csv"))
    cells = dict(zip(header, row, strict=True))
    for key, text in texts.items():
        assert cells[column_of(key)] == "'" + text
    files = read_zip(client.get("/manage/exports/evaluator-pack.zip"))
    assert read_csv(files["responses.csv"]) == [header, row]


@pytest.mark.parametrize("texts", [FORMULA_LIKE, {"cascade_organisations": "|cmd", "barriers": "%0A"}])
def test_the_xlsx_holds_formula_like_answers_as_text_cells_exactly_as_given(
    app, client, evaluator, make_training_session, make_booking, answer, texts
):
    """An XLSX text cell is never run, so the CSV's quote would only show up as a stray `'` in the cell."""
    formula_like_answers(make_training_session, make_booking, answer, texts)

    response = client.get("/manage/exports/responses.xlsx")
    assert response.status_code == 200
    data = response.data
    response.close()
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Responses"]
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    for key, text in texts.items():
        cell = cells[column_of(key)]
        assert (cell.value, cell.data_type) == (text, "s")
    assert cells["baseline.confidence"].value == 4
    assert cells["baseline.confidence"].data_type == "n"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert "<f>" not in xlsx_text(data)


def test_emoji_and_right_to_left_text_survive_both_formats(
    app, client, evaluator, make_training_session, make_booking, answer
):
    booking = make_booking(make_training_session(days_ahead=-3).id, BookingStatus.ATTENDED)
    text = "Great session 🎉👍🏽 — شكرا جزيلا — תודה רבה"
    answer(booking, B, "confidence", "4")
    answer(booking, A, "improve", text)
    header, row = read_csv(client.get("/manage/exports/responses.csv"))
    assert dict(zip(header, row, strict=True))["after_session.improve"] == text
    header, values = read_xlsx(client.get("/manage/exports/responses.xlsx"))["Responses"]
    assert dict(zip(header, values, strict=True))["after_session.improve"] == text


# --- Filters, file names and the About sheet ---------------------------------------------------------------------


def test_the_dashboard_filters_narrow_the_download(
    app, client, evaluator, make_training_session, make_booking, make_volunteer, answer
):
    september = make_training_session(starts_at=datetime(2026, 9, 22, 9, 30, tzinfo=UTC))
    october = make_training_session(starts_at=datetime(2026, 10, 20, 9, 30, tzinfo=UTC))
    restore = org_id(app, "Restore")
    in_september = make_booking(september.id)
    in_october = make_booking(october.id)
    from_restore = make_booking(october.id, volunteer_id=make_volunteer(organisation_id=restore))
    for booking in (in_september, in_october, from_restore):
        answer(booking, B, "confidence", "5")

    def codes(query: str) -> set[str]:
        return {row[0] for row in read_csv(client.get(f"/manage/exports/responses.csv?{query}"))[1:]}

    with app.test_request_context():
        code = {b: services.respondent_code(b) for b in (in_september, in_october, from_restore)}
    assert codes("") == set(code.values())
    assert codes(f"session={september.id}") == {code[in_september]}
    assert codes("from=2026-10-01") == {code[in_october], code[from_restore]}
    assert codes("from=2026-09-01&to=2026-09-30") == {code[in_september]}
    assert codes(f"organisation={restore}") == {code[from_restore]}
    _header, *rows = read_xlsx(client.get(f"/manage/exports/responses.xlsx?organisation={restore}"))["Responses"]
    assert [r[0] for r in rows] == [code[from_restore]]
    files = read_zip(client.get(f"/manage/exports/evaluator-pack.zip?session={october.id}"))
    assert {row[0] for row in read_csv(files["responses.csv"])[1:]} == {code[in_october], code[from_restore]}

    for url in (
        "/manage/exports/responses.csv?from=22/09/2026",
        "/manage/exports/responses.xlsx?session=abc",
        "/manage/exports/data-dictionary.csv?to=2026-13-01",
        "/manage/exports/?from=2026-10-01&to=2026-09-01",
        "/manage/exports/responses.csv?organisation=%00%ff",
        "/manage/exports/evaluator-pack.zip?from=2026-13-01",
        "/manage/exports/evaluator-pack.zip?session=1x",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "There is a problem" in response.text
        assert response.text.count("Error:") >= 1
    assert "Enter the start of the date range as a real date" in client.get("/manage/exports/responses.csv?from=x").text
    assert "real date" in client.get("/manage/exports/evaluator-pack.zip?to=x").text


def test_file_names_carry_the_date_and_the_filters(app, client, evaluator, make_training_session):
    training_session = make_training_session(days_ahead=-3)
    restore = org_id(app, "Restore")
    filters = (
        f"session={training_session.id}&from=2026-09-01&to=2026-11-30&organisation={restore}&kind=train_the_trainer"
    )
    suffix = (
        f"-session-{training_session.id}-from-2026-09-01-to-2026-11-30-organisation-{restore}-kind-train-the-trainer"
    )
    for path, stem, extension in (
        ("responses.csv", "responses", "csv"),
        ("responses.xlsx", "responses", "xlsx"),
        ("data-dictionary.csv", "data-dictionary", "csv"),
        ("evaluator-pack.zip", "evaluator-pack", "zip"),
    ):
        with client.get(f"/manage/exports/{path}") as response:
            assert attachment_name(response) == f"mecc-{stem}-{today()}.{extension}"
        with client.get(f"/manage/exports/{path}?{filters}") as response:
            name = attachment_name(response)
        assert name == f"mecc-{stem}-{today()}{suffix}.{extension}"
        assert re.fullmatch(r"[a-z0-9.-]+", name)
    with app.app_context():
        now = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # already 3 December in London (GMT)
        assert services.filename("responses", "csv", ReviewFilters(), now=now) == "mecc-responses-2026-12-03.csv"
        summer = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 2 July in London (BST)
        assert services.filename("x", "csv", ReviewFilters(date_to=date(2026, 7, 1)), now=summer) == (
            "mecc-x-2026-07-02-to-2026-07-01.csv"
        )


def test_the_about_sheet_says_what_the_file_is_and_its_filters(
    app, client, evaluator, make_training_session, make_booking, make_volunteer, answer
):
    training_session = make_training_session(starts_at=datetime(2026, 9, 22, 9, 30, tzinfo=UTC))
    restore = org_id(app, "Restore")
    for _ in range(2):
        booking = make_booking(training_session.id, volunteer_id=make_volunteer(organisation_id=restore))
        answer(booking, B, "confidence", "=1+1")  # nothing in a text cell runs
    query = (
        f"session={training_session.id}&from=2026-09-01&to=2026-09-30&organisation={restore}&kind=volunteer_training"
    )

    response = client.get(f"/manage/exports/responses.xlsx?{query}")
    data = response.data
    response.close()
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames[-1] == "About"
    about = {row[0].value: row[1] for row in workbook["About"].iter_rows()}
    assert all(cell.data_type == "s" for row in workbook["About"].iter_rows() for cell in row if cell.value)
    text = {key: cell.value for key, cell in about.items()}
    assert "one row per booking that held a place" in text["What it is"]
    assert text["Made"].endswith("(Europe/London time)")
    assert format_date(utcnow()) in text["Made"]
    words = f"{format_date(training_session.starts_at)}, {format_time(training_session.starts_at)}"
    assert text["Filters"] == (
        f"Session: {words} (Volunteer training); Sessions from: Tuesday 1 September 2026; "
        "Sessions to: Wednesday 30 September 2026; Organisation: Restore; Kind of session: Volunteer training"
    )
    assert text["Filters as a query"] == query
    assert text["Rows"] == "2"
    assert text["Instrument versions present"] == "1"
    assert "within the evaluation team" in text["Pseudonymous, not anonymous"]
    assert "Data dictionary sheet" in text["What each column means"]

    none = dict(read_xlsx(client.get("/manage/exports/responses.xlsx"))["About"])
    assert none["Filters"] == "None: every session held"
    assert none["Filters as a query"] == "(none)"


# --- The evaluator pack ------------------------------------------------------------------------------------------


def test_the_evaluator_pack_holds_the_data_the_dictionary_and_a_method_note(
    app, client, evaluator, make_training_session, make_booking, answer
):
    with app.app_context():
        db.session.execute(sa.update(Programme).values(disclosure_threshold=7))
        db.session.commit()
    training_session = make_training_session(days_ahead=-20)
    for version in (1, 2):
        booking = make_booking(training_session.id, BookingStatus.ATTENDED)
        answer(booking, B, "confidence", "4", version=version)
    restore = org_id(app, "Restore")
    query = f"from=2026-01-01&to=2026-12-31&organisation={restore}"
    make_booking(training_session.id, BookingStatus.ATTENDED)  # not Restore's

    response = client.get(f"/manage/exports/evaluator-pack.zip?{query}")
    assert response.mimetype == "application/zip"
    assert "Content-Encoding" not in response.headers  # a ZIP is compressed already
    assert response.headers["Cache-Control"] == "no-store"
    files = read_zip(response)
    assert pack_layout(list(files)) == PACK_FILES
    assert read_csv(files["responses.csv"])[0] == expected_headers()
    assert len(read_csv(files["responses.csv"])) == 1  # nobody from Restore
    sheets = xlsx_sheets(files["responses.xlsx"])
    assert list(sheets) == ["Responses", "Data dictionary", "About"]
    assert dict(sheets["About"])["Filters as a query"] == query
    assert read_csv(files["data_dictionary.csv"]) == read_csv(client.get("/manage/exports/data-dictionary.csv"))

    note = files["method_note.txt"].decode("utf-8")
    assert "Sessions from: Thursday 1 January 2026; Sessions to: Thursday 31 December 2026; Organisation: Restore" in (
        note
    )
    assert f"Filters as a query: {query}" in note
    assert "Rows in responses.csv: 0" in note
    assert "any group of fewer than 7 people shows 'fewer than 7'" in note
    assert "every count of 1 to 6 people is shown as 'fewer than 7'" in note
    assert "('hidden')" in note
    assert "record-level, pseudonymous data for the evaluation team only" in note
    for sentence in METHOD:
        assert sentence in note
    assert "Evaluated: rows with booking_status = attended where after_session.instrument_version is not empty" in note
    assert "evaluated / attended" in note
    assert "followup_consent = yes and followup_due = yes" in note
    assert "at least 8 weeks before" in note
    assert "- baseline.confidence with after_session.confidence" in note
    assert "- after_session.confidence_before with after_session.confidence" in note
    assert "Added: after_session.confidence_before" in note
    assert "never paired or averaged" in note
    assert "{{" not in note
    assert "{%" not in note

    everything = read_zip(client.get("/manage/exports/evaluator-pack.zip"))
    note = everything["method_note.txt"].decode("utf-8")
    assert "Filters: none (every session that has taken place)" in note
    assert "Rows in responses.csv: 3" in note
    assert "Instrument versions present: 1, 2" in note
    assert dict(xlsx_sheets(everything["responses.xlsx"])["About"])["Rows"] == "3"

    with app.app_context():
        records = db.session.scalars(sa.select(DownloadRecord).order_by(DownloadRecord.id)).all()
        assert [(r.export_name, r.row_count) for r in records if r.export_name == "evaluator_pack.zip"] == [
            ("evaluator_pack.zip", 0),
            ("evaluator_pack.zip", 3),
        ]


def test_the_pack_reads_the_responses_once_for_both_files_and_takes_more_tables(
    app, make_training_session, make_booking, answer
):
    booking = make_booking(make_training_session(days_ahead=-3).id, BookingStatus.ATTENDED)
    answer(booking, B, "confidence", "6")
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    tables = [
        ("tables/funnel.csv", ["stage", "people"], iter([["Registered", 12], ["=SUM(A1)", "fewer than 5"]])),
        ("tables/empty.csv", ["nothing"], []),
    ]
    with app.test_request_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", remember)
        try:
            file = pack.write_evaluator_pack(ReviewFilters(), tables=tables)
        finally:
            sa.event.remove(engine, "before_cursor_execute", remember)
        with file, zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            funnel = read_csv(archive.read("tables/funnel.csv"))
            responses = read_csv(archive.read("responses.csv"))
            note = archive.read("method_note.txt").decode("utf-8")
    assert names == [
        "responses.csv",
        "responses.xlsx",
        "data_dictionary.csv",
        *[t[0] for t in tables],
        "method_note.txt",
    ]
    assert funnel == [["stage", "people"], ["Registered", "12"], ["'=SUM(A1)", "fewer than 5"]]
    assert responses[1][responses[0].index("baseline.confidence")] == "6"
    assert "- tables/funnel.csv:" in note
    answer_queries = [s for s in statements if s.lstrip().startswith("SELECT evaluation_answers.booking_id")]
    assert len(answer_queries) == 1, "one pass over the responses writes the CSV and the XLSX"


def test_each_download_is_recorded_with_its_filters_and_row_count(
    app, client, auth, make_training_session, make_booking, answer
):
    email = auth.create("evaluator", name="Eve Evaluator")
    auth.login("evaluator", email=email)
    training_session = make_training_session(days_ahead=-3)
    for _ in range(3):
        answer(make_booking(training_session.id), B, "confidence", "5")
    make_booking(training_session.id)  # no answers: a row too
    client.get(f"/manage/exports/responses.csv?session={training_session.id}").close()
    client.get("/manage/exports/responses.xlsx?from=2026-01-01").close()
    client.get("/manage/exports/data-dictionary.csv")
    client.get("/manage/exports/evaluator-pack.zip?to=2026-12-31").close()
    client.get("/manage/exports/responses.csv?from=bad")  # refused, so not recorded
    client.get("/manage/exports/evaluator-pack.zip?from=bad")
    with app.app_context():
        records = db.session.scalars(sa.select(DownloadRecord).order_by(DownloadRecord.id)).all()
        assert [(r.export_name, r.filters, r.row_count) for r in records] == [
            ("responses.csv", {"session_id": training_session.id}, 4),
            ("responses.xlsx", {"date_from": "2026-01-01"}, 4),
            ("data_dictionary.csv", {}, len(expected_headers())),
            ("evaluator_pack.zip", {"date_to": "2026-12-31"}, 4),
        ]
        assert all(r.staff_user_id is not None for r in records)
    page = client.get("/manage/exports/")
    assert page.status_code == 200
    assert "Eve Evaluator" in page.text
    assert "responses.xlsx" in page.text
    assert "evaluator_pack.zip" in page.text
    assert "date_from: 2026-01-01" in page.text
    assert 'href="/manage/exports/responses.csv"' in page.text


def test_the_downloads_page_offers_the_pack_first_with_the_current_filters(app, client, evaluator):
    restore = org_id(app, "Restore")
    page = client.get(f"/manage/exports/?organisation={restore}&from=2026-09-01")
    assert page.status_code == 200
    links = re.findall(r'<a href="(/manage/exports/[^"]+)" download>([^<]+)</a>', page.text)
    assert [text for _href, text in links] == [
        "Evaluator pack (ZIP)",
        "Responses (CSV)",
        "Responses and data dictionary (XLSX)",
        "Data dictionary (CSV)",
    ]
    assert "Evaluator pack (ZIP)</a>: data, data dictionary and method note" in page.text
    for href, _text in links:
        assert href.endswith(f"?from=2026-09-01&amp;organisation={restore}"), href


@pytest.mark.parametrize(
    ("visitor", "expected"), [("evaluator", 200), ("admin", 200), ("coordinator", 403), ("anonymous", 303)]
)
def test_only_evaluators_and_admins_can_download(client, auth, visitor, expected):
    if visitor != "anonymous":
        auth.login(visitor)
    for url in (
        "/manage/exports/",
        "/manage/exports/responses.csv",
        "/manage/exports/responses.xlsx",
        "/manage/exports/data-dictionary.csv",
        "/manage/exports/evaluator-pack.zip",
    ):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 303:
            assert "/manage/sign-in" in response.headers["Location"]
        response.close()


def test_the_command_line_writes_the_same_responses_and_the_pack(
    app, runner, tmp_path, make_training_session, make_booking, answer
):
    answer(make_booking(make_training_session(days_ahead=-3).id), B, "confidence", "6")
    make_booking(make_training_session(days_ahead=3).id)  # still to come: not a row
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["export", "responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 1 responses to {out}.\n"
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == expected_headers()
    confidence = rows[0].index("baseline.confidence")
    assert rows[1][confidence] == "6"
    xlsx = tmp_path / "responses.xlsx"
    assert runner.invoke(args=["export", "responses", "--out", str(xlsx), "--format", "xlsx"]).exit_code == 0
    assert openpyxl.load_workbook(xlsx)["Responses"].cell(row=2, column=confidence + 1).value == 6
    result = runner.invoke(args=["export", "responses", "--out", str(out), "--from", "nope"])
    assert result.exit_code != 0
    assert "real date" in result.output

    zipped = tmp_path / "pack.zip"
    result = runner.invoke(args=["export", "pack", "--out", str(zipped), "--to", "2026-12-31"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote the evaluator pack (1 responses) to {zipped}.\n"
    with zipfile.ZipFile(zipped) as archive:
        assert pack_layout(archive.namelist()) == PACK_FILES
        assert "Sessions to: Thursday 31 December 2026" in archive.read("method_note.txt").decode()
    with app.app_context():
        names = db.session.scalars(sa.select(DownloadRecord.export_name).order_by(DownloadRecord.id)).all()
        assert names == ["responses.csv", "responses.xlsx", "evaluator_pack.zip"]


# --- Streaming ---------------------------------------------------------------------------------------

STREAM_ROWS = 100_000
BULK_ROWS_A_STATEMENT = 2_000  # 7 values a row: within SQLite's 32,766 and PostgreSQL's 65,535 parameters


def bulk_bookings_with_answers(count: int) -> None:
    """`count` attended bookings, each with a baseline answer, inserted in bulk (Core)."""
    programme_id = db.session.scalar(sa.select(Programme.id))
    organisation_id = db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id))
    district_id = db.session.scalar(sa.select(District.id).order_by(District.id))
    starts_at = datetime(2026, 9, 22, 9, 30, tzinfo=UTC)
    session_id = db.session.execute(
        sa.insert(TrainingSession)
        .values(
            programme_id=programme_id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=2),
            capacity=count,
        )
        .returning(TrainingSession.id)
    ).scalar_one()
    now = datetime.now(UTC)
    # Attended bookings may share a volunteer (only active ones are one per kind), which halves the inserts.
    volunteer_id = db.session.execute(
        sa.insert(Volunteer)
        .values(
            name="Bulk volunteer",
            email="bulk@example.org",
            email_normalised="bulk@example.org",
            organisation_id=organisation_id,
            district_id=district_id,
            role="Volunteer",
            privacy_notice_version="test",
            privacy_acknowledged_at=now,
        )
        .returning(Volunteer.id)
    ).scalar_one()
    first = (db.session.scalar(sa.select(sa.func.max(Booking.id))) or 0) + 1
    ids = range(first, first + count)
    connection = db.session.connection()
    bookings = [
        {
            "id": i,
            "training_session_id": session_id,
            "volunteer_id": volunteer_id,
            "session_kind": SessionKind.VOLUNTEER_TRAINING,
            "status": BookingStatus.ATTENDED,
            "created_at": now,
            "booked_at": now,
        }
        for i in ids
    ]
    answers = [
        {
            "booking_id": i,
            "survey": B,
            "question_key": "confidence",
            "value": str(i % 11),
            "instrument_version": 1,
            "answered_at": now,
        }
        for i in ids
    ]
    # Many rows to an INSERT: a list of rows to execute() is one statement a row on PostgreSQL (psycopg's
    # executemany), and each statement fires the data version's triggers (migration 0013), 200,000 times in one
    # transaction, which took two minutes.
    for table, rows in [(Booking.__table__, bookings), (EvaluationAnswer.__table__, answers)]:
        for start in range(0, len(rows), BULK_ROWS_A_STATEMENT):
            connection.execute(sa.insert(table).values(rows[start : start + BULK_ROWS_A_STATEMENT]))
    db.session.commit()


@pytest.fixture
def truncate_afterwards(app):
    """PostgreSQL checks every foreign key row by row when the app fixture empties the tables, which takes
    minutes for 100,000 bookings: truncate them in one statement instead."""
    yield
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                # Not the pseudonymisation key and the data version, which come with the migrated database.
                kept = ("app_secrets", "data_version")
                tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name not in kept)
                connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def test_a_100000_row_export_streams_in_pages_with_flat_memory(app, client, evaluator, truncate_afterwards):
    """Memory stays flat because rows are read a page at a time and written out in bounded chunks
    (bench/export_responses.py measures the memory itself; tracemalloc here would be too slow)."""
    with app.app_context():
        bulk_bookings_with_answers(STREAM_ROWS)
        engine = db.engine
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        # Uncompressed, to count the lines as they come (test_downloads.py streams a compressed one).
        response = client.get("/manage/exports/responses.csv", buffered=False, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.is_streamed
        lines = chunks = 0
        largest = 0
        for chunk in response.response:
            chunks += 1
            largest = max(largest, len(chunk))
            lines += chunk.count(b"\r\n")
        response.close()
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    assert lines == STREAM_ROWS + 1
    assert chunks > 100
    assert largest < 200_000
    pages = [s for s in statements if "FROM bookings" in s and "LIMIT" in s.upper() and "count(" not in s]
    answer_queries = [s for s in statements if s.lstrip().startswith("SELECT evaluation_answers.booking_id")]
    assert len(pages) >= STREAM_ROWS // services.PAGE_SIZE
    assert len(answer_queries) == len(pages) or len(answer_queries) == len(pages) - 1
    # Apart from the COUNT for the download record, nothing reads the bookings without a LIMIT.
    unpaged = [s for s in statements if "FROM bookings" in s and "LIMIT" not in s.upper() and "count(" not in s]
    assert not unpaged
