"""The .ics calendar file for a booking (RFC 5545), for My booking and email attachments.

A booking is one calendar entry (one UID) for its whole life. Whenever the entry changes (the booking moves,
the session's time changes, the joining link is sent or changes, the booking or session is cancelled), the
code that changes it calls next_calendar_sequence(booking) before it sends the new .ics, so every update
carries a higher SEQUENCE than the one it replaces, and calendars apply it instead of ignoring it.
"""

from datetime import datetime

import sqlalchemy as sa
from icalendar import Calendar, Event
from sqlalchemy.orm.attributes import set_committed_value

from mecc_volunteer import settings
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import mail_domain
from mecc_volunteer.models import Booking, BookingStatus, utcnow


def next_calendar_sequence(booking: Booking) -> int:
    """The booking's calendar entry has changed: raise its SEQUENCE by one, in the current transaction.
    One atomic UPDATE, so two changes at once still get two different numbers."""
    sequence = db.session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id)
        .values(calendar_sequence=Booking.calendar_sequence + 1)
        .returning(Booking.calendar_sequence)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(booking, "calendar_sequence", sequence)
    return sequence


def booking_ics(
    booking: Booking,
    *,
    manage_url: str | None = None,
    now: datetime | None = None,
    with_joining_link: bool = False,
) -> str:
    """With with_joining_link, the event carries the session's joining link (LOCATION, URL, DESCRIPTION), but
    only for a volunteer who may have it: booked, with the e-learning confirmed (SPEC 3). A cancelled booking
    (or session) gives a cancelled event, which takes the entry out of the volunteer's calendar."""
    training_session = booking.training_session
    cancelled = booking.status is BookingStatus.CANCELLED or training_session.cancelled_at is not None
    joining_link = training_session.joining_link if with_joining_link and booking.ready_for_joining_link else None
    programme = settings.current()
    calendar = Calendar()
    calendar.add("prodid", f"-//{programme.organisation_name}//{programme.service_name}//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")

    event = Event()
    # One UID per booking, so a moved booking updates the same calendar entry.
    event.add("uid", f"mecc-booking-{booking.id}@{mail_domain()}")
    event.add("dtstamp", now or utcnow())
    event.add("dtstart", training_session.starts_at)
    event.add("dtend", training_session.ends_at)
    summary = f"MECC {training_session.kind.label.lower()} (online)"
    event.add("summary", f"Cancelled: {summary}" if cancelled else summary)
    if cancelled:
        event.add("status", "CANCELLED")
        description = ["Making Every Contact Count: this training session booking is cancelled."]
    elif joining_link:
        event.add("location", joining_link)
        event.add("url", joining_link)
        description = [
            "Making Every Contact Count: live online training session.",
            f"Join the session: {joining_link}",
            "Please join a few minutes early, with your camera and microphone ready.",
        ]
    else:
        event.add("location", training_session.location)
        description = [
            "Making Every Contact Count: live online training session.",
            f"Before the session, complete the MECC e-learning: {programme.elearning_url}",
            "Your joining link is sent by email once you have confirmed the e-learning.",
        ]
    if manage_url and not cancelled:
        description.append(f"Manage your booking: {manage_url}")
    event.add("description", "\n".join(description))
    event.add("sequence", booking.calendar_sequence or 0)
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")
