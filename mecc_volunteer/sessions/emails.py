"""What the coordinator's actions email to volunteers."""

from mecc_volunteer.models import Booking, LinkPurpose
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.volunteers.emails import manage_url_for, queue_for_booking


def queue_session_cancelled(booking: Booking) -> None:
    queue_for_booking("session_cancelled", booking, "Your MECC training session is cancelled")


def queue_session_changed(booking: Booking) -> None:
    # An extra live link: the one in the confirmation email keeps working.
    token = issue_link(booking, LinkPurpose.MANAGE, replace=False)
    queue_for_booking(
        "session_changed",
        booking,
        "Your MECC training session has a new date or time",
        with_ics=booking.status.value == "booked",
        manage_url=manage_url_for(token),
    )


def queue_booking_cancelled_by_coordinator(booking: Booking) -> None:
    queue_for_booking("booking_cancelled", booking, "Your MECC training booking is cancelled")
