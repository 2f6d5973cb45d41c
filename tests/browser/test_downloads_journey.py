"""Every download, in a real browser, through the served app (gunicorn, with the browser's own
`Accept-Encoding: gzip, deflate, br, zstd`): a coordinator downloads the trainer's roster CSV, and an evaluator
downloads every file listed on /manage/exports/, and the evaluator pack for one session with JavaScript on and off.
Each saved file is opened and read: the header row, a row we know, and the formula guard (a CSV cell that a
spreadsheet would run starts with a quote; an XLSX text cell holds the text as typed, since a text cell never
runs)."""

import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from mecc_volunteer.models import BookingStatus, Survey
from mecc_volunteer.templating import format_date, format_time
from tests.browser.helpers import sign_in
from tests.helpers import read_csv

pytestmark = pytest.mark.browser

# Text a spreadsheet would take for a formula (OWASP "CSV injection"), as volunteers might type it.
FORMULA_NAME = '=HYPERLINK("https://example.org","Sam")'
PHONE_LIKE = "+44 7700 900123 is the number I will give out"
FORMULA_COMMENT = "=1+2, then more time for questions"
DICTIONARY_HEADERS = ["column", "question", "scale", "versions", "concept", "scale_key"]


def download(page: Page, link: Locator, folder: Path) -> Path:
    """Click a download link and save the file; fails with the server's answer if no download starts.
    (Chromium asks for downloads with `Accept-Encoding: gzip, deflate, br, zstd`, as for pages. A link with
    the `download` attribute is fetched by the browser itself, and the page sees no response for it: a 5xx
    there shows as no download here, and fails the test in `live_url`.)"""
    seen = []

    def record(response):
        seen.append(f"{response.status} {response.url}")

    page.on("response", record)
    try:
        with page.expect_download(timeout=10_000) as started:
            link.click()
    except PlaywrightTimeout:
        raise AssertionError(f"clicking {link} started no download; the page saw: {seen}") from None
    finally:
        page.remove_listener("response", record)
    file = started.value
    assert file.failure() is None, f"the download of {file.url} failed: {file.failure()}"
    path = folder / file.suggested_filename
    file.save_as(path)
    return path


# --- The trainer's roster ---------------------------------------------------------------------------------


def test_a_coordinator_downloads_the_trainer_roster_csv(
    page: Page, auth, tmp_path, make_training_session, make_volunteer, make_booking
):
    training_session = make_training_session(days_ahead=20)
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Zoë Ångström"))
    make_booking(training_session.id, volunteer_id=make_volunteer(name=FORMULA_NAME))
    make_booking(training_session.id, BookingStatus.CANCELLED, volunteer_id=make_volunteer(name="Gone Away"))

    sign_in(page, auth.create("coordinator"))
    page.goto(f"/manage/sessions/{training_session.id}/roster")
    saved = download(page, page.get_by_role("link", name="Download roster (CSV)"), tmp_path)
    rows = read_csv(saved)

    # The name the browser saved it under (tmp_path also holds the test app's instance folder).
    assert re.fullmatch(r"roster-\d{4}-\d{2}-\d{2}\.csv", saved.name)
    assert rows[0] == ["Name", "Organisation", "Status"]
    assert ["Zoë Ångström", "Oxfordshire Library Service", "Booked"] in rows
    assert ["'" + FORMULA_NAME, "Oxfordshire Library Service", "Booked"] in rows, rows
    assert len(rows) == 3, "people with a place only: the cancelled booking is left out"


# --- The evaluator's downloads ----------------------------------------------------------------------------


@pytest.fixture
def answered(app, make_training_session, make_booking, make_volunteer):
    """One attended booking that answered the baseline and the after-session survey, with free text that
    looks like formulas."""
    from tests.helpers import store_answers as answer

    training_session = make_training_session(days_ahead=-3)
    booking_id = make_booking(training_session.id, BookingStatus.ATTENDED, volunteer_id=make_volunteer())
    answer(app, booking_id, Survey.BASELINE, confidence=3, knowledge=4)
    answer(
        app,
        booking_id,
        Survey.AFTER_SESSION,
        respond=True,
        confidence=8,
        knowledge=7,
        overall="very_good",
        relevant="agree",
        intention="strongly_agree",
        online_format="well",
        do_differently=PHONE_LIKE,
        improve=FORMULA_COMMENT,
    )
    return {"date": training_session.starts_at.date().isoformat(), "session": training_session}


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


def check_responses_csv(path: Path, answered) -> None:
    rows = read_csv(path)
    header = rows[0]
    assert header[: len(FIXED)] == FIXED
    assert header[len(FIXED)] == "baseline.instrument_version"
    assert "after_session.improve" in header
    assert "after_session.confidence_before" in header  # a version 2 question, empty for this version 1 answer
    assert len(rows) == 2, rows
    row = dict(zip(header, rows[1], strict=True))
    assert row["session_date"] == answered["date"]
    assert row["organisation"] == "Oxfordshire Library Service"
    assert (row["booking_status"], row["after_session.instrument_version"]) == ("attended", "1")
    assert (row["baseline.confidence"], row["after_session.confidence"]) == ("3", "8")
    assert row["after_session.confidence_before"] == ""
    assert row["after_session.overall"] == "very_good"
    assert row["after_session.do_differently"] == "'" + PHONE_LIKE
    assert row["after_session.improve"] == "'" + FORMULA_COMMENT


def check_dictionary_csv(path: Path, answered) -> None:
    rows = read_csv(path)
    assert rows[0] == DICTIONARY_HEADERS
    columns = {row[0]: row for row in rows[1:]}
    assert columns["after_session.confidence_before"][3] == "2"  # the versions that asked it
    assert columns["respondent"][1].startswith("Pseudonymous respondent code")
    assert columns["after_session.improve"][1] == "What would improve this session?"
    assert not [row for row in rows if row[1].startswith(("=", "+", "-", "@"))], "nothing in it looks like a formula"


def check_responses_xlsx(path: Path, answered) -> None:
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["Responses", "Data dictionary", "About"]
    about = {row[0]: row[1] for row in workbook["About"].iter_rows(values_only=True)}
    assert about["Rows"] == "1"
    header = [cell.value for cell in next(workbook["Responses"].iter_rows())]
    # Read only, a row ends at its last cell with a value: max_col fills in the empty ones after it.
    rows = list(workbook["Responses"].iter_rows(max_col=len(header)))
    assert header[: len(FIXED)] == FIXED
    assert len(rows) == 2
    row = dict(zip(header, rows[1], strict=True))
    assert row["session_date"].value == answered["date"]
    assert (row["baseline.confidence"].value, row["after_session.confidence"].value) == (3, 8)
    # Text cells, exactly as typed: no formula, and no visible quote in front.
    for key, typed in (("after_session.do_differently", PHONE_LIKE), ("after_session.improve", FORMULA_COMMENT)):
        assert (row[key].data_type, row[key].value) == ("s", typed)
    dictionary = [[cell.value for cell in r] for r in workbook["Data dictionary"].iter_rows()]
    assert dictionary[0] == DICTIONARY_HEADERS
    workbook.close()


PACK_FILES = ["responses.csv", "responses.xlsx", "data_dictionary.csv", "method_note.txt"]


def check_pack(path: Path, answered) -> None:
    """The pack holds the same three files as the links beside it, and the method note."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        # The four files, with the pilot review's tables (tables/*.csv) before the method note.
        assert [name for name in names if not name.startswith("tables/")] == PACK_FILES
        assert any(name.startswith("tables/") for name in names)
        assert archive.testzip() is None
        folder = path.parent / "unpacked"
        archive.extractall(folder)
    check_responses_csv(folder / "responses.csv", answered)
    check_responses_xlsx(folder / "responses.xlsx", answered)
    check_dictionary_csv(folder / "data_dictionary.csv", answered)
    note = (folder / "method_note.txt").read_text(encoding="utf-8")
    assert "Rows in responses.csv: 1" in note
    assert "any group of fewer than 5 people shows 'fewer than 5'" in note


CHECKS = {
    "Evaluator pack (ZIP)": ("evaluator-pack", ".zip", check_pack),
    "Responses (CSV)": ("responses", ".csv", check_responses_csv),
    "Responses and data dictionary (XLSX)": ("responses", ".xlsx", check_responses_xlsx),
    "Data dictionary (CSV)": ("data-dictionary", ".csv", check_dictionary_csv),
}


def test_an_evaluator_downloads_every_file_on_the_downloads_page(
    page: Page, auth, tmp_path, answered, assert_accessible
):
    sign_in(page, auth.create("evaluator"))
    page.goto("/manage/exports/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Download the feedback")
    links = page.get_by_role("heading", name="Download", exact=True).locator("xpath=following-sibling::ul[1]//a")
    names = [name.strip() for name in links.all_inner_texts()]
    assert names == list(CHECKS), f"a download without checks here, one missing, or the pack not first: {names}"

    problems = []  # every file is tried, and the test reports each one that is wrong
    for name in names:
        stem, suffix, check = CHECKS[name]
        folder = tmp_path / stem / suffix.lstrip(".")
        folder.mkdir(parents=True)
        try:
            path = download(page, page.get_by_role("link", name=name, exact=True), folder)
            assert path.name.startswith(f"mecc-{stem}-"), path.name
            assert path.suffix == suffix, path.name
            check(path, answered)
        except AssertionError as error:
            problems.append(f"{name}: {error}")
    assert not problems, "\n".join(problems)

    page.reload()
    recent = page.locator("table", has_text="Who").locator("tbody tr")
    expect(recent).to_have_count(len(CHECKS))
    # The recent downloads table scrolls sideways on a phone: its box is a region the keyboard can reach.
    assert_accessible(page)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_an_evaluator_downloads_the_evaluator_pack_for_one_session(
    request, javascript, auth, tmp_path, answered, make_training_session, make_booking, assert_accessible
):
    page: Page = request.getfixturevalue("page" if javascript else "nojs_page")
    other = make_training_session(days_ahead=-10)
    make_booking(other.id, BookingStatus.DID_NOT_ATTEND)  # another session's row: filtered out
    training_session = answered["session"]

    sign_in(page, auth.create("evaluator"))
    page.goto("/manage/exports/")
    page.get_by_label("Session", exact=True).select_option(str(training_session.id))
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"\?session={training_session.id}&"))
    if javascript:
        assert_accessible(page)
    path = download(page, page.get_by_role("link", name="Evaluator pack (ZIP)", exact=True), tmp_path)

    assert re.fullmatch(rf"mecc-evaluator-pack-\d{{4}}-\d{{2}}-\d{{2}}-session-{training_session.id}\.zip", path.name)
    check_pack(path, answered)
    with zipfile.ZipFile(path) as archive:
        note = archive.read("method_note.txt").decode("utf-8")
        about = load_workbook(io.BytesIO(archive.read("responses.xlsx")), read_only=True)["About"]
        filters = {row[0]: row[1] for row in about.iter_rows(values_only=True)}["Filters"]
    words = f"Session: {format_date(training_session.starts_at)}, {format_time(training_session.starts_at)}"
    assert filters == f"{words} (Volunteer training)"
    assert f"Filters: {words} (Volunteer training)" in note
    assert f"Filters as a query: session={training_session.id}" in note
