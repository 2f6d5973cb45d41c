"""Keys the app makes for itself and every app server shares, kept in the database: made once, never changed."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base, utcnow


class AppSecret(Base):
    __tablename__ = "app_secrets"

    # What the key is for, e.g. "pseudonymisation" (mecc_volunteer.pseudonyms).
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<AppSecret {self.name}>"  # never the value
