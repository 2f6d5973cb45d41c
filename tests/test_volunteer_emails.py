"""What a volunteer reads in their email after changing a booking, from the real loopback SMTP server."""

import re

import pytest

from tests.helpers import register_through_the_form, text_of

MY_BOOKING = re.compile(r"http://localhost(/my-booking/[A-Za-z0-9_-]{43})\b")


# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


def test_the_booking_has_moved_email_has_a_working_my_booking_link_and_the_old_link_still_works(
    client, smtp_server, make_training_session, registration_form
):
    first = make_training_session(days_ahead=20)
    second = make_training_session(days_ahead=27)
    register_through_the_form(client, first.id, registration_form())
    [confirmation] = smtp_server.messages
    old_link = MY_BOOKING.search(text_of(confirmation)).group(1)

    moved = client.post(f"{old_link}/move", data={"training_session": str(second.id)}, follow_redirects=True)

    assert "Your booking has moved" in moved.text
    moved_email = smtp_server.messages[-1]
    assert moved_email["Subject"] == "Your MECC training booking has moved"
    new_link = MY_BOOKING.search(text_of(moved_email))
    assert new_link, "the moved email has no My booking link"
    assert new_link.group(1) in moved_email.get_body(("html",)).get_content()
    for link in (new_link.group(1), old_link):
        page = client.get(link)
        assert page.status_code == 200
        assert "Your booking" in page.text
