"""Staff accounts and sign-in: strong hashes, one answer for every failure, and a brake on guessing."""

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from mecc_volunteer import errors
from mecc_volunteer.extensions import db
from mecc_volunteer.models import SignInAttempt, StaffRole, StaffUser, utcnow

MIN_PASSWORD_LENGTH = 12
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_ATTEMPTS_PER_EMAIL = 5
MAX_ATTEMPTS_PER_ADDRESS = 30
# Checked when the email is unknown, so both failures take as long as each other.
_DUMMY_HASH = generate_password_hash("not a real password, only for timing")


class TooManyAttempts(errors.DomainError):
    message = "Too many attempts to sign in. Wait 15 minutes, then try again."


class StaffExists(errors.DomainError):
    message = "A staff account with that email address already exists."


class WeakPassword(errors.DomainError):
    message = f"The password must be at least {MIN_PASSWORD_LENGTH} characters."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_staff(email: str, *, name: str, role: StaffRole, password: str) -> StaffUser:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()
    if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise StaffExists()
    staff = StaffUser(email=email, name=name, role=role, password_hash=generate_password_hash(password))
    db.session.add(staff)
    return staff


def authenticate(email: str, password: str, *, remote_addr: str, now: datetime | None = None) -> StaffUser | None:
    """The staff user, or None for an unknown email, a wrong password or a disabled account alike."""
    now = now or utcnow()
    email = normalise_email(email)
    email_hash, remote_hash = _hash(email), _hash(remote_addr or "")
    since = now - ATTEMPT_WINDOW
    recent_for_email = db.session.scalar(
        sa.select(sa.func.count(SignInAttempt.id)).where(
            SignInAttempt.email_hash == email_hash, SignInAttempt.attempted_at > since
        )
    )
    recent_for_address = db.session.scalar(
        sa.select(sa.func.count(SignInAttempt.id)).where(
            SignInAttempt.remote_hash == remote_hash, SignInAttempt.attempted_at > since
        )
    )
    if recent_for_email >= MAX_ATTEMPTS_PER_EMAIL or recent_for_address >= MAX_ATTEMPTS_PER_ADDRESS:
        raise TooManyAttempts()

    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
    valid = check_password_hash(staff.password_hash if staff else _DUMMY_HASH, password)
    if staff is None or not valid or not staff.active:
        db.session.add(SignInAttempt(email_hash=email_hash, remote_hash=remote_hash, attempted_at=now))
        return None
    db.session.execute(sa.delete(SignInAttempt).where(SignInAttempt.email_hash == email_hash))
    db.session.execute(sa.delete(SignInAttempt).where(SignInAttempt.attempted_at < since))
    staff.last_signed_in_at = now
    return staff


def load_staff(user_id: str) -> StaffUser | None:
    """Flask-Login's loader: "id:version", so a changed session_version signs the user out everywhere."""
    staff_id, _, version = user_id.partition(":")
    if not staff_id.isdigit() or not version.isdigit():
        return None
    staff = db.session.get(StaffUser, int(staff_id))
    if staff is None or not staff.active or staff.session_version != int(version):
        return None
    return staff
