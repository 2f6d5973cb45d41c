"""The public data's version: one number that every write to what public pages show moves on, in the same
transaction, so each app server knows at once when a page it keeps rendered is out of date (mecc_volunteer.page_cache).

Database triggers bump it (migration 0013), not the app: no write can forget it, whether through the ORM, a bulk
update, the command line or another server. The tables it follows are PUBLIC_TABLES."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base

# What the volunteer pages show: sessions and their places, the programme's settings and the registration
# form's choices. A write to any of them moves row PUBLIC_DATA on.
PUBLIC_TABLES = ("programmes", "organisation_types", "organisations", "districts", "training_sessions", "bookings")
# The programme and the form's choices, which change a few times a pilot: a write to them also moves row
# REFERENCE_DATA on (migration 0014), and a page built from them and one session's own state is kept through
# other people's bookings.
REFERENCE_TABLES = ("programmes", "organisation_types", "organisations", "districts")
PUBLIC_DATA = 1
REFERENCE_DATA = 2


class DataVersion(Base):
    __tablename__ = "data_version"

    # Two rows made by the migrations: PUBLIC_DATA and REFERENCE_DATA.
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    def __repr__(self) -> str:
        return f"<DataVersion {self.version}>"
