"""Staff accounts and sign-in: strong hashes, one answer for every failure, and a brake on guessing."""

import hashlib
from datetime import datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms.validators import StopValidation, ValidationError

from mecc_volunteer import audit, errors, limits
from mecc_volunteer.auth import second_factor
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, SignInAttempt, StaffRole, StaffUser, utcnow
from mecc_volunteer.transactions import rows_changed
from mecc_volunteer.validation import normalise_email, normalise_text

MIN_PASSWORD_LENGTH = 12
ATTEMPT_WINDOW = timedelta(minutes=15)
# Wrong passwords for one email from one address: the person at another address is never held up by them.
MAX_ATTEMPTS_PER_PAIR = 5
# Wrong passwords from one address for any emails: a ceiling on spraying guesses across accounts (an office
# behind one address has room for every colleague's typos).
MAX_ATTEMPTS_PER_ADDRESS = 30
# Checked when the email is unknown, so both failures take as long as each other.
_DUMMY_HASH = generate_password_hash("not a real password, only for timing")


class TooManyAttempts(errors.DomainError):
    message = "Too many attempts to sign in. Wait 15 minutes, then try again."


class StaffExists(errors.DomainError):
    message = "A staff account with that email address already exists."


class WeakPassword(errors.DomainError):
    message = f"The password must be at least {MIN_PASSWORD_LENGTH} characters."


class StaffNotFound(errors.DomainError):
    message = "There is no staff account with that email address."


class InvalidStaffEmail(errors.DomainError):
    message = "Enter an email address in the correct format, like name@example.com"


def staff_email(email: str) -> str:
    """The address as sign-in will read it, or InvalidStaffEmail: the sign-in form's own rules, so an
    account is never made for an address that cannot sign in."""
    from mecc_volunteer.auth.forms import EMAIL_RULES

    field = SimpleNamespace(data=normalise_text(email or ""))
    if not field.data:
        raise InvalidStaffEmail("Enter an email address")
    for rule in EMAIL_RULES:
        try:
            rule(None, field)
        except (StopValidation, ValidationError) as error:
            raise InvalidStaffEmail(str(error) or None) from None
    return normalise_email(field.data)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_staff(email: str, *, name: str, role: StaffRole, password: str, by: audit.By = audit.SYSTEM) -> StaffUser:
    """A new account with a password; it sets up its second factor at its first sign-in. By default made by an
    operator's command (`flask staff create`)."""
    email = staff_email(email)
    _check_password(password)
    if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise StaffExists()
    staff = StaffUser(email=email, name=name, role=role, password_hash=generate_password_hash(password))
    db.session.add(staff)
    db.session.flush()
    audit.record(AuditAction.STAFF_CREATED, by=by, target_staff_user=staff, detail=role.value)
    return staff


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()


def find_staff(email: str) -> StaffUser:
    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == normalise_email(normalise_text(email))))
    if staff is None:
        raise StaffNotFound()
    return staff


def end_sessions(staff: StaffUser) -> StaffUser:
    """Sign the account out everywhere: every session cookie names the old session_version, which load_staff
    then refuses (a cookie copied before sign-out opens nothing afterwards)."""
    db.session.execute(
        sa.update(StaffUser)
        .where(StaffUser.id == staff.id)
        .values(session_version=StaffUser.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(staff, ["session_version"])
    return staff


def change_password(staff: StaffUser, password: str) -> StaffUser:
    """A new password ends every session of the account."""
    _check_password(password)
    staff.password_hash = generate_password_hash(password)
    db.session.flush()
    return end_sessions(staff)


def deactivate_staff(staff: StaffUser) -> StaffUser:
    """The account can no longer sign in, and every session ends (also after a later reactivation)."""
    staff.active = False
    db.session.flush()
    return end_sessions(staff)


def reactivate_staff(staff: StaffUser) -> StaffUser:
    """The account can sign in again with its password; sessions ended on deactivation stay ended."""
    staff.active = True
    return staff


def start_sign_in(
    email: str, password: str, *, remote_addr: str | None, now: datetime | None = None
) -> StaffUser | None:
    """The password step: the staff user (not signed in yet: a code must follow), or None as authenticate.
    An account without a second factor gets a secret to enrol, waiting on the account for the next page."""
    staff = authenticate(email, password, remote_addr=remote_addr, now=now)
    if staff is not None and not staff.has_second_factor:
        second_factor.prepare_enrolment(staff)
    return staff


def authenticate(
    email: str, password: str, *, remote_addr: str | None, now: datetime | None = None
) -> StaffUser | None:
    """The staff user whose password this is, or None for an unknown email, a wrong password or a disabled
    account alike (the password step only: start_sign_in, then a code, signs a person in).

    Guessing is throttled per email and address pair (so nobody elsewhere can lock the real person out by
    knowing their email) and per address across all emails. Each attempt is recorded before the password is
    checked, under a lock on the address taken before counting: attempts sent at once queue, and no more than
    the limit are ever checked. A successful sign-in clears the pair's record."""
    now = now or utcnow()
    email = normalise_email(email)
    email_hash, remote_hash = _hash(email), _hash(remote_addr or "")
    since = now - ATTEMPT_WINDOW
    # Every attempt from the address queues here, so the two counts below cannot go stale before the insert.
    limits.lock("sign-in-address", remote_hash)
    db.session.execute(
        sa.delete(SignInAttempt).where(SignInAttempt.remote_hash == remote_hash, SignInAttempt.attempted_at <= since),
        execution_options={"synchronize_session": False},
    )
    limits.delete_some(SignInAttempt.id, SignInAttempt.attempted_at <= since)
    recent_for_address = db.session.execute(
        sa.select(sa.func.count(SignInAttempt.id)).where(
            SignInAttempt.remote_hash == remote_hash, SignInAttempt.attempted_at > since
        )
    ).scalar_one()
    recent_for_pair = db.session.execute(
        sa.select(sa.func.count(SignInAttempt.id)).where(
            SignInAttempt.remote_hash == remote_hash,
            SignInAttempt.email_hash == email_hash,
            SignInAttempt.attempted_at > since,
        )
    ).scalar_one()
    if recent_for_pair >= MAX_ATTEMPTS_PER_PAIR or recent_for_address >= MAX_ATTEMPTS_PER_ADDRESS:
        raise TooManyAttempts()
    db.session.add(SignInAttempt(email_hash=email_hash, remote_hash=remote_hash, attempted_at=now))
    db.session.flush()

    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
    # An invited account has no password until its link sets one: checked against the dummy, and refused.
    stored = staff.password_hash if staff is not None else None
    valid = check_password_hash(stored or _DUMMY_HASH, password) and stored is not None
    if staff is None or not valid or not staff.active:
        return None
    db.session.execute(
        sa.delete(SignInAttempt).where(
            SignInAttempt.email_hash == email_hash, SignInAttempt.remote_hash == remote_hash
        ),
        execution_options={"synchronize_session": False},
    )
    return staff


def reset_second_factor(staff: StaffUser, *, by: audit.By) -> StaffUser:
    """An admin's reset (a lost phone): the secret, its last step and every recovery code go, every session
    of the account ends, and the next sign-in sets up an authenticator app again."""
    staff.totp_secret = None
    staff.totp_confirmed_at = None
    staff.totp_last_step = None
    second_factor.delete_recovery_codes(staff)
    db.session.flush()
    end_sessions(staff)
    audit.record(AuditAction.SECOND_FACTOR_RESET, by=by, target_staff_user=staff)
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


# --- Retention: failed sign-ins are kept only as long as they can slow down guessing (and a little longer) ---


def count_sign_in_attempts_before(before: datetime) -> int:
    return db.session.execute(
        sa.select(sa.func.count(SignInAttempt.id)).where(SignInAttempt.attempted_at < before)
    ).scalar_one()


def delete_sign_in_attempts_before(before: datetime, *, batch: int) -> int:
    """Delete up to `batch` failed sign-ins recorded before `before`; how many went."""
    ids = sa.select(SignInAttempt.id).where(SignInAttempt.attempted_at < before).limit(batch).scalar_subquery()
    return rows_changed(sa.delete(SignInAttempt).where(SignInAttempt.id.in_(ids)))
