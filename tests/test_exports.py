"""Evaluator downloads: the responses as CSV and XLSX, the data dictionary, filters, records, streaming."""

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import services
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import VERSION_1, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    LONDON,
    Base,
    Booking,
    BookingStatus,
    District,
    DownloadRecord,
    EvaluationAnswer,
    Organisation,
    Programme,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
)
from tests.helpers import read_csv

B, A, F = Survey.BASELINE, Survey.AFTER_SESSION, Survey.FOLLOWUP
FIXED = ["respondent", "session_date", "session_kind", "organisation", "district"]


def expected_headers(instrument=VERSION_1) -> list[str]:
    return FIXED + [f"{q.survey.value}.{q.key}" for q in instrument.questions] + ["instrument_version"]


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
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Organisation.id).where(Organisation.name == name))


def test_responses_list_every_question_in_instrument_order(
    app, client, evaluator, make_training_session, make_booking, answer
):
    training_session = make_training_session(days_ahead=-10, kind=SessionKind.TRAIN_THE_TRAINER)
    booking = make_booking(training_session.id, status=BookingStatus.ATTENDED)
    make_booking(training_session.id)  # no answers: not a row
    answer(booking, B, "confidence", "3")
    answer(booking, A, "confidence", "8")
    answer(booking, A, "overall", "very_good")
    answer(booking, F, "topics", "smoking|alcohol")
    answer(booking, F, "people_trained", "12")

    rows = read_csv(client.get("/manage/exports/responses.csv"))
    assert rows[0] == expected_headers()
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["respondent"].startswith("R-")
    assert len(row["respondent"]) == 12
    assert row["session_date"] == training_session.starts_at.astimezone(LONDON).date().isoformat()
    assert row["session_kind"] == "train_the_trainer"
    assert row["organisation"] == "Oxfordshire Library Service"
    assert row["baseline.confidence"] == "3"
    assert row["after_session.confidence"] == "8"
    assert row["after_session.overall"] == "very_good"
    assert row["followup.topics"] == "smoking|alcohol"
    assert row["baseline.knowledge"] == ""
    assert row["instrument_version"] == "1"

    sheets = read_xlsx(client.get("/manage/exports/responses.xlsx"))
    assert list(sheets) == ["Responses", "Data dictionary"]
    header, values = sheets["Responses"]
    cells = dict(zip(header, values, strict=True))
    assert list(header) == expected_headers()
    assert cells["baseline.confidence"] == 3
    assert cells["followup.people_trained"] == 12
    assert cells["followup.topics"] == "smoking|alcohol"
    dictionary = sheets["Data dictionary"]
    assert dictionary[0] == ("column", "question", "scale")
    assert [r[0] for r in dictionary[1:]] == expected_headers()
    by_column = {r[0]: r for r in dictionary[1:]}
    assert by_column["after_session.overall"][1] == "Overall, how was your experience of the training?"
    assert by_column["baseline.confidence"][2] == "0 (not at all) to 10 (extremely)"

    dictionary_csv = read_csv(client.get("/manage/exports/data-dictionary.csv"))
    assert [list(r) for r in dictionary] == [[str(c) for c in r] for r in dictionary_csv]


def test_a_question_added_to_the_instrument_becomes_a_column_and_a_dictionary_entry(
    app, make_training_session, make_booking, answer
):
    extra = Question(
        "anything_else", F, QuestionType.TEXT, "Is there anything else you would like to tell us?", required=False
    )
    version_2 = Instrument(version=2, questions=(*VERSION_1.questions, extra))
    booking = make_booking(make_training_session(days_ahead=-5).id)
    answer(booking, B, "confidence", "5", version=2)
    answer(booking, F, "anything_else", "More sessions please", version=2)
    with app.test_request_context():
        headers, rows = services.responses(ReviewFilters(), instrument=version_2)
        rows = list(rows)
        assert headers == expected_headers(version_2)
        assert headers[-2] == "followup.anything_else"
        assert rows[0][-2] == "More sessions please"
        assert rows[0][-1] == 2
        dictionary = {r[0]: r for r in services.data_dictionary(version_2)[1]}
        assert dictionary["followup.anything_else"][1:] == [extra.wording, "free text, up to 2000 characters"]
        with services.write_responses_xlsx(ReviewFilters(), version_2) as file:
            workbook = openpyxl.load_workbook(file)
        assert workbook["Responses"]["A1"].value == "respondent"
        assert [c.value for c in workbook["Responses"][1]][-2] == "followup.anything_else"


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
    booking = make_booking(make_training_session(days_ahead=-3).id)
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
    booking = make_booking(make_training_session(days_ahead=-3).id)
    text = "Great session 🎉👍🏽 — شكرا جزيلا — תודה רבה"
    answer(booking, B, "confidence", "4")
    answer(booking, A, "improve", text)
    header, row = read_csv(client.get("/manage/exports/responses.csv"))
    assert dict(zip(header, row, strict=True))["after_session.improve"] == text
    header, values = read_xlsx(client.get("/manage/exports/responses.xlsx"))["Responses"]
    assert dict(zip(header, values, strict=True))["after_session.improve"] == text


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

    for url in (
        "/manage/exports/responses.csv?from=22/09/2026",
        "/manage/exports/responses.xlsx?session=abc",
        "/manage/exports/data-dictionary.csv?to=2026-13-01",
        "/manage/exports/?from=2026-10-01&to=2026-09-01",
        "/manage/exports/responses.csv?organisation=%00%ff",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "There is a problem" in response.text
        assert response.text.count("Error:") >= 1
    assert "Enter the start of the date range as a real date" in client.get("/manage/exports/responses.csv?from=x").text


def test_each_download_is_recorded_with_its_filters_and_row_count(
    app, client, auth, make_training_session, make_booking, answer
):
    email = auth.create("evaluator", name="Eve Evaluator")
    auth.login("evaluator", email=email)
    training_session = make_training_session(days_ahead=-3)
    for _ in range(3):
        answer(make_booking(training_session.id), B, "confidence", "5")
    client.get(f"/manage/exports/responses.csv?session={training_session.id}").close()
    client.get("/manage/exports/responses.xlsx?from=2026-01-01").close()
    client.get("/manage/exports/data-dictionary.csv")
    client.get("/manage/exports/responses.csv?from=bad")  # refused, so not recorded
    with app.app_context():
        records = db.session.scalars(sa.select(DownloadRecord).order_by(DownloadRecord.id)).all()
        assert [(r.export_name, r.filters, r.row_count) for r in records] == [
            ("responses.csv", {"session_id": training_session.id}, 3),
            ("responses.xlsx", {"date_from": "2026-01-01"}, 3),
            ("data_dictionary.csv", {}, len(expected_headers())),
        ]
        assert all(r.staff_user_id is not None for r in records)
    page = client.get("/manage/exports/")
    assert page.status_code == 200
    assert "Eve Evaluator" in page.text
    assert "responses.xlsx" in page.text
    assert "date_from: 2026-01-01" in page.text
    assert 'href="/manage/exports/responses.csv"' in page.text


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
    ):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 303:
            assert "/manage/sign-in" in response.headers["Location"]
        response.close()


def test_the_command_line_writes_the_same_responses(app, runner, tmp_path, make_training_session, make_booking, answer):
    answer(make_booking(make_training_session(days_ahead=-3).id), B, "confidence", "6")
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["export", "responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 1 responses to {out}.\n"
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == expected_headers()
    assert rows[1][5] == "6"
    xlsx = tmp_path / "responses.xlsx"
    assert runner.invoke(args=["export", "responses", "--out", str(xlsx), "--format", "xlsx"]).exit_code == 0
    assert openpyxl.load_workbook(xlsx)["Responses"]["F2"].value == 6
    result = runner.invoke(args=["export", "responses", "--out", str(out), "--from", "nope"])
    assert result.exit_code != 0
    assert "real date" in result.output


# --- Streaming ---------------------------------------------------------------------------------------

STREAM_ROWS = 100_000


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
    connection.execute(
        sa.insert(Booking.__table__),
        [
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
        ],
    )
    connection.execute(
        sa.insert(EvaluationAnswer.__table__),
        [
            {
                "booking_id": i,
                "survey": B,
                "question_key": "confidence",
                "value": str(i % 11),
                "instrument_version": 1,
                "answered_at": now,
            }
            for i in ids
        ],
    )
    db.session.commit()


@pytest.fixture
def truncate_afterwards(app):
    """PostgreSQL checks every foreign key row by row when the app fixture empties the tables, which takes
    minutes for 100,000 bookings: truncate them in one statement instead."""
    yield
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
                connection.execute(sa.text(f"TRUNCATE {tables} CASCADE"))


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
