"""A session's roster: who is booked or waiting, searching it, acting on one booking (cancel, promote,
move, add by hand), attendance, and the trainer's CSV. Services flush when they need to and never commit."""

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from mecc_volunteer import errors
from mecc_volunteer.extensions import db
from mecc_volunteer.search import LIKE_ESCAPE, contains_pattern
from mecc_volunteer.sessions import emails
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    LONDON,
    Booking,
    BookingStatus,
    LinkPurpose,
    Organisation,
    SessionStatus,
    StaffUser,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.templating import format_datetime, format_session_time
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.bookings import emails as booking_emails
from mecc_volunteer.volunteers import services as volunteer_services

MAX_SEARCH_LENGTH = 100


class AttendanceNotOpen(errors.DomainError):
    message = "Attendance can be recorded once the session has started."


class NotOnWaitingList(errors.DomainError):
    message = "This person is not on the waiting list."


class AlreadyOnThisSession(errors.DomainError):
    message = "This person is already booked on this session."


class BookedOnAnotherSession(errors.DomainError):
    message = "This person already has a booking on another session of this kind."


# --- Reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    """One booking on the roster, with what a coordinator may do with it now (templates never decide)."""

    booking: Booking
    waiting_position: int | None = None
    can_cancel: bool = False
    can_promote: bool = False
    can_move: bool = False
    can_record_elearning: bool = False


@dataclass
class Roster:
    rows: list[RosterRow]
    total: int  # everyone on the roster, before the search and filter
    filtered: bool
    counts: dict[BookingStatus, int] = field(default_factory=dict)


def _roster_query(training_session: TrainingSession) -> sa.Select:
    """Bookings with their volunteer and organisation, loaded in the same query (no N+1)."""
    return (
        sa.select(Booking)
        .join(Booking.volunteer)
        .join(Volunteer.organisation)
        .options(contains_eager(Booking.volunteer).contains_eager(Volunteer.organisation))
        .where(Booking.training_session_id == training_session.id)
    )


def waiting_positions(training_session: TrainingSession) -> dict[int, int]:
    """Booking id -> place in the queue (1 is next), first come, first served."""
    ids = db.session.scalars(
        sa.select(Booking.id)
        .where(Booking.training_session_id == training_session.id, Booking.status == BookingStatus.WAITING)
        .order_by(Booking.waitlisted_at, Booking.id)
    )
    return {booking_id: position for position, booking_id in enumerate(ids, start=1)}


def status_counts(training_session: TrainingSession) -> dict[BookingStatus, int]:
    counts = {status: 0 for status in BookingStatus}
    query = (
        sa.select(Booking.status, sa.func.count(Booking.id))
        .where(Booking.training_session_id == training_session.id)
        .group_by(Booking.status)
    )
    for status, count in db.session.execute(query):
        counts[status] = count
    return counts


def list_roster(
    training_session: TrainingSession,
    *,
    search: str = "",
    status: BookingStatus | None = None,
    now: datetime | None = None,
) -> Roster:
    """The session's bookings: places first, then the waiting list in order, then cancellations.

    search matches name, email or organisation anywhere, ignoring case; status narrows to one status."""
    now = now or utcnow()
    query = _roster_query(training_session)
    search = search.strip()[:MAX_SEARCH_LENGTH]
    if search:
        pattern = contains_pattern(search)
        query = query.where(
            sa.or_(
                Volunteer.name.ilike(pattern, escape=LIKE_ESCAPE),
                Volunteer.email.ilike(pattern, escape=LIKE_ESCAPE),
                Organisation.name.ilike(pattern, escape=LIKE_ESCAPE),
                Volunteer.organisation_other.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    if status is not None:
        query = query.where(Booking.status == status)
    group = sa.case(
        (Booking.status.in_(HOLDING_PLACE_STATUSES), 0),
        (Booking.status == BookingStatus.WAITING, 1),
        else_=2,
    )
    # The queue in its order; everyone else by name (a CASE, so NULL ordering never differs between databases).
    queue_order = sa.case((Booking.status == BookingStatus.WAITING, Booking.waitlisted_at))
    query = query.order_by(group, queue_order, sa.func.lower(Volunteer.name), Booking.id)
    bookings = list(db.session.scalars(query))

    positions = waiting_positions(training_session)
    counts = status_counts(training_session)
    changes_allowed = training_session.cancelled_at is None and now < training_session.starts_at
    can_move = changes_allowed and bool(_move_targets(training_session, now=now))
    rows = [
        RosterRow(
            booking=booking,
            waiting_position=positions.get(booking.id),
            can_cancel=changes_allowed and booking.is_active,
            can_promote=changes_allowed and booking.status is BookingStatus.WAITING,
            can_move=can_move and booking.is_active,
            can_record_elearning=booking.is_active and not booking.elearning_confirmed,
        )
        for booking in bookings
    ]
    return Roster(rows=rows, total=sum(counts.values()), filtered=bool(search or status), counts=counts)


def _move_targets(training_session: TrainingSession, *, now: datetime) -> list:
    """Other sessions of the same kind with a place now (the same rule as a volunteer's Move page)."""
    return [
        summary
        for summary in volunteer_services.list_upcoming_sessions(now=now, kind=training_session.kind)
        if summary.training_session.id != training_session.id
        and summary.status in (SessionStatus.OPEN, SessionStatus.FEW_PLACES)
    ]


def get_booking(training_session: TrainingSession, booking_id: int) -> Booking | None:
    """The booking if it belongs to this session (so a URL cannot reach another session's bookings)."""
    return db.session.scalar(_roster_query(training_session).where(Booking.id == booking_id))


def list_attendance(training_session: TrainingSession) -> list[Booking]:
    """Everyone holding a place, by name."""
    return list(
        db.session.scalars(
            _roster_query(training_session)
            .where(Booking.status.in_(HOLDING_PLACE_STATUSES))
            .order_by(sa.func.lower(Volunteer.name), Booking.id)
        )
    )


def attendance_is_open(training_session: TrainingSession, *, now: datetime | None = None) -> bool:
    return training_session.cancelled_at is None and (now or utcnow()) >= training_session.starts_at


# --- Acting on one booking ------------------------------------------------------------------------------


@dataclass
class CancelResult:
    booking: Booking
    promoted: list[Booking]


def cancel_from_roster(booking: Booking, *, by: StaffUser, now: datetime | None = None) -> CancelResult:
    """Cancel a booking or waiting-list place; a freed place goes to the first person waiting, who is emailed."""
    now = now or utcnow()
    if booking.status is BookingStatus.CANCELLED:
        raise errors.BookingNotActive(f"{booking.volunteer.name}'s booking is already cancelled.")
    if not booking.is_active:
        raise errors.BookingNotActive(f"{booking.volunteer.name}'s booking can no longer be cancelled.")
    volunteer_services.cancel_booking(booking, now=now)
    emails.queue_booking_cancelled_by_coordinator(booking)
    promoted = list(
        db.session.scalars(
            sa.select(Booking).where(
                Booking.training_session_id == booking.training_session_id,
                Booking.status == BookingStatus.BOOKED,
                Booking.promoted_at == now,
            )
        )
    )
    return CancelResult(booking, promoted)


def promote_booking(booking: Booking, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """Give a named person on the waiting list a place now, ahead of the queue; they are emailed.

    The place is taken by the same atomic conditional update as a registration, so capacity holds."""
    now = now or utcnow()
    training_session = booking.training_session
    if booking.status is not BookingStatus.WAITING:
        raise NotOnWaitingList(f"{booking.volunteer.name} is not on the waiting list.")
    if training_session.cancelled_at is not None:
        raise errors.SessionCancelled()
    if now >= training_session.starts_at:
        raise errors.NotAllowed("This session has already started, so nobody can be booked from the waiting list.")
    volunteer_services.lock_session(training_session)
    if not volunteer_services.take_place(training_session):
        raise errors.SessionFull(
            "This session is full. Free a place first (cancel or move a booking, or add places to the session)."
        )
    moved_on = db.session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.WAITING)
        .values(status=BookingStatus.BOOKED, booked_at=now, promoted_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved_on.rowcount != 1:
        volunteer_services.release_place(training_session)
        db.session.refresh(booking)
        raise NotOnWaitingList(f"{booking.volunteer.name} is no longer on the waiting list.")
    db.session.refresh(booking)
    # A new link for this email; the volunteer's earlier links keep working.
    token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
    booking_emails.queue_place_offered(booking, token)
    return booking


def list_sessions_to_move_to(booking: Booking, *, now: datetime | None = None):
    return volunteer_services.list_sessions_to_move_to(booking, now=now)


def move_from_roster(
    booking: Booking, target: TrainingSession | None, *, by: StaffUser, now: datetime | None = None
) -> Booking:
    """Move a booking to another session of the same kind that has a place (the volunteer is emailed)."""
    if target is None:
        raise errors.SessionNotFound()
    return volunteer_services.move_booking(booking, target, now=now)


def record_elearning(booking: Booking, completed_on: date, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """A coordinator records the e-learning for a volunteer (e.g. after a phone call)."""
    return volunteer_services.confirm_elearning(booking, completed_on, by=by, now=now)


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
    volunteer_services.check_accepts_registrations(training_session, now=now, allow_after_cutoff=True)
    volunteer = db.session.scalar(
        sa.select(Volunteer).where(Volunteer.email_normalised == volunteer_services.normalise_email(details.email))
    )
    if volunteer is not None:
        existing = volunteer_services.active_booking(volunteer, training_session.kind)
        if existing is not None:
            _refuse_existing(existing, training_session)
    result = volunteer_services.register(training_session, details, config=config, now=now, allow_after_cutoff=True)
    if result.outcome not in (volunteer_services.Outcome.BOOKED, volunteer_services.Outcome.WAITING):
        _refuse_existing(result.booking, training_session)  # booked by someone else a moment ago
    return result


def reason_cannot_add(training_session: TrainingSession, *, now: datetime | None = None) -> str | None:
    """Why nobody can be added by hand now (a cancelled or finished session), or None."""
    try:
        volunteer_services.check_accepts_registrations(training_session, now=now, allow_after_cutoff=True)
    except errors.DomainError as error:
        return error.message
    return None


def _refuse_existing(existing: Booking, training_session: TrainingSession):
    where = "on the waiting list for" if existing.status is BookingStatus.WAITING else "booked on"
    if existing.training_session_id == training_session.id:
        raise AlreadyOnThisSession(f"{existing.volunteer.name} is already {where} this session.")
    other = existing.training_session
    raise BookedOnAnotherSession(
        f"{existing.volunteer.name} is already {where} the session on "
        f"{format_session_time(other.starts_at, other.ends_at)}. To change it, use Move on that session's roster."
    )


# --- Attendance -----------------------------------------------------------------------------------------


def _check_attendance_open(training_session: TrainingSession, now: datetime) -> None:
    if training_session.cancelled_at is not None:
        raise errors.SessionCancelled()
    if now < training_session.starts_at:
        raise AttendanceNotOpen(
            f"You can record attendance once the session starts, at {format_datetime(training_session.starts_at)}."
        )


def record_attendance(booking: Booking, attended: bool, *, by: StaffUser, now: datetime | None = None) -> Booking:
    """Mark one person as attended or did not attend (and correct it later). Their place stays taken."""
    now = now or utcnow()
    _check_attendance_open(booking.training_session, now)
    if booking.status not in HOLDING_PLACE_STATUSES:
        raise errors.BookingNotActive(
            f"Only people with a place can be marked: {booking.volunteer.name} is {booking.status.label.lower()}."
        )
    result = db.session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(HOLDING_PLACE_STATUSES))
        .values(
            status=BookingStatus.ATTENDED if attended else BookingStatus.DID_NOT_ATTEND,
            attendance_recorded_at=now,
            attendance_recorded_by_id=by.id,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(booking)
    if result.rowcount != 1:
        raise errors.BookingNotActive(f"{booking.volunteer.name}'s booking changed. Please try again.")
    return booking


def mark_all_attended(
    training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None
) -> list[Booking]:
    """Mark everyone still booked (attendance not yet recorded) as attended; others are left as they are."""
    now = now or utcnow()
    _check_attendance_open(training_session, now)
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.training_session_id == training_session.id, Booking.status == BookingStatus.BOOKED)
            .order_by(Booking.id)
            .with_for_update()
        )
    )
    for booking in bookings:
        booking.status = BookingStatus.ATTENDED
        booking.attendance_recorded_at = now
        booking.attendance_recorded_by_id = by.id
    db.session.flush()
    return bookings


# --- The trainer's CSV ----------------------------------------------------------------------------------


def roster_rows(
    training_session: TrainingSession, *, statuses: tuple[BookingStatus, ...] = HOLDING_PLACE_STATUSES
) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) for the trainer: names, organisations and status only; people with a place by default."""
    bookings = db.session.scalars(
        _roster_query(training_session)
        .where(Booking.status.in_(statuses))
        .order_by(sa.func.lower(Volunteer.name), Booking.id)
    )
    headers = ["Name", "Organisation", "Status"]
    return headers, [[b.volunteer.name, b.volunteer.organisation_name, b.status.label] for b in bookings]


def roster_filename(training_session: TrainingSession) -> str:
    return f"roster-{training_session.starts_at.astimezone(LONDON).date().isoformat()}.csv"
