"""Staff: coordinators, evaluators and admins, who sign in with email and password."""

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    # None until an invited person sets their password through the invitation link.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Changing it signs the user out everywhere (the session carries it, see auth.services).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_signed_in_at: Mapped[datetime | None]
    # The second factor (TOTP, RFC 6238): the shared secret (base32), set at enrolment and confirmed by a first
    # code; the last time step accepted, so no code is ever accepted twice. An admin's reset clears all three.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None and self.totp_confirmed_at is not None

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


class RecoveryCode(Base):
    """A single-use recovery code for the second factor: only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id}>"


class StaffLinkPurpose(enum.Enum):
    INVITATION = "invitation"  # a new account: set a password
    PASSWORD_RESET = "password_reset"  # noqa: S105 - sent by an admin: set a new password


class StaffLink(Base):
    """A staff member's single-use secret link (the personal-link rules of SPEC 3): random, stored as a
    SHA-256 only, for one account and purpose, expiring, and used up by the POST that sets the password."""

    __tablename__ = "staff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[StaffLinkPurpose] = mapped_column(sa.Enum(StaffLinkPurpose, native_enum=False, length=20))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]

    staff_user: Mapped[StaffUser] = relationship()

    def __repr__(self) -> str:
        return f"<StaffLink {self.id}>"
