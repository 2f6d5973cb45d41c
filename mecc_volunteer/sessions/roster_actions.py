"""What a coordinator does to one booking from the roster: cancel, promote, move, record the e-learning, and add
someone by hand. The rules of a booking's life are in bookings.lifecycle; this adds the roster's checks and
messages, which name the volunteer. Services flush when they need to and never commit."""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from mecc_volunteer import errors
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, SessionSummary, StaffUser, TrainingSession, Volunteer, utcnow
from mecc_volunteer.sessions import emails
from mecc_volunteer.templating import format_session_time
from mecc_volunteer.validation import normalise_email
from mecc_volunteer.volunteers import services as volunteer_services


class AlreadyOnThisSession(errors.DomainError):
    message = "This person is already booked on this session."


class BookedOnAnotherSession(errors.DomainError):
    message = "This person already has a booking on another session of this kind."


@dataclass
class CancelResult:
    booking: Booking
    promoted: list[Booking]


def cancel_from_roster(booking: Booking, *, by: StaffUser, now: datetime | None = None) -> CancelResult:
    """Cancel a booking or waiting-list place; a freed place goes to the first person waiting, who is emailed."""
    if booking.status is BookingStatus.CANCELLED:
        raise errors.BookingNotActive(f"{booking.volunteer.display_name}'s booking is already cancelled.")
    if not booking.is_active:
        raise errors.BookingNotActive(f"{booking.volunteer.display_name}'s booking can no longer be cancelled.")
    promoted = lifecycle.cancel(booking, by=by, now=now)
    emails.queue_booking_cancelled_by_coordinator(booking)
    return CancelResult(booking, promoted)


def promote_booking(booking: Booking, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """Give a named person on the waiting list a place now, ahead of the queue; they are emailed."""
    return lifecycle.promote(booking, by=by, now=now)


def list_sessions_to_move_to(booking: Booking, *, now: datetime | None = None) -> list[SessionSummary]:
    return volunteer_services.list_sessions_to_move_to(booking, now=now)


def move_from_roster(
    booking: Booking, target: TrainingSession | None, *, by: StaffUser, now: datetime | None = None
) -> Booking:
    """Move a booking to another session of the same kind that has a place (the volunteer is emailed)."""
    if target is None:
        raise errors.SessionNotFound()
    return lifecycle.move(booking, target, by=by, now=now)


def record_elearning(booking: Booking, completed_on: date, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """A coordinator records the e-learning for a volunteer (e.g. after a phone call)."""
    return lifecycle.record_elearning(booking, completed_on, by=by, now=now)


# --- Adding a volunteer by hand -------------------------------------------------------------------------


def add_volunteer(
    training_session: TrainingSession,
    details: volunteer_services.RegistrationDetails,
    *,
    by: StaffUser,
    config: dict,
    now: datetime | None = None,
) -> volunteer_services.RegistrationResult:
    """Register someone who phoned in, through the same rules as the public form (capacity, waiting
    list, one active booking per kind, confirmation email with their link), also after the cut-off.

    Someone who already holds a booking of this kind is not emailed again: the coordinator is told."""
    now = now or utcnow()
    lifecycle.check_accepts_registrations(training_session, now=now, allow_after_cutoff=True)
    volunteer = db.session.scalar(
        sa.select(Volunteer).where(Volunteer.email_normalised == normalise_email(details.email))
    )
    if volunteer is not None:
        existing = volunteer_services.active_booking(volunteer, training_session.kind)
        if existing is not None:
            _refuse_existing(existing, training_session)
    result = volunteer_services.register(
        training_session, details, by=by, config=config, now=now, allow_after_cutoff=True
    )
    if result.outcome not in (volunteer_services.Outcome.BOOKED, volunteer_services.Outcome.WAITING):
        _refuse_existing(result.booking, training_session)  # booked by someone else a moment ago
    return result


def reason_cannot_add(training_session: TrainingSession, *, now: datetime | None = None) -> str | None:
    """Why nobody can be added by hand now (a cancelled or finished session), or None."""
    try:
        lifecycle.check_accepts_registrations(training_session, now=now, allow_after_cutoff=True)
    except errors.DomainError as error:
        return error.message
    return None


def _refuse_existing(existing: Booking, training_session: TrainingSession):
    where = "on the waiting list for" if existing.status is BookingStatus.WAITING else "booked on"
    if existing.training_session_id == training_session.id:
        raise AlreadyOnThisSession(f"{existing.volunteer.display_name} is already {where} this session.")
    other = existing.training_session
    raise BookedOnAnotherSession(
        f"{existing.volunteer.display_name} is already {where} the session on "
        f"{format_session_time(other.starts_at, other.ends_at)}. To change it, use Move on that session's roster."
    )
