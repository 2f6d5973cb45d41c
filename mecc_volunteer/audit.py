"""Who did what: every change to a booking, session, staff account, reference list or setting, and every message
sent, is recorded here (SPEC 5).

Services take `by=`: a StaffUser (a coordinator's action), or VOLUNTEER (by their personal link) or SYSTEM (the
jobs runner, an operator's command). Each service records in the same transaction as its change, so a change
that rolls back leaves no trace and one that commits always has its row."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from mecc_volunteer.extensions import db
from mecc_volunteer.models import ActorKind, AuditAction, AuditEvent, Booking, BookingStatus, StaffUser, utcnow


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    staff_user_id: int | None = None


VOLUNTEER = Actor(ActorKind.VOLUNTEER)
SYSTEM = Actor(ActorKind.SYSTEM)

# Who may be named as `by`.
By = StaffUser | Actor


def actor_of(by: By) -> Actor:
    if isinstance(by, StaffUser):
        return Actor(ActorKind.STAFF, by.id)
    return by


def record(
    action: AuditAction,
    *,
    by: By,
    now: datetime | None = None,
    booking: Booking | None = None,
    training_session_id: int | None = None,
    from_status: BookingStatus | None = None,
    to_status: BookingStatus | None = None,
    detail: str | None = None,
    target_staff_user: StaffUser | None = None,
    volunteer_id: int | None = None,
) -> AuditEvent:
    """Add one row to the trail. detail holds counts, ids and field names: never a name, address or link.
    target_staff_user is the account an admin action is about; volunteer_id the person a data request is about."""
    actor = actor_of(by)
    if booking is not None and training_session_id is None:
        training_session_id = booking.training_session_id
    event = AuditEvent(
        at=now or utcnow(),
        action=action,
        actor_kind=actor.kind,
        staff_user_id=actor.staff_user_id,
        training_session_id=training_session_id,
        booking_id=booking.id if booking is not None else None,
        from_status=from_status,
        to_status=to_status,
        detail=detail,
        target_staff_user_id=target_staff_user.id if target_staff_user is not None else None,
        volunteer_id=volunteer_id,
    )
    db.session.add(event)
    return event


def record_messages(
    action: AuditAction, training_session_id: int, bookings: list[Booking], *, by: By, now: datetime | None = None
) -> None:
    """A batch of messages: a row in each person's booking history, and one on the session with the count."""
    if not bookings:
        return
    for booking in bookings:
        record(action, by=by, now=now, booking=booking)
    people = len(bookings)
    record(
        action,
        by=by,
        now=now,
        training_session_id=training_session_id,
        detail=f"{people} {'person' if people == 1 else 'people'}",
    )


def booking_history(booking: Booking) -> list[AuditEvent]:
    """Everything that happened to one booking, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .options(selectinload(AuditEvent.staff_user))
            .where(AuditEvent.booking_id == booking.id)
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def histories(booking_ids: list[int]) -> dict[int, list[AuditEvent]]:
    """Booking id -> its history, oldest first, for a whole roster in one query."""
    found: dict[int, list[AuditEvent]] = {booking_id: [] for booking_id in booking_ids}
    if not booking_ids:
        return found
    events = db.session.scalars(
        sa.select(AuditEvent)
        .options(selectinload(AuditEvent.staff_user))
        .where(AuditEvent.booking_id.in_(booking_ids))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    for event in events:
        found.setdefault(event.booking_id or 0, []).append(event)
    return found


# Messages to single volunteers: each shows in its booking's history; a session's recent actions show the batch.
_PER_BOOKING_MESSAGES = (
    AuditAction.JOINING_LINK_SENT,
    AuditAction.ELEARNING_REMINDER_SENT,
    AuditAction.DAY_BEFORE_REMINDER_SENT,
    AuditAction.EVALUATION_INVITATION_SENT,
    AuditAction.EVALUATION_REMINDER_SENT,
    AuditAction.FOLLOWUP_INVITATION_SENT,
)


def recent_session_actions(training_session_id: int, *, limit: int = 10) -> list[AuditEvent]:
    """The latest changes on a session, newest first: to the session itself and to its bookings, and each
    batch of messages (one row per send, with how many people it reached)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .options(
                selectinload(AuditEvent.staff_user), selectinload(AuditEvent.booking).joinedload(Booking.volunteer)
            )
            .where(
                AuditEvent.training_session_id == training_session_id,
                sa.or_(AuditEvent.booking_id.is_(None), AuditEvent.action.not_in(_PER_BOOKING_MESSAGES)),
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


# --- The trail for admins ------------------------------------------------------------------------------

ACTIVITY_GROUPS: dict[str, tuple[str, frozenset[AuditAction]]] = {
    "staff": (
        "Staff accounts and sign-in",
        frozenset(
            {
                AuditAction.STAFF_CREATED,
                AuditAction.STAFF_INVITED,
                AuditAction.PASSWORD_SET,
                AuditAction.PASSWORD_RESET_SENT,
                AuditAction.ROLE_CHANGED,
                AuditAction.STAFF_DEACTIVATED,
                AuditAction.STAFF_REACTIVATED,
                AuditAction.SIGNED_OUT_EVERYWHERE,
                AuditAction.SECOND_FACTOR_ENROLLED,
                AuditAction.SECOND_FACTOR_RESET,
                AuditAction.RECOVERY_CODES_REGENERATED,
                AuditAction.RECOVERY_CODE_USED,
            }
        ),
    ),
    "settings": (
        "Organisations, areas and settings",
        frozenset(
            {
                AuditAction.ORGANISATION_ADDED,
                AuditAction.ORGANISATION_CHANGED,
                AuditAction.ORGANISATION_RETIRED,
                AuditAction.ORGANISATION_RESTORED,
                AuditAction.ORGANISATION_TYPE_ADDED,
                AuditAction.ORGANISATION_TYPE_CHANGED,
                AuditAction.ORGANISATION_TYPE_RETIRED,
                AuditAction.ORGANISATION_TYPE_RESTORED,
                AuditAction.AREA_ADDED,
                AuditAction.AREA_CHANGED,
                AuditAction.AREA_RETIRED,
                AuditAction.AREA_RESTORED,
                AuditAction.SETTINGS_CHANGED,
            }
        ),
    ),
    "data": (
        "Personal data and retention",
        frozenset(
            {
                AuditAction.DATA_DOWNLOADED,
                AuditAction.DATA_DELETED,
                AuditAction.IDENTITY_REMOVED,
                AuditAction.PRIVACY_NOTICE_ACKNOWLEDGED,
                AuditAction.RETENTION_RUN,
            }
        ),
    ),
}
ACTIVITY_PAGE_SIZE = 50


def activity(group: str | None = None, *, before_id: int | None = None, limit: int = ACTIVITY_PAGE_SIZE):
    """The trail newest first, a page at a time (keyset on the id), optionally one group of actions; "bookings"
    is everything outside the named groups (bookings, sessions and messages). Returns (events, more)."""
    query = sa.select(AuditEvent).options(
        selectinload(AuditEvent.staff_user), selectinload(AuditEvent.target_staff_user)
    )
    if group in ACTIVITY_GROUPS:
        query = query.where(AuditEvent.action.in_(ACTIVITY_GROUPS[group][1]))
    elif group == "bookings":
        named = frozenset().union(*(actions for _, actions in ACTIVITY_GROUPS.values()))
        query = query.where(AuditEvent.action.not_in(named))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    events = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    return events[:limit], len(events) > limit
