"""Downloads too large to make within a request, prepared by the jobs runner for the evaluator who asked.

The file is kept in the database, in pieces, so whichever app server the evaluator reaches can send it (a file
on the disk of the machine whose jobs runner made it would be missing on the others), and it goes with its row
once it expires.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base, utcnow


class PreparedStatus(enum.Enum):
    REQUESTED = "requested"
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"


class PreparedDownload(Base):
    __tablename__ = "prepared_downloads"
    __table_args__ = (sa.Index("ix_prepared_downloads_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only the evaluator who asked may download it; it goes with their account.
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    export_name: Mapped[str] = mapped_column(sa.String(60))  # as download_records names it: responses.xlsx
    filters: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the filters as query arguments
    status: Mapped[PreparedStatus] = mapped_column(
        sa.Enum(PreparedStatus, native_enum=False, length=20), default=PreparedStatus.REQUESTED
    )
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    download_name: Mapped[str | None] = mapped_column(sa.String(200))
    row_count: Mapped[int] = mapped_column(default=0)
    size: Mapped[int] = mapped_column(default=0)  # bytes

    def __repr__(self) -> str:
        return f"<PreparedDownload {self.id}>"


class PreparedDownloadPart(Base):
    """One piece of a prepared file (up to a mebibyte), so it is written and sent with flat memory."""

    __tablename__ = "prepared_download_parts"

    download_id: Mapped[int] = mapped_column(
        sa.ForeignKey("prepared_downloads.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
