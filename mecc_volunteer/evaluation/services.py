"""Rules for the surveys volunteers answer (SPEC 3, 6): who may answer, when, and storing the answers.

The after-session survey is open to attendees from the end of the session for the programme's
evaluation_open_days; the follow-up survey opens followup_after_weeks after the session, for attendees who
consented, for as many days.
One response per booking per survey, enforced by the database too. Services flush and never commit.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from mecc_volunteer import errors, settings
from mecc_volunteer import instrument as instruments
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import MULTIPLE_SEPARATOR, Instrument, Question, QuestionType
from mecc_volunteer.models import Booking, BookingStatus, EvaluationAnswer, EvaluationResponse, Survey, utcnow

ANSWERABLE = (Survey.AFTER_SESSION, Survey.FOLLOWUP)


class NotAttended(errors.DomainError):
    message = "This survey is only for people who came to the training session."


class SurveyNotOpenYet(errors.DomainError):
    message = "This survey is not open yet."


class SurveyClosed(errors.DomainError):
    message = "This survey has closed."


class AlreadyAnswered(errors.DomainError):
    message = "You have already answered this survey. Thank you."


class NoFollowupConsent(errors.DomainError):
    message = "You did not agree to be contacted about the follow-up survey, so we have not asked you to fill it in."


class IncompleteAnswers(errors.DomainError):
    message = "Answer all the questions that are not marked optional."


class SurveyState(enum.Enum):
    OPEN = "open"
    NOT_ATTENDED = "not_attended"
    NO_CONSENT = "no_consent"
    ANSWERED = "answered"
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"


STATE_ERRORS = {
    SurveyState.NOT_ATTENDED: NotAttended,
    SurveyState.NO_CONSENT: NoFollowupConsent,
    SurveyState.ANSWERED: AlreadyAnswered,
    SurveyState.NOT_OPEN_YET: SurveyNotOpenYet,
    SurveyState.CLOSED: SurveyClosed,
}


@dataclass(frozen=True)
class SurveyWindow:
    opens_at: datetime
    closes_at: datetime


def survey_window(booking: Booking, survey: Survey) -> SurveyWindow:
    programme = settings.current()
    ends_at = booking.training_session.ends_at
    open_for = timedelta(days=programme.evaluation_open_days)
    if survey is Survey.AFTER_SESSION:
        return SurveyWindow(ends_at, ends_at + open_for)
    if survey is Survey.FOLLOWUP:
        opens_at = ends_at + timedelta(weeks=programme.followup_after_weeks)
        return SurveyWindow(opens_at, opens_at + open_for)
    raise ValueError(f"{survey} is not answered from a personal link")


def has_answered(booking: Booking, survey: Survey) -> bool:
    return (
        db.session.scalar(
            sa.select(EvaluationResponse.id).where(
                EvaluationResponse.booking_id == booking.id, EvaluationResponse.survey == survey
            )
        )
        is not None
    )


def survey_state(booking: Booking, survey: Survey, now: datetime | None = None) -> SurveyState:
    """What the survey page should show this booking's volunteer at now."""
    now = now or utcnow()
    window = survey_window(booking, survey)
    if booking.status is not BookingStatus.ATTENDED:
        return SurveyState.NOT_ATTENDED
    if survey is Survey.FOLLOWUP and not booking.volunteer.followup_consent:
        return SurveyState.NO_CONSENT
    if has_answered(booking, survey):
        return SurveyState.ANSWERED
    if now < window.opens_at:
        return SurveyState.NOT_OPEN_YET
    if now >= window.closes_at:
        return SurveyState.CLOSED
    return SurveyState.OPEN


def questions_for(booking: Booking, survey: Survey, instrument: Instrument | None = None) -> list[Question]:
    """The questions this volunteer is asked: cascade questions only after a train-the-trainer session.
    No instrument means the current one, read at call time (so a test can swap in another)."""
    return (instrument or instruments.CURRENT).for_survey(survey, booking.session_kind)


def submit_response(
    booking: Booking,
    survey: Survey,
    answers: dict[str, str | list[str]],
    *,
    instrument: Instrument | None = None,
    now: datetime | None = None,
) -> EvaluationResponse:
    """Store one response and one answer per answered question (multiple choice joined with '|'), under the
    given instrument (default: instrument.CURRENT at call time). Raises a DomainError if the survey is not this
    volunteer's to answer now, or was answered already."""
    now = now or utcnow()
    instrument = instrument or instruments.CURRENT
    if survey not in ANSWERABLE:
        raise ValueError(f"{survey} is not answered from a personal link")
    state = survey_state(booking, survey, now)
    if state is not SurveyState.OPEN:
        raise STATE_ERRORS[state]()
    questions = {q.key: q for q in questions_for(booking, survey, instrument)}
    unknown = set(answers) - questions.keys()
    if unknown:
        raise ValueError(f"not questions of this survey: {sorted(unknown)}")
    values = {key: _stored_value(questions[key], value) for key, value in answers.items()}
    values = {key: value for key, value in values.items() if value != ""}
    if any(q.required and q.key not in values for q in questions.values()):
        raise IncompleteAnswers()

    response = EvaluationResponse(
        booking_id=booking.id, survey=survey, instrument_version=instrument.version, submitted_at=now
    )
    try:
        # Two submissions at once: the database's one-response-per-survey constraint stops the second.
        with db.session.begin_nested():
            db.session.add(response)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise AlreadyAnswered() from None
    for key in questions:  # in the instrument's order
        if key in values:
            db.session.add(
                EvaluationAnswer(
                    booking_id=booking.id,
                    survey=survey,
                    instrument_version=instrument.version,
                    question_key=key,
                    value=values[key],
                    answered_at=now,
                )
            )
    db.session.flush()
    return response


def _stored_value(question: Question, value) -> str:
    if question.type is QuestionType.MULTIPLE:
        if isinstance(value, str):
            value = [value]
        keys = [str(v) for v in value]
        if any(question.option(k) is None for k in keys):
            raise ValueError(f"not an option of {question.key}: {keys}")
        return MULTIPLE_SEPARATOR.join(dict.fromkeys(keys))  # in the order given, without repeats
    if not isinstance(value, str):
        raise ValueError(f"{question.key} takes one answer")
    if question.options and value and question.option(value) is None:
        raise ValueError(f"not an option of {question.key}: {value!r}")
    return value
