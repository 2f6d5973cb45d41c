"""What a booking emails its volunteer, and how: confirmations, offers and links, with their calendar entries.
Rendered from email/<name>.txt and .html."""

from datetime import datetime

from flask import current_app, render_template

from mecc_volunteer import settings
from mecc_volunteer.calendar import booking_ics, next_calendar_sequence
from mecc_volunteer.mail import queue_email
from mecc_volunteer.models import Booking, OutgoingEmail, TrainingSession
from mecc_volunteer.urls import external_url


def manage_url_for(token: str | None) -> str | None:
    return external_url("volunteers.my_booking", token=token) if token else None


def email_context(training_session: TrainingSession, volunteer, booking: Booking | None, **context) -> dict:
    """What every email template gets, besides what the caller passes."""
    programme = settings.current()
    context.update(
        booking=booking,
        volunteer=volunteer,
        training_session=training_session,
        config=current_app.config,
        service_name=programme.service_name,
        contact_email=programme.contact_email,
        elearning_url=programme.elearning_url,
        lost_link_url=external_url("volunteers.lost_link"),
    )
    return context


def queue_for_booking(
    template: str,
    booking: Booking,
    subject: str,
    *,
    with_ics: bool = False,
    dedupe_key: str | None = None,
    now: datetime | None = None,
    **context,
) -> OutgoingEmail | None:
    """Render email/<template>.txt and .html for the booking's volunteer and add it to the outbox.
    The .ics carries the joining link only for a volunteer who may have it (booked, e-learning confirmed)."""
    if booking.volunteer.email is None:
        return None  # their identity has been removed: there is no one to write to
    context = email_context(booking.training_session, booking.volunteer, booking, **context)
    attachments = None
    if with_ics:
        ics = booking_ics(booking, manage_url=context.get("manage_url"), now=now, with_joining_link=True)
        attachments = [{"filename": "mecc-training.ics", "content_type": "text/calendar; charset=utf-8", "data": ics}]
    return queue_email(
        template=template,
        to=booking.volunteer.email,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        attachments=attachments,
        dedupe_key=dedupe_key,
        training_session_id=booking.training_session_id,
        booking_id=booking.id,
    )


def queue_booking_confirmation(booking: Booking, token: str | None, moved_from: TrainingSession | None = None):
    subject = "Your MECC training booking has moved" if moved_from else "You're booked: MECC training"
    if moved_from:
        next_calendar_sequence(booking)  # the same calendar entry, at its new time
    queue_for_booking(
        "booking_confirmation",
        booking,
        subject,
        with_ics=True,
        manage_url=manage_url_for(token),
        moved_from=moved_from,
    )


def queue_waiting_list_confirmation(booking: Booking, token: str, position: int | None):
    queue_for_booking(
        "waiting_list_confirmation",
        booking,
        "You're on the waiting list: MECC training",
        manage_url=manage_url_for(token),
        position=position,
    )


def queue_place_offered(booking: Booking, token: str):
    queue_for_booking(
        "place_offered",
        booking,
        "A place is now yours: MECC training",
        with_ics=True,
        manage_url=manage_url_for(token),
    )


def queue_your_link(bookings_and_tokens: list[tuple[Booking, str]], *, already_booked: bool = False):
    """One email per address listing each active booking's fresh link."""
    first = bookings_and_tokens[0][0]
    links = [(booking, manage_url_for(token)) for booking, token in bookings_and_tokens]
    queue_for_booking(
        "your_link",
        first,
        "Your link to manage your MECC training booking",
        links=links,
        already_booked=already_booked,
    )


def queue_move_offer(existing: Booking, requested: TrainingSession, token: str):
    queue_for_booking(
        "move_offer",
        existing,
        "You already have a MECC training booking",
        requested=requested,
        manage_url=manage_url_for(token),
        move_url=external_url("volunteers.move", token=token, to=requested.id),
    )
