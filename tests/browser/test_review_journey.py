"""An evaluator on a phone: sign in, open the pilot review, filter it with htmx (the results update in
place and the address changes) and without JavaScript (a plain GET form). Every state is checked with
axe-core, and the page never scrolls sideways except inside a table's own wrapper."""

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
        for i in range(people):
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
                improve=f"Comment {i}",
            )
    return {"email": auth.create("evaluator"), "sessions": [s.id for s in sessions]}


def test_evaluator_filters_the_pilot_review_on_a_phone(page, pilot, assert_accessible):
    sign_in(page, pilot["email"])
    page.get_by_role("link", name="Pilot review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pilot review")
    expect(
        page.get_by_role("img", name="The funnel: each stage as a percentage of the people who could reach it")
    ).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Session", exact=True).select_option(str(pilot["sessions"][1]))
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(
        f"{page.url.split('?')[0]}?session={pilot['sessions'][1]}&from=&to=&organisation=&kind=&q="
    )
    expect(page.locator("#review-results table").first.locator("tbody tr").first).to_contain_text("5")
    assert page.evaluate("window.__sameDocument === true"), "the results were not updated in place"
    assert_accessible(page)

    page.get_by_label("Sessions from", exact=True).fill("2026-02-01")
    page.get_by_label("Sessions to", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text(
        "The end of the date range must be on or after its start"
    )
    assert_accessible(page)


def test_evaluator_searches_comments_without_javascript(nojs_page, pilot, assert_accessible):
    page = nojs_page
    sign_in(page, pilot["email"])
    page.goto("/manage/review/")
    page.get_by_label("Search comments", exact=True).fill("comment 3")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("2 comments containing")).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)
