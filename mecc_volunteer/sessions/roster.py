"""A session's roster: who is booked or waiting, with what a coordinator may do with each booking now,
searching and filtering it (and the email addresses of the people it shows), each booking's history, the
printable attendance register and the trainer's CSV. Acting on a booking is in roster_actions."""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import contains_eager

from mecc_volunteer import audit
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    LONDON,
    AuditEvent,
    Booking,
    BookingStatus,
    Organisation,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.search import LIKE_ESCAPE, contains_pattern
from mecc_volunteer.volunteers import services as volunteer_services

MAX_SEARCH_LENGTH = 100
# Some email programs cut a longer mailto: link short, or refuse it (Outlook's limit is about 2,000 characters).
MAX_MAILTO_LENGTH = 2000


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
    # Everything that happened to the booking, oldest first (the audit trail).
    history: tuple[AuditEvent, ...] = ()


@dataclass
class Roster:
    rows: list[RosterRow]
    total: int  # everyone on the roster, before the search and filter
    filtered: bool
    counts: dict[BookingStatus, int] = field(default_factory=dict)


def roster_query(training_session: TrainingSession) -> sa.Select:
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
    counts = dict.fromkeys(BookingStatus, 0)
    query = (
        sa.select(Booking.status, sa.func.count(Booking.id))
        .where(Booking.training_session_id == training_session.id)
        .group_by(Booking.status)
    )
    for status, count in db.session.execute(query):
        counts[status] = count
    return counts


def filtered_bookings(
    training_session: TrainingSession,
    *,
    search: str = "",
    status: BookingStatus | None = None,
    elearning_not_done: bool = False,
) -> list[Booking]:
    """The session's bookings that the roster's search and filter show, in the roster's order: places first,
    then the waiting list in order, then cancellations.

    search matches name, email or organisation anywhere, ignoring case; status narrows to one status;
    elearning_not_done to the people booked who have not confirmed the e-learning."""
    query = roster_query(training_session)
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
    if elearning_not_done:
        query = query.where(Booking.status == BookingStatus.BOOKED, Booking.elearning_confirmed_at.is_(None))
    group = sa.case(
        (Booking.status.in_(HOLDING_PLACE_STATUSES), 0),
        (Booking.status == BookingStatus.WAITING, 1),
        else_=2,
    )
    # The queue in its order; everyone else by name (a CASE, so NULL ordering never differs between databases).
    queue_order = sa.case((Booking.status == BookingStatus.WAITING, Booking.waitlisted_at))
    query = query.order_by(group, queue_order, sa.func.lower(Volunteer.name), Booking.id)
    return list(db.session.scalars(query))


def list_roster(
    training_session: TrainingSession,
    *,
    search: str = "",
    status: BookingStatus | None = None,
    elearning_not_done: bool = False,
    now: datetime | None = None,
) -> Roster:
    """The session's bookings that the search and filter show (filtered_bookings), with what a coordinator
    may do with each now."""
    now = now or utcnow()
    bookings = filtered_bookings(training_session, search=search, status=status, elearning_not_done=elearning_not_done)

    positions = waiting_positions(training_session)
    counts = status_counts(training_session)
    any_move_target = bool(
        volunteer_services.list_sessions_with_places(training_session.kind, other_than=training_session, now=now)
    )
    histories = audit.histories([booking.id for booking in bookings])
    rows = []
    for booking in bookings:
        can_change = lifecycle.can_change(booking, now=now)
        rows.append(
            RosterRow(
                booking=booking,
                waiting_position=positions.get(booking.id),
                can_cancel=can_change,
                can_promote=can_change and booking.status is BookingStatus.WAITING,
                can_move=can_change and any_move_target,
                can_record_elearning=booking.is_active and not booking.elearning_confirmed,
                history=tuple(histories[booking.id]),
            )
        )
    return Roster(
        rows=rows,
        total=sum(counts.values()),
        filtered=bool(search.strip() or status or elearning_not_done),
        counts=counts,
    )


@dataclass(frozen=True)
class EmailAddresses:
    """The addresses of the people the roster shows, for the coordinator's own email program."""

    addresses: tuple[str, ...]
    text: str  # separated by "; ", to paste into To, Cc or Bcc
    mailto: str | None  # a mailto: link with them all in Bcc, or None if it would be too long for email programs


def email_addresses(
    training_session: TrainingSession,
    *,
    search: str = "",
    status: BookingStatus | None = None,
    elearning_not_done: bool = False,
) -> EmailAddresses:
    """The email addresses of exactly the rows the roster's search and filter show (filtered_bookings), each
    once, in the roster's order. A volunteer whose personal data has been removed has no address to give."""
    bookings = filtered_bookings(training_session, search=search, status=status, elearning_not_done=elearning_not_done)
    addresses: list[str] = []
    seen: set[str] = set()
    for booking in bookings:
        address = booking.volunteer.email
        if address and address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    # Each address percent-encoded, so no address can add a header (?, &, =) or split another (, ;).
    mailto = "mailto:?bcc=" + ",".join(quote(address, safe="@") for address in addresses)
    return EmailAddresses(
        addresses=tuple(addresses),
        text="; ".join(addresses),
        mailto=mailto if addresses and len(mailto) <= MAX_MAILTO_LENGTH else None,
    )


def register_bookings(training_session: TrainingSession) -> list[Booking]:
    """The attendance register: everyone with a place (booked, or already marked), by name; nobody waiting
    or cancelled."""
    return list(
        db.session.scalars(
            roster_query(training_session)
            .where(Booking.status.in_(HOLDING_PLACE_STATUSES))
            .order_by(sa.func.lower(Volunteer.name), Booking.id)
        )
    )


def booking_or_404(training_session: TrainingSession, booking_id: int) -> Booking:
    """The booking if it belongs to this session (so a URL cannot reach another session's bookings), else 404."""
    booking = get_booking(training_session, booking_id)
    if booking is None:
        abort(404)
    return booking


def get_booking(training_session: TrainingSession, booking_id: int) -> Booking | None:
    """The booking if it belongs to this session (so a URL cannot reach another session's bookings)."""
    return db.session.scalar(roster_query(training_session).where(Booking.id == booking_id))


# --- The trainer's CSV ----------------------------------------------------------------------------------


def roster_rows(
    training_session: TrainingSession, *, statuses: tuple[BookingStatus, ...] = HOLDING_PLACE_STATUSES
) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) for the trainer: names, organisations and status only; people with a place by default."""
    bookings = db.session.scalars(
        roster_query(training_session)
        .where(Booking.status.in_(statuses))
        .order_by(sa.func.lower(Volunteer.name), Booking.id)
    )
    headers = ["Name", "Organisation", "Status"]
    return headers, [[b.volunteer.display_name, b.volunteer.organisation_name, b.status.label] for b in bookings]


def roster_filename(training_session: TrainingSession) -> str:
    return f"roster-{training_session.starts_at.astimezone(LONDON).date().isoformat()}.csv"
