"""The pilot programme with its settings, and its reference lists (organisations and their types, areas).

The programme row holds what an admin may change in the app (names, links, cut-off, evaluation timings,
meeting hosts, retention, the privacy notice); deployment settings (secret key, database, SMTP) stay in config.
Each default lives here once: the migrations' server defaults and `settings` (before a programme exists, from the
columns' defaults) read these constants."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mecc_volunteer.models.base import Base, utcnow

DEFAULT_PRIVACY_NOTICE_VERSION = "2026-09"
# Statistical disclosure control: the usual rule for health data is to hide any figure about fewer than 5 people.
DEFAULT_DISCLOSURE_THRESHOLD = 5


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    service_name: Mapped[str] = mapped_column(sa.String(100), default="MECC Volunteer")
    organisation_name: Mapped[str] = mapped_column(sa.String(200), default="Oxfordshire MECC partnership")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="mecc@example.org")
    # Health Education England's MECC e-learning (hosted outside this app).
    elearning_url: Mapped[str] = mapped_column(
        sa.String(500), default="https://www.e-lfh.org.uk/programmes/making-every-contact-count/"
    )
    signpost_name: Mapped[str] = mapped_column(sa.String(100), default="Live Well Oxfordshire")
    signpost_url: Mapped[str] = mapped_column(sa.String(500), default="https://livewell.oxfordshire.gov.uk/")
    # Registration closes this many days before a session starts (SPEC 3); a session may override it.
    cutoff_days: Mapped[int] = mapped_column(default=7)
    # A place freed this close to the start still goes to the waiting list, where the session allows it.
    late_promotion_hours: Mapped[int] = mapped_column(default=48)
    # The after-session survey is open from the end of the session for this many days, with one reminder
    # after this many days; the follow-up survey goes this many weeks after the session.
    evaluation_open_days: Mapped[int] = mapped_column(default=14)
    evaluation_reminder_days: Mapped[int] = mapped_column(default=7)
    followup_after_weeks: Mapped[int] = mapped_column(default=8)
    # Joining links must be https on one of these hosts or their subdomains, one per line.
    joining_link_hosts: Mapped[str] = mapped_column(
        sa.String(500), default="teams.microsoft.com\nteams.live.com\nzoom.us"
    )
    # Personal data is removed this many months after a volunteer's last session (SPEC 4).
    retention_months: Mapped[int] = mapped_column(default=12)
    # The privacy notice: None shows the standard text; the version is what volunteers acknowledge.
    privacy_notice_text: Mapped[str | None] = mapped_column(sa.Text)
    privacy_notice_version: Mapped[str] = mapped_column(sa.String(20), default=DEFAULT_PRIVACY_NOTICE_VERSION)
    # Figures about fewer than this many people are hidden in the pilot review and in everything that leaves the
    # app (shown as "fewer than N").
    disclosure_threshold: Mapped[int] = mapped_column(
        default=DEFAULT_DISCLOSURE_THRESHOLD, server_default=str(DEFAULT_DISCLOSURE_THRESHOLD)
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Programme {self.id}>"


class OrganisationType(Base):
    """Library, carers' charity, fire and rescue…: the review reports reach and outcomes by type."""

    __tablename__ = "organisation_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # Retired: kept for the organisations that have it, not offered for new ones.
    retired_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OrganisationType {self.id}>"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # "Other" asks the volunteer to name their organisation.
    is_other: Mapped[bool] = mapped_column(default=False)
    organisation_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation_types.id"))
    # Retired: kept for old bookings, hidden from new registrations.
    retired_at: Mapped[datetime | None]

    organisation_type: Mapped["OrganisationType | None"] = relationship()

    def __repr__(self) -> str:
        return f"<Organisation {self.id}>"


class District(Base):
    """An area (a district of the county); the admin pages call them areas."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    retired_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<District {self.id}>"
