"""Every download, and a sample of pages, through the app as browsers ask for them: compressed with whatever
the browser accepts, decompressed to the right file, never cached when they can hold personal data. Static
files are the only responses that may be cached (for a year, under a versioned URL)."""

import gc
import gzip
import io
import json
import re
import zipfile
import zlib
from pathlib import Path

import brotli
import icalendar
import openpyxl
import pytest

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, LinkPurpose, Survey
from mecc_volunteer.tokens import issue_link
from tests.helpers import read_csv

try:
    from compression import zstd
except ImportError:  # Python < 3.14
    from backports import zstd

STATIC = Path(__file__).resolve().parent.parent / "mecc_volunteer" / "static"
# Each encoding on its own, and what Chrome and Firefox send today (the app prefers gzip then).
ENCODINGS = ["gzip", "br", "zstd", "gzip, deflate, br, zstd"]
DECOMPRESS = {"gzip": gzip.decompress, "br": brotli.decompress, "zstd": zstd.decompress, "deflate": zlib.decompress}
NAMES = [f"Volunteer Número {n:02d} Ó'Brien" for n in range(30)]


def body(response) -> bytes:
    """The body as the browser sees it, once decompressed."""
    assert response.status_code == 200, response.status_code
    data = response.get_data()
    response.close()
    encoding = response.headers.get("Content-Encoding")
    if encoding is None or hasattr(response, "wire_size"):  # the test client has already decompressed gzip
        return data
    return DECOMPRESS[encoding](data)


def expected_encoding(accept: str) -> str:
    return "gzip" if "gzip" in accept else accept


def _booked(app, training_session, make_volunteer, make_booking):
    booking_ids = [make_booking(training_session.id, volunteer_id=make_volunteer(name=name)) for name in NAMES]
    with app.app_context():
        from mecc_volunteer.models import EvaluationAnswer

        for booking_id in booking_ids:
            db.session.add(
                EvaluationAnswer(
                    booking_id=booking_id,
                    survey=Survey.BASELINE,
                    question_key="confidence",
                    value="4",
                    instrument_version=1,
                )
            )
        db.session.commit()
    return training_session, booking_ids


@pytest.fixture
def booked_session(app, make_training_session, make_volunteer, make_booking):
    """A session to come with 30 people booked (enough for every file to be worth compressing), each with an
    answer."""
    return _booked(app, make_training_session(days_ahead=20, capacity=40), make_volunteer, make_booking)


@pytest.fixture
def held_session(app, make_training_session, make_volunteer, make_booking):
    """The same, at a session that has taken place: the evaluation downloads' rows."""
    return _booked(app, make_training_session(days_ahead=-3, capacity=40), make_volunteer, make_booking)


@pytest.fixture
def admin(auth):
    """An admin may use both the coordinator's and the evaluator's downloads."""
    auth.login("admin")


def assert_private(response) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert "Expires" not in response.headers


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_trainer_roster_csv_downloads_compressed_in_every_browser(client, admin, booked_session, accept):
    training_session, _ = booked_session

    response = client.get(f"/manage/sessions/{training_session.id}/roster.csv", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert_private(response)
    rows = read_csv(body(response))
    assert rows[0] == ["Name", "Organisation", "Status"]
    assert sorted(row[0] for row in rows[1:]) == sorted(NAMES)
    assert {row[2] for row in rows[1:]} == {"Booked"}


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_data_dictionary_csv_downloads_compressed_in_every_browser(client, admin, accept):
    response = client.get("/manage/exports/data-dictionary.csv", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert_private(response)
    rows = read_csv(body(response))
    assert rows[0] == ["column", "question", "scale", "versions", "concept", "scale_key"]
    assert [row[0] for row in rows if row[0] == "baseline.confidence"] == ["baseline.confidence"]


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_streamed_responses_csv_downloads_compressed_in_every_browser(client, admin, held_session, accept):
    response = client.get("/manage/exports/responses.csv", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert_private(response)
    rows = read_csv(body(response))
    header = rows[0]
    assert header[0] == "respondent"
    assert len(rows) == 1 + len(NAMES)
    confidence = header.index("baseline.confidence")
    assert {row[confidence] for row in rows[1:]} == {"4"}


def test_a_compressed_download_still_streams(client, admin, held_session):
    response = client.get("/manage/exports/responses.csv", headers={"Accept-Encoding": "br"}, buffered=False)

    assert response.headers["Content-Encoding"] == "br"
    assert response.is_streamed
    decompressor = brotli.Decompressor()
    data = b"".join(decompressor.process(chunk) for chunk in response.response)
    response.close()
    assert len(read_csv(data)) == 1 + len(NAMES)


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_responses_xlsx_downloads_intact_and_is_not_compressed_twice(client, admin, held_session, accept):
    response = client.get("/manage/exports/responses.xlsx", headers={"Accept-Encoding": accept})

    assert "Content-Encoding" not in response.headers  # an XLSX is a zip archive already
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert_private(response)
    workbook = openpyxl.load_workbook(io.BytesIO(body(response)))
    rows = list(workbook["Responses"].iter_rows(values_only=True))
    assert rows[0][0] == "respondent"
    assert len(rows) == 1 + len(NAMES)


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_evaluator_pack_downloads_intact_and_is_not_compressed_twice(client, admin, held_session, accept):
    response = client.get("/manage/exports/evaluator-pack.zip", headers={"Accept-Encoding": accept})

    assert "Content-Encoding" not in response.headers  # a zip archive already
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert_private(response)
    with zipfile.ZipFile(io.BytesIO(body(response))) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        rows = read_csv(archive.read("responses.csv"))
    assert [n for n in names if not n.startswith("tables/")] == [
        "responses.csv",
        "responses.xlsx",
        "data_dictionary.csv",
        "method_note.txt",
    ]
    assert len(rows) == 1 + len(NAMES)


@pytest.mark.parametrize("accept", ENCODINGS)
def test_the_calendar_file_on_my_booking_downloads_compressed_in_every_browser(app, client, booked_session, accept):
    training_session, booking_ids = booked_session
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_ids[0]), LinkPurpose.MANAGE)
        db.session.commit()

    response = client.get(f"/my-booking/{token}/calendar.ics", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert_private(response)
    [event] = icalendar.Calendar.from_ical(body(response)).walk("VEVENT")
    assert event.decoded("DTSTART") == training_session.starts_at
    assert token in str(event["DESCRIPTION"]).replace("\n", "")


@pytest.mark.parametrize("accept", ENCODINGS)
def test_a_volunteers_own_data_downloads_as_json_compressed_in_every_browser(app, client, booked_session, accept):
    _, booking_ids = booked_session
    with app.app_context():
        booking = db.session.get(Booking, booking_ids[0])
        name = booking.volunteer.name
        token = issue_link(booking, LinkPurpose.MANAGE)
        db.session.commit()

    response = client.get(f"/my-booking/{token}/your-data.json", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert_private(response)
    data = json.loads(body(response))
    assert name in json.dumps(data, ensure_ascii=False)
    assert NAMES[1] not in json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("accept", ENCODINGS)
def test_a_subject_access_request_downloads_as_json_compressed_in_every_browser(
    app, client, admin, booked_session, accept
):
    _, booking_ids = booked_session
    with app.app_context():
        volunteer = db.session.get(Booking, booking_ids[2]).volunteer
        volunteer_id, name = volunteer.id, volunteer.name

    response = client.get(f"/manage/volunteer-data/{volunteer_id}/data.json", headers={"Accept-Encoding": accept})

    assert response.headers["Content-Encoding"] == expected_encoding(accept)
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert_private(response)
    assert name in json.dumps(json.loads(body(response)), ensure_ascii=False)


def test_every_download_route_is_covered_here(app):
    """A new download (a route whose name ends in a file extension) must be added to the tests above."""
    covered = {
        "sessions.roster_csv",
        "exports.dictionary_csv",
        "exports.responses_csv",
        "exports.responses_xlsx",
        "exports.evaluator_pack",
        "volunteers.calendar",
        "volunteers.your_data_json",
        "volunteers_staff.data_json",
    }
    downloads = {rule.endpoint for rule in app.url_map.iter_rules() if re.search(r"\.[a-z]{2,4}$", rule.rule)}
    assert downloads == covered


# --- Pages and static files ---------------------------------------------------------------------------------


def test_pages_and_fragments_that_can_show_personal_data_are_never_cached(app, client, auth, booked_session):
    training_session, booking_ids = booked_session
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_ids[0]), LinkPurpose.MANAGE)
        db.session.commit()
    volunteer_pages = [
        "/",
        f"/sessions/{training_session.id}/register",
        "/lost-link",
        f"/my-booking/{token}",
        "/no-such-page",
    ]
    for path in volunteer_pages:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert response.headers["Cache-Control"] == "no-store", path

    auth.login("admin")
    staff_pages = ["/manage/sessions/", f"/manage/sessions/{training_session.id}/roster", "/manage/exports/"]
    for path in staff_pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["Content-Encoding"] == "gzip", path
    fragment = client.get(
        f"/manage/sessions/{training_session.id}/roster?search=Volunteer",
        headers={"HX-Request": "true", "HX-Target": "roster-results"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("filename", "mimetype"), [("css/app.min.css", "text/css"), ("js/htmx.min.js", "text/javascript")]
)
def test_static_files_are_versioned_compressed_and_cached_for_a_year(client, filename, mimetype):
    page = client.get("/")
    [url] = re.findall(rf'"(/static/{re.escape(filename)}\?v=[0-9a-f]{{12}})"', page.text)

    response = client.get(url, headers={"Accept-Encoding": "gzip"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert response.mimetype == mimetype
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "no-store" not in response.headers["Cache-Control"]
    assert body(response) == (STATIC / filename).read_bytes()
    assert response.wire_size < len((STATIC / filename).read_bytes()) / 2


def test_a_compressed_static_file_read_to_the_end_is_closed_even_if_the_response_is_not(client):
    url = re.search(r'"(/static/css/app\.min\.css\?v=[0-9a-f]{12})"', client.get("/").text).group(1)
    response = client.get(url, headers={"Accept-Encoding": "br"}, buffered=False)
    assert response.headers["Content-Encoding"] == "br"

    data = b"".join(response.response)  # as a server sends it; the test never closes the response

    assert brotli.decompress(data) == (STATIC / "css/app.min.css").read_bytes()
    del response
    gc.collect()  # an unclosed file would warn here, and warnings are errors
