"""A staff member's single-use link: an invitation to set a first password, or a password reset an admin sent.

The personal-link rules of SPEC 3: 256 random bits, only their SHA-256 stored, for one account and one purpose,
expiring, and used up by the POST that sets the password (a conditional UPDATE, so two tabs cannot both use it).
Nothing changes on GET: mail scanners open links. A new link for the same account and purpose ends the old ones."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from mecc_volunteer import audit, errors
from mecc_volunteer.auth import services
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, StaffLink, StaffLinkPurpose, StaffUser, utcnow
from mecc_volunteer.transactions import rows_changed

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else cannot be one of ours.
TOKEN_LENGTH = 43
LIFETIMES = {
    StaffLinkPurpose.INVITATION: timedelta(days=7),
    StaffLinkPurpose.PASSWORD_RESET: timedelta(hours=24),
}


_HOW = {
    StaffLinkPurpose.INVITATION: "from an invitation link",
    StaffLinkPurpose.PASSWORD_RESET: "from a password reset link",
}


class StaffLinkNotValid(errors.DomainError):
    message = "This link has expired or has already been used. Ask an admin to send you a new one."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_staff_link(
    staff: StaffUser, purpose: StaffLinkPurpose, *, now: datetime | None = None
) -> tuple[StaffLink, str]:
    """A new link for the account (flushed, so it has an id) and its secret, which only the email carries.
    Earlier links of the same purpose for the account stop working."""
    now = now or utcnow()
    _end_links(staff, now=now, purpose=purpose)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = StaffLink(
        staff_user_id=staff.id,
        purpose=purpose,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
    )
    db.session.add(link)
    db.session.flush()
    return link, token


def _end_links(staff: StaffUser, *, now: datetime, purpose: StaffLinkPurpose | None = None) -> None:
    """Live links of the account (of one purpose, or all) expire now."""
    statement = sa.update(StaffLink).where(
        StaffLink.staff_user_id == staff.id, StaffLink.used_at.is_(None), StaffLink.expires_at > now
    )
    if purpose is not None:
        statement = statement.where(StaffLink.purpose == purpose)
    rows_changed(statement.values(expires_at=now))


def find_staff_link(token: str, *, now: datetime | None = None) -> StaffLink | None:
    """The live link with this secret: None for an unknown, malformed, used or expired one, or one whose account
    has been deactivated since."""
    now = now or utcnow()
    if len(token) != TOKEN_LENGTH or not token.isascii():
        return None
    link = db.session.scalar(sa.select(StaffLink).where(StaffLink.token_hash == _hash(token)))
    # The lookup is by hash; compare again in constant time so the index is the only oracle.
    if link is None or not hmac.compare_digest(link.token_hash, _hash(token)):
        return None
    if link.used_at is not None or link.expires_at <= now or not link.staff_user.active:
        return None
    return link


def set_password_with_link(token: str, password: str, *, now: datetime | None = None) -> StaffUser:
    """Use the link up and set the account's password: every session of the account ends, and every other live
    link of it stops working. StaffLinkNotValid if the link is not live (or another tab used it a moment ago)."""
    now = now or utcnow()
    link = find_staff_link(token, now=now)
    if link is None:
        raise StaffLinkNotValid()
    if len(password) < services.MIN_PASSWORD_LENGTH:
        raise services.WeakPassword()
    used = rows_changed(
        sa.update(StaffLink)
        .where(StaffLink.id == link.id, StaffLink.used_at.is_(None), StaffLink.expires_at > now)
        .values(used_at=now)
    )
    if used != 1:
        raise StaffLinkNotValid()
    staff = link.staff_user
    services.change_password(staff, password)
    _end_links(staff, now=now)
    audit.record(AuditAction.PASSWORD_SET, by=staff, now=now, target_staff_user=staff, detail=_HOW[link.purpose])
    return staff
