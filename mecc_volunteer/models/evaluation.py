"""Evaluation answers, stored per question key, per booking (SPEC 6)."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mecc_volunteer.models.base import Base, utcnow

if TYPE_CHECKING:  # the other side of a relationship, named for the type checker only
    from mecc_volunteer.models.training import Booking


class Survey(enum.Enum):
    BASELINE = "baseline"
    AFTER_SESSION = "after_session"
    FOLLOWUP = "followup"


class EvaluationAnswer(Base):
    __tablename__ = "evaluation_answers"
    __table_args__ = (sa.UniqueConstraint("booking_id", "survey", "question_key", name="one_answer_per_question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    survey: Mapped[Survey] = mapped_column(sa.Enum(Survey, native_enum=False, length=20))
    instrument_version: Mapped[int] = mapped_column(default=1)
    question_key: Mapped[str] = mapped_column(sa.String(60))
    # Stored as text; the instrument says how to read it (a 0-10 score, an option key, free text).
    value: Mapped[str] = mapped_column(sa.Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)

    booking: Mapped["Booking"] = relationship()

    def __repr__(self) -> str:
        return f"<EvaluationAnswer {self.id}>"


class EvaluationResponse(Base):
    """One submitted survey (after the session, or follow-up) per booking; its answers are EvaluationAnswers."""

    __tablename__ = "evaluation_responses"
    __table_args__ = (sa.UniqueConstraint("booking_id", "survey", name="one_response_per_survey"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    survey: Mapped[Survey] = mapped_column(sa.Enum(Survey, native_enum=False, length=20))
    instrument_version: Mapped[int] = mapped_column(default=1)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)

    booking: Mapped["Booking"] = relationship()

    def __repr__(self) -> str:
        return f"<EvaluationResponse {self.id}>"


class DownloadRecord(Base):
    """Who downloaded which export, when, with which filters and how many rows (no personal data)."""

    __tablename__ = "download_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    export_name: Mapped[str] = mapped_column(sa.String(60))
    filters: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    row_count: Mapped[int] = mapped_column(default=0)
    downloaded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<DownloadRecord {self.id}>"
