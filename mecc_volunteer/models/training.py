"""Training sessions and bookings. Session status is derived, never stored."""

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mecc_volunteer.models.base import Base, utcnow

if TYPE_CHECKING:  # the other side of a relationship, named for the type checker only
    from mecc_volunteer.models.programme import Programme
    from mecc_volunteer.models.volunteer import Volunteer


LONDON = ZoneInfo("Europe/London")


def registration_closes_at(starts_at: datetime, cutoff_days: int) -> datetime:
    """The cut-off in wall-clock days in Europe/London, so a clock change does not shift it an hour."""
    local_start = starts_at.astimezone(LONDON)
    # Aware-datetime arithmetic in one zone is wall-clock arithmetic; normalise through UTC.
    return (local_start - timedelta(days=cutoff_days)).astimezone(LONDON).astimezone(ZoneInfo("UTC"))


class SessionKind(enum.Enum):
    VOLUNTEER_TRAINING = "volunteer_training"
    TRAIN_THE_TRAINER = "train_the_trainer"

    @property
    def label(self) -> str:
        return {
            SessionKind.VOLUNTEER_TRAINING: "Volunteer training",
            SessionKind.TRAIN_THE_TRAINER: "Train the trainer",
        }[self]


class SessionStatus(enum.Enum):
    OPEN = "open"
    FEW_PLACES = "few_places"
    FULL = "full"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FINISHED = "finished"

    @property
    def label(self) -> str:
        return {
            SessionStatus.OPEN: "Open",
            SessionStatus.FEW_PLACES: "Few places left",
            SessionStatus.FULL: "Now full – join the waiting list",
            SessionStatus.CLOSED: "Registration closed",
            SessionStatus.CANCELLED: "Cancelled",
            SessionStatus.FINISHED: "Finished",
        }[self]

    @property
    def accepts_registrations(self) -> bool:
        """Open, few places and full (waiting list) take registrations."""
        return self in (SessionStatus.OPEN, SessionStatus.FEW_PLACES, SessionStatus.FULL)


class TrainingSession(Base):
    __tablename__ = "training_sessions"
    __table_args__ = (
        sa.CheckConstraint("places_taken >= 0", name="places_taken_not_negative"),
        sa.CheckConstraint("places_taken <= capacity", name="places_taken_within_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"))
    kind: Mapped[SessionKind] = mapped_column(
        sa.Enum(SessionKind, native_enum=False, length=30), default=SessionKind.VOLUNTEER_TRAINING
    )
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    # Booked places, kept by atomic conditional updates so capacity holds under concurrency.
    places_taken: Mapped[int] = mapped_column(default=0)
    trainer_name: Mapped[str | None] = mapped_column(sa.String(100))
    # The trainer, when they were trained as a MECC trainer in this pilot: the cascade is counted from the app's
    # own records through this link. trainer_name stays the name shown to volunteers.
    trainer_volunteer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    location: Mapped[str] = mapped_column(sa.String(100), default="Online")
    joining_link: Mapped[str | None] = mapped_column(sa.String(500))
    # Overrides the programme's cut-off when set.
    cutoff_days: Mapped[int | None]
    allow_late_promotion: Mapped[bool] = mapped_column(default=False)
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    programme: Mapped["Programme"] = relationship()
    trainer_volunteer: Mapped["Volunteer | None"] = relationship()

    @property
    def places_left(self) -> int:
        return max(self.capacity - self.places_taken, 0)

    @property
    def registration_closes_at(self) -> datetime:
        days = self.cutoff_days if self.cutoff_days is not None else self.programme.cutoff_days
        return registration_closes_at(self.starts_at, days)

    @property
    def promotion_ends_at(self) -> datetime:
        """Until when a freed place goes to the first person waiting."""
        if self.allow_late_promotion:
            # A place freed this late may still go to the waiting list (the programme's late_promotion_hours).
            late_window = timedelta(hours=self.programme.late_promotion_hours)
            return max(self.registration_closes_at, self.starts_at - late_window)
        return self.registration_closes_at

    def status(self, now: datetime | None = None) -> SessionStatus:
        now = now or utcnow()
        if self.cancelled_at is not None:
            return SessionStatus.CANCELLED
        if now >= self.ends_at:
            return SessionStatus.FINISHED
        if now >= self.registration_closes_at:
            return SessionStatus.CLOSED
        if self.places_taken >= self.capacity:
            return SessionStatus.FULL
        if self.places_left * 5 <= self.capacity:  # 20 % or fewer remain
            return SessionStatus.FEW_PLACES
        return SessionStatus.OPEN

    def __repr__(self) -> str:
        return f"<TrainingSession {self.id}>"


class BookingStatus(enum.Enum):
    BOOKED = "booked"
    WAITING = "waiting"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    DID_NOT_ATTEND = "did_not_attend"

    @property
    def label(self) -> str:
        return {
            BookingStatus.BOOKED: "Booked",
            BookingStatus.WAITING: "On the waiting list",
            BookingStatus.CANCELLED: "Cancelled",
            BookingStatus.ATTENDED: "Attended",
            BookingStatus.DID_NOT_ATTEND: "Did not attend",
        }[self]


ACTIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.WAITING)
# Bookings that hold one of the session's places (places_taken counts them; attendance keeps the place).
HOLDING_PLACE_STATUSES = (BookingStatus.BOOKED, BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per volunteer per kind of session, enforced by the database so that a
        # double-submitted registration cannot create two.
        sa.Index(
            "uq_bookings_one_active_per_kind",
            "volunteer_id",
            "session_kind",
            unique=True,
            sqlite_where=sa.text("status IN ('BOOKED', 'WAITING')"),
            postgresql_where=sa.text("status IN ('BOOKED', 'WAITING')"),
        ),
        sa.Index("ix_bookings_waiting_list", "training_session_id", "status", "waitlisted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    training_session_id: Mapped[int] = mapped_column(sa.ForeignKey("training_sessions.id"))
    # Indexed: a volunteer's bookings are looked up on My booking, for their data and by the retention job.
    volunteer_id: Mapped[int] = mapped_column(sa.ForeignKey("volunteers.id"), index=True)
    # Copied from the session so the database can enforce one active booking per kind.
    session_kind: Mapped[SessionKind] = mapped_column(sa.Enum(SessionKind, native_enum=False, length=30))
    status: Mapped[BookingStatus] = mapped_column(sa.Enum(BookingStatus, native_enum=False, length=20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    booked_at: Mapped[datetime | None]
    waitlisted_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]
    moved_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    attendance_recorded_at: Mapped[datetime | None]
    # E-learning (SPEC 4): the date the volunteer says they completed it, and when that was confirmed here.
    elearning_completed_on: Mapped[date | None]
    elearning_confirmed_at: Mapped[datetime | None]
    # Set when a coordinator recorded it for the volunteer (e.g. after a phone call).
    elearning_recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    # The joining link this volunteer was last sent, and when: a changed link can be re-sent to them.
    joining_link_sent_at: Mapped[datetime | None]
    joining_link_sent: Mapped[str | None] = mapped_column(sa.String(500))
    attendance_recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    # The .ics SEQUENCE (RFC 5545): raised by one each time the booking's calendar entry changes, so an
    # update always carries a higher number than the invite it replaces.
    calendar_sequence: Mapped[int] = mapped_column(default=0, server_default="0")

    training_session: Mapped[TrainingSession] = relationship()
    volunteer: Mapped["Volunteer"] = relationship(back_populates="bookings")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def elearning_confirmed(self) -> bool:
        return self.elearning_confirmed_at is not None

    @property
    def ready_for_joining_link(self) -> bool:
        """Booked with the e-learning confirmed: the only volunteers who may see the joining link."""
        return self.status is BookingStatus.BOOKED and self.elearning_confirmed

    def __repr__(self) -> str:
        return f"<Booking {self.id}>"


@dataclass(frozen=True)
class SessionSummary:
    """What a page needs to show a session: the row plus its derived status."""

    training_session: TrainingSession
    status: SessionStatus
    waiting_count: int = 0
