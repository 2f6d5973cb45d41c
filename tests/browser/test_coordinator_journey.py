"""A coordinator on a phone and on a laptop: sign in, add a session, see a volunteer who registered on the
public pages, search the roster, record their e-learning, send the joining link, follow the email, and
record attendance with one tap (and with the plain form when JavaScript is off).

Every staff page is checked with axe-core at both sizes, and the session list and roster must not scroll
sideways on a phone except inside a table's own `.app-table-wrapper` (see conftest.py for the guards).
"""

import re
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from mecc_volunteer.models import LONDON, utcnow
from mecc_volunteer.templating import format_date, format_session_time
from tests.browser.helpers import enter_authenticator_code, fill_registration
from tests.helpers import STAFF_PASSWORD

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
JOINING_LINK = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_coordinator-journey%40thread.v2/0"
VIEWPORTS = ["phone", "laptop"]


@pytest.fixture
def laptop_page(new_page, browser_guard):
    """A laptop-sized page (1280 x 800) with JavaScript, on a fresh context made as conftest makes the phone."""
    context, page = new_page()
    page.set_viewport_size(LAPTOP)
    yield page
    context.close()
    browser_guard.check()


@pytest.fixture(params=VIEWPORTS)
def staff_page(request) -> Page:
    """The coordinator's page: the phone from conftest, or the laptop above."""
    return request.getfixturevalue("page" if request.param == "phone" else "laptop_page")


# --- Helpers -------------------------------------------------------------------------------------------

_SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    // Inside a wrapper that scrolls, an element scrolls with the table, unless it is positioned against
    // something outside the wrapper (then the wrapper does not clip it, and it widens the page).
    const wrapper = el.parentElement && el.parentElement.closest(".app-table-wrapper");
    const scrolls = wrapper && ["auto", "scroll"].includes(getComputedStyle(wrapper).overflowX);
    const escapes = el.offsetParent && wrapper && !wrapper.contains(el.offsetParent)
      && ["absolute", "fixed"].includes(getComputedStyle(el).position);
    if (scrolls && !escapes) continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      wide.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")} `
        + `(${Math.round(box.left)} to ${Math.round(box.right)})`);
    }
  }
  const wrappers = [...document.querySelectorAll(".app-table-wrapper")].map((w) => ({
    overflowing: w.scrollWidth > w.clientWidth, overflowX: getComputedStyle(w).overflowX }));
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10), wrappers};
}"""


def assert_no_sideways_scroll(page: Page) -> None:
    """On a phone the page itself never scrolls sideways; a wide table scrolls inside its wrapper."""
    if page.viewport_size["width"] > 400:
        return
    found = page.evaluate(_SIDEWAYS)
    assert found["scrollWidth"] <= found["width"], (
        f"{page.url} scrolls sideways: {found['scrollWidth']}px wide at {found['width']}px; "
        f"sticking out: {found['wide']}"
    )
    for wrapper in found["wrappers"]:
        if wrapper["overflowing"]:
            assert wrapper["overflowX"] in ("auto", "scroll"), f"a table is wider than its box on {page.url}"


def mark_document(page: Page) -> None:
    """Tag the current document, so that an htmx swap can be told apart from a page load."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), f"{page.url} was loaded again, not updated in place"


def sign_in(page: Page, email: str, password: str, assert_accessible) -> None:
    page.goto("/manage/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert_accessible(page)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code from your authenticator app")
    assert_accessible(page)
    enter_authenticator_code(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage the pilot")
    assert_accessible(page)


def roster_rows(page: Page):
    return page.locator("#roster-results tbody tr")


def register_on_the_public_pages(new_page) -> None:
    """A volunteer on their own phone (a second context, with JavaScript): start page, Register, Continue,
    Register."""
    context, volunteer = new_page()
    try:
        volunteer.goto("/")
        volunteer.locator("li.app-session-card").get_by_role("link", name="Register").click()
        expect(volunteer.get_by_role("heading", level=1)).to_have_text("Register for a training session")
        fill_registration(volunteer)
        volunteer.get_by_role("button", name="Continue").click()
        expect(volunteer.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
        volunteer.get_by_role("button", name="Register").click()
        expect(volunteer.locator(".nhsuk-panel")).to_contain_text("Registration complete")
    finally:
        context.close()


def started_session_with_two_people(make_training_session, make_volunteer, make_booking):
    """Attendance opens at the start: a session that began ten minutes ago, with two people booked."""
    started = make_training_session(starts_at=utcnow() - timedelta(minutes=10), capacity=10)
    sam = make_booking(started.id, volunteer_id=make_volunteer(name="Sam Okafor", email="sam@example.org"))
    alex = make_booking(started.id, volunteer_id=make_volunteer(name="Alex Smith", email="alex@example.org"))
    return started, sam, alex


def attendance_button(page: Page, label: str, name: str):
    return page.get_by_role("button", name=f"{label} for {name}", exact=True)


def attendance_cell(page: Page, booking_id: int):
    return page.locator(f"#booking-{booking_id} td").nth(1)


# --- The journey -----------------------------------------------------------------------------------------


def test_coordinator_adds_a_session_sees_the_registration_records_elearning_sends_links_and_marks_attendance(
    staff_page: Page,
    request,
    new_page,
    app,
    auth,
    mailbox,
    assert_accessible,
    screenshot,
    make_training_session,
    make_volunteer,
    make_booking,
):
    page = staff_page
    size = request.node.callspec.params["staff_page"]
    sign_in(page, auth.create("coordinator"), STAFF_PASSWORD, assert_accessible)

    # 1. Training sessions, then add one a month ahead.
    page.get_by_role("link", name="Training sessions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Training sessions")
    expect(page.get_by_text("No upcoming sessions.")).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.get_by_role("link", name="Add a session").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a session")
    assert_accessible(page)
    day = datetime.now(LONDON).date() + timedelta(days=30)
    date_group = page.get_by_role("group", name="Date")
    date_group.get_by_label("Day", exact=True).fill(str(day.day))
    date_group.get_by_label("Month", exact=True).fill(str(day.month))
    date_group.get_by_label("Year", exact=True).fill(str(day.year))
    page.get_by_label("Start time", exact=True).fill("10:30")
    page.get_by_label("End time", exact=True).fill("12:00")
    page.get_by_label("Number of places", exact=True).fill("10")
    page.get_by_label("Joining link (optional)", exact=True).fill(JOINING_LINK)
    page.get_by_role("button", name="Add session").click()

    expect(page).to_have_url(re.compile(r"/manage/sessions/\d+$"))
    session_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Volunteer training: {format_date(day)}")
    expect(page.locator(".app-flash")).to_contain_text("Session created.")
    when = page.locator(".nhsuk-summary-list__row", has=page.get_by_text("When", exact=True)).locator("dd")
    expect(when).to_have_text(f"{format_date(day)}, 10:30am to 12pm")
    assert_accessible(page)
    screenshot(page, f"session-detail-{size}")

    page.get_by_role("link", name="All sessions").click()
    listed = page.get_by_role("link", name=format_date(day))
    expect(listed).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)
    screenshot(page, f"session-list-{size}")
    listed.click()
    expect(page).to_have_url(re.compile(rf"/manage/sessions/{session_id}$"))

    # 2. Two people already booked, and a volunteer who registers on the public pages.
    for _ in range(2):
        make_booking(session_id)
    register_on_the_public_pages(new_page)

    page.get_by_role("link", name="Roster", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Roster for")
    expect(roster_rows(page)).to_have_count(3)
    expect(roster_rows(page).filter(has_text="Priya Patel")).to_contain_text("priya@example.org")
    assert_accessible(page)
    assert_no_sideways_scroll(page)
    screenshot(page, f"roster-{size}")

    mark_document(page)
    page.get_by_label("Search by name, email or organisation").fill("Priya")
    expect(page).to_have_url(re.compile(rf"/manage/sessions/{session_id}/roster\?(.*&)?q=Priya(&|$)"))
    expect(roster_rows(page)).to_have_count(1)
    expect(roster_rows(page)).to_contain_text("Priya Patel")
    expect(page.locator(".app-roster__summary")).to_contain_text("Showing 1 of 3 people.")
    assert_same_document(page)
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    # 3. Record the e-learning she did (she phoned), then send the joining link.
    page.get_by_role("link", name="Record e-learning for Priya Patel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record the e-learning for Priya Patel")
    assert_accessible(page)
    today = datetime.now(LONDON).date()
    completed = page.get_by_role("group", name="When did they complete it?")
    completed.get_by_label("Day", exact=True).fill(str(today.day))
    completed.get_by_label("Month", exact=True).fill(str(today.month))
    completed.get_by_label("Year", exact=True).fill(str(today.year))
    page.get_by_label("The volunteer has told me they completed the MECC e-learning module").check()
    page.get_by_role("button", name="Record e-learning").click()

    expect(page).to_have_url(re.compile(rf"/manage/sessions/{session_id}/roster\?q=Priya$"))
    expect(page.locator(".app-flash")).to_contain_text(
        f"E-learning recorded for Priya Patel: completed on {format_date(today)}."
    )
    priya = roster_rows(page).filter(has_text="Priya Patel")
    expect(priya.locator("td").nth(3).locator(".app-roster__date")).to_have_text(format_date(today))
    expect(priya.get_by_role("link", name="Record e-learning for Priya Patel")).to_have_count(0)
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.get_by_role("link", name="Back to the session").click()
    page.get_by_role("link", name="Send joining links").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Send the joining link")
    preview = page.locator(".nhsuk-card").filter(has_text="Subject:")
    expect(page.get_by_role("heading", name="The email")).to_be_visible()
    expect(preview).to_be_visible()
    expect(preview).to_contain_text(JOINING_LINK)
    expect(page.get_by_text("This is the email for")).to_contain_text("priya@example.org")
    assert_accessible(page)
    screenshot(page, f"joining-links-{size}")
    page.get_by_role("button", name="Send joining link to 1 person").click()

    expect(page).to_have_url(re.compile(rf"/manage/sessions/{session_id}/emails$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Email status")
    expect(page.locator(".app-flash")).to_contain_text("Joining link sent to 1 person.")
    joining_row = page.locator("#emails tbody tr").filter(has_text="Joining link")
    expect(joining_row).to_have_count(1)
    expect(joining_row).to_contain_text("priya@example.org")
    expect(joining_row.locator(".nhsuk-tag")).to_have_text(re.compile(r"^(Queued|Sending|Sent)$"))
    assert_accessible(page)
    # The server sends it to the run's SMTP server after the response.
    joining_email = mailbox.wait_for(to="priya@example.org", subject="joining link")
    assert JOINING_LINK in joining_email.get_body(("plain",)).get_content()
    page.reload()
    expect(joining_row.locator(".nhsuk-tag")).to_have_text("Sent")
    assert_accessible(page)
    screenshot(page, f"emails-{size}")

    page.goto(f"/manage/sessions/{session_id}/joining-links")
    already = page.locator(".nhsuk-summary-list__row", has=page.get_by_text("Already sent the current link"))
    expect(already.locator("dd")).to_have_text("1")
    expect(page.get_by_text("There is no one to send it to now.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Send joining link"))).to_have_count(0)
    assert_accessible(page)

    # 4. Attendance, one tap per person, on a session that started ten minutes ago.
    started, sam, alex = started_session_with_two_people(make_training_session, make_volunteer, make_booking)
    page.goto(f"/manage/sessions/{started.id}/attendance")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"Attendance for {format_session_time(started.starts_at, started.ends_at)}"
    )
    expect(attendance_cell(page, sam)).to_have_text("Not recorded")
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    mark_document(page)
    url = page.url
    attendance_button(page, "Attended", "Sam Okafor").click()
    expect(attendance_cell(page, sam)).to_have_text("Attended")
    expect(attendance_button(page, "Attended", "Sam Okafor")).to_have_attribute("aria-pressed", "true")
    expect(attendance_button(page, "Did not attend", "Sam Okafor")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#flash")).to_contain_text("Sam Okafor: attended.")
    expect(page.locator("#attendance-counts")).to_have_text("1 attended, 0 did not attend, 1 not recorded yet.")
    expect(attendance_cell(page, alex)).to_have_text("Not recorded")
    assert page.url == url
    assert_same_document(page)
    assert_accessible(page)
    screenshot(page, f"attendance-{size}")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_coordinator_marks_attendance_without_javascript(
    size, nojs_page: Page, auth, assert_accessible, make_training_session, make_volunteer, make_booking
):
    page = nojs_page
    if size == "laptop":
        page.set_viewport_size(LAPTOP)
    started, sam, alex = started_session_with_two_people(make_training_session, make_volunteer, make_booking)
    sign_in(page, auth.create("coordinator"), STAFF_PASSWORD, assert_accessible)

    page.goto(f"/manage/sessions/{started.id}/attendance")
    expect(page.get_by_text("0 attended, 0 did not attend, 2 not recorded yet.")).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    attendance_button(page, "Attended", "Sam Okafor").click()
    expect(page).to_have_url(re.compile(rf"/manage/sessions/{started.id}/attendance#booking-{sam}$"))
    expect(attendance_cell(page, sam)).to_have_text("Attended")
    expect(attendance_button(page, "Attended", "Sam Okafor")).to_have_attribute("aria-pressed", "true")
    expect(attendance_cell(page, alex)).to_have_text("Not recorded")
    expect(page.locator(".app-flash")).to_contain_text("Sam Okafor: attended.")
    expect(page.get_by_text("1 attended, 0 did not attend, 1 not recorded yet.")).to_be_visible()
    assert_accessible(page)


# --- The roster's layout ------------------------------------------------------------------------------------

_ROSTER_LAYOUT = """() => {
  const wrapper = document.querySelector("#roster-results .app-table-wrapper");
  const box = wrapper.getBoundingClientRect();
  const right = Math.min(box.right, document.documentElement.clientWidth);
  const clipped = [];
  for (const action of wrapper.querySelectorAll(".app-row-actions a, .app-row-actions button")) {
    const rect = action.getBoundingClientRect();
    if (rect.left < box.left - 1 || rect.right > right + 1 || rect.width < 1) {
      clipped.push(`${action.innerText.trim()} (${Math.round(rect.left)} to ${Math.round(rect.right)})`);
    }
  }
  // The lines a date takes: its text's line boxes, counted by their tops.
  const lines = (date) => {
    const range = document.createRange();
    range.selectNodeContents(date);
    return new Set([...range.getClientRects()].filter((r) => r.width > 1).map((r) => Math.round(r.top))).size;
  };
  const dates = [...wrapper.querySelectorAll(".app-roster__date")].map((date) => ({text: date.innerText.trim(), lines: lines(date)}));
  return {clipped, dates, box: [Math.round(box.left), Math.round(box.right)],
          overflow: wrapper.scrollWidth - wrapper.clientWidth, actions: wrapper.querySelectorAll(".app-row-actions li").length};
}"""


@pytest.mark.parametrize("width", [1280, 360])
def test_the_roster_fits_and_every_row_action_is_in_view(
    width, page: Page, app, auth, assert_accessible, make_training_session, make_volunteer, make_booking
):
    """Defect 18: at 1280 px the roster was wider than its column (Move and Cancel booking hidden past the
    edge) and dates wrapped to four lines. Every row action is inside the table's box and the viewport, the
    table needs no sideways scroll, and a date takes at most two lines."""
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import Booking, BookingStatus

    page.set_viewport_size({"width": width, "height": 900})
    training_session = make_training_session(days_ahead=20, capacity=2)
    make_training_session(days_ahead=35)  # somewhere to move people to
    ready = make_booking(
        training_session.id,
        volunteer_id=make_volunteer(
            name="Bartholomew Featherstonehaugh-Smythe", email="bartholomew.featherstonehaugh@example.org"
        ),
    )
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Sam Okafor"))
    make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Alex Smith"))
    with app.app_context():
        booking = db.session.get(Booking, ready)
        booking.elearning_completed_on = date(2026, 9, 30)  # "Wednesday 30 September 2026": long
        booking.elearning_confirmed_at = booking.joining_link_sent_at = utcnow()
        db.session.commit()

    sign_in(page, auth.create("coordinator"), STAFF_PASSWORD, assert_accessible)
    page.goto(f"/manage/sessions/{training_session.id}/roster")
    expect(roster_rows(page)).to_have_count(3)
    layout = page.evaluate(_ROSTER_LAYOUT)
    assert layout["actions"] >= 7, layout  # Record e-learning, Move, Cancel x2; Book now, Move, Remove
    assert not layout["clipped"], (
        f"row actions outside the table's box {layout['box']} at {width}px: {layout['clipped']}"
    )
    assert layout["overflow"] <= 0, f"the roster needs {layout['overflow']}px of sideways scroll at {width}px"
    assert all(date["lines"] <= 2 for date in layout["dates"]), layout["dates"]
    assert "Wednesday 30 September 2026" in [date["text"] for date in layout["dates"]], layout["dates"]
    assert_accessible(page)
    assert_no_sideways_scroll(page)
