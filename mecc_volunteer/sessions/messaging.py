"""What coordinators send to the people on a session, and what became of it: the joining link, e-learning
reminders, the day-before reminder (sent by `flask jobs run`) and each session's email status.

Every send is safe to repeat. The session row is locked first, so two requests at once take turns; each
message has a dedupe key, so the outbox refuses a second copy; and a booking records the joining link it was
last sent, so a double click or a retry finds nobody left to send to. Services never commit.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import joinedload

from mecc_volunteer import audit, errors
from mecc_volunteer.bookings.emails import email_context, manage_url_for, queue_for_booking
from mecc_volunteer.bookings.lifecycle import lock_session
from mecc_volunteer.calendar import next_calendar_sequence
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import retry_failed
from mecc_volunteer.models import (
    LONDON,
    AuditAction,
    Booking,
    BookingStatus,
    EmailStatus,
    LinkPurpose,
    OutgoingEmail,
    StaffUser,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.sessions.joining_links import joining_link_problem
from mecc_volunteer.templating import format_date, format_time
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.urls import external_url

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

# Shown in a preview where a volunteer's own secret link would be (a preview never issues one).
PERSONAL_LINK_PLACEHOLDER = "[their personal link]"


class CannotSend(errors.DomainError):
    message = "These emails cannot be sent for this session."


@dataclass(frozen=True)
class EmailPreview:
    """One email as a volunteer would get it: for the first recipient, or a sample when there is none."""

    to: str | None
    subject: str
    text: str


@dataclass
class JoiningLinkPlan:
    """What "Send joining links" would do now."""

    training_session: TrainingSession
    to_send: list[Booking]  # booked, e-learning confirmed, and not yet sent the current link
    had_old_link: int  # of those, how many were sent an earlier link
    already_sent: int  # ready, and already have the current link
    not_ready: int  # booked, e-learning not confirmed yet
    problem: str | None  # why nothing can be sent (no link, cancelled, finished)
    preview: EmailPreview | None


@dataclass
class ReminderPlan:
    """What "Send e-learning reminder" would do now."""

    training_session: TrainingSession
    to_remind: list[Booking]  # booked, e-learning not confirmed, not reminded today
    already_reminded: int  # not confirmed, but reminded today already
    confirmed: int
    problem: str | None
    preview: EmailPreview | None


@dataclass
class ReminderResult:
    sent: list[Booking]
    already_reminded: int


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


# --- Joining links -----------------------------------------------------------------------------------


def plan_joining_links(training_session: TrainingSession, *, now: datetime | None = None) -> JoiningLinkPlan:
    now = now or utcnow()
    link = training_session.joining_link
    booked = _booked(training_session)
    ready = [b for b in booked if b.elearning_confirmed]
    to_send = [b for b in ready if b.joining_link_sent != link]
    preview = None
    if link:
        first = to_send[0] if to_send else None
        changed = first is not None and first.joining_link_sent is not None
        preview = _preview(
            "joining_link",
            training_session,
            first,
            _joining_link_subject(training_session, changed=changed),
            joining_link=link,
            changed=changed,
            manage_url=PERSONAL_LINK_PLACEHOLDER,
        )
    return JoiningLinkPlan(
        training_session=training_session,
        to_send=to_send,
        had_old_link=sum(b.joining_link_sent is not None for b in to_send),
        already_sent=len(ready) - len(to_send),
        not_ready=len(booked) - len(ready),
        problem=_joining_link_problem(training_session, now=now),
        preview=preview,
    )


def send_joining_links(
    training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None
) -> list[Booking]:
    """Email the current joining link (with an .ics carrying it) to every booked volunteer who has confirmed
    the e-learning and has not been sent this link. Returns the bookings emailed: empty when everyone has it."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    problem = _joining_link_problem(training_session, now=now)
    if problem:
        raise CannotSend(problem)
    link = training_session.joining_link
    sent = []
    for booking in _booked(training_session, Booking.elearning_confirmed_at.is_not(None)):
        if booking.joining_link_sent == link:
            continue
        changed = booking.joining_link_sent is not None
        # An extra live link to My booking: the one in their confirmation email keeps working.
        token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
        next_calendar_sequence(booking)  # the calendar entry now carries the joining link
        queued = queue_for_booking(
            "joining_link",
            booking,
            _joining_link_subject(training_session, changed=changed),
            dedupe_key=_joining_link_key(booking, link),
            with_ics=True,
            now=now,
            joining_link=link,
            changed=changed,
            manage_url=manage_url_for(token),
        )
        booking.joining_link_sent = link
        booking.joining_link_sent_at = now
        if queued is not None:
            sent.append(booking)
    audit.record_messages(AuditAction.JOINING_LINK_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


def _joining_link_problem(training_session: TrainingSession, *, now: datetime) -> str | None:
    if training_session.cancelled_at is not None:
        return "This session is cancelled, so there is no joining link to send."
    if now >= training_session.ends_at:
        return "This session has already taken place, so there is no joining link to send."
    if not training_session.joining_link:
        return "This session has no joining link yet. Edit the session to add the Teams or Zoom link first."
    problem = joining_link_problem(training_session.joining_link, current_app.config["JOINING_LINK_HOSTS"])
    if problem:
        return f"{problem}. Edit the session to correct the joining link."
    return None


def _joining_link_subject(training_session: TrainingSession, *, changed: bool) -> str:
    day = format_date(training_session.starts_at)
    return f"{'New joining link' if changed else 'Your joining link'}: MECC training on {day}"


def _joining_link_key(booking: Booking, link: str) -> str:
    """joining-link:booking:<id>:<sha256(link)[:12]>: one email per person per link. A link changed and then
    changed back is sent again (numbered), since the person was sent another link in between."""
    key = f"joining-link:booking:{booking.id}:{hashlib.sha256(link.encode()).hexdigest()[:12]}"
    if not _key_used(key):
        return key
    copies = db.session.scalar(
        sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.dedupe_key.startswith(key + ":"))
    )
    return f"{key}:{copies + 2}"


# --- E-learning reminders ------------------------------------------------------------------------------


def plan_elearning_reminders(training_session: TrainingSession, *, now: datetime | None = None) -> ReminderPlan:
    now = now or utcnow()
    booked = _booked(training_session)
    unconfirmed = [b for b in booked if not b.elearning_confirmed]
    reminded = _keys_used([_elearning_reminder_key(b, now) for b in unconfirmed])
    to_remind = [b for b in unconfirmed if _elearning_reminder_key(b, now) not in reminded]
    first = to_remind[0] if to_remind else None
    preview = _preview(
        "elearning_reminder",
        training_session,
        first,
        _elearning_reminder_subject(training_session),
        confirm_url=PERSONAL_LINK_PLACEHOLDER,
        manage_url=PERSONAL_LINK_PLACEHOLDER,
    )
    return ReminderPlan(
        training_session=training_session,
        to_remind=to_remind,
        already_reminded=len(unconfirmed) - len(to_remind),
        confirmed=len(booked) - len(unconfirmed),
        problem=_reminder_problem(training_session, now=now),
        preview=preview,
    )


def send_elearning_reminders(
    training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None
) -> ReminderResult:
    """Remind each booked volunteer who has not confirmed the e-learning, with their own link to confirm it.
    At most once per person per day (Europe/London)."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    problem = _reminder_problem(training_session, now=now)
    if problem:
        raise CannotSend(problem)
    sent, already = [], 0
    for booking in _booked(training_session, Booking.elearning_confirmed_at.is_(None)):
        key = _elearning_reminder_key(booking, now)
        if _key_used(key):
            already += 1
            continue
        token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
        queue_for_booking(
            "elearning_reminder",
            booking,
            _elearning_reminder_subject(training_session),
            dedupe_key=key,
            now=now,
            confirm_url=external_url("volunteers.elearning", token=token),
            manage_url=manage_url_for(token),
        )
        sent.append(booking)
    audit.record_messages(AuditAction.ELEARNING_REMINDER_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return ReminderResult(sent, already)


def _reminder_problem(training_session: TrainingSession, *, now: datetime) -> str | None:
    if training_session.cancelled_at is not None:
        return "This session is cancelled, so there is no one to remind."
    if now >= training_session.starts_at:
        return "This session has already started, so it is too late for e-learning reminders."
    return None


def _elearning_reminder_key(booking: Booking, now: datetime) -> str:
    return f"elearning-reminder:booking:{booking.id}:{now.astimezone(LONDON).date().isoformat()}"


def _elearning_reminder_subject(training_session: TrainingSession) -> str:
    return f"Please do the MECC e-learning before your training on {format_date(training_session.starts_at)}"


# --- Day-before reminder (sent by `flask jobs run`) ----------------------------------------------------


def send_day_before_reminders(
    training_session: TrainingSession, *, by: audit.By = audit.SYSTEM, now: datetime | None = None
) -> list[Booking]:
    """One reminder per booked volunteer: the joining link for those who are ready; for the others, the
    e-learning and their own link to confirm it. Safe to run again: each booking is reminded once."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    if training_session.cancelled_at is not None or now >= training_session.starts_at:
        return []
    link = training_session.joining_link
    if link and joining_link_problem(link, current_app.config["JOINING_LINK_HOSTS"]):
        link = None  # not a link we may send; the reminder says the link will follow
    sent = []
    for booking in _booked(training_session):
        key = f"day-before:booking:{booking.id}:{training_session.id}"
        if _key_used(key):
            continue
        token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
        # Released only to a booked volunteer who has confirmed the e-learning (SPEC 3).
        joining_link = link if booking.ready_for_joining_link else None
        queue_for_booking(
            "day_before_reminder",
            booking,
            f"Tomorrow: your MECC training at {format_time(training_session.starts_at)}",
            dedupe_key=key,
            now=now,
            joining_link=joining_link,
            changed=joining_link is not None and booking.joining_link_sent not in (None, joining_link),
            confirm_url=None if booking.elearning_confirmed else external_url("volunteers.elearning", token=token),
            manage_url=manage_url_for(token),
        )
        if joining_link:
            booking.joining_link_sent = joining_link
            booking.joining_link_sent_at = now
        sent.append(booking)
    audit.record_messages(AuditAction.DAY_BEFORE_REMINDER_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


# --- Email status -------------------------------------------------------------------------------------


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
        still_booked = (
            booking is not None
            and booking.status is BookingStatus.BOOKED
            and booking.training_session_id == email.training_session_id
        )
        if not still_booked:
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


# --- Shared -------------------------------------------------------------------------------------------


def _booked(training_session: TrainingSession, *conditions) -> list[Booking]:
    """Booked volunteers on the session, read afresh (another request may have changed them meanwhile)."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .options(joinedload(Booking.volunteer))
            .where(
                Booking.training_session_id == training_session.id,
                Booking.status == BookingStatus.BOOKED,
                *conditions,
            )
            .order_by(Booking.id)
            .execution_options(populate_existing=True)
        )
    )


def _key_used(key: str) -> bool:
    return db.session.scalar(sa.select(OutgoingEmail.id).where(OutgoingEmail.dedupe_key == key)) is not None


def _keys_used(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    used: set[str] = set()
    for start in range(0, len(keys), 500):  # stay well under any backend's limit on bound parameters
        chunk = keys[start : start + 500]
        used.update(db.session.scalars(sa.select(OutgoingEmail.dedupe_key).where(OutgoingEmail.dedupe_key.in_(chunk))))
    return used


@dataclass(frozen=True)
class _SampleVolunteer:
    name: str = "Sample Volunteer"


def _preview(
    template: str, training_session: TrainingSession, booking: Booking | None, subject: str, **context
) -> EmailPreview:
    volunteer = booking.volunteer if booking is not None else _SampleVolunteer()
    text = render_template(f"email/{template}.txt", **email_context(training_session, volunteer, booking, **context))
    return EmailPreview(to=booking.volunteer.email if booking is not None else None, subject=subject, text=text)
