"""Registrations between the form and the confirmation page, kept on the server rather than in the cookie.

The browser holds only a random key (its SHA-256 is stored here), so the signed cookie carries no answers,
address or personal link, and a shared computer shows the next person nothing of the last one's."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base, utcnow


class PendingRegistration(Base):
    __tablename__ = "pending_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    training_session_id: Mapped[int] = mapped_column(sa.ForeignKey("training_sessions.id", ondelete="CASCADE"))
    # The form's answers until the volunteer registers; None afterwards.
    answers: Mapped[dict | None] = mapped_column(sa.JSON)
    # After registering: what happened, for the confirmation page (shown once, then the row goes).
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"))
    # The new My booking secret, sealed with a pad derived from the browser's key: the row alone cannot open it.
    sealed_token: Mapped[str | None] = mapped_column(sa.String(128))
    waiting_position: Mapped[int | None]
    email_sent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<PendingRegistration {self.id}>"


class RateLimitHit(Base):
    """One counted request for a rate limit (a bucket such as "lost-link-address"), keyed by a hash of what
    is limited (an address, an email): no address is stored. Shared by every app instance through the
    database (SPEC 7)."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (sa.Index("ix_rate_limit_hits_bucket_key", "bucket", "key_hash", "hit_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(sa.String(40))
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    hit_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<RateLimitHit {self.id}>"
