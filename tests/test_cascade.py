"""The cascade figures: of the people trained as MECC trainers, who went on to run sessions, by what they reported
in the follow-up survey and by the sessions the app holds with them as the trained trainer."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.evaluation.cascade import CascadeFigures, cascade_figures, whole_number
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    BookingStatus,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    SessionKind,
    Survey,
    utcnow,
)

TTT = SessionKind.TRAIN_THE_TRAINER
ATTENDED = BookingStatus.ATTENDED
NOTHING = CascadeFigures(0, 0, 0, 0, 0, 0, 0, 0, 0)


@pytest.fixture
def followup(app):
    """followup(booking_id, sessions_delivered=..., people_trained=...): a submitted follow-up with those answers."""

    def answer(booking_id: int, **answers: str) -> None:
        with app.app_context():
            db.session.add(EvaluationResponse(booking_id=booking_id, survey=Survey.FOLLOWUP))
            for key, value in answers.items():
                db.session.add(
                    EvaluationAnswer(booking_id=booking_id, survey=Survey.FOLLOWUP, question_key=key, value=value)
                )
            db.session.commit()

    return answer


@pytest.fixture
def figures(app):
    def compute(filters: ReviewFilters | None = None, now=None) -> CascadeFigures:
        with app.app_context():
            return cascade_figures(filters or ReviewFilters(), now=now or utcnow())

    return compute


@pytest.fixture
def pilot(make_training_session, make_booking, make_volunteer, followup):
    """Three trained trainers from one train-the-trainer session 90 days ago: Ada reports 2 sessions (and 15 people),
    Ben reports none but runs one in the app with 3 attendees, Cy does neither (and never answers the follow-up).
    Around them, what must not count."""
    training = make_training_session(days_ahead=-90, kind=TTT)
    ada, ben, cy, dee = (make_volunteer(name=name) for name in ("Ada", "Ben", "Cy", "Dee"))
    ada_booking = make_booking(training.id, ATTENDED, volunteer_id=ada)
    ben_booking = make_booking(training.id, ATTENDED, volunteer_id=ben)
    make_booking(training.id, ATTENDED, volunteer_id=cy)
    make_booking(training.id, BookingStatus.DID_NOT_ATTEND, volunteer_id=dee)  # not trained
    followup(ada_booking, sessions_delivered="2", people_trained="15")
    followup(ben_booking, sessions_delivered="0", people_trained="0")

    ran = make_training_session(days_ahead=-30, trainer_volunteer_id=ben)
    for status in (ATTENDED, ATTENDED, ATTENDED, BookingStatus.DID_NOT_ATTEND):
        make_booking(ran.id, status)
    # Not counted: cancelled, still to come, before Ben's training, and Dee's (she did not attend the training).
    cancelled = make_training_session(days_ahead=-20, trainer_volunteer_id=ben, cancelled_at=utcnow() - timedelta(30))
    make_booking(cancelled.id, ATTENDED)
    make_booking(make_training_session(days_ahead=10, trainer_volunteer_id=ben).id)
    make_booking(make_training_session(days_ahead=-120, trainer_volunteer_id=ben).id, ATTENDED)
    make_booking(make_training_session(days_ahead=-25, trainer_volunteer_id=dee).id, ATTENDED)
    # Booked on a train-the-trainer session still to come: not trained yet.
    make_booking(make_training_session(days_ahead=20, kind=TTT).id, BookingStatus.BOOKED, volunteer_id=cy)
    return {"training": training, "ada": ada, "ben": ben, "cy": cy, "ran": ran}


def test_every_figure_for_a_reporter_an_in_app_trainer_and_one_who_did_neither(pilot, figures):
    assert figures() == CascadeFigures(
        trained=3,
        followed_up=2,
        reported_running=1,
        reported_sessions=2,
        reported_people=15,
        in_app_trainers=1,
        in_app_sessions=1,
        in_app_people=3,
        running_any=2,
    )


def test_a_trainer_counted_by_both_sources_is_running_once(
    pilot, figures, make_training_session, make_booking, followup
):
    # Ada also runs a session in the app, attended by 2; she still reports 2 sessions herself.
    ada_run = make_training_session(days_ahead=-10, trainer_volunteer_id=pilot["ada"])
    make_booking(ada_run.id, ATTENDED)
    make_booking(ada_run.id, ATTENDED)
    result = figures()
    assert (result.in_app_trainers, result.in_app_sessions, result.in_app_people) == (2, 2, 5)
    assert (result.reported_running, result.running_any) == (1, 2)


def test_a_session_in_the_app_counts_from_its_end_not_before(pilot, figures):
    ran = pilot["ran"]
    before_it_ended = ran.ends_at - timedelta(minutes=1)
    assert figures(now=before_it_ended).in_app_sessions == 0
    assert figures(now=ran.ends_at).in_app_sessions == 1


def test_a_cancelled_or_future_session_in_the_app_does_not_count(
    app, figures, make_training_session, make_booking, make_volunteer
):
    trainer = make_volunteer()
    make_booking(make_training_session(days_ahead=-60, kind=TTT).id, ATTENDED, volunteer_id=trainer)
    cancelled = make_training_session(days_ahead=-5, trainer_volunteer_id=trainer, cancelled_at=utcnow() - timedelta(9))
    make_booking(cancelled.id, ATTENDED)
    make_booking(make_training_session(days_ahead=5, trainer_volunteer_id=trainer).id)
    assert figures() == CascadeFigures(1, 0, 0, 0, 0, 0, 0, 0, 0)


def test_a_train_the_trainer_session_not_held_trains_nobody(figures, make_training_session, make_booking):
    future = make_training_session(days_ahead=5, kind=TTT)
    make_booking(future.id, BookingStatus.BOOKED)
    cancelled = make_training_session(days_ahead=-5, kind=TTT, cancelled_at=utcnow() - timedelta(9))
    make_booking(cancelled.id, ATTENDED)
    make_booking(make_training_session(days_ahead=-5).id, ATTENDED)  # volunteer training
    assert figures() == NOTHING


def test_answers_that_are_not_whole_numbers_are_ignored(
    figures, make_training_session, make_booking, make_volunteer, followup
):
    training = make_training_session(days_ahead=-90, kind=TTT)
    for delivered, people in [("lots", "-3"), (" 3 ", "1.5"), ("9" * 50, "٣"), ("", "")]:
        followup(make_booking(training.id, ATTENDED), sessions_delivered=delivered, people_trained=people)
    followup(make_booking(training.id, ATTENDED))  # answered nothing
    result = figures()
    assert (result.trained, result.followed_up) == (5, 5)
    assert (result.reported_running, result.reported_sessions, result.reported_people) == (1, 3, 0)


@pytest.mark.parametrize(
    ("value", "number"),
    [("0", 0), ("12", 12), (" 7\n", 7), ("", None), (None, None), ("-1", None), ("2.0", None), ("²", None)],
)
def test_whole_number_reads_only_whole_numbers(value, number):
    assert whole_number(value) == number


def test_the_filters_narrow_the_train_the_trainer_side(
    app, pilot, figures, make_training_session, make_booking, make_volunteer, followup
):
    with app.app_context():
        other_org = db.session.scalar(sa.select(Organisation.id).where(Organisation.name == "Restore"))
    later = make_training_session(days_ahead=-40, kind=TTT)
    eve = make_volunteer(name="Eve", organisation_id=other_org)
    followup(make_booking(later.id, ATTENDED, volunteer_id=eve), sessions_delivered="1", people_trained="8")
    eve_run = make_training_session(days_ahead=-7, trainer_volunteer_id=eve)
    make_booking(eve_run.id, ATTENDED)

    everyone = figures()
    assert (everyone.trained, everyone.running_any, everyone.in_app_people) == (4, 3, 4)

    first = figures(ReviewFilters(session_id=pilot["training"].id))
    assert (first.trained, first.reported_people, first.in_app_trainers, first.in_app_people) == (3, 15, 1, 3)

    by_organisation = figures(ReviewFilters(organisation_id=other_org))
    assert by_organisation == CascadeFigures(1, 1, 1, 1, 8, 1, 1, 1, 1)

    later_day = later.starts_at.astimezone(LONDON).date()
    assert figures(ReviewFilters(date_from=later_day)) == by_organisation
    assert figures(ReviewFilters(date_to=later_day - timedelta(days=1))) == first
    # The in-app session's own date does not filter: Eve's is 7 days ago, yet counts with her training.
    assert figures(ReviewFilters(date_to=later_day)).in_app_sessions == 2
    assert figures(ReviewFilters(session_id=pilot["ran"].id)) == NOTHING


def test_the_figures_take_the_same_few_queries_however_many_people(
    app, figures, make_training_session, make_booking, make_volunteer, followup
):
    def queries() -> int:
        statements = []
        with app.app_context():
            engine = db.engine
            listener = lambda *args: statements.append(args[2])  # noqa: E731
            sa.event.listen(engine, "before_cursor_execute", listener)
            try:
                cascade_figures(ReviewFilters(), now=utcnow())
            finally:
                sa.event.remove(engine, "before_cursor_execute", listener)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    training = make_training_session(days_ahead=-60, kind=TTT)

    def add_trainer():
        trainer = make_volunteer()
        followup(make_booking(training.id, ATTENDED, volunteer_id=trainer), sessions_delivered="1")
        make_booking(make_training_session(days_ahead=-3, trainer_volunteer_id=trainer).id, ATTENDED)

    add_trainer()
    few = queries()
    for _ in range(5):
        add_trainer()
    assert queries() == few <= 3
    assert figures().in_app_people == 6
