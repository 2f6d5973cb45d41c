"""A booking's life, and the one place its status changes.

    new ─► BOOKED ◄─── promoted ─── WAITING ◄─ new
             │  ▲ moved (from either)   │
             │  └───────────────────────┤
             ├─► CANCELLED ◄────────────┘
             └─► ATTENDED ⇄ DID_NOT_ATTEND   (once the session has started; the place stays taken)

Each change is one conditional UPDATE that happens only while the booking is still in the status we saw (so two
concurrent cancels change it once), stamps its time, and records an audit event in the same transaction. Places
are counted by atomic conditional updates on the session row (take_place, release_place): capacity holds under
any concurrency. The volunteers' journey, the roster, session changes and the jobs all call these functions;
none of them assigns a status. Nothing here commits.
"""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from mecc_volunteer import audit, errors
from mecc_volunteer.audit import By
from mecc_volunteer.bookings import emails
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ACTIVE_STATUSES,
    HOLDING_PLACE_STATUSES,
    LONDON,
    AuditAction,
    Booking,
    BookingStatus,
    LinkPurpose,
    SessionStatus,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.templating import format_date, format_datetime, format_session_time
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.transactions import rows_changed

# --- The transitions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    action: AuditAction
    allowed_from: frozenset[BookingStatus]
    to: BookingStatus


PROMOTE = Transition(AuditAction.PROMOTED, frozenset({BookingStatus.WAITING}), BookingStatus.BOOKED)
CANCEL = Transition(AuditAction.CANCELLED, frozenset(ACTIVE_STATUSES), BookingStatus.CANCELLED)
MOVE = Transition(AuditAction.MOVED, frozenset(ACTIVE_STATUSES), BookingStatus.BOOKED)
ATTEND = Transition(AuditAction.ATTENDED, frozenset(HOLDING_PLACE_STATUSES), BookingStatus.ATTENDED)
MISS = Transition(AuditAction.DID_NOT_ATTEND, frozenset(HOLDING_PLACE_STATUSES), BookingStatus.DID_NOT_ATTEND)


class TransitionNotAllowed(errors.DomainError):
    message = "This booking can no longer be changed that way."


class NotOnWaitingList(errors.DomainError):
    message = "This person is not on the waiting list."


def _change(booking: Booking, transition: Transition, *, by: By, now: datetime, detail: str | None = None, **values):
    """Move the booking on, only if it is still in the status we saw. False if someone else changed it first."""
    seen = booking.status
    if seen not in transition.allowed_from:
        raise TransitionNotAllowed()
    changed = rows_changed(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.status == seen)
        .values(status=transition.to, **values)
    )
    db.session.refresh(booking)
    if changed != 1:
        return False
    audit.record(
        transition.action, by=by, now=now, booking=booking, from_status=seen, to_status=transition.to, detail=detail
    )
    return True


def can_change(booking: Booking, *, now: datetime | None = None) -> bool:
    """Cancel, move or promote: an active booking, until its session starts (and unless the session is cancelled)."""
    training_session = booking.training_session
    return (
        booking.is_active and training_session.cancelled_at is None and (now or utcnow()) < training_session.starts_at
    )


# --- Places ---------------------------------------------------------------------------------------------


def lock_session(training_session: TrainingSession) -> None:
    """Every write to a session takes turns (PostgreSQL row lock; SQLite writers already queue), so people
    joining a full session's waiting list at the same moment get distinct, correct positions. The object is
    reloaded under the lock: what another transaction committed while we waited (a cancellation, a new
    capacity) is what the caller's checks then see."""
    db.session.scalars(
        sa.select(TrainingSession)
        .where(TrainingSession.id == training_session.id)
        # With its programme, which the cut-off needs: reloading the session forgets the one it had.
        .options(joinedload(TrainingSession.programme))
        .with_for_update(of=TrainingSession)
        .execution_options(populate_existing=True)
    ).one()


def take_place(training_session: TrainingSession) -> bool:
    """One atomic conditional update: capacity holds whatever the concurrency (never count, then insert). The
    count it leaves comes back with it (RETURNING), so the session object needs no second read."""
    places_taken = db.session.execute(
        sa.update(TrainingSession)
        .where(
            TrainingSession.id == training_session.id,
            TrainingSession.places_taken < TrainingSession.capacity,
            TrainingSession.cancelled_at.is_(None),
        )
        .values(places_taken=TrainingSession.places_taken + 1)
        .returning(TrainingSession.places_taken)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if places_taken is None:
        db.session.refresh(training_session, ["places_taken"])
        return False
    set_committed_value(training_session, "places_taken", places_taken)
    return True


def release_place(training_session: TrainingSession) -> None:
    db.session.execute(
        sa.update(TrainingSession)
        .where(TrainingSession.id == training_session.id, TrainingSession.places_taken > 0)
        .values(places_taken=TrainingSession.places_taken - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(training_session, ["places_taken"])


# --- Booking and waiting ----------------------------------------------------------------------------------


def create(training_session: TrainingSession, volunteer: Volunteer, *, by: By, now: datetime) -> Booking:
    """A new booking: a place if there is one, else the end of the waiting list. The caller holds the session's
    lock and has checked the session takes registrations."""
    # The place (or the place in the queue) first, so the booking is written once, as it is.
    booked, waitlisted_at = take_place(training_session), None
    if not booked:
        # Never ahead of someone already waiting, so queue order is the order registrations committed.
        latest = db.session.scalar(
            sa.select(sa.func.max(Booking.waitlisted_at)).where(
                Booking.training_session_id == training_session.id, Booking.status == BookingStatus.WAITING
            )
        )
        waitlisted_at = max(now, latest) if latest else now
    booking = Booking(
        training_session=training_session,
        volunteer=volunteer,
        session_kind=training_session.kind,
        status=BookingStatus.BOOKED if booked else BookingStatus.WAITING,
        booked_at=now if booked else None,
        waitlisted_at=waitlisted_at,
        created_at=now,
    )
    db.session.add(booking)
    # Flushing here lets the database's one-active-booking index catch a double submission.
    db.session.flush()
    action = AuditAction.BOOKED if booking.status is BookingStatus.BOOKED else AuditAction.WAITLISTED
    audit.record(action, by=by, now=now, booking=booking, to_status=booking.status)
    return booking


def promote_from_waiting_list(
    training_session: TrainingSession, *, by: By, now: datetime | None = None
) -> list[Booking]:
    """Book the first people waiting into free places, while the session still allows it; each is emailed."""
    now = now or utcnow()
    promoted: list[Booking] = []
    if training_session.cancelled_at is not None or now >= training_session.promotion_ends_at:
        return promoted
    while True:
        first = db.session.scalar(
            sa.select(Booking)
            .where(Booking.training_session_id == training_session.id, Booking.status == BookingStatus.WAITING)
            .order_by(Booking.waitlisted_at, Booking.id)
            .limit(1)
        )
        if first is None or not take_place(training_session):
            return promoted
        if not _change(first, PROMOTE, by=by, now=now, detail="next in the queue", booked_at=now, promoted_at=now):
            release_place(training_session)  # someone else moved them on; try the next person
            continue
        token = issue_link(first, LinkPurpose.MANAGE, now=now)
        emails.queue_place_offered(first, token)
        promoted.append(first)


def promote(booking: Booking, *, by: By, now: datetime | None = None) -> Booking:
    """Give a named person on the waiting list a place now, ahead of the queue; they are emailed."""
    now = now or utcnow()
    training_session = booking.training_session
    name = booking.volunteer.display_name
    if booking.status is not BookingStatus.WAITING:
        raise NotOnWaitingList(f"{name} is not on the waiting list.")
    if training_session.cancelled_at is not None:
        raise errors.SessionCancelled()
    if now >= training_session.starts_at:
        raise errors.NotAllowed("This session has already started, so nobody can be booked from the waiting list.")
    lock_session(training_session)
    if not take_place(training_session):
        raise errors.SessionFull(
            "This session is full. Free a place first (cancel or move a booking, or add places to the session)."
        )
    if not _change(booking, PROMOTE, by=by, now=now, detail="chosen by name", booked_at=now, promoted_at=now):
        release_place(training_session)
        raise NotOnWaitingList(f"{name} is no longer on the waiting list.")
    # A new link for this email; the volunteer's earlier links keep working.
    token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
    emails.queue_place_offered(booking, token)
    return booking


# --- Cancelling and moving ---------------------------------------------------------------------------------


def cancel(booking: Booking, *, by: By, now: datetime | None = None) -> list[Booking]:
    """Cancel a booking or a waiting-list place; a freed place goes to the first person waiting, who is emailed.
    Returns the people promoted. Cancelling what is already cancelled (a second tap) changes nothing."""
    now = now or utcnow()
    if booking.status is BookingStatus.CANCELLED:
        return []
    if booking.is_active and now >= booking.training_session.starts_at:
        raise errors.BookingNotActive("This session has already started, so the booking can no longer be cancelled.")
    if not booking.is_active:
        raise errors.BookingNotActive("This booking can no longer be cancelled.")
    held_place = booking.status is BookingStatus.BOOKED
    if not _change(booking, CANCEL, by=by, now=now, cancelled_at=now):
        return cancel(booking, by=by, now=now)  # it changed under us: judge its new status
    if not held_place:
        return []
    release_place(booking.training_session)
    return promote_from_waiting_list(booking.training_session, by=audit.SYSTEM, now=now)


def cancel_with_session(training_session: TrainingSession, *, by: By, now: datetime) -> list[Booking]:
    """The session is being cancelled (the caller holds its lock and has stamped it): cancel every booking and
    waiting-list place on it, freeing their places, and promote nobody."""
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.training_session_id == training_session.id, Booking.status.in_(ACTIVE_STATUSES))
            .order_by(Booking.id)
        )
    )
    cancelled = []
    for booking in bookings:
        held_place = booking.status is BookingStatus.BOOKED
        if _change(booking, CANCEL, by=by, now=now, detail="the session was cancelled", cancelled_at=now):
            cancelled.append(booking)
            if held_place:
                release_place(training_session)
    return cancelled


def move(booking: Booking, target: TrainingSession, *, by: By, now: datetime | None = None) -> Booking:
    """Move an active booking to another session of the same kind that takes registrations and has a place now;
    the place left behind goes to the first person waiting there. The volunteer is emailed the new details."""
    now = now or utcnow()
    if not booking.is_active or now >= booking.training_session.starts_at:
        raise errors.BookingNotActive("This booking is no longer active, so it cannot be moved.")
    if target.id == booking.training_session_id:
        raise errors.AlreadyBooked("You are already booked on this session.")
    if target.kind is not booking.session_kind:
        raise errors.NotAllowed("You can only move to a session of the same kind.")
    check_accepts_registrations(target, now=now)
    if not take_place(target):
        raise errors.SessionFull()

    previous = booking.training_session
    held_place = booking.status is BookingStatus.BOOKED
    if not _change(
        booking,
        MOVE,
        by=by,
        now=now,
        detail=f"from {format_session_time(previous.starts_at, previous.ends_at)}",
        training_session_id=target.id,
        booked_at=now,
        waitlisted_at=None,
        moved_at=now,
        # The old session's joining link is no use for the new one.
        joining_link_sent=None,
        joining_link_sent_at=None,
    ):
        release_place(target)
        raise errors.BookingNotActive("This booking changed while you were moving it. Please try again.")
    if held_place:
        release_place(previous)
        promote_from_waiting_list(previous, by=audit.SYSTEM, now=now)
    # A link of its own in the email, while the link the volunteer is using keeps working.
    token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
    emails.queue_booking_confirmation(booking, token, moved_from=previous)
    return booking


def check_accepts_registrations(
    training_session: TrainingSession, *, now: datetime | None = None, allow_after_cutoff: bool = False
) -> None:
    """A DomainError that says why the session cannot take a booking now. allow_after_cutoff: a coordinator
    adding someone who phoned in late (never to a cancelled or finished session)."""
    status = training_session.status(now or utcnow())
    if status is SessionStatus.CANCELLED:
        raise errors.SessionCancelled()
    if status is SessionStatus.FINISHED:
        raise errors.SessionFinished()
    if status is SessionStatus.CLOSED and not allow_after_cutoff:
        raise errors.RegistrationClosed()


# --- E-learning ---------------------------------------------------------------------------------------------


def record_elearning(booking: Booking, completed_on: date, *, by: By, now: datetime | None = None) -> Booking:
    """The volunteer completed the national e-learning: they say so by their link, or a coordinator records it."""
    now = now or utcnow()
    if not booking.is_active:
        raise errors.BookingNotActive("This booking is no longer active.")
    if completed_on > now.astimezone(LONDON).date():
        raise errors.DomainError("The date you completed the e-learning must be today or in the past.")
    booking.elearning_completed_on = completed_on
    booking.elearning_confirmed_at = now
    actor = audit.actor_of(by)
    booking.elearning_recorded_by_id = actor.staff_user_id
    audit.record(
        AuditAction.ELEARNING_RECORDED,
        by=by,
        now=now,
        booking=booking,
        detail=f"completed on {format_date(completed_on)}",
    )
    return booking


# --- Attendance ---------------------------------------------------------------------------------------------


class AttendanceNotOpen(errors.DomainError):
    message = "Attendance can be recorded once the session has started."


def attendance_is_open(training_session: TrainingSession, *, now: datetime | None = None) -> bool:
    return training_session.cancelled_at is None and (now or utcnow()) >= training_session.starts_at


def _check_attendance_open(training_session: TrainingSession, now: datetime) -> None:
    if training_session.cancelled_at is not None:
        raise errors.SessionCancelled()
    if now < training_session.starts_at:
        raise AttendanceNotOpen(
            f"You can record attendance once the session starts, at {format_datetime(training_session.starts_at)}."
        )


def record_attendance(booking: Booking, attended: bool, *, by: By, now: datetime | None = None) -> Booking:
    """Mark one person as attended or did not attend (and correct it later). Their place stays taken."""
    now = now or utcnow()
    _check_attendance_open(booking.training_session, now)
    if booking.status not in HOLDING_PLACE_STATUSES:
        name, status = booking.volunteer.display_name, booking.status.label.lower()
        raise errors.BookingNotActive(f"Only people with a place can be marked: {name} is {status}.")
    wanted = ATTEND if attended else MISS
    if booking.status is wanted.to:
        return booking  # already marked so: nothing changes, nothing to record
    staff_user_id = audit.actor_of(by).staff_user_id
    if not _change(
        booking, wanted, by=by, now=now, attendance_recorded_at=now, attendance_recorded_by_id=staff_user_id
    ):
        raise errors.BookingNotActive(f"{booking.volunteer.display_name}'s booking changed. Please try again.")
    return booking


def mark_all_attended(training_session: TrainingSession, *, by: By, now: datetime | None = None) -> list[Booking]:
    """Mark everyone still booked (attendance not yet recorded) as attended; others are left as they are."""
    now = now or utcnow()
    _check_attendance_open(training_session, now)
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.training_session_id == training_session.id, Booking.status == BookingStatus.BOOKED)
            .order_by(Booking.id)
        )
    )
    staff_user_id = audit.actor_of(by).staff_user_id
    marked = [
        booking
        for booking in bookings
        if _change(booking, ATTEND, by=by, now=now, attendance_recorded_at=now, attendance_recorded_by_id=staff_user_id)
    ]
    if marked:
        audit.record(
            AuditAction.ALL_MARKED_ATTENDED,
            by=by,
            now=now,
            training_session_id=training_session.id,
            detail=f"{len(marked)} {'person' if len(marked) == 1 else 'people'}",
        )
    return marked
