"""An evaluator on a phone prints the board report: from the pilot review, follow the board report link, choose a
period, with JavaScript on and off (axe-core finds nothing either way); printed, the period form and the navigation
are gone, and the browser saves it as a PDF."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from mecc_volunteer.models import BookingStatus, Survey
from tests.browser.helpers import assert_no_sideways_scroll, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def pilot(app, auth, make_training_session, make_booking):
    from tests.helpers import store_answers as answer

    sessions = [make_training_session(days_ahead=-20), make_training_session(days_ahead=-6)]
    for training_session, people in zip(sessions, (6, 5), strict=True):
        for _i in range(people):
            booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
            answer(app, booking_id, Survey.BASELINE, confidence=3, knowledge=4)
            answer(
                app,
                booking_id,
                Survey.AFTER_SESSION,
                respond=True,
                confidence=6,
                knowledge=7,
                overall="very_good",
                relevant="agree",
                intention="strongly_agree",
                online_format="well",
            )
    return {"email": auth.create("evaluator"), "second_day": sessions[1].starts_at.date()}


def choose_period(page, pilot) -> str:
    """Choose the days around the second session; returns the period as the report words it."""
    start, end = pilot["second_day"] - timedelta(days=1), pilot["second_day"] + timedelta(days=1)
    page.get_by_label("From", exact=True).fill(start.isoformat())
    page.get_by_label("To", exact=True).fill(end.isoformat())
    page.get_by_role("button", name="Show the report").click()
    return f"Sessions from {start.day} {start:%B %Y} to {end.day} {end:%B %Y}"


def test_evaluator_prints_the_board_report_for_a_period(page, pilot, assert_accessible):
    sign_in(page, pilot["email"])
    page.get_by_role("link", name="Pilot review").click()
    page.get_by_role("link", name="Board report for these filters (to print or save as PDF)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Board report")
    expect(page.get_by_text("All sessions to date")).to_be_visible()
    assert_accessible(page)

    period = choose_period(page, pilot)
    expect(page.get_by_text(period)).to_be_visible()
    funnel = page.get_by_role("table", name="The funnel for sessions held, each stage as a rate of who could reach it")
    expect(funnel.locator("tbody tr").first).to_contain_text("Registered5")
    expect(page.get_by_role("img", name="People who attended, by type of organisation")).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.emulate_media(media="print")
    expect(page.get_by_label("From", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Show the report")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Staff")).to_be_hidden()
    expect(page.locator("footer")).to_be_hidden()
    expect(page.get_by_role("heading", name="1. Reach")).to_be_visible()
    expect(page.get_by_text(period)).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 10_000


def test_evaluator_chooses_the_period_without_javascript(nojs_page, pilot, assert_accessible):
    page = nojs_page
    sign_in(page, pilot["email"])
    page.goto("/manage/review/")
    page.get_by_role("link", name="Board report for these filters (to print or save as PDF)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Board report")
    period = choose_period(page, pilot)
    expect(page.get_by_text(period)).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.get_by_label("From", exact=True).fill("2026-02-01")
    page.get_by_label("To", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Show the report").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text(
        "The end of the date range must be on or after its start"
    )
    assert page.title().startswith("Error: ")
    assert_accessible(page)
