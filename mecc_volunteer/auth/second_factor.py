"""The staff second factor: TOTP (RFC 6238, an authenticator app) and single-use recovery codes.

- A secret is made when the password is first right (a POST), kept unconfirmed on the account, and confirmed by
  the first code from the app (enrolment).
- A code is accepted within one time step of the clock, and never twice: the accepted step is stored by a
  conditional UPDATE, so two requests racing with one code cannot both pass.
- A recovery code is stored as a SHA-256 only and used up by a conditional UPDATE.
- Guessing is throttled per account (wrong codes only, under the limit's lock): past the limit even a right code
  is refused until the window has passed.

pyotp does the TOTP arithmetic and segno draws the QR code; nothing here writes either."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
import sqlalchemy as sa
from markupsafe import Markup

from mecc_volunteer import audit, errors, limits
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, RateLimitHit, RecoveryCode, StaffUser, utcnow
from mecc_volunteer.transactions import rows_changed

# Wrong codes for one account: enough for a few typos, far too few to guess a 6-digit code.
CODE_LIMIT = limits.Limit("second-factor-code", max_hits=5, window=timedelta(minutes=15))
# Codes one step (30 seconds) either side of the clock are accepted: a phone's clock is rarely exact.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# Lower-case letters and digits that cannot be mistaken for each other (no i, l, o, 0 or 1).
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS, RECOVERY_GROUP_LENGTH = 3, 4  # abcd-efgh-jkmn: 12 characters, about 59 bits


class TooManyCodeAttempts(errors.DomainError):
    message = "Too many attempts with a wrong code. Wait 15 minutes, then sign in again."


@dataclass(frozen=True)
class CodeCheck:
    """What came of a code: accepted (with a recovery code, how many are left), or why not."""

    accepted: bool
    problem: str | None = None
    recovery_codes_left: int | None = None  # set when a recovery code was used


WRONG_CODE = "That code is not right. Enter the code your authenticator app shows now"
USED_CODE = "That code has been used already. Wait for your app to show a new code, then enter it"
WRONG_RECOVERY_CODE = "That recovery code is not right, or it has been used already"


# --- Reading what a person types ---------------------------------------------------------------------------------


def compact(code: str) -> str:
    """What a person typed, without the spaces and hyphens that group it, in lower case."""
    return "".join(code.split()).replace("-", "").lower()


def is_totp_code(code: str) -> bool:
    """Six digits (0 to 9 only: not other scripts' digits), once spaces are taken out."""
    code = compact(code)
    return len(code) == 6 and code.isascii() and code.isdigit()


def is_recovery_code(code: str) -> bool:
    code = compact(code)
    return len(code) == RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH and all(c in RECOVERY_ALPHABET for c in code)


# --- Enrolment ---------------------------------------------------------------------------------------------------


def prepare_enrolment(staff: StaffUser) -> str:
    """The unconfirmed secret for the enrolment page: kept if one is waiting (the person may have scanned it
    already), else a new one. Called from a POST (the password step), since a GET changes nothing."""
    if staff.totp_confirmed_at is not None:
        raise RuntimeError("prepare_enrolment: the account has a second factor already")
    if staff.totp_secret is None:
        staff.totp_secret = pyotp.random_base32()
        db.session.flush()
    return staff.totp_secret


def provisioning_uri(staff: StaffUser, *, issuer: str) -> str:
    """The otpauth:// address the QR code holds: the account's email, under the service's name."""
    if staff.totp_secret is None:
        raise RuntimeError("provisioning_uri needs a secret")
    return pyotp.TOTP(staff.totp_secret).provisioning_uri(name=staff.email, issuer_name=issuer)


def qr_code_svg(uri: str, *, label: str) -> Markup:
    """The QR code as inline SVG, drawn on the server (no script, no image request), with an accessible name.
    Dark on light with the standard quiet zone, whatever the page's colours."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", svgclass="app-qr-code")
    if not svg.startswith("<svg "):
        raise RuntimeError("segno's inline SVG changed shape")
    drawing = Markup(svg[len("<svg ") :])  # noqa: S704 - segno's own SVG: path data, no text from anyone
    return Markup('<svg role="img" aria-label="{}" focusable="false" ').format(label) + drawing


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand: ABCD EFGH IJKL ..."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def confirm_enrolment(staff: StaffUser, code: str, *, now: datetime | None = None) -> list[str] | None:
    """The first code from the app confirms the waiting secret: the ten recovery codes (in plain text, to show
    once), or None for a wrong code (counted against the limit, so the caller commits either way)."""
    now = now or utcnow()
    _check_limit(staff, now=now)
    secret = staff.totp_secret
    step = _matching_step(secret, code, now=now) if secret is not None and staff.totp_confirmed_at is None else None
    confirmed = step is not None and rows_changed(
        sa.update(StaffUser)
        .where(
            StaffUser.id == staff.id,
            StaffUser.totp_secret == secret,
            StaffUser.totp_confirmed_at.is_(None),
            _step_is_new(step),
        )
        .values(totp_confirmed_at=now, totp_last_step=step, last_signed_in_at=now)
    )
    if not confirmed:
        _count_wrong_code(staff, now=now)
        return None
    db.session.refresh(staff)
    _forget_wrong_codes(staff)
    audit.record(AuditAction.SECOND_FACTOR_ENROLLED, by=staff, now=now, target_staff_user=staff)
    return _new_recovery_codes(staff, now=now)


# --- Signing in ----------------------------------------------------------------------------------------------------


def check_code(staff: StaffUser, code: str, *, now: datetime | None = None) -> CodeCheck:
    """A code from the app, or a recovery code, for an enrolled account. A wrong one is counted against the
    limit and answered with a CodeCheck that says why, not an error, so the caller commits the count."""
    now = now or utcnow()
    _check_limit(staff, now=now)
    if not staff.has_second_factor:
        raise RuntimeError("check_code needs an enrolled account")
    if is_totp_code(code):
        result = _check_totp(staff, code, now=now)
    elif is_recovery_code(code):
        result = _use_recovery_code(staff, code, now=now)
    else:
        result = CodeCheck(accepted=False, problem=WRONG_CODE)
    if result.accepted:
        _forget_wrong_codes(staff)
        staff.last_signed_in_at = now
    else:
        _count_wrong_code(staff, now=now)
    return result


def _check_totp(staff: StaffUser, code: str, *, now: datetime) -> CodeCheck:
    step = _matching_step(staff.totp_secret, code, now=now)
    if step is None:
        return CodeCheck(accepted=False, problem=WRONG_CODE)
    taken = rows_changed(
        sa.update(StaffUser)
        .where(StaffUser.id == staff.id, StaffUser.totp_confirmed_at.is_not(None), _step_is_new(step))
        .values(totp_last_step=step)
    )
    if not taken:
        return CodeCheck(accepted=False, problem=USED_CODE)
    db.session.refresh(staff, ["totp_last_step"])
    return CodeCheck(accepted=True)


def _use_recovery_code(staff: StaffUser, code: str, *, now: datetime) -> CodeCheck:
    used = rows_changed(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.staff_user_id == staff.id,
            RecoveryCode.code_hash == _hash(compact(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    if not used:
        return CodeCheck(accepted=False, problem=WRONG_RECOVERY_CODE)
    left = recovery_codes_left(staff)
    audit.record(AuditAction.RECOVERY_CODE_USED, by=staff, now=now, target_staff_user=staff, detail=f"{left} left")
    return CodeCheck(accepted=True, recovery_codes_left=left)


def _matching_step(secret: str | None, code: str, *, now: datetime) -> int | None:
    """The time step (within one of the clock's) whose code this is, or None. Compared in constant time."""
    if secret is None or not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    typed = compact(code)
    current = totp.timecode(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(typed, totp.generate_otp(step)):
            found = step
    return found


def _step_is_new(step: int | None):
    return sa.or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step)


# --- Recovery codes ----------------------------------------------------------------------------------------------


def regenerate_recovery_codes(staff: StaffUser, *, by: audit.By, now: datetime | None = None) -> list[str]:
    """Ten new recovery codes (in plain text, to show once); every earlier code stops working."""
    now = now or utcnow()
    if not staff.has_second_factor:
        raise RuntimeError("regenerate_recovery_codes needs an enrolled account")
    codes = _new_recovery_codes(staff, now=now)
    audit.record(AuditAction.RECOVERY_CODES_REGENERATED, by=by, now=now, target_staff_user=staff)
    return codes


def recovery_codes_left(staff: StaffUser) -> int:
    return db.session.execute(
        sa.select(sa.func.count(RecoveryCode.id)).where(
            RecoveryCode.staff_user_id == staff.id, RecoveryCode.used_at.is_(None)
        )
    ).scalar_one()


def delete_recovery_codes(staff: StaffUser) -> None:
    db.session.execute(
        sa.delete(RecoveryCode).where(RecoveryCode.staff_user_id == staff.id),
        execution_options={"synchronize_session": False},
    )


def _new_recovery_codes(staff: StaffUser, *, now: datetime) -> list[str]:
    delete_recovery_codes(staff)
    codes = [_random_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(
        RecoveryCode(staff_user_id=staff.id, code_hash=_hash(compact(code)), created_at=now) for code in codes
    )
    db.session.flush()
    return codes


def _random_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH)) for _ in range(RECOVERY_GROUPS)
    )
    return "-".join(groups)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- The brake on guessing -------------------------------------------------------------------------------------


def _key(staff: StaffUser) -> str:
    return limits.key_hash(f"staff:{staff.id}")


def _check_limit(staff: StaffUser, *, now: datetime) -> None:
    """Under the account's lock (held to commit, so codes sent at once queue): refuse once the limit is met."""
    key = _key(staff)
    limits.lock(CODE_LIMIT.bucket, key)
    limits.prune(CODE_LIMIT, key, now=now)
    if limits.count(CODE_LIMIT, key, now=now) >= CODE_LIMIT.max_hits:
        raise TooManyCodeAttempts()


def _count_wrong_code(staff: StaffUser, *, now: datetime) -> None:
    db.session.add(RateLimitHit(bucket=CODE_LIMIT.bucket, key_hash=_key(staff), hit_at=now))
    db.session.flush()


def _forget_wrong_codes(staff: StaffUser) -> None:
    """A right code clears the account's wrong ones: typos on other days never add up to a lock-out."""
    db.session.execute(
        sa.delete(RateLimitHit).where(RateLimitHit.bucket == CODE_LIMIT.bucket, RateLimitHit.key_hash == _key(staff)),
        execution_options={"synchronize_session": False},
    )
