"""Coordinators manage sessions: list with counts, create, edit (capacity, times, link) and cancel."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import LONDON, Booking, BookingStatus, OutgoingEmail, SessionKind, TrainingSession, utcnow
from tests.helpers import session_form


def future_day(days=30):
    return (utcnow() + timedelta(days=days)).astimezone(LONDON).date()


def emails(app, template):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.template == template))


def test_a_coordinator_sees_upcoming_sessions_with_their_counts(client, auth, make_training_session, make_booking):
    training_session = make_training_session(capacity=12)
    for _ in range(3):
        make_booking(training_session.id)
    make_booking(training_session.id, BookingStatus.WAITING)
    make_training_session(days_ahead=-40)
    auth.login("coordinator")

    page = client.get("/manage/sessions/")
    past = client.get("/manage/sessions/?show=past")

    assert page.status_code == 200
    assert "3 / 12" in page.text
    assert page.text.count("/manage/sessions/") >= 2
    assert "Past sessions" in past.text
    assert past.text.count('class="app-numeric">0 / 10') == 1


def test_a_coordinator_creates_a_session_in_london_time(app, client, auth):
    auth.login("coordinator")
    response = client.post("/manage/sessions/new", data=session_form())
    assert response.status_code == 303
    with app.app_context():
        training_session = db.session.scalar(sa.select(TrainingSession))
        assert training_session.starts_at.astimezone(LONDON).strftime("%H:%M") == "10:30"
        assert training_session.capacity == 16
        assert training_session.kind is SessionKind.VOLUNTEER_TRAINING
    detail = client.get(response.headers["Location"])
    assert "10:30am to 12pm" in detail.text
    assert "Sam Okafor" in detail.text


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"capacity": "-1"}, "capacity", "whole number from 1 to 500"),
        ({"capacity": "0"}, "capacity", "whole number from 1 to 500"),
        ({"capacity": "1.5"}, "capacity", "whole number from 1 to 500"),
        ({"capacity": "ten"}, "capacity", "whole number from 1 to 500"),
        ({"capacity": "501"}, "capacity", "whole number from 1 to 500"),
        ({"capacity": ""}, "capacity", "Enter the number of places"),
        ({"end_time": "10:00"}, "end_time", "The end time must be after the start time"),
        ({"start_time": "25:00"}, "start_time", "like 10:30"),
        ({"start_time": "half ten"}, "start_time", "like 10:30"),
        ({"day": "31", "month": "2"}, "day", "must be a real date"),
        ({"year": str(utcnow().year - 1)}, "day", "The session must start in the future"),
        ({"joining_link": "javascript:alert(1)"}, "joining_link", "must start with https://"),
        ({"joining_link": "http://teams.microsoft.com/l/x"}, "joining_link", "must start with https://"),
        ({"joining_link": "https://teams.microsoft.com.evil.example/l/x"}, "joining_link", "Teams or Zoom link"),
        ({"joining_link": "https://evilzoom.us/j/1"}, "joining_link", "Teams or Zoom link"),
        (
            {"joining_link": "https://teams.microsoft.com@evil.example/l/x"},
            "joining_link",
            "exactly as Teams or Zoom gives it",
        ),
        ({"joining_link": "https://xn--zom-7na.us/j/1"}, "joining_link", "Teams or Zoom link"),
        ({"joining_link": "https://z\u043e\u043em.us/j/1"}, "joining_link", "Teams or Zoom link"),
        ({"joining_link": "https://zoom.us:8443/j/1"}, "joining_link", "exactly as Teams or Zoom gives it"),
        ({"kind": "webinar"}, "kind", "Select the kind of session"),
        ({"cutoff_days": "-3"}, "cutoff_days", "from 0 to 60"),
    ],
)
def test_bad_session_details_get_a_clear_message_and_change_nothing(app, client, auth, overrides, field, message):
    auth.login("coordinator")
    response = client.post("/manage/sessions/new", data=session_form(**overrides))
    assert response.status_code == 200
    assert message in response.text
    assert f'<a href="#{field}">' in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 0


def test_zoom_subdomains_are_allowed(app, client, auth):
    auth.login("coordinator")
    response = client.post(
        "/manage/sessions/new", data=session_form(joining_link="https://us02web.zoom.us/j/123?pwd=x")
    )
    assert response.status_code == 303


def test_capacity_cannot_go_below_the_number_booked(app, client, auth, make_training_session, make_booking):
    training_session = make_training_session(capacity=5)
    for _ in range(3):
        make_booking(training_session.id)
    auth.login("coordinator")
    day = training_session.starts_at.astimezone(LONDON).date()
    form = session_form(day=str(day.day), month=str(day.month), year=str(day.year), capacity="2")

    response = client.post(f"/manage/sessions/{training_session.id}/edit", data=form)

    assert "The capacity cannot be less than the 3 people booked" in response.text
    with app.app_context():
        assert db.session.get(TrainingSession, training_session.id).capacity == 5


def test_raising_the_capacity_books_people_from_the_waiting_list(
    app, client, auth, make_training_session, make_booking
):
    training_session = make_training_session(capacity=1)
    make_booking(training_session.id)
    first = make_booking(training_session.id, BookingStatus.WAITING, at=utcnow() - timedelta(hours=2))
    second = make_booking(training_session.id, BookingStatus.WAITING, at=utcnow() - timedelta(hours=1))
    auth.login("coordinator")
    day = training_session.starts_at.astimezone(LONDON).date()

    response = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year), capacity="2"),
        follow_redirects=True,
    )

    assert "1 person from the waiting list was booked and emailed" in response.text
    with app.app_context():
        assert db.session.get(Booking, first).status is BookingStatus.BOOKED
        assert db.session.get(Booking, second).status is BookingStatus.WAITING
        assert db.session.get(TrainingSession, training_session.id).places_taken == 2
    assert emails(app, "place_offered") == 1


def test_moving_a_session_emails_everyone_booked_or_waiting(app, client, auth, make_training_session, make_booking):
    training_session = make_training_session(capacity=1)
    make_booking(training_session.id)
    make_booking(training_session.id, BookingStatus.WAITING)
    auth.login("coordinator")
    day = future_day(40)

    response = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year), capacity="1"),
        follow_redirects=True,
    )

    assert "emailed the new date and time" in response.text
    assert emails(app, "session_changed") == 2


def test_moving_a_session_nobody_booked_says_nobody_was_emailed(app, client, auth, make_training_session):
    training_session = make_training_session()
    auth.login("coordinator")
    day = future_day(40)

    response = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year)),
        follow_redirects=True,
    )

    assert "Nobody is booked or waiting, so nobody was emailed." in response.text
    assert "have been emailed" not in response.text
    assert "has been emailed" not in response.text


def test_moving_a_session_says_how_many_were_emailed(app, client, auth, make_training_session, make_booking):
    training_session = make_training_session()
    make_booking(training_session.id)
    auth.login("coordinator")
    day = future_day(41)

    response = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year)),
        follow_redirects=True,
    )

    assert "1 person booked or waiting has been emailed the new date and time." in response.text


def test_cancelling_a_session_nobody_booked_says_nobody_was_emailed(client, auth, make_training_session):
    training_session = make_training_session()
    auth.login("coordinator")
    response = client.post(f"/manage/sessions/{training_session.id}/cancel", follow_redirects=True)
    assert "Nobody was booked or waiting, so nobody was emailed." in response.text


def test_the_session_form_gives_the_programmes_own_cut_off(app, client, auth):
    from mecc_volunteer.models import Programme

    with app.app_context():
        db.session.scalar(sa.select(Programme)).cutoff_days = 10
        db.session.commit()
    auth.login("coordinator")
    page = client.get("/manage/sessions/new")
    assert "Leave empty for the programme&#39;s usual 10 days." in page.text


def test_adding_the_same_session_twice_asks_first(app, client, auth):
    auth.login("coordinator")
    assert client.post("/manage/sessions/new", data=session_form()).status_code == 303

    again = client.post("/manage/sessions/new", data=session_form())
    assert again.status_code == 200
    assert "There is already a session at this time" in again.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 1

    confirmed = client.post("/manage/sessions/new", data=session_form(same_time_confirmed="yes"))
    other_kind = client.post("/manage/sessions/new", data=session_form(kind="train_the_trainer"))
    assert confirmed.status_code == other_kind.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 3


def test_a_coordinator_cancels_a_session_and_everyone_is_told(app, client, auth, make_training_session, make_booking):
    training_session = make_training_session(capacity=2)
    booked = [make_booking(training_session.id) for _ in range(2)]
    waiting = make_booking(training_session.id, BookingStatus.WAITING)
    auth.login("coordinator")

    confirm = client.get(f"/manage/sessions/{training_session.id}/cancel")
    assert "Are you sure you want to cancel this session?" in confirm.text
    with app.app_context():
        assert db.session.get(TrainingSession, training_session.id).cancelled_at is None

    done = client.post(f"/manage/sessions/{training_session.id}/cancel", follow_redirects=True)
    again = client.post(f"/manage/sessions/{training_session.id}/cancel", follow_redirects=True)

    assert "Session cancelled. 3 people booked or waiting have been emailed." in done.text
    assert "already cancelled" in again.text
    with app.app_context():
        training_session = db.session.get(TrainingSession, training_session.id)
        assert training_session.cancelled_at is not None
        assert training_session.places_taken == 0
        assert {db.session.get(Booking, b).status for b in [*booked, waiting]} == {BookingStatus.CANCELLED}
    assert emails(app, "session_cancelled") == 3
    assert "Cancelled" in client.get("/").text


@pytest.mark.parametrize("path", ["/manage/sessions/", "/manage/sessions/new"])
def test_evaluators_cannot_manage_sessions(client, auth, path):
    auth.login("evaluator")
    response = client.get(path)
    assert response.status_code == 403
    assert "You do not have permission" in response.text


def test_an_unknown_session_is_a_404_for_coordinators(client, auth):
    auth.login("coordinator")
    assert client.get("/manage/sessions/999999").status_code == 404


@pytest.mark.parametrize("part", ["day", "month"])
def test_a_day_or_month_of_many_digits_gets_a_clear_message_on_create_and_edit(
    app, client, auth, make_training_session, part
):
    auth.login("coordinator")
    created = client.post("/manage/sessions/new", data=session_form(**{part: "99999999999999999999999"}))
    assert created.status_code == 200
    assert 'id="day-error"' in created.text
    assert '<a href="#day">' in created.text
    training_session = make_training_session()
    path = f"/manage/sessions/{training_session.id}/edit"
    client.get(path)
    edited = client.post(path, data=session_form(**{part: "99999999999999999999999"}))
    assert edited.status_code == 200
    assert 'id="day-error"' in edited.text
    assert '<a href="#day">' in edited.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 1
        assert db.session.get(TrainingSession, training_session.id).trainer_name is None  # the edit changed nothing
