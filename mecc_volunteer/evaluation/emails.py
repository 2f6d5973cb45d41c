"""Survey invitations (SPEC 5): the evaluation invitation and its one reminder, and the follow-up invitation.

Each goes once per booking (a dedupe key in the outbox), with a fresh personal link for the survey; links in
earlier emails keep working. The session row is locked first, so a coordinator's click and the scheduled job
take turns. Sent by `flask jobs run` (mecc_volunteer.jobs) and by the coordinator's "Send evaluation invitations".
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer import audit, errors, settings
from mecc_volunteer.bookings.emails import queue_for_booking
from mecc_volunteer.bookings.lifecycle import lock_session
from mecc_volunteer.evaluation.services import survey_window
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import dedupe_keys_used
from mecc_volunteer.models import (
    AuditAction,
    Booking,
    BookingStatus,
    EvaluationResponse,
    LinkPurpose,
    OutgoingEmail,
    Survey,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.templating import format_date
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.urls import external_url


class CannotInvite(errors.DomainError):
    message = "Evaluation invitations cannot be sent for this session."


def invitation_key(booking: Booking) -> str:
    return f"evaluation-invitation:booking:{booking.id}"


def reminder_key(booking: Booking) -> str:
    return f"evaluation-reminder:booking:{booking.id}"


def followup_key(booking: Booking) -> str:
    return f"followup-invitation:booking:{booking.id}"


@dataclass
class InvitationPlan:
    """What "Send evaluation invitations" would do now."""

    training_session: TrainingSession
    to_invite: list[Booking]  # attended, not invited, not answered
    already_invited: int
    answered: int
    attended: int
    problem: str | None
    closes_at: datetime | None


# --- Evaluation invitations ------------------------------------------------------------------------------


def invitation_problem(training_session: TrainingSession, *, now: datetime) -> str | None:
    if training_session.cancelled_at is not None:
        return "This session was cancelled, so there is no one to ask for feedback."
    if now < training_session.ends_at:
        return "This session has not finished yet. You can send invitations once it has ended."
    closes_at = training_session.ends_at + timedelta(days=settings.current().evaluation_open_days)
    if now >= closes_at:
        return f"The evaluation for this session closed on {format_date(closes_at)}."
    return None


def plan_invitations(training_session: TrainingSession, *, now: datetime | None = None) -> InvitationPlan:
    now = now or utcnow()
    attended = _attended(training_session)
    answered = _answered_ids(attended, Survey.AFTER_SESSION)
    invited = dedupe_keys_used([invitation_key(b) for b in attended])
    to_invite = [b for b in attended if b.id not in answered and invitation_key(b) not in invited and _reachable(b)]
    return InvitationPlan(
        training_session=training_session,
        to_invite=to_invite,
        already_invited=sum(invitation_key(b) in invited and b.id not in answered for b in attended),
        answered=len(answered),
        attended=len(attended),
        problem=invitation_problem(training_session, now=now),
        closes_at=training_session.ends_at + timedelta(days=settings.current().evaluation_open_days),
    )


def send_evaluation_invitations(
    training_session: TrainingSession, *, by: audit.By = audit.SYSTEM, now: datetime | None = None
) -> list[Booking]:
    """Invite each attendee who has not been invited or answered. Safe to repeat: returns only those emailed."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    problem = invitation_problem(training_session, now=now)
    if problem:
        raise CannotInvite(problem)
    attended = _attended(training_session)
    answered = _answered_ids(attended, Survey.AFTER_SESSION)
    used = dedupe_keys_used([invitation_key(b) for b in attended])
    sent = []
    for booking in attended:
        if booking.id in answered or invitation_key(booking) in used or not _reachable(booking):
            continue
        _queue_survey_email("evaluation_invitation", booking, invitation_key(booking), now=now)
        sent.append(booking)
    audit.record_messages(AuditAction.EVALUATION_INVITATION_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


def send_evaluation_reminders(
    training_session: TrainingSession, *, by: audit.By = audit.SYSTEM, now: datetime | None = None
) -> list[Booking]:
    """The one reminder, evaluation_reminder_days after the session, to attendees who were invited and have not
    answered, while the survey is still open."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    if invitation_problem(training_session, now=now):
        return []
    if now < training_session.ends_at + timedelta(days=settings.current().evaluation_reminder_days):
        return []
    attended = _attended(training_session)
    answered = _answered_ids(attended, Survey.AFTER_SESSION)
    invited = dedupe_keys_used([invitation_key(b) for b in attended])
    reminded = dedupe_keys_used([reminder_key(b) for b in attended])
    sent = []
    for booking in attended:
        if booking.id in answered or invitation_key(booking) not in invited or reminder_key(booking) in reminded:
            continue
        if not _reachable(booking):
            continue
        _queue_survey_email("evaluation_reminder", booking, reminder_key(booking), now=now)
        sent.append(booking)
    audit.record_messages(AuditAction.EVALUATION_REMINDER_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


# --- Follow-up ---------------------------------------------------------------------------------------------


def send_followup_invitations(
    training_session: TrainingSession, *, by: audit.By = audit.SYSTEM, now: datetime | None = None
) -> list[Booking]:
    """followup_after_weeks after the session: attendees who consented to be contacted, once each."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    if training_session.cancelled_at is not None:
        return []
    sent = []
    attended = [b for b in _attended(training_session) if b.volunteer.followup_consent]
    answered = _answered_ids(attended, Survey.FOLLOWUP)
    used = dedupe_keys_used([followup_key(b) for b in attended])
    for booking in attended:
        window = survey_window(booking, Survey.FOLLOWUP)
        if not window.opens_at <= now < window.closes_at:
            continue
        if booking.id in answered or followup_key(booking) in used or not _reachable(booking):
            continue
        _queue_survey_email("followup_invitation", booking, followup_key(booking), now=now)
        sent.append(booking)
    audit.record_messages(AuditAction.FOLLOWUP_INVITATION_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


# --- Shared -------------------------------------------------------------------------------------------------

SUBJECTS = {
    "evaluation_invitation": "How was your MECC training? Tell us in 5 minutes",
    "evaluation_reminder": "Reminder: tell us how your MECC training went",
    "followup_invitation": "MECC training: what have you done since? A 5-minute follow-up survey",
}


def _queue_survey_email(template: str, booking: Booking, key: str, *, now: datetime) -> OutgoingEmail | None:
    survey = Survey.FOLLOWUP if template == "followup_invitation" else Survey.AFTER_SESSION
    purpose = LinkPurpose.FOLLOWUP if survey is Survey.FOLLOWUP else LinkPurpose.EVALUATION
    endpoint = "evaluation.followup" if survey is Survey.FOLLOWUP else "evaluation.after_session"
    token = issue_link(booking, purpose, now=now, replace=False)
    window = survey_window(booking, survey)
    return queue_for_booking(
        template,
        booking,
        SUBJECTS[template],
        dedupe_key=key,
        now=now,
        survey_url=external_url(endpoint, token=token),
        closes_at=window.closes_at - timedelta(seconds=1),
        signpost_url=settings.current().signpost_url,
        signpost_name=settings.current().signpost_name,
    )


def _reachable(booking: Booking) -> bool:
    """The volunteer still has an address: not one whose personal data has been removed (retention, or at their
    request), who is never sent a survey link."""
    return booking.volunteer.email is not None


def _attended(training_session: TrainingSession) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .options(joinedload(Booking.volunteer))
            .where(Booking.training_session_id == training_session.id, Booking.status == BookingStatus.ATTENDED)
            .order_by(Booking.id)
            .execution_options(populate_existing=True)
        )
    )


def _answered_ids(bookings: list[Booking], survey: Survey) -> set[int]:
    if not bookings:
        return set()
    ids = [b.id for b in bookings]
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        found.update(
            db.session.scalars(
                sa.select(EvaluationResponse.booking_id).where(
                    EvaluationResponse.booking_id.in_(ids[start : start + 500]), EvaluationResponse.survey == survey
                )
            )
        )
    return found


# --- For the jobs: which sessions are due -----------------------------------------------------------------


def sessions_ended_between(start: datetime, end: datetime) -> list[TrainingSession]:
    return list(
        db.session.scalars(
            sa.select(TrainingSession)
            .where(
                TrainingSession.ends_at > start,
                TrainingSession.ends_at <= end,
                TrainingSession.cancelled_at.is_(None),
                sa.select(Booking.id)
                .where(Booking.training_session_id == TrainingSession.id, Booking.status == BookingStatus.ATTENDED)
                .exists(),
            )
            .order_by(TrainingSession.ends_at, TrainingSession.id)
        )
    )


def evaluation_invitations_due(now: datetime) -> int:
    open_days = timedelta(days=settings.current().evaluation_open_days)
    return sum(len(send_evaluation_invitations(ts, now=now)) for ts in sessions_ended_between(now - open_days, now))


def evaluation_reminders_due(now: datetime) -> int:
    programme = settings.current()
    open_days = timedelta(days=programme.evaluation_open_days)
    reminder = timedelta(days=programme.evaluation_reminder_days)
    sessions = sessions_ended_between(now - open_days, now - reminder)
    return sum(len(send_evaluation_reminders(ts, now=now)) for ts in sessions)


def followup_invitations_due(now: datetime) -> int:
    programme = settings.current()
    after = timedelta(weeks=programme.followup_after_weeks)
    open_days = timedelta(days=programme.evaluation_open_days)
    sessions = sessions_ended_between(now - after - open_days, now - after)
    return sum(len(send_followup_invitations(ts, now=now)) for ts in sessions)
