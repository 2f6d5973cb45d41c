"""The data retention job's runs: at most one a day, and what each removed (counts only, never names)."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base


class RetentionRun(Base):
    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: two servers starting the day's run at once cannot both insert it, so only one runs.
    run_on: Mapped[date] = mapped_column(sa.Date, unique=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    volunteers: Mapped[int] = mapped_column(default=0)  # identities removed
    outgoing_emails: Mapped[int] = mapped_column(default=0)
    sign_in_attempts: Mapped[int] = mapped_column(default=0)
    links: Mapped[int] = mapped_column(default=0)  # expired or revoked personal and staff links
    rate_limit_hits: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<RetentionRun {self.id}>"
