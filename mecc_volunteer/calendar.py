"""The .ics calendar file for a booking (RFC 5545), for My booking and email attachments."""

from datetime import datetime

from flask import current_app
from icalendar import Calendar, Event

from mecc_volunteer.models import Booking, utcnow


def booking_ics(
    booking: Booking,
    *,
    manage_url: str | None = None,
    now: datetime | None = None,
    with_joining_link: bool = False,
) -> str:
    """With with_joining_link, the event carries the session's joining link (LOCATION, URL, DESCRIPTION), but
    only for a volunteer who may have it: booked, with the e-learning confirmed (SPEC 3)."""
    training_session = booking.training_session
    joining_link = training_session.joining_link if with_joining_link and booking.ready_for_joining_link else None
    config = current_app.config
    calendar = Calendar()
    calendar.add("prodid", f"-//{config['ORGANISATION_NAME']}//{config['SERVICE_NAME']}//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")

    event = Event()
    # One UID per booking, so a moved booking updates the same calendar entry.
    event.add("uid", f"mecc-booking-{booking.id}@{_domain()}")
    event.add("dtstamp", now or utcnow())
    event.add("dtstart", training_session.starts_at)
    event.add("dtend", training_session.ends_at)
    event.add("summary", f"MECC {training_session.kind.label.lower()} (online)")
    if joining_link:
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
            f"Before the session, complete the MECC e-learning: {config['ELEARNING_URL']}",
            "Your joining link is sent by email once you have confirmed the e-learning.",
        ]
    if manage_url:
        description.append(f"Manage your booking: {manage_url}")
    event.add("description", "\n".join(description))
    event.add("sequence", int((booking.moved_at or booking.created_at).timestamp()) % 100000)
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")


def _domain() -> str:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    return sender.rsplit("<", 1)[-1].rstrip(">").rsplit("@", 1)[-1] or "localhost"
