"""Long downloads (issue 11): above DOWNLOAD_PREPARE_ABOVE_ROWS rows the responses CSV and XLSX and the evaluator
pack are prepared by `flask jobs run` for the evaluator who asked, offered on the downloads page when ready,
recorded when downloaded, and deleted when they expire. The limit is set low here (3 rows) so a
small pilot stands for a large one. bench/long_downloads.py has the figures."""

import io
import threading
import zipfile
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from mecc_volunteer.exports import prepared
from mecc_volunteer.extensions import db
from mecc_volunteer.models import BookingStatus, DownloadRecord, utcnow
from mecc_volunteer.models.prepared_download import PreparedDownload, PreparedDownloadPart, PreparedStatus

ROWS = 4
XLSX = "responses.xlsx"
PACK = "evaluator_pack.zip"


@pytest.fixture
def app_config():
    return {"DOWNLOAD_PREPARE_ABOVE_ROWS": ROWS - 1, "DOWNLOAD_STREAM_CSV_UP_TO_ROWS": ROWS - 1}


@pytest.fixture
def held(make_training_session, make_booking):
    """A session that has taken place, with ROWS attendees: one more than may be made while the browser waits."""
    training_session = make_training_session(days_ahead=-3, capacity=10)
    for _ in range(ROWS):
        make_booking(training_session.id, status=BookingStatus.ATTENDED)
    return training_session


def prepared_rows(app) -> list[PreparedDownload]:
    with app.app_context():
        rows = db.session.scalars(sa.select(PreparedDownload).order_by(PreparedDownload.id)).all()
        db.session.expunge_all()
        return list(rows)


def records(app) -> list[tuple[str, int]]:
    with app.app_context():
        return [(r.export_name, r.row_count) for r in db.session.scalars(sa.select(DownloadRecord))]


def download_link(page: str) -> str:
    start = page.index('href="/manage/exports/prepared/') + len('href="')
    return page[start : page.index('"', start)]


def test_a_large_xlsx_is_prepared_by_the_jobs_then_downloaded_by_the_evaluator_who_asked(
    app, client, auth, runner, held
):
    auth.login("evaluator")
    page = client.get("/manage/exports/").text
    assert "Prepare the responses and data dictionary (XLSX)" in page
    assert "Prepare the evaluator pack (ZIP)" in page
    assert "Prepare the responses (CSV)" in page
    assert 'href="/manage/exports/responses.xlsx' not in page
    assert 'href="/manage/exports/responses.csv' not in page
    assert 'href="/manage/exports/data-dictionary.csv' in page  # a few dozen rows, whatever the pilot

    # Straight to the XLSX's address (a bookmark): back to the page, nothing made or recorded.
    direct = client.get("/manage/exports/responses.xlsx")
    assert direct.status_code == 303
    assert direct.headers["Location"].startswith("/manage/exports/")
    assert "too large to make while you wait" in client.get(direct.headers["Location"]).text

    asked = client.post("/manage/exports/prepare", data={"export": XLSX})
    assert asked.status_code == 303
    waiting = client.get(asked.headers["Location"]).text
    assert "is being prepared" in waiting
    assert "Being prepared" in waiting
    assert 'hx-trigger="every 5s"' in waiting
    assert records(app) == []

    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("; downloads prepared 1, failed 0.") or (
        "downloads prepared 1, failed 0" in result.output
    )

    ready = client.get("/manage/exports/").text
    assert "Being prepared" not in ready
    assert 'hx-trigger="every 5s"' not in ready
    assert f"({ROWS} rows," in ready
    response = client.get(download_link(ready))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="mecc-responses-' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_data()
    assert int(response.headers["Content-Length"]) == len(data)
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows())) == ROWS + 1  # the header and one row a booking
    assert records(app) == [(XLSX, ROWS)]  # recorded when downloaded, as every download is


def test_the_pack_is_prepared_too_and_holds_every_file(app, client, auth, runner, held):
    auth.login("evaluator")
    client.post("/manage/exports/prepare", data={"export": PACK})
    assert runner.invoke(args=["jobs", "run"]).exit_code == 0
    response = client.get(download_link(client.get("/manage/exports/").text))
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.get_data())).namelist()
    assert {"responses.csv", "responses.xlsx", "data_dictionary.csv", "method_note.txt"} <= set(names)
    assert records(app) == [(PACK, ROWS)]


def test_a_prepared_file_is_only_for_the_evaluator_who_asked(app, client, auth, runner, held):
    auth.login("evaluator")
    client.post("/manage/exports/prepare", data={"export": XLSX})
    runner.invoke(args=["jobs", "run"])
    link = download_link(client.get("/manage/exports/").text)

    other = app.test_client()
    auth.login("evaluator", client=other)
    assert "Your prepared downloads" not in other.get("/manage/exports/").text
    assert other.get(link).status_code == 404
    assert records(app) == []


def test_the_filters_go_with_the_request_and_asking_twice_prepares_once(app, client, auth, runner, held):
    auth.login("evaluator")
    query = f"?session={held.id}"
    for _ in range(2):
        assert client.post(f"/manage/exports/prepare{query}", data={"export": XLSX}).status_code == 303
    client.post("/manage/exports/prepare", data={"export": XLSX})  # no filters: another file
    rows = prepared_rows(app)
    assert [r.filters for r in rows] == [{"session": str(held.id)}, {}]
    assert client.get("/manage/exports/").text.count("Being prepared.") == 2


def test_a_large_csv_is_prepared_too(app, client, auth, runner, held):
    auth.login("evaluator")
    assert client.get("/manage/exports/responses.csv").status_code == 303
    client.post("/manage/exports/prepare", data={"export": "responses.csv"})
    runner.invoke(args=["jobs", "run"])
    response = client.get(download_link(client.get("/manage/exports/").text))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.get_data().decode("utf-8-sig").count("\r\n") == ROWS + 1
    assert records(app) == [("responses.csv", ROWS)]


@pytest.mark.parametrize("export", ["", "roster.csv", "../../etc/passwd"])
def test_only_the_large_files_can_be_prepared(client, auth, held, export):
    auth.login("evaluator")
    assert client.post("/manage/exports/prepare", data={"export": export}).status_code == 400


def test_coordinators_cannot_ask_for_or_fetch_a_prepared_file(app, client, auth, held):
    auth.login("coordinator")
    assert client.post("/manage/exports/prepare", data={"export": XLSX}).status_code == 403
    assert client.get("/manage/exports/prepared/1").status_code == 403
    assert prepared_rows(app) == []


def test_two_jobs_runners_at_once_make_each_file_once(app, auth, held):
    email = auth.create("evaluator")
    with app.app_context():
        from mecc_volunteer.models import StaffUser

        staff_id = db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email))
        filters = prepared.filters_of(PreparedDownload(filters={}))
        prepared.request_download(staff_id, XLSX, filters)
        db.session.commit()
    results = []
    start = threading.Barrier(2)

    def run():
        with app.app_context():
            start.wait()
            results.append(prepared.prepare_due(utcnow()))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [(0, 0), (1, 0)]
    assert [r.status for r in prepared_rows(app)] == [PreparedStatus.READY]


def test_a_file_is_kept_in_pieces_and_sent_whole(app, client, auth, runner, held, monkeypatch):
    monkeypatch.setattr(prepared, "PART_SIZE", 1000)
    auth.login("evaluator")
    client.post("/manage/exports/prepare", data={"export": PACK})
    runner.invoke(args=["jobs", "run"])
    with app.app_context():
        pieces = db.session.scalar(sa.select(sa.func.count()).select_from(PreparedDownloadPart))
    response = client.get(download_link(client.get("/manage/exports/").text))
    data = response.get_data()
    assert pieces == -(-len(data) // 1000)
    assert pieces > 1
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_a_prepared_file_is_deleted_when_it_expires(app, client, auth, runner, held):
    auth.login("evaluator")
    client.post("/manage/exports/prepare", data={"export": XLSX})
    runner.invoke(args=["jobs", "run"])
    link = download_link(client.get("/manage/exports/").text)
    (row,) = prepared_rows(app)
    assert row.expires_at - row.ready_at == timedelta(hours=24)

    with app.app_context():
        prepared.prepare_due(row.expires_at + timedelta(seconds=1))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PreparedDownloadPart)) == 0
    assert prepared_rows(app) == []
    assert client.get(link).status_code == 404
    assert "Your prepared downloads" not in client.get("/manage/exports/").text


def test_a_file_that_cannot_be_made_says_so(app, client, auth, runner, held, monkeypatch):
    def broken(filters, now, file):
        raise RuntimeError("disk full")

    stem, extension, _, words = prepared.KINDS[XLSX]
    monkeypatch.setitem(prepared.KINDS, XLSX, (stem, extension, broken, words))
    auth.login("evaluator")
    client.post("/manage/exports/prepare", data={"export": XLSX})
    result = runner.invoke(args=["jobs", "run"])
    assert "downloads prepared 0, failed 1" in result.output
    assert "Could not be prepared" in client.get("/manage/exports/").text
    assert [r.status for r in prepared_rows(app)] == [PreparedStatus.FAILED]


def test_a_claim_left_by_a_runner_that_died_is_taken_again_later(app, auth, held):
    email = auth.create("evaluator")
    with app.app_context():
        from mecc_volunteer.models import StaffUser

        staff_id = db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email))
        download = prepared.request_download(staff_id, XLSX, prepared.filters_of(PreparedDownload(filters={})))
        download.status = PreparedStatus.PREPARING
        download.claimed_at = utcnow()
        db.session.commit()
        assert prepared.prepare_due(utcnow()) == (0, 0)
        assert prepared.prepare_due(utcnow() + prepared.STUCK_AFTER + timedelta(minutes=1)) == (1, 0)


def test_below_the_limit_the_files_are_made_while_the_browser_waits(app, client, auth, held):
    app.config["DOWNLOAD_PREPARE_ABOVE_ROWS"] = ROWS
    app.config["DOWNLOAD_STREAM_CSV_UP_TO_ROWS"] = ROWS
    auth.login("evaluator")
    page = client.get("/manage/exports/").text
    assert "Prepare the" not in page
    response = client.get("/manage/exports/responses.xlsx")
    assert response.status_code == 200
    response.close()
    assert records(app) == [(XLSX, ROWS)]
