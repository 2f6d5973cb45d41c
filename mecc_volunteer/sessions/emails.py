"""What the coordinator's actions email to volunteers."""

from mecc_volunteer.bookings.emails import manage_url_for, queue_for_booking
from mecc_volunteer.calendar import next_calendar_sequence
from mecc_volunteer.models import Booking, LinkPurpose
from mecc_volunteer.tokens import issue_link


def _had_calendar_invite(booking: Booking) -> bool:
    """Booked at some point (a place on the waiting list alone comes without an .ics)."""
    return booking.booked_at is not None


def queue_session_cancelled(booking: Booking) -> None:
    # A cancelled event with a higher SEQUENCE takes the entry out of the volunteer's calendar.
    invited = _had_calendar_invite(booking)
    if invited:
        next_calendar_sequence(booking)
    queue_for_booking("session_cancelled", booking, "Your MECC training session is cancelled", with_ics=invited)


def queue_session_changed(booking: Booking) -> None:
    # An extra live link: the one in the confirmation email keeps working.
    token = issue_link(booking, LinkPurpose.MANAGE, replace=False)
    next_calendar_sequence(booking)  # the same calendar entry, at its new time
    queue_for_booking(
        "session_changed",
        booking,
        "Your MECC training session has a new date or time",
        with_ics=booking.status.value == "booked",
        manage_url=manage_url_for(token),
    )


def queue_booking_cancelled_by_coordinator(booking: Booking) -> None:
    invited = _had_calendar_invite(booking)
    if invited:
        next_calendar_sequence(booking)
    queue_for_booking("booking_cancelled", booking, "Your MECC training booking is cancelled", with_ics=invited)
