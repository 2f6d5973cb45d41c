"""Volunteer link secrets: 256 random bits, stored only as a SHA-256, scoped to one booking and purpose."""

import hashlib
import hmac
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, LinkPurpose, PersonalLink, TrainingSession, Volunteer, utcnow
from mecc_volunteer.transactions import rows_changed

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else cannot be one of ours.
TOKEN_LENGTH = 43


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_link(booking: Booking, purpose: LinkPurpose, *, now: datetime | None = None, replace: bool = True) -> str:
    """A new secret for the booking. With replace (asking for the link again), earlier links for the same
    purpose stop working; without it (a link inside a routine email), they keep working too."""
    now = now or utcnow()
    if replace:
        _revoke(booking, purpose, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(PersonalLink(booking=booking, purpose=purpose, token_hash=_hash(token), created_at=now))
    return token


def _revoke(booking: Booking, purpose: LinkPurpose, now: datetime) -> None:
    db.session.execute(
        sa.update(PersonalLink)
        .where(
            PersonalLink.booking_id == booking.id,
            PersonalLink.purpose == purpose,
            PersonalLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


# One query for what every page behind a link shows: the booking, its session and programme, its volunteer. Built
# once: making the select afresh for each visit would cost more than running it.
_BOOKING_OF_LINK = (
    sa.select(Booking, PersonalLink.token_hash)
    .join(PersonalLink, PersonalLink.booking_id == Booking.id)
    .where(
        PersonalLink.token_hash == sa.bindparam("token_hash"),
        PersonalLink.purpose == sa.bindparam("purpose"),
        PersonalLink.revoked_at.is_(None),
    )
    .options(
        joinedload(Booking.training_session).joinedload(TrainingSession.programme),
        joinedload(Booking.volunteer),
    )
)


def find_booking(token: str, purpose: LinkPurpose) -> Booking | None:
    """The booking a live link points to, or None for an unknown, revoked or malformed one."""
    if len(token) != TOKEN_LENGTH or not token.isascii():
        return None
    token_hash = _hash(token)
    found = db.session.execute(_BOOKING_OF_LINK, {"token_hash": token_hash, "purpose": purpose}).first()
    # The lookup is by hash; compare again in constant time so the index is the only oracle.
    if found is None or not hmac.compare_digest(found.token_hash, token_hash):
        return None
    return found.Booking


def booking_or_404(token: str, purpose: LinkPurpose) -> Booking:
    """For a view behind a personal link: the booking, or Not Found (never saying whether the link was ours)."""
    booking = find_booking(token, purpose)
    if booking is None:
        abort(404)
    return booking


# --- When a volunteer's identity goes, and the retention job ---------------------------------------------------


def _links_of_volunteers(volunteer_ids: sa.Select) -> sa.ColumnElement[bool]:
    return PersonalLink.booking_id.in_(sa.select(Booking.id).where(Booking.volunteer_id.in_(volunteer_ids)))


def revoke_volunteer_links(volunteer_id: int, *, now: datetime) -> int:
    """Every live link to any of the volunteer's bookings stops working (their identity is being removed)."""
    return rows_changed(
        sa.update(PersonalLink)
        .where(
            PersonalLink.booking_id.in_(sa.select(Booking.id).where(Booking.volunteer_id == volunteer_id)),
            PersonalLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def _dead(also_of_volunteers: sa.Select | None) -> sa.ColumnElement[bool]:
    removed = sa.select(Volunteer.id).where(Volunteer.identity_removed_at.is_not(None))
    conditions = [PersonalLink.revoked_at.is_not(None), _links_of_volunteers(removed)]
    if also_of_volunteers is not None:
        conditions.append(_links_of_volunteers(also_of_volunteers))
    return sa.or_(*conditions)


def count_dead_links(*, also_of_volunteers: sa.Select | None = None) -> int:
    """Links that open nothing: revoked, or to a booking of a volunteer whose identity is removed (or, for the
    retention preview, of volunteers about to be: also_of_volunteers selects their ids)."""
    return db.session.execute(sa.select(sa.func.count(PersonalLink.id)).where(_dead(also_of_volunteers))).scalar_one()


def delete_dead_links(*, batch: int) -> int:
    """Delete up to `batch` links that open nothing; how many went."""
    ids = sa.select(PersonalLink.id).where(_dead(None)).limit(batch).scalar_subquery()
    return rows_changed(sa.delete(PersonalLink).where(PersonalLink.id.in_(ids)))
