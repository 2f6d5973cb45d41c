"""Each session's email status: every email about it and what became of it, and sending a failed one again."""

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from mecc_volunteer import audit
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import retry_failed
from mecc_volunteer.models import (
    AuditAction,
    Booking,
    BookingStatus,
    EmailStatus,
    OutgoingEmail,
    StaffUser,
    TrainingSession,
)
from mecc_volunteer.sessions.messages import CannotSend

# What coordinators call each email on the status page.
EMAIL_KINDS = {
    "booking_confirmation": "Booking confirmation",
    "waiting_list_confirmation": "Waiting list confirmation",
    "place_offered": "Place offered from the waiting list",
    "move_offer": "Offer to move their booking",
    "your_link": "Their link, on request",
    "session_changed": "Session changed",
    "session_cancelled": "Session cancelled",
    "joining_link": "Joining link",
    "elearning_reminder": "E-learning reminder",
    "day_before_reminder": "Day-before reminder",
    "evaluation_invitation": "Evaluation invitation",
    "evaluation_reminder": "Evaluation reminder",
    "followup_invitation": "Follow-up survey invitation",
}


@dataclass
class EmailRow:
    email: OutgoingEmail
    kind: str
    # When a queued email that failed before will be tried again.
    next_try_at: datetime | None
    can_retry: bool


@dataclass
class EmailStatusPage:
    training_session: TrainingSession
    rows: list[EmailRow]
    counts: dict[EmailStatus, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def email_status(training_session: TrainingSession, *, status: EmailStatus | None = None) -> EmailStatusPage:
    """Every email about the session, newest first (optionally only those with one status), with counts."""
    query = sa.select(OutgoingEmail).where(OutgoingEmail.training_session_id == training_session.id)
    if status is not None:
        query = query.where(OutgoingEmail.status == status)
    emails = db.session.scalars(query.order_by(OutgoingEmail.created_at.desc(), OutgoingEmail.id.desc()))
    counts = dict.fromkeys(EmailStatus, 0)
    for found, number in db.session.execute(
        sa.select(OutgoingEmail.status, sa.func.count(OutgoingEmail.id))
        .where(OutgoingEmail.training_session_id == training_session.id)
        .group_by(OutgoingEmail.status)
    ):
        counts[found] = number
    rows = [
        EmailRow(
            email=email,
            kind=EMAIL_KINDS.get(email.template, email.template.replace("_", " ").capitalize()),
            next_try_at=email.next_attempt_at if email.status is EmailStatus.QUEUED and email.attempts else None,
            can_retry=email.status is EmailStatus.FAILED,
        )
        for email in emails
    ]
    return EmailStatusPage(training_session, rows, counts)


def retry_email(email: OutgoingEmail, *, by: StaffUser, now: datetime | None = None) -> OutgoingEmail:
    """A coordinator asks to send a failed email again; it goes out straight after the request."""
    if email.status is not EmailStatus.FAILED:
        raise CannotSend("This email has not failed, so there is nothing to try again.")
    if email.template in ("joining_link", "day_before_reminder"):
        booking = db.session.get(Booking, email.booking_id) if email.booking_id else None
        if (
            booking is None
            or booking.status is not BookingStatus.BOOKED
            or booking.training_session_id != email.training_session_id
        ):
            raise CannotSend("This person is no longer booked on the session, so this email is not sent again.")
        link = booking.training_session.joining_link
        if email.template == "joining_link" and (not link or link not in (email.body_text or "")):
            raise CannotSend("The joining link has changed since this email was written. Send the new link instead.")
    retry_failed(email, now=now)
    audit.record(
        AuditAction.EMAIL_RETRIED,
        by=by,
        now=now,
        booking=db.session.get(Booking, email.booking_id) if email.booking_id else None,
        training_session_id=email.training_session_id,
        detail=EMAIL_KINDS.get(email.template, email.template),
    )
    return email
