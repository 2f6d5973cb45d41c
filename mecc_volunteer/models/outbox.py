"""Outgoing email: written in the same transaction as the change that causes it."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base, utcnow


class EmailStatus(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutgoingEmail(Base):
    __tablename__ = "outgoing_emails"
    __table_args__ = (sa.Index("ix_outgoing_emails_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "joining-link:booking:42"; unique so a retried change cannot queue a second copy.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    template: Mapped[str] = mapped_column(sa.String(60))
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(250))
    # Bodies can hold a personal link, so they are cleared once the message is sent.
    body_text: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    # [{"filename": ..., "content_type": ..., "data": ...}] (text attachments such as .ics)
    attachments: Mapped[list | None] = mapped_column(sa.JSON)
    training_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("training_sessions.id", ondelete="SET NULL"), index=True
    )
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bookings.id", ondelete="SET NULL"), index=True)
    status: Mapped[EmailStatus] = mapped_column(
        sa.Enum(EmailStatus, native_enum=False, length=20), default=EmailStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<OutgoingEmail {self.id}>"
