"""Attendance: who holds a place on a session, and marking them attended or not once it has started (the
transitions themselves are bookings.lifecycle's). Services flush when they need to and never commit."""

from datetime import datetime

import sqlalchemy as sa

from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.bookings.lifecycle import AttendanceNotOpen, attendance_is_open
from mecc_volunteer.extensions import db
from mecc_volunteer.models import HOLDING_PLACE_STATUSES, Booking, StaffUser, TrainingSession, Volunteer
from mecc_volunteer.sessions.roster import roster_query

__all__ = ["AttendanceNotOpen", "attendance_is_open", "list_attendance", "mark_all_attended", "record_attendance"]


def list_attendance(training_session: TrainingSession) -> list[Booking]:
    """Everyone holding a place, by name, with their volunteer and organisation loaded in the same query."""
    return list(
        db.session.scalars(
            roster_query(training_session)
            .where(Booking.status.in_(HOLDING_PLACE_STATUSES))
            .order_by(sa.func.lower(Volunteer.name), Booking.id)
        )
    )


def record_attendance(booking: Booking, attended: bool, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """Mark one person as attended or did not attend (and correct it later). Their place stays taken."""
    return lifecycle.record_attendance(booking, attended, by=by, now=now)


def mark_all_attended(
    training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None
) -> list[Booking]:
    """Mark everyone still booked (attendance not yet recorded) as attended; others are left as they are."""
    return lifecycle.mark_all_attended(training_session, by=by, now=now)
