"""Volunteers and their personal links."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from mecc_volunteer.models.base import Base, utcnow

if TYPE_CHECKING:  # the other side of a relationship, named for the type checker only
    from mecc_volunteer.models.programme import District, Organisation
    from mecc_volunteer.models.training import Booking


class Volunteer(Base):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Name, email and role are None only once identity_removed_at is set (retention, or at their request).
    name: Mapped[str | None] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # Trimmed and lower-cased: one volunteer per address, however it is typed.
    email_normalised: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    organisation_other: Mapped[str | None] = mapped_column(sa.String(100))
    role: Mapped[str | None] = mapped_column(sa.String(100))
    # None means outside Oxfordshire or not sure.
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("districts.id"))

    # Optional equality questions; None means not answered.
    age_band: Mapped[str | None] = mapped_column(sa.String(40))
    gender: Mapped[str | None] = mapped_column(sa.String(40))
    ethnic_group: Mapped[str | None] = mapped_column(sa.String(60))
    disability: Mapped[str | None] = mapped_column(sa.String(40))

    privacy_notice_version: Mapped[str] = mapped_column(sa.String(20))
    privacy_acknowledged_at: Mapped[datetime]
    followup_consent: Mapped[bool] = mapped_column(default=False)
    followup_consent_version: Mapped[str | None] = mapped_column(sa.String(20))
    followup_consent_at: Mapped[datetime | None]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When their name, contact details, role text and equality answers were removed; bookings and answers stay,
    # under the pseudonymous respondent code, so the review's figures do not change.
    identity_removed_at: Mapped[datetime | None] = mapped_column(index=True)

    organisation: Mapped["Organisation"] = relationship()
    district: Mapped["District | None"] = relationship()
    bookings: WriteOnlyMapped["Booking"] = relationship(back_populates="volunteer")

    @property
    def display_name(self) -> str:
        """The name, or what a roster shows once the identity is gone."""
        return self.name if self.name is not None else "Personal data removed"

    @property
    def organisation_name(self) -> str:
        if self.organisation.is_other and self.organisation_other:
            return self.organisation_other
        return self.organisation.name

    def __repr__(self) -> str:
        return f"<Volunteer {self.id}>"


class LinkPurpose(enum.Enum):
    MANAGE = "manage"
    EVALUATION = "evaluation"
    FOLLOWUP = "followup"


class PersonalLink(Base):
    """A volunteer's secret link: only its SHA-256 is kept; scoped to one booking and purpose."""

    __tablename__ = "personal_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[LinkPurpose] = mapped_column(sa.Enum(LinkPurpose, native_enum=False, length=20))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    booking: Mapped["Booking"] = relationship()

    def __repr__(self) -> str:
        return f"<PersonalLink {self.id}>"
