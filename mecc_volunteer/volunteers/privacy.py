"""A volunteer's own data (SPEC 4, issue 9): everything we hold about them, and removing what identifies them.

`remove_identity` is the one place a volunteer's name, contact details, role text and equality answers go: the
retention job calls it, and so does a request to delete (`delete_data`, by the volunteer's link or a coordinator
for them). Bookings, attendance, evaluation answers and consents (their wording version and time) stay, so the
review's figures and the pseudonymous exports do not change; the privacy notice says so. Nothing here commits.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer import audit, errors, settings, tokens
from mecc_volunteer.audit import By
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CURRENT, MULTIPLE_SEPARATOR, QuestionType
from mecc_volunteer.mail import forget_recipient
from mecc_volunteer.models import (
    AuditAction,
    Booking,
    EvaluationAnswer,
    OutgoingEmail,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.transactions import rows_changed
from mecc_volunteer.validation import normalise_email
from mecc_volunteer.volunteers.forms import AGE_BANDS, DISABILITY, ETHNIC_GROUPS, GENDERS

# Everything that identifies the person; each becomes None. The organisation and area (from lists) stay, for the
# review's breakdowns; so do the consents' versions and times.
IDENTITY_FIELDS = (
    "name",
    "email",
    "email_normalised",
    "phone",
    "role",
    "organisation_other",
    "age_band",
    "gender",
    "ethnic_group",
    "disability",
)
NO_AREA = "Outside Oxfordshire, or not sure"
SURVEY_NAMES = {
    Survey.BASELINE: "At registration",
    Survey.AFTER_SESSION: "After the session",
    Survey.FOLLOWUP: "Follow-up",
}
EQUALITY_QUESTIONS = (
    ("age_band", "Age group", AGE_BANDS),
    ("gender", "Gender", GENDERS),
    ("ethnic_group", "Ethnic group", ETHNIC_GROUPS),
    ("disability", "Disability", DISABILITY),
)


class IdentityAlreadyRemoved(errors.DomainError):
    message = "This person's personal data has already been removed."


class VolunteerNotFound(errors.DomainError):
    message = "No volunteer has registered with that email address. Check it, or ask which address they used."


# --- Finding ----------------------------------------------------------------------------------------


def find_by_email(email: str) -> Volunteer:
    """The volunteer registered with this address (compared as registration compares it), or VolunteerNotFound."""
    volunteer = db.session.scalar(sa.select(Volunteer).where(Volunteer.email_normalised == normalise_email(email)))
    if volunteer is None:
        raise VolunteerNotFound()
    return volunteer


def notice_changed(volunteer: Volunteer) -> bool:
    """The privacy notice has a new version since the volunteer last read it."""
    return volunteer.privacy_notice_version != settings.current().privacy_notice_version


# --- Everything we hold about them -------------------------------------------------------------------------


def _label(choices, value: str | None) -> str | None:
    if value is None:
        return None
    return next((choice.label for choice in choices if choice.value == value), value)


def _answer_text(answer: EvaluationAnswer) -> tuple[str, str]:
    """(the question as it was asked, the answer in words)."""
    try:
        question = CURRENT.question(answer.survey, answer.question_key)
    except StopIteration:  # a question from another version of the instrument
        return answer.question_key, answer.value
    if question.type is QuestionType.MULTIPLE:
        keys = [key for key in answer.value.split(MULTIPLE_SEPARATOR) if key]
        return question.wording, ", ".join(_option_label(question, key) for key in keys)
    return question.wording, _option_label(question, answer.value)


def _option_label(question, key: str) -> str:
    option = question.option(key)
    return option.label if option is not None else key


def data_about(volunteer: Volunteer) -> dict[str, Any]:
    """Everything we hold about the volunteer, as they (or a coordinator answering their request) may read it:
    identity, organisation, area, equality answers, consents with their wording version and time, each booking with
    its session, status and history, e-learning and evaluation answers (with the question's wording), and the emails
    sent to them (template, subject, status, when; not their bodies, which are deleted once sent). Values are
    plain: strings, numbers, booleans, None, dates and aware datetimes (see as_json)."""
    bookings = list(
        db.session.scalars(
            sa.select(Booking)
            .options(joinedload(Booking.training_session))
            .where(Booking.volunteer_id == volunteer.id)
            .order_by(Booking.created_at, Booking.id)
        )
    )
    booking_ids = [booking.id for booking in bookings]
    answers: dict[int, list[EvaluationAnswer]] = {booking_id: [] for booking_id in booking_ids}
    if booking_ids:
        for answer in db.session.scalars(
            sa.select(EvaluationAnswer)
            .where(EvaluationAnswer.booking_id.in_(booking_ids))
            .order_by(EvaluationAnswer.answered_at, EvaluationAnswer.id)
        ):
            answers[answer.booking_id].append(answer)
    histories = audit.histories(booking_ids)
    theirs: sa.ColumnElement[bool] = OutgoingEmail.booking_id.in_(booking_ids)
    if volunteer.email:
        theirs = sa.or_(theirs, OutgoingEmail.to_address == volunteer.email)
    emails = list(db.session.scalars(sa.select(OutgoingEmail).where(theirs).order_by(OutgoingEmail.created_at)))

    return {
        "about": "The personal data the MECC volunteer training service holds about you.",
        "identity": {
            "name": volunteer.name,
            "email": volunteer.email,
            "phone": volunteer.phone,
            "role": volunteer.role,
        },
        "identity_removed_at": volunteer.identity_removed_at,
        "registered_at": volunteer.created_at,
        "organisation": {
            "name": volunteer.organisation.name,
            "named_by_you": volunteer.organisation_other,
        },
        "area": volunteer.district.name if volunteer.district is not None else NO_AREA,
        "equality_answers": {
            label: _label(choices, getattr(volunteer, key)) or "Not answered"
            for key, label, choices in EQUALITY_QUESTIONS
        },
        "consents": [
            {
                "what": "You confirmed you had read the privacy notice",
                "given": True,
                "wording_version": volunteer.privacy_notice_version,
                "at": volunteer.privacy_acknowledged_at,
            },
            {
                "what": "We may contact you for the follow-up survey",
                "given": volunteer.followup_consent,
                "wording_version": volunteer.followup_consent_version,
                "at": volunteer.followup_consent_at,
            },
        ],
        "bookings": [_booking_data(booking, histories[booking.id], answers[booking.id]) for booking in bookings],
        "emails": [
            {
                "template": email.template,
                "subject": email.subject,
                "status": email.status.value,
                "queued_at": email.created_at,
                "sent_at": email.sent_at,
            }
            for email in emails
        ],
    }


def _booking_data(booking: Booking, history, answers: list[EvaluationAnswer]) -> dict[str, Any]:
    training_session: TrainingSession = booking.training_session
    return {
        "reference": booking.id,
        "session": {
            "kind": training_session.kind.label,
            "starts_at": training_session.starts_at,
            "ends_at": training_session.ends_at,
            "location": training_session.location,
            "cancelled": training_session.cancelled_at is not None,
        },
        "status": booking.status.label,
        "times": {
            "registered": booking.created_at,
            "booked": booking.booked_at,
            "joined_waiting_list": booking.waitlisted_at,
            "given_a_place_from_the_waiting_list": booking.promoted_at,
            "moved": booking.moved_at,
            "cancelled": booking.cancelled_at,
            "attendance_recorded": booking.attendance_recorded_at,
        },
        "history": [
            {
                "at": event.at,
                "what": event.action.label,
                "from": event.from_status.label if event.from_status else None,
                "to": event.to_status.label if event.to_status else None,
            }
            for event in history
        ],
        "elearning": {
            "completed_on": booking.elearning_completed_on,
            "confirmed_at": booking.elearning_confirmed_at,
        },
        "answers": [
            {
                "survey": SURVEY_NAMES.get(answer.survey, answer.survey.value),
                "question": wording,
                "answer": words,
                "answered_at": answer.answered_at,
            }
            for answer in answers
            for wording, words in [_answer_text(answer)]
        ],
    }


def _plain(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not plain data")


def as_json(data: dict[str, Any]) -> str:
    """data_about's answer as a JSON document (times in ISO 8601, UTC)."""
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2)


def note_download(volunteer_id: int, *, by: By, what: str) -> None:
    """The audit trail's note that someone read (the page) or downloaded (the file) a volunteer's data."""
    audit.record(AuditAction.DATA_DOWNLOADED, by=by, volunteer_id=volunteer_id, detail=what)


# --- Removing what identifies them --------------------------------------------------------------------------


def remove_identity(
    volunteer: Volunteer, *, by: By, now: datetime | None = None, action: AuditAction = AuditAction.IDENTITY_REMOVED
) -> bool:
    """Remove the volunteer's name, contact details, role text and equality answers; end their personal links;
    forget their address in the outbox (messages not yet sent are deleted). Bookings, answers and consents'
    versions and times stay. One conditional UPDATE decides: of two runs at once, one removes and records it, the
    other finds it done and returns False."""
    now = now or utcnow()
    address = volunteer.email
    removed = rows_changed(
        sa.update(Volunteer)
        .where(Volunteer.id == volunteer.id, Volunteer.identity_removed_at.is_(None))
        .values(**dict.fromkeys(IDENTITY_FIELDS), identity_removed_at=now, updated_at=now)
    )
    db.session.refresh(volunteer)
    if removed != 1:
        return False
    tokens.revoke_volunteer_links(volunteer.id, now=now)
    forget_recipient(address=address, booking_ids=sa.select(Booking.id).where(Booking.volunteer_id == volunteer.id))
    audit.record(action, by=by, now=now, volunteer_id=volunteer.id)
    return True


def bookings_to_cancel(volunteer: Volunteer, *, now: datetime | None = None) -> list[Booking]:
    """The volunteer's bookings and waiting-list places that deleting their data cancels: those that can still
    change (their session has not started)."""
    bookings = db.session.scalars(
        sa.select(Booking)
        .options(joinedload(Booking.training_session))
        .where(Booking.volunteer_id == volunteer.id)
        .order_by(Booking.id)
        .execution_options(populate_existing=True)
    ).all()
    return [booking for booking in bookings if lifecycle.can_change(booking, now=now)]


@dataclass(frozen=True)
class Deleted:
    cancelled: list[Booking]  # the volunteer's bookings this cancelled
    promoted: list[Booking]  # people given a place from a waiting list as a result


def delete_data(volunteer: Volunteer, *, by: By, now: datetime | None = None) -> Deleted:
    """At the volunteer's request (by their link, or a coordinator for them): cancel their bookings that can still
    be cancelled, so the waiting list moves on (whoever gets the place is emailed, as for any cancellation), then
    remove their identity as the retention job does."""
    now = now or utcnow()
    if volunteer.identity_removed_at is not None:
        raise IdentityAlreadyRemoved()
    cancelled: list[Booking] = []
    promoted: list[Booking] = []
    for booking in bookings_to_cancel(volunteer, now=now):
        promoted += lifecycle.cancel(booking, by=by, now=now)
        cancelled.append(booking)
    if not remove_identity(volunteer, by=by, now=now, action=AuditAction.DATA_DELETED):
        raise IdentityAlreadyRemoved()
    return Deleted(cancelled, promoted)


def acknowledge_notice(volunteer: Volunteer, *, by: By = audit.VOLUNTEER, now: datetime | None = None) -> Volunteer:
    """The volunteer has read the privacy notice's current version."""
    now = now or utcnow()
    version = settings.current().privacy_notice_version
    if volunteer.privacy_notice_version == version:
        return volunteer  # a second tap: nothing new to record
    volunteer.privacy_notice_version = version
    volunteer.privacy_acknowledged_at = now
    audit.record(
        AuditAction.PRIVACY_NOTICE_ACKNOWLEDGED, by=by, now=now, volunteer_id=volunteer.id, detail=f"version {version}"
    )
    return volunteer
