"""A registration between the form and the confirmation page, kept on the server.

The browser's session cookie is signed, not encrypted: anyone at the computer can read it. So it holds only
a random key; the answers, and afterwards what happened, live in a short-lived `pending_registrations` row
found by the key's SHA-256. The new My booking secret is sealed with a pad derived from the key, so the row
alone cannot open it. The confirmation is shown once: the page drops the key from the cookie, and the next
person at a shared computer finds nothing. Old rows are pruned by `flask jobs run`.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, PendingRegistration, TrainingSession, utcnow
from mecc_volunteer.transactions import rows_changed

# Long enough to fill in the form and check it; short enough that a shared computer forgets.
ANSWERS_KEPT_FOR = timedelta(hours=1)
RESULT_KEPT_FOR = timedelta(minutes=30)
KEY_BYTES = 32


@dataclass(frozen=True)
class Result:
    outcome: str
    booking: Booking
    token: str | None
    waiting_position: int | None
    email_sent: bool


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _pad(key: str, length: int) -> bytes:
    return hashlib.shake_256(b"mecc-pending-registration-token:" + key.encode("utf-8")).digest(length)


def _seal(token: str, key: str) -> str:
    raw = token.encode("ascii")
    return bytes(a ^ b for a, b in zip(raw, _pad(key, len(raw)), strict=True)).hex()


def _unseal(sealed: str, key: str) -> str | None:
    try:
        raw = bytes.fromhex(sealed)
        return bytes(a ^ b for a, b in zip(raw, _pad(key, len(raw)), strict=True)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


# Built once: every step of a registration looks its row up.
_LIVE_ROW = sa.select(PendingRegistration).where(
    PendingRegistration.key_hash == sa.bindparam("key_hash"), PendingRegistration.expires_at > sa.bindparam("now")
)


def _row(key: str | None, *, now: datetime) -> PendingRegistration | None:
    if not key or not isinstance(key, str) or len(key) > 100:
        return None
    return db.session.scalar(_LIVE_ROW, {"key_hash": _hash(key), "now": now})


def save_answers(key: str | None, session_id: int, answers: dict, *, now: datetime | None = None) -> str:
    """Keep the form's answers for Check your answers; returns the key for the browser (new if need be)."""
    now = now or utcnow()
    row = _row(key, now=now)
    if key is None or row is None or row.answers is None:
        key = secrets.token_urlsafe(KEY_BYTES)
        row = PendingRegistration(key_hash=_hash(key), created_at=now)
        db.session.add(row)
    row.training_session_id = session_id
    row.answers = answers
    row.expires_at = now + ANSWERS_KEPT_FOR
    return key


def load_answers(key: str | None, session_id: int, *, now: datetime | None = None) -> dict | None:
    row = _row(key, now=now or utcnow())
    if row is None or row.answers is None or row.training_session_id != session_id:
        return None
    return row.answers


def record_result(
    key: str,
    *,
    outcome: str,
    booking: Booking,
    token: str | None,
    waiting_position: int | None,
    email_sent: bool,
    now: datetime | None = None,
) -> None:
    """The answers are spent: keep only what the confirmation page shows."""
    now = now or utcnow()
    row = _row(key, now=now)
    if row is None:
        return
    row.answers = None
    row.outcome = outcome
    row.booking_id = booking.id
    row.sealed_token = _seal(token, key) if token else None
    row.waiting_position = waiting_position
    row.email_sent = email_sent
    row.expires_at = now + RESULT_KEPT_FOR


_WITH_WHAT_THE_PAGE_SHOWS = [
    joinedload(Booking.volunteer),
    joinedload(Booking.training_session).joinedload(TrainingSession.programme),
]


def load_result(key: str | None, session_id: int, *, now: datetime | None = None) -> Result | None:
    row = _row(key, now=now or utcnow())
    if key is None or row is None or row.outcome is None or row.training_session_id != session_id:
        return None
    if row.booking_id is None:
        return None
    # With all the confirmation page shows of it: one query, not four.
    booking = db.session.get(Booking, row.booking_id, options=_WITH_WHAT_THE_PAGE_SHOWS)
    if booking is None:
        return None
    return Result(
        outcome=row.outcome,
        booking=booking,
        token=_unseal(row.sealed_token, key) if row.sealed_token else None,
        waiting_position=row.waiting_position,
        email_sent=row.email_sent,
    )


def prune_expired(now: datetime) -> int:
    """A job: forget registrations left unfinished, and confirmations already shown or never fetched."""
    return rows_changed(sa.delete(PendingRegistration).where(PendingRegistration.expires_at <= now))
