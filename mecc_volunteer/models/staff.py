"""Staff: coordinators, evaluators and admins, who sign in with email and password."""

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from mecc_volunteer.models.base import Base, utcnow


class StaffRole(enum.Enum):
    COORDINATOR = "coordinator"
    EVALUATOR = "evaluator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class StaffUser(UserMixin, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored trimmed and lower-cased
    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[StaffRole] = mapped_column(sa.Enum(StaffRole, native_enum=False, length=20))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Changing it signs the user out everywhere (the session carries it, see auth.services).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_signed_in_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<StaffUser {self.id}>"


class SignInAttempt(Base):
    """Failed sign-ins, kept briefly to slow down password guessing (no address stored: a hash of it)."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    remote_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<SignInAttempt {self.id}>"
