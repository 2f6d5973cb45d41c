"""Reminders before a session: the e-learning reminder a coordinator sends, and the day-before reminder that
`flask jobs run` sends (the joining link for those who are ready; the e-learning for the others)."""

from dataclasses import dataclass
from datetime import datetime

from mecc_volunteer import audit, settings
from mecc_volunteer.bookings.emails import manage_url_for, queue_for_booking
from mecc_volunteer.bookings.lifecycle import lock_session
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import dedupe_key_used, dedupe_keys_used
from mecc_volunteer.models import LONDON, AuditAction, Booking, LinkPurpose, StaffUser, TrainingSession, utcnow
from mecc_volunteer.sessions.joining_links import joining_link_problem
from mecc_volunteer.sessions.messages import (
    PERSONAL_LINK_PLACEHOLDER,
    CannotSend,
    EmailPreview,
    booked_on,
    email_preview,
)
from mecc_volunteer.templating import format_date, format_time
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.urls import external_url


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


def plan_elearning_reminders(training_session: TrainingSession, *, now: datetime | None = None) -> ReminderPlan:
    now = now or utcnow()
    booked = booked_on(training_session)
    unconfirmed = [b for b in booked if not b.elearning_confirmed]
    reminded = dedupe_keys_used([_elearning_reminder_key(b, now) for b in unconfirmed])
    to_remind = [b for b in unconfirmed if _elearning_reminder_key(b, now) not in reminded]
    first = to_remind[0] if to_remind else None
    preview = email_preview(
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
    for booking in booked_on(training_session, Booking.elearning_confirmed_at.is_(None)):
        key = _elearning_reminder_key(booking, now)
        if dedupe_key_used(key):
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
    if link and joining_link_problem(link, settings.current().joining_link_hosts):
        link = None  # not a link we may send; the reminder says the link will follow
    sent = []
    for booking in booked_on(training_session):
        key = f"day-before:booking:{booking.id}:{training_session.id}"
        if dedupe_key_used(key):
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
