"""The .ics invites a booking gets over its life: one calendar entry (one UID), and every update carries a
higher SEQUENCE than the invite it replaces, so calendars apply it (RFC 5545 3.8.7.4)."""

import itertools
from datetime import UTC, datetime, time, timedelta

import icalendar
import sqlalchemy as sa
from flask import current_app

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    Booking,
    LinkPurpose,
    Organisation,
    OutgoingEmail,
    StaffUser,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.sessions import joining_links, roster_actions
from mecc_volunteer.sessions import services as session_services
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.volunteers import services as volunteer_services
from tests.helpers import TEAMS

NEW_TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting-new"


def register(
    training_session_id: int, *, now: datetime | None = None, name="Priya Patel", email="priya@example.org"
) -> int:
    """Register through the service, as the registration page does, and commit; returns the booking id."""
    details = volunteer_services.RegistrationDetails(
        name=name,
        email=email,
        role="Library assistant",
        organisation_id=db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id)),
        organisation_other=None,
        district_id=None,
        baseline_confidence=4,
        baseline_knowledge=3,
        privacy_acknowledged=True,
    )
    training_session = db.session.get(TrainingSession, training_session_id)
    result = volunteer_services.register(training_session, details, config=current_app.config, now=now)
    db.session.commit()
    return result.booking.id


def invites(booking_id: int) -> list[tuple[str, icalendar.Event]]:
    """(template, event) for each email with an .ics sent about the booking, oldest first."""
    found = []
    for email in db.session.scalars(
        sa.select(OutgoingEmail).where(OutgoingEmail.booking_id == booking_id).order_by(OutgoingEmail.id)
    ):
        for attachment in email.attachments or []:
            [event] = icalendar.Calendar.from_ical(attachment["data"]).walk("VEVENT")
            found.append((email.template, event))
    return found


def test_every_update_to_a_booking_s_calendar_entry_has_a_higher_sequence_than_the_one_before(
    app, make_training_session, staff_id
):
    first = make_training_session(days_ahead=30, joining_link=TEAMS)
    second = make_training_session(days_ahead=40, joining_link=NEW_TEAMS)
    with app.app_context():
        staff = db.session.get(StaffUser, staff_id)
        booking_id = register(first.id)
        booking = db.session.get(Booking, booking_id)
        volunteer_services.confirm_elearning(booking, utcnow().date())
        db.session.commit()

        joining_links.send_joining_links(db.session.get(TrainingSession, first.id), by=staff)
        db.session.commit()
        # The coordinator moves the session an hour later: everyone booked gets the new time.
        training_session = db.session.get(TrainingSession, first.id)
        later = session_services.SessionDetails.of(training_session)
        later.start, later.end = time(11, 30), time(13, 0)
        session_services.update_session(training_session, later, by=staff)
        db.session.commit()
        # The volunteer moves to another session, which has a joining link of its own.
        volunteer_services.move_booking(db.session.get(Booking, booking_id), db.session.get(TrainingSession, second.id))
        db.session.commit()
        joining_links.send_joining_links(db.session.get(TrainingSession, second.id), by=staff)
        db.session.commit()
        session_services.cancel_session(db.session.get(TrainingSession, second.id), by=staff)
        db.session.commit()

        sent = invites(booking_id)

    assert [template for template, _ in sent] == [
        "booking_confirmation",
        "joining_link",
        "session_changed",
        "booking_confirmation",
        "joining_link",
        "session_cancelled",
    ]
    assert len({str(event["UID"]) for _, event in sent}) == 1
    sequences = [int(event["SEQUENCE"]) for _, event in sent]
    assert all(earlier < later for earlier, later in itertools.pairwise(sequences)), sequences
    confirmation, link, changed, moved, second_link, cancelled = (event for _, event in sent)
    assert TEAMS in str(link["DESCRIPTION"])
    assert TEAMS not in str(confirmation["DESCRIPTION"])
    assert changed.decoded("DTSTART") == confirmation.decoded("DTSTART") + timedelta(hours=1)
    assert moved.decoded("DTSTART") == second.starts_at
    assert NEW_TEAMS in str(second_link["DESCRIPTION"])
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert "STATUS" not in moved


def test_a_move_a_day_after_booking_does_not_go_back_in_sequence(app, make_training_session):
    """The old SEQUENCE, a timestamp modulo 100000, went back to 0 every 27.8 hours."""
    first = make_training_session(days_ahead=30)
    second = make_training_session(days_ahead=40)
    now = utcnow()
    booked_at = datetime.fromtimestamp((int(now.timestamp()) // 100000) * 100000 - 10, tz=UTC)  # just before a wrap
    with app.app_context():
        booking_id = register(first.id, now=booked_at)
        volunteer_services.move_booking(
            db.session.get(Booking, booking_id),
            db.session.get(TrainingSession, second.id),
            now=booked_at + timedelta(seconds=20),
        )
        db.session.commit()
        (_, booked), (_, moved) = invites(booking_id)

    assert int(moved["SEQUENCE"]) > int(booked["SEQUENCE"])


def test_a_coordinator_cancelling_a_booking_sends_a_cancelled_event_but_nothing_for_a_waiting_place(
    app, make_training_session, staff_id
):
    training_session = make_training_session(days_ahead=30, capacity=1)
    with app.app_context():
        staff = db.session.get(StaffUser, staff_id)
        booked_id = register(training_session.id)
        waiting_id = register(training_session.id, name="Sam Jones", email="sam@example.org")
        roster_actions.cancel_from_roster(db.session.get(Booking, waiting_id), by=staff)
        db.session.commit()
        roster_actions.cancel_from_roster(db.session.get(Booking, booked_id), by=staff)
        db.session.commit()
        booked_invites = invites(booked_id)
        waiting_invites = invites(waiting_id)

    (_, invite), (template, cancelled) = booked_invites
    assert template == "booking_cancelled"
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) > int(invite["SEQUENCE"])
    assert waiting_invites == []  # no invite was sent for a waiting-list place, so there is nothing to cancel


def test_the_calendar_file_on_my_booking_has_the_latest_sequence_and_opening_it_changes_nothing(
    app, client, make_training_session, staff_id
):
    training_session = make_training_session(days_ahead=30, joining_link=TEAMS)
    with app.app_context():
        booking_id = register(training_session.id)
        booking = db.session.get(Booking, booking_id)
        volunteer_services.confirm_elearning(booking, utcnow().date())
        joining_links.send_joining_links(
            db.session.get(TrainingSession, training_session.id), by=db.session.get(StaffUser, staff_id)
        )
        token = issue_link(booking, LinkPurpose.MANAGE)
        db.session.commit()
        [*_, (_, latest)] = invites(booking_id)

    for _ in range(2):
        response = client.get(f"/my-booking/{token}/calendar.ics")
        assert response.status_code == 200
        [event] = icalendar.Calendar.from_ical(response.data).walk("VEVENT")
        assert int(event["SEQUENCE"]) == int(latest["SEQUENCE"]) >= 1
        assert TEAMS in str(event["DESCRIPTION"])
