"""The cascade (SPEC 1, issue 10): of the people trained as MECC trainers in this pilot, how many went on to run
sessions, by two sources: what they reported in the follow-up survey, and the sessions the app holds with them as
the trained trainer (TrainingSession.trainer_volunteer_id). Read-only; three queries, whatever the number of people.

The unit is a trained booking: an ATTENDED booking on a train-the-trainer session that took place (ended, not
cancelled), the one definition in sessions.trainers. The review's filters narrow the train-the-trainer side (its
session, its date range, the trainee's organisation); every other count is of those bookings, so none is above
`trained`. A session counts in the app when it took place and started after the end of the training (the sessions
they went on to run)."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    EvaluationAnswer,
    EvaluationResponse,
    Survey,
    TrainingSession,
    Volunteer,
)
from mecc_volunteer.sessions.trainers import held, trained

SESSIONS_DELIVERED = "sessions_delivered"
PEOPLE_TRAINED = "people_trained"
# Far above any answer the survey takes (at most 200 sessions, 5,000 people): longer text is not a count.
MAX_DIGITS = 6


@dataclass(frozen=True)
class CascadeFigures:
    trained: int  # bookings that ATTENDED a train-the-trainer session that took place, within the filters
    followed_up: int  # of those, who answered the follow-up survey
    reported_running: int  # of those followed up, who reported sessions_delivered >= 1
    reported_sessions: int  # sum of sessions_delivered reported
    reported_people: int  # sum of people_trained reported
    in_app_trainers: int  # of `trained`, those who are the trained trainer of at least one held session in the app
    in_app_sessions: int  # held sessions in the app run by those trainers
    in_app_people: int  # bookings ATTENDED at those sessions
    running_any: int  # of `trained`, those who ran at least one session by either source


def whole_number(value: str | None) -> int | None:
    """A stored answer as a count, or None if it is not one (empty, negative, decimal, words, absurdly long)."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        return int(text)
    return None


def _trained_bookings(filters: ReviewFilters, now: datetime, *columns) -> sa.Select:
    """A query over the trained bookings within the filters (Booking, its TrainingSession and Volunteer joined)."""
    query = (
        sa.select(*columns)
        .select_from(Booking)
        .join(TrainingSession, TrainingSession.id == Booking.training_session_id)
        .join(Volunteer, Volunteer.id == Booking.volunteer_id)
        .where(trained(now))
    )
    return filters.apply(query)


def cascade_figures(filters: ReviewFilters, *, now: datetime) -> CascadeFigures:
    followup = aliased(EvaluationResponse)
    delivered = aliased(EvaluationAnswer)
    people = aliased(EvaluationAnswer)

    def answer(alias, key: str):
        return sa.and_(alias.booking_id == Booking.id, alias.survey == Survey.FOLLOWUP, alias.question_key == key)

    # 1. One row per trained booking with its follow-up (if any) and the two cascade answers, read as counts here.
    per_booking = (
        _trained_bookings(filters, now, Booking.id, followup.id, delivered.value, people.value)
        .outerjoin(followup, sa.and_(followup.booking_id == Booking.id, followup.survey == Survey.FOLLOWUP))
        .outerjoin(delivered, answer(delivered, SESSIONS_DELIVERED))
        .outerjoin(people, answer(people, PEOPLE_TRAINED))
    )
    trained_ids: set[int] = set()
    reported_ids: set[int] = set()
    followed_up = reported_sessions = reported_people = 0
    for booking_id, response_id, delivered_value, people_value in db.session.execute(per_booking):
        trained_ids.add(booking_id)
        if response_id is None:
            continue
        followed_up += 1
        sessions = whole_number(delivered_value) or 0
        reported_sessions += sessions
        reported_people += whole_number(people_value) or 0
        if sessions >= 1:
            reported_ids.add(booking_id)

    # 2. The held sessions each trained booking's volunteer went on to run in the app: (session, trained booking).
    run = aliased(TrainingSession)
    went_on_to_run = sa.and_(
        run.trainer_volunteer_id == Booking.volunteer_id, held(now, run), run.starts_at >= TrainingSession.ends_at
    )

    def runs(*columns) -> sa.Select:
        return _trained_bookings(filters, now, *columns).join(run, went_on_to_run).distinct()

    pairs = db.session.execute(runs(run.id, Booking.id)).all()
    in_app_ids = {booking_id for _, booking_id in pairs}

    # 3. The people who attended those sessions (each session counted once, whoever among the trainers it names).
    attendee = aliased(Booking)
    in_app_people = db.session.scalar(
        sa.select(sa.func.count(attendee.id)).where(
            attendee.status == BookingStatus.ATTENDED, attendee.training_session_id.in_(runs(run.id))
        )
    )
    return CascadeFigures(
        trained=len(trained_ids),
        followed_up=followed_up,
        reported_running=len(reported_ids),
        reported_sessions=reported_sessions,
        reported_people=reported_people,
        in_app_trainers=len(in_app_ids),
        in_app_sessions=len({session_id for session_id, _ in pairs}),
        in_app_people=in_app_people or 0,
        running_any=len(reported_ids | in_app_ids),
    )
