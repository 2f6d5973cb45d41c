"""The pilot programme and its reference lists (organisations, districts)."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Registration closes this many days before a session starts (SPEC 3).
    cutoff_days: Mapped[int] = mapped_column(default=7)

    def __repr__(self) -> str:
        return f"<Programme {self.id}>"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # "Other" asks the volunteer to name their organisation.
    is_other: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<Organisation {self.id}>"


class District(Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<District {self.id}>"
