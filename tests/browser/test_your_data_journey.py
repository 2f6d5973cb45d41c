"""A volunteer's own data on a phone, with JavaScript and without (issue 9, "Done when"): from My booking they read
the new privacy notice's banner and say they have read it, see their data, download the JSON file, and delete it
(a confirmation page first); afterwards their link opens nothing, and the person who was waiting has the place.
Every page is checked with axe-core."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, LinkPurpose, Volunteer
from mecc_volunteer.tokens import issue_link

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_volunteer_downloads_and_deletes_their_data(
    request, app, javascript, assert_accessible, tmp_path, make_training_session, make_volunteer, make_booking
):
    page: Page = request.getfixturevalue("page" if javascript else "nojs_page")
    training_session = make_training_session(days_ahead=30, capacity=1)
    booking_id = make_booking(training_session.id, volunteer_id=make_volunteer(name="Zoë Ångström"))
    waiting_id = make_booking(training_session.id, BookingStatus.WAITING)
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
        db.session.commit()

    # My booking: the privacy notice has changed since they read it (the test volunteers read version "test").
    page.goto(f"/my-booking/{token}")
    expect(page.get_by_text("We have updated our privacy notice")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="I have read it").click()
    expect(page.get_by_text("Thank you for reading the updated privacy notice.")).to_be_visible()
    page.goto(f"/my-booking/{token}")
    expect(page.get_by_text("We have updated our privacy notice")).to_have_count(0)

    # Their data: the page, then the file.
    page.get_by_role("link", name="See and download your data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data")
    expect(page.get_by_text("Zoë Ångström")).to_be_visible()
    assert_accessible(page)
    with page.expect_download() as started:
        page.get_by_role("link", name="Download your data (JSON file)").click()
    path = tmp_path / started.value.suggested_filename
    started.value.save_as(path)
    assert re.fullmatch(r"mecc-your-data-\d{4}-\d{2}-\d{2}\.json", path.name)
    assert json.loads(path.read_text(encoding="utf-8"))["identity"]["name"] == "Zoë Ångström"

    # Delete: the confirmation page, then done.
    page.get_by_role("link", name="delete your data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Are you sure you want to delete your data?")
    assert_accessible(page)
    page.get_by_role("button", name="Yes, delete my data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data has been deleted")
    assert_accessible(page)

    page.goto(f"/my-booking/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.status is BookingStatus.CANCELLED
        assert db.session.get(Volunteer, booking.volunteer_id).name is None
        assert db.session.get(Booking, waiting_id).status is BookingStatus.BOOKED
