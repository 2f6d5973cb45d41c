"""A volunteer on a phone: find a session, register, check answers, manage and cancel the booking.

Every page is checked with axe-core, and no page may make a request to another host (see conftest.py).
"""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CONFIDENCE = "How confident do you feel"
KNOWLEDGE = "How well do you know where to signpost"


def status_of_booking(page: Page):
    return page.locator(".nhsuk-summary-list__row", has=page.get_by_text("Status", exact=True)).locator("dd")


def session_card(page: Page, status_label: str):
    return page.locator("li.app-session-card").filter(has=page.get_by_text(status_label, exact=True))


def fill_registration(page: Page, *, name="Priya Patel", email="priya@example.org", role="Library assistant"):
    page.get_by_label("Full name", exact=True).fill(name)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Organisation", exact=True).select_option(label="Carers Oxfordshire")
    page.get_by_label("Your role", exact=True).fill(role)
    page.get_by_role("group", name="Which area do you mainly work or volunteer in?").get_by_label("Oxford City").check()
    page.get_by_role("group", name=CONFIDENCE).get_by_label("7", exact=True).check()
    page.get_by_role("group", name=KNOWLEDGE).get_by_label("0", exact=True).check()
    page.get_by_label("I have read the privacy notice").check()


def open_start_page_and_pick(page: Page, assert_accessible, *, status_label: str, link_name: str):
    page.goto("/")
    expect(page).to_have_title(re.compile(r"^Making Every Contact Count"))
    assert_accessible(page)
    session_card(page, status_label).get_by_role("link", name=link_name).click()


def test_volunteer_registers_checks_answers_and_cancels_with_javascript(
    page: Page, assert_accessible, screenshot, make_training_session, make_booking
):
    make_training_session(days_ahead=30, capacity=10)
    full = make_training_session(days_ahead=40, capacity=1)
    make_booking(full.id)

    open_start_page_and_pick(page, assert_accessible, status_label="Open", link_name="Register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Register for a training session")
    assert_accessible(page)
    screenshot(page, "register-390")

    fill_registration(page)
    page.get_by_role("button", name="Continue").click()
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

    page.get_by_role("button", name="Register").click()
    expect(page.locator(".nhsuk-panel")).to_contain_text("Registration complete")
    expect(page.get_by_text("priya@example.org")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Go to your booking").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
    expect(status_of_booking(page)).to_have_text("Booked")
    assert_accessible(page)
    screenshot(page, "my-booking-390")

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("link", name="Cancel booking").click()
    expect(status_of_booking(page)).to_have_text("Cancelled")
    expect(page.get_by_text("Your booking is cancelled.")).to_be_visible()
    assert dialogs == ["Cancel your booking? Your place goes to the next person waiting."]
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


def test_volunteer_registers_and_cancels_without_javascript(
    nojs_page: Page, assert_accessible, make_training_session
):
    page = nojs_page
    make_training_session(days_ahead=30, capacity=10)

    open_start_page_and_pick(page, assert_accessible, status_label="Open", link_name="Register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Register for a training session")
    assert_accessible(page)
    fill_registration(page, name="Alex Smith", email="alex@example.org")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/register/check$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
    assert_accessible(page)

    page.get_by_role("button", name="Register").click()
    expect(page.locator(".nhsuk-panel")).to_contain_text("Registration complete")
    assert_accessible(page)

    page.get_by_role("link", name="Go to your booking").click()
    expect(status_of_booking(page)).to_have_text("Booked")
    assert_accessible(page)

    page.get_by_role("link", name="Cancel booking").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Are you sure you want to cancel your booking?")
    assert_accessible(page)
    page.get_by_role("button", name="Yes, cancel my booking").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your booking")
    expect(status_of_booking(page)).to_have_text("Cancelled")
    expect(page.get_by_text("Your booking is cancelled.")).to_be_visible()
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
