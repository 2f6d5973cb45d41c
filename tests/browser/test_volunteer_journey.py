"""A volunteer on a phone, with JavaScript and without: find a session, register, check answers, open My
booking from the emailed link, confirm the e-learning, move and cancel the booking; the waiting list; the
error summary.

Every page is checked with axe-core (at the phone's width and at 360 px), and no page may make a request to
another host (see conftest.py).
"""

import re
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect

from mecc_volunteer.models import LONDON
from mecc_volunteer.templating import format_date, format_session_time
from tests.browser.helpers import fill_registration, link_in
from tests.helpers import text_of

pytestmark = pytest.mark.browser

CONFIDENCE = "How confident do you feel"
KNOWLEDGE = "How well do you know where to signpost"


def status_of_booking(page: Page):
    return page.locator(".nhsuk-summary-list__row", has=page.get_by_text("Status", exact=True)).locator("dd")


def session_of_booking(page: Page):
    return page.locator(".nhsuk-summary-list__row", has=page.get_by_text("Session", exact=True)).locator("dd")


def session_card(page: Page, status_label: str):
    return page.locator("li.app-session-card").filter(has=page.get_by_text(status_label, exact=True))


def open_start_page_and_pick(page: Page, assert_accessible, *, status_label: str, link_name: str):
    page.goto("/")
    expect(page).to_have_title(re.compile(r"^Making Every Contact Count"))
    assert_accessible(page)
    session_card(page, status_label).get_by_role("link", name=link_name).click()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_volunteer_registers_confirms_the_elearning_moves_and_cancels(
    request, javascript, assert_accessible, screenshot, mailbox, make_training_session, make_booking
):
    """The whole journey on a phone, with JavaScript and without: register (the form, Check your answers and
    a Change link, the confirmation), open My booking from the emailed link, confirm the e-learning, move to
    another session, and cancel."""
    page: Page = request.getfixturevalue("page" if javascript else "nojs_page")
    suffix = "js" if javascript else "nojs"
    first = make_training_session(days_ahead=30, capacity=10)
    later = make_training_session(days_ahead=45, capacity=10)
    full = make_training_session(days_ahead=40, capacity=1)
    make_booking(full.id)

    # 1. The start page, and Register for the first session.
    page.goto("/")
    expect(page).to_have_title(re.compile(r"^Making Every Contact Count"))
    assert_accessible(page)
    page.get_by_role("link", name=f"Register for {format_date(first.starts_at)}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register for a training session")
    assert_accessible(page)
    screenshot(page, f"register-{suffix}")

    # 2. The form, Check your answers, a Change link back to the form and Continue again.
    fill_registration(page)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/register/check$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
    expect(page).to_have_title(re.compile(r"^Check your answers"))
    expect(page.locator(".nhsuk-summary-list__row", has_text="Confidence")).to_contain_text("7 out of 10")
    assert_accessible(page)

    page.get_by_role("link", name="Change role").click()
    expect(page.get_by_label("Your role", exact=True)).to_have_value("Library assistant")
    expect(page.get_by_role("group", name=CONFIDENCE).get_by_label("7", exact=True)).to_be_checked()
    expect(page.get_by_label("I have read the privacy notice")).to_be_checked()
    assert_accessible(page)
    page.get_by_label("Your role", exact=True).fill("Volunteer driver")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
    expect(page.locator(".nhsuk-summary-list__row", has_text="Role")).to_contain_text("Volunteer driver")
    assert_accessible(page)

    # 3. Register: the confirmation page, then the email with the personal link.
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".nhsuk-panel")).to_contain_text("Registration complete")
    expect(page.get_by_text("priya@example.org")).to_be_visible()
    assert_accessible(page)
    screenshot(page, f"registered-{suffix}")

    confirmation = mailbox.wait_for(to="priya@example.org", subject="You're booked")
    page.goto(link_in(confirmation, "/my-booking/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
    expect(status_of_booking(page)).to_have_text("Booked")
    expect(session_of_booking(page)).to_contain_text(format_session_time(first.starts_at, first.ends_at))
    assert_accessible(page)
    screenshot(page, f"my-booking-{suffix}")

    # 4. Confirm the e-learning.
    page.get_by_role("link", name="Confirm you have done the e-learning").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm you have done the e-learning")
    assert_accessible(page)
    today = datetime.now(LONDON).date()
    completed = page.get_by_role("group", name="When did you complete it?")
    completed.get_by_label("Day", exact=True).fill(str(today.day))
    completed.get_by_label("Month", exact=True).fill(str(today.month))
    completed.get_by_label("Year", exact=True).fill(str(today.year))
    page.get_by_label("I confirm that I have completed the MECC e-learning module").check()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
    expect(page.locator(".app-flash")).to_contain_text("Thank you: your e-learning is confirmed.")
    expect(page.get_by_text(f"You completed the e-learning on {format_date(today)}.")).to_be_visible()
    assert_accessible(page)

    # 5. Move to the later session.
    page.get_by_role("link", name="Move to another session").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Move your booking")
    assert_accessible(page)
    page.get_by_label(format_session_time(later.starts_at, later.ends_at), exact=True).check()
    page.get_by_role("button", name="Move my booking").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
    expect(page.locator(".app-flash")).to_contain_text("Your booking has moved.")
    expect(session_of_booking(page)).to_contain_text(format_session_time(later.starts_at, later.ends_at))
    expect(status_of_booking(page)).to_have_text("Booked")
    assert_accessible(page)
    moved = mailbox.wait_for(to="priya@example.org", subject="has moved")
    assert format_session_time(later.starts_at, later.ends_at) in text_of(moved)

    # 6. Cancel: with JavaScript, confirm in a dialog and the booking updates in place; without, a page asks.
    if javascript:
        dialogs = []
        page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        page.get_by_role("link", name="Cancel booking").click()
        expect(status_of_booking(page)).to_have_text("Cancelled")
        assert dialogs == ["Cancel your booking? Your place goes to the next person waiting."]
    else:
        page.get_by_role("link", name="Cancel booking").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Are you sure you want to cancel your booking?")
        assert_accessible(page)
        page.get_by_role("button", name="Yes, cancel my booking").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
        expect(status_of_booking(page)).to_have_text("Cancelled")
    expect(page.get_by_text("Your booking is cancelled.")).to_be_visible()
    assert_accessible(page)


@pytest.mark.parametrize(
    "javascript",
    [True, False],
    ids=["javascript", "no-javascript"],
)
def test_empty_registration_shows_an_error_summary_that_links_to_each_field(
    request, javascript, assert_accessible, make_training_session
):
    page: Page = request.getfixturevalue("page" if javascript else "nojs_page")
    training_session = make_training_session(days_ahead=30, capacity=10)
    page.goto(f"/sessions/{training_session.id}/register")
    assert_accessible(page)

    page.get_by_role("button", name="Continue").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    expect(summary.get_by_role("link", name="Enter your full name")).to_have_attribute("href", "#name")
    expect(summary.get_by_role("link", name="Select how confident you feel, from 0 to 10")).to_have_attribute(
        "href", "#baseline_confidence"
    )
    expect(summary.get_by_role("link", name="Confirm that you have read the privacy notice")).to_be_visible()
    assert_accessible(page)

    summary.get_by_role("link", name="Enter your email address").click()
    expect(page.get_by_label("Email address", exact=True)).to_be_focused()
    summary.get_by_role("link", name="Select how confident you feel, from 0 to 10").click()
    expect(page.get_by_role("group", name=CONFIDENCE).get_by_label("0", exact=True)).to_be_focused()
    summary.get_by_role("link", name="Confirm that you have read the privacy notice").click()
    expect(page.get_by_label("I have read the privacy notice")).to_be_focused()

    assert page.title().startswith("Error: "), f"the title is {page.title()!r}"


def test_volunteer_joins_the_waiting_list_of_a_full_session(
    page: Page, assert_accessible, make_training_session, make_booking
):
    full = make_training_session(days_ahead=30, capacity=1)
    make_booking(full.id)

    open_start_page_and_pick(
        page, assert_accessible, status_label="Now full – join the waiting list", link_name="Join the waiting list"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Join the waiting list")
    assert_accessible(page)
    fill_registration(page, name="Sam Okafor", email="sam@example.org")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
    assert_accessible(page)

    page.get_by_role("button", name="Join the waiting list").click()
    panel = page.locator(".nhsuk-panel")
    expect(panel.get_by_role("heading", level=1)).to_have_text("You are on the waiting list")
    expect(panel).to_contain_text("Your position: 1")
    assert_accessible(page)

    page.get_by_role("link", name="Go to your booking").click()
    expect(status_of_booking(page)).to_have_text("On the waiting list, position 1")
    assert_accessible(page)


def test_start_and_registration_pages_do_not_scroll_sideways_at_360px(
    page: Page, assert_accessible, make_training_session
):
    training_session = make_training_session(days_ahead=30, capacity=10)
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/", f"/sessions/{training_session.id}/register"):
        page.goto(path)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 360, f"{path} is {scroll_width}px wide at a 360px viewport"
        assert_accessible(page)
