"""A volunteer confirms the e-learning from My booking; only then does the joining link appear."""

import re
from datetime import timedelta

import pytest

from mecc_volunteer.extensions import db
from mecc_volunteer.models import LONDON, Booking, BookingStatus, LinkPurpose, utcnow
from mecc_volunteer.tokens import issue_link

TEAMS = "https://teams.microsoft.com/l/meetup-join/abc"


@pytest.fixture
def my_booking(app, make_training_session, make_booking):
    """my_booking(status=..., joining_link=...) -> (path, booking id)"""

    def make(status=BookingStatus.BOOKED, joining_link=TEAMS):
        training_session = make_training_session(capacity=5, joining_link=joining_link)
        booking_id = make_booking(training_session.id, status)
        with app.app_context():
            token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
            db.session.commit()
        return f"/my-booking/{token}", booking_id

    return make


def today():
    return utcnow().astimezone(LONDON).date()


def date_form(day, declaration="y"):
    form = {"completed_day": str(day.day), "completed_month": str(day.month), "completed_year": str(day.year)}
    if declaration:
        form["declaration"] = declaration
    return form


def test_a_booked_volunteer_confirms_the_e_learning_and_then_sees_the_joining_link(app, client, my_booking):
    path, booking_id = my_booking()
    before = client.get(path)
    assert "Confirm you have done the e-learning" in before.text
    assert TEAMS not in before.text

    page = client.get(path + "/elearning")
    assert page.status_code == 200
    assert 'id="completed_day"' in page.text
    done = client.post(path + "/elearning", data=date_form(today() - timedelta(days=2)), follow_redirects=True)

    assert "your e-learning is confirmed" in done.text
    assert TEAMS in done.text
    assert "Join the session" in done.text
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.elearning_completed_on == today() - timedelta(days=2)
        assert booking.elearning_confirmed_at is not None
        assert booking.elearning_recorded_by_id is None


def test_today_counts_as_a_completion_date(client, my_booking):
    path, _ = my_booking()
    response = client.post(path + "/elearning", data=date_form(today()))
    assert response.status_code == 303


def test_the_joining_link_is_never_shown_to_someone_on_the_waiting_list(client, my_booking):
    path, _ = my_booking(status=BookingStatus.WAITING)
    client.post(path + "/elearning", data=date_form(today()))
    assert TEAMS not in client.get(path).text


def test_without_a_joining_link_yet_my_booking_says_it_will_come(client, my_booking):
    path, _ = my_booking(joining_link=None)
    page = client.post(path + "/elearning", data=date_form(today()), follow_redirects=True)
    assert "We will email you the joining link" in page.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"completed_day": "", "completed_month": "", "completed_year": "", "declaration": "y"},
            "Enter the date you completed the e-learning",
        ),
        (
            {"completed_day": "3", "completed_month": "", "completed_year": "2026", "declaration": "y"},
            "must include a month",
        ),
        (
            {"completed_day": "", "completed_month": "", "completed_year": "2026", "declaration": "y"},
            "must include a day and month",
        ),
        (
            {"completed_day": "31", "completed_month": "2", "completed_year": "2026", "declaration": "y"},
            "must be a real date",
        ),
        (
            {"completed_day": "a", "completed_month": "b", "completed_year": "c", "declaration": "y"},
            "must be a real date",
        ),
        (
            {"completed_day": "3", "completed_month": "4", "completed_year": "26", "declaration": "y"},
            "must be a real date",
        ),
        (
            {"completed_day": "٣", "completed_month": "4", "completed_year": "2026", "declaration": "y"},
            "must be a real date",
        ),
        (
            {"completed_day": "1", "completed_month": "1", "completed_year": "1066", "declaration": "y"},
            "must be a real date",
        ),
        (
            {"completed_day": "1", "completed_month": "1", "completed_year": "9999", "declaration": "y"},
            "must be today or in the past",
        ),
        (
            {"completed_day": "1", "completed_month": "1", "completed_year": "2026"},
            "Confirm that you have completed the MECC e-learning",
        ),
        (
            {"completed_day": "123", "completed_month": "1", "completed_year": "2026", "declaration": "y"},
            "must be a real date",
        ),
    ],
)
def test_a_wrong_date_gets_a_clear_message_and_changes_nothing(app, client, my_booking, form, message):
    path, booking_id = my_booking()
    response = client.post(path + "/elearning", data=form)
    assert response.status_code == 200
    assert message in response.text
    assert "<title>Error: " in response.text
    assert re.search(r'<a href="#(completed_day|declaration)">', response.text)
    with app.app_context():
        assert db.session.get(Booking, booking_id).elearning_confirmed_at is None


def test_tomorrow_is_in_the_future(client, my_booking):
    path, _ = my_booking()
    response = client.post(path + "/elearning", data=date_form(today() + timedelta(days=1)))
    assert "must be today or in the past" in response.text


def test_a_cancelled_booking_cannot_confirm(client, app, my_booking):
    path, booking_id = my_booking(status=BookingStatus.CANCELLED)
    response = client.post(path + "/elearning", data=date_form(today()))
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Booking, booking_id).elearning_confirmed_at is None


@pytest.mark.parametrize("part", ["completed_day", "completed_month"])
def test_a_day_or_month_of_many_digits_gets_a_clear_message_not_a_500(app, client, my_booking, part):
    path, booking_id = my_booking()
    form = date_form(today() - timedelta(days=1))
    form[part] = "99999999999999999999999"
    response = client.post(path + "/elearning", data=form)
    assert response.status_code == 200
    assert 'id="completed_day-error"' in response.text
    assert '<a href="#completed_day">' in response.text
    with app.app_context():
        assert db.session.get(Booking, booking_id).elearning_confirmed_at is None
