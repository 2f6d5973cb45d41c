"""Rules for managing training sessions: create, edit (capacity, times, link), cancel, and the counts
coordinators see. Services flush when they need ids and never commit."""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer import audit, errors, settings
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ACTIVE_STATUSES,
    HOLDING_PLACE_STATUSES,
    LONDON,
    AuditAction,
    Booking,
    BookingStatus,
    Programme,
    SessionKind,
    SessionStatus,
    StaffUser,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.sessions import emails, trainers

MAX_CAPACITY = 500


class CapacityBelowBooked(errors.DomainError):
    pass


class SessionInThePast(errors.DomainError):
    message = "The session must start in the future"


class SessionAlreadyCancelled(errors.DomainError):
    message = "This session is already cancelled."


@dataclass
class SessionDetails:
    """What a coordinator enters for a session; times are Europe/London wall-clock times."""

    day: date
    start: time
    end: time
    kind: SessionKind
    capacity: int
    trainer_name: str | None = None
    # A volunteer trained as a MECC trainer in this pilot (sessions.trainers), when the trainer is one.
    trainer_volunteer_id: int | None = None
    joining_link: str | None = None
    cutoff_days: int | None = None
    allow_late_promotion: bool = False

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.day, self.start, tzinfo=LONDON).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.day, self.end, tzinfo=LONDON).astimezone(UTC)

    @classmethod
    def of(cls, training_session: TrainingSession) -> "SessionDetails":
        start = training_session.starts_at.astimezone(LONDON)
        return cls(
            day=start.date(),
            start=start.time().replace(tzinfo=None),
            end=training_session.ends_at.astimezone(LONDON).time().replace(tzinfo=None),
            kind=training_session.kind,
            capacity=training_session.capacity,
            trainer_name=training_session.trainer_name,
            trainer_volunteer_id=training_session.trainer_volunteer_id,
            joining_link=training_session.joining_link,
            cutoff_days=training_session.cutoff_days,
            allow_late_promotion=training_session.allow_late_promotion,
        )


@dataclass
class SessionCounts:
    booked: int = 0
    waiting: int = 0
    elearning_confirmed: int = 0
    joining_link_sent: int = 0
    attended: int = 0
    did_not_attend: int = 0


@dataclass
class SessionRow:
    training_session: TrainingSession
    status: SessionStatus
    counts: SessionCounts


@dataclass
class UpdateResult:
    training_session: TrainingSession
    promoted: list[Booking]
    times_changed: bool
    link_changed: bool
    had_old_link: int  # how many volunteers were sent the previous joining link
    told_of_new_time: int = 0  # how many people booked or waiting were emailed the new date and time


# --- Reading ------------------------------------------------------------------------------------------


def session_counts(session_ids: list[int]) -> dict[int, SessionCounts]:
    """All the roster counts for many sessions in one grouped query."""
    if not session_ids:
        return {}
    count_if = lambda condition: sa.func.count(sa.case((condition, 1)))  # noqa: E731
    query = (
        sa.select(
            Booking.training_session_id,
            count_if(Booking.status.in_(HOLDING_PLACE_STATUSES)),
            count_if(Booking.status == BookingStatus.WAITING),
            count_if(sa.and_(Booking.status.in_(HOLDING_PLACE_STATUSES), Booking.elearning_confirmed_at.is_not(None))),
            count_if(sa.and_(Booking.status.in_(HOLDING_PLACE_STATUSES), Booking.joining_link_sent_at.is_not(None))),
            count_if(Booking.status == BookingStatus.ATTENDED),
            count_if(Booking.status == BookingStatus.DID_NOT_ATTEND),
        )
        .where(Booking.training_session_id.in_(session_ids))
        .group_by(Booking.training_session_id)
    )
    counts = {session_id: SessionCounts() for session_id in session_ids}
    for session_id, *numbers in db.session.execute(query):
        counts[session_id] = SessionCounts(*numbers)
    return counts


def list_sessions(*, upcoming: bool, now: datetime | None = None) -> list[SessionRow]:
    """Upcoming sessions soonest first, or past ones most recent first, each with its counts."""
    now = now or utcnow()
    query = sa.select(TrainingSession).options(joinedload(TrainingSession.programme))
    if upcoming:
        query = query.where(TrainingSession.ends_at > now).order_by(TrainingSession.starts_at)
    else:
        query = query.where(TrainingSession.ends_at <= now).order_by(TrainingSession.starts_at.desc())
    sessions = list(db.session.scalars(query))
    counts = session_counts([ts.id for ts in sessions])
    return [SessionRow(ts, ts.status(now), counts[ts.id]) for ts in sessions]


def programme_cutoff_days() -> int:
    """How many days before a session registration closes, unless the session says otherwise."""
    return settings.current().cutoff_days


def sessions_at_the_same_time(
    details: SessionDetails, *, other_than: TrainingSession | None = None
) -> list[TrainingSession]:
    """Sessions of the same kind, not cancelled, whose times overlap these (the same start, or any time in
    common; one that ends as this one starts does not): most likely one session entered twice."""
    query = sa.select(TrainingSession).where(
        TrainingSession.kind == details.kind,
        TrainingSession.starts_at < details.ends_at,
        TrainingSession.ends_at > details.starts_at,
        TrainingSession.cancelled_at.is_(None),
    )
    if other_than is not None:
        query = query.where(TrainingSession.id != other_than.id)
    return list(db.session.scalars(query.order_by(TrainingSession.starts_at, TrainingSession.id)))


def get_session_row(training_session: TrainingSession, *, now: datetime | None = None) -> SessionRow:
    now = now or utcnow()
    return SessionRow(
        training_session, training_session.status(now), session_counts([training_session.id])[training_session.id]
    )


# --- Writing ------------------------------------------------------------------------------------------


def _check_times(details: SessionDetails, *, now: datetime, changed: bool) -> None:
    if details.ends_at <= details.starts_at:
        raise errors.DomainError("The end time must be after the start time")
    if changed and details.starts_at <= now:
        raise SessionInThePast()


def _with_trainer(details: SessionDetails, *, keep: int | None, now: datetime) -> SessionDetails:
    """Check the trained trainer chosen (NotATrainedTrainer if they are not one; the session's current one, `keep`,
    stays valid); with no trainer's name entered, theirs is the name volunteers see."""
    if details.trainer_volunteer_id is None:
        return details
    volunteer = trainers.chosen_trainer(details.trainer_volunteer_id, keep=keep, now=now)
    return replace(details, trainer_name=details.trainer_name or volunteer.name)


def create_session(details: SessionDetails, *, by: StaffUser, now: datetime | None = None) -> TrainingSession:
    now = now or utcnow()
    _check_times(details, now=now, changed=True)
    details = _with_trainer(details, keep=None, now=now)
    programme = db.session.scalar(sa.select(Programme).order_by(Programme.id).limit(1))
    if programme is None:
        raise errors.DomainError("Set up the programme first (flask demo load, or an admin).")
    training_session = TrainingSession(
        programme=programme,
        kind=details.kind,
        starts_at=details.starts_at,
        ends_at=details.ends_at,
        capacity=details.capacity,
        places_taken=0,
        trainer_name=details.trainer_name,
        trainer_volunteer_id=details.trainer_volunteer_id,
        joining_link=details.joining_link,
        cutoff_days=details.cutoff_days,
        allow_late_promotion=details.allow_late_promotion,
        created_at=now,
    )
    db.session.add(training_session)
    db.session.flush()
    audit.record(AuditAction.SESSION_CREATED, by=by, now=now, training_session_id=training_session.id)
    return training_session


def update_session(
    training_session: TrainingSession, details: SessionDetails, *, by: StaffUser, now: datetime | None = None
) -> UpdateResult:
    """Edit a session. Capacity never drops below the number booked; raising it books people waiting."""
    now = now or utcnow()
    if training_session.cancelled_at is not None:
        raise SessionAlreadyCancelled("A cancelled session cannot be changed.")
    times_changed = (details.starts_at, details.ends_at) != (training_session.starts_at, training_session.ends_at)
    _check_times(details, now=now, changed=times_changed)
    if details.kind is not training_session.kind and _active_bookings(training_session):
        raise errors.DomainError("The kind of session cannot change once people have booked")
    details = _with_trainer(details, keep=training_session.trainer_volunteer_id, now=now)

    # Lock the row so a registration cannot take a place between the check and the change.
    lifecycle.lock_session(training_session)
    if details.capacity < training_session.places_taken:
        booked = training_session.places_taken
        raise CapacityBelowBooked(
            f"The capacity cannot be less than the {booked} {'person' if booked == 1 else 'people'} booked"
        )
    link_changed = (details.joining_link or None) != (training_session.joining_link or None)
    had_old_link = 0
    if link_changed and training_session.joining_link:
        had_old_link = db.session.execute(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.training_session_id == training_session.id,
                Booking.status == BookingStatus.BOOKED,
                Booking.joining_link_sent.is_not(None),
            )
        ).scalar_one()

    changed = [label for label, before, after in _compare(training_session, details) if before != after]
    training_session.kind = details.kind
    training_session.starts_at = details.starts_at
    training_session.ends_at = details.ends_at
    training_session.capacity = details.capacity
    training_session.trainer_name = details.trainer_name
    training_session.trainer_volunteer_id = details.trainer_volunteer_id
    training_session.joining_link = details.joining_link
    training_session.cutoff_days = details.cutoff_days
    training_session.allow_late_promotion = details.allow_late_promotion
    training_session.updated_at = now
    db.session.flush()
    if changed:
        audit.record(
            AuditAction.SESSION_UPDATED,
            by=by,
            now=now,
            training_session_id=training_session.id,
            detail=", ".join(changed),
        )

    promoted = lifecycle.promote_from_waiting_list(training_session, by=audit.SYSTEM, now=now)
    told = _active_bookings(training_session) if times_changed else []
    for booking in told:
        emails.queue_session_changed(booking)
    return UpdateResult(training_session, promoted, times_changed, link_changed, had_old_link, len(told))


def cancel_session(training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None) -> list[Booking]:
    """Cancel the session and every booking and waiting-list place on it; everyone is emailed."""
    now = now or utcnow()
    # Under the session's lock, as every other write to it: a registration in flight either commits first
    # (and its booking is cancelled and emailed here) or waits and then finds the session cancelled.
    lifecycle.lock_session(training_session)
    if training_session.cancelled_at is not None:
        raise SessionAlreadyCancelled()
    if now >= training_session.ends_at:
        raise errors.DomainError("This session has already taken place, so it cannot be cancelled.")
    training_session.cancelled_at = now
    training_session.cancelled_by_id = by.id
    db.session.flush()
    audit.record(AuditAction.SESSION_CANCELLED, by=by, now=now, training_session_id=training_session.id)
    bookings = lifecycle.cancel_with_session(training_session, by=by, now=now)
    for booking in bookings:
        emails.queue_session_cancelled(booking)
    return bookings


def _compare(training_session: TrainingSession, details: SessionDetails) -> list[tuple[str, object, object]]:
    """(what, before, after) for each field a coordinator can edit, named as the form names it."""
    return [
        ("kind", training_session.kind, details.kind),
        ("date and time", (training_session.starts_at, training_session.ends_at), (details.starts_at, details.ends_at)),
        ("places", training_session.capacity, details.capacity),
        ("trainer", training_session.trainer_name or None, details.trainer_name or None),
        ("trained trainer", training_session.trainer_volunteer_id, details.trainer_volunteer_id),
        ("joining link", training_session.joining_link or None, details.joining_link or None),
        ("cut-off", training_session.cutoff_days, details.cutoff_days),
        ("late promotion", training_session.allow_late_promotion, details.allow_late_promotion),
    ]


def _active_bookings(training_session: TrainingSession) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .options(joinedload(Booking.volunteer))
            .where(Booking.training_session_id == training_session.id, Booking.status.in_(ACTIVE_STATUSES))
            .order_by(Booking.id)
        )
    )


def parse_time(value: str) -> time | None:
    """'10:30', '10.30', '10:30am', '2pm', '14:00' -> time; None if it is not a time of day."""
    text = value.strip().lower().replace(" ", "")
    suffix = None
    if text.endswith(("am", "pm")):
        text, suffix = text[:-2], text[-2:]
    hours, _, minutes = text.replace(".", ":").partition(":")
    if not (
        hours.isascii()
        and hours.isdigit()
        and (minutes == "" or (minutes.isascii() and minutes.isdigit() and len(minutes) == 2))
    ):
        return None
    hour, minute = int(hours), int(minutes or 0)
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)
