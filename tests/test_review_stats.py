"""The pilot review's figures against small hand-computed fixtures: paired before/after per person,
small-number suppression, the funnel, and the instrument driving what is shown."""

from dataclasses import replace

import pytest
import sqlalchemy as sa

from mecc_volunteer.evaluation import review
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import AGREE, CURRENT, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    Organisation,
    Survey,
    utcnow,
)
from mecc_volunteer.search import contains_pattern
from tests.helpers import store_answers

NO_FILTERS = ReviewFilters()


def set_booking(app, booking_id: int, **columns) -> None:
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        for name, value in columns.items():
            setattr(booking, name, value)
        db.session.commit()


# --- Pure functions -----------------------------------------------------------------------------------


def test_paired_statistics_match_a_hand_computed_example():
    # before 2,4,6,3 (mean 3.75); after 5,4,3,7 (mean 4.75); changes +3,0,-3,+4 (mean 1.0); 2 of 4 improved.
    stats = review.paired_statistics([(2, 5), (4, 4), (6, 3), (3, 7)])
    assert stats.n == 4
    assert stats.mean_before == pytest.approx(3.8)
    assert stats.mean_after == pytest.approx(4.8)
    assert stats.mean_change == pytest.approx(1.0)
    assert stats.improved_share == pytest.approx(50.0)


def test_paired_statistics_of_nobody_are_empty_not_an_error():
    stats = review.paired_statistics([])
    assert (stats.n, stats.mean_before, stats.mean_change, stats.improved_share) == (0, None, None, None)


@pytest.mark.parametrize(("n", "hidden"), [(0, True), (1, True), (4, True), (5, False), (6, False)])
def test_groups_under_five_people_are_suppressed_and_five_are_shown(n, hidden):
    figures = object()
    result = review.suppress(n, figures)
    assert (result is not figures) is hidden
    assert getattr(result, "suppressed", False) is hidden


def test_number_statistics_give_n_mean_median_and_total():
    question = CURRENT.question(Survey.FOLLOWUP, "conversations")
    stats = review.number_statistics(question, [0, 2, 3, 10, 1])
    assert (stats.n, stats.mean, stats.median, stats.total) == (5, 3.2, 2, 16)


def test_like_wildcards_in_a_search_are_escaped():
    assert contains_pattern(r"50%_a\b") == r"%50\%\_a\\b%"


# --- From the database --------------------------------------------------------------------------------


@pytest.fixture
def training_session(make_training_session):
    return make_training_session(days_ahead=-10)


def test_only_people_with_both_answers_are_paired(app, app_context, training_session, make_booking):
    # Five people with both answers: confidence before 3,5,5,6,1 -> after 6,5,4,8,2.
    # Mean before 4.0, after 5.0, change +1.0, improved 3 of 5 = 60 %.
    for before, after in [(3, 6), (5, 5), (5, 4), (6, 8), (1, 2)]:
        booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.BASELINE, confidence=before, knowledge=before)
        store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, confidence=after, knowledge=10)
    only_before = make_booking(training_session.id, status=BookingStatus.ATTENDED)
    store_answers(app, only_before, Survey.BASELINE, confidence=0, knowledge=0)
    only_after = make_booking(training_session.id, status=BookingStatus.ATTENDED)
    store_answers(app, only_after, Survey.AFTER_SESSION, respond=True, confidence=10)

    paired = {item.question.key: item.stats for item in review.paired_questions(NO_FILTERS)}
    confidence = paired["confidence"]
    assert (confidence.n, confidence.mean_before, confidence.mean_after) == (5, 4.0, 5.0)
    assert (confidence.mean_change, confidence.improved_share) == (1.0, 60.0)
    # knowledge: before 3,5,5,6,1 (4.0), after 10 for all five; everyone improved.
    assert (paired["knowledge"].n, paired["knowledge"].mean_change, paired["knowledge"].improved_share) == (
        5,
        6.0,
        100.0,
    )


def test_paired_figures_about_four_people_are_suppressed(app, app_context, training_session, make_booking):
    for before, after in [(3, 6), (5, 5), (5, 4), (6, 8)]:
        booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.BASELINE, confidence=before)
        store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, confidence=after)
    paired = {item.question.key: item.stats for item in review.paired_questions(NO_FILTERS)}
    assert paired["confidence"].suppressed


def test_the_funnel_counts_each_stage_in_one_grouped_query(app, app_context, training_session, make_booking):
    ids = [make_booking(training_session.id) for _ in range(6)]
    make_booking(training_session.id, status=BookingStatus.WAITING)  # never held a place
    make_booking(training_session.id, status=BookingStatus.CANCELLED)
    for booking_id in ids[:4]:
        set_booking(app, booking_id, elearning_confirmed_at=utcnow())
    for booking_id in ids[:3]:
        set_booking(app, booking_id, status=BookingStatus.ATTENDED)
    set_booking(app, ids[5], status=BookingStatus.DID_NOT_ATTEND)
    store_answers(app, ids[0], Survey.AFTER_SESSION, respond=True, overall="good")
    store_answers(app, ids[1], Survey.AFTER_SESSION, respond=True, overall="good")
    store_answers(app, ids[0], Survey.FOLLOWUP, respond=True, conversations=3)

    [(_, funnel)] = review.funnel_counts(NO_FILTERS)
    assert (funnel.registered, funnel.elearning_confirmed, funnel.attended, funnel.evaluated, funnel.followed_up) == (
        6,
        4,
        3,
        2,
        1,
    )
    assert [pct for _, _, pct in funnel.stages()] == [100.0, 66.7, 50.0, 33.3, 16.7]


def test_a_breakdown_shows_a_group_of_five_and_hides_a_group_of_four(
    app, app_context, training_session, make_booking, make_volunteer
):
    first, second = db.session.execute(sa.select(Organisation.id, Organisation.name).order_by(Organisation.id)).all()[
        :2
    ]
    db.session.rollback()  # end the read before the factories write
    for _ in range(5):
        make_booking(training_session.id, volunteer_id=make_volunteer(organisation_id=first.id))
    for _ in range(4):
        make_booking(training_session.id, volunteer_id=make_volunteer(organisation_id=second.id))

    result = review.build_review(NO_FILTERS)
    groups = {group.label: group.figures for group in result.by_organisation}
    assert groups[first.name].registered == 5
    assert not groups[first.name].suppressed
    assert groups[second.name].suppressed
    assert groups[second.name].n is None
    # The same one rule hides the district and session groups: 9 in one session, all without a district.
    assert [g.figures.registered for g in result.by_session] == [9]
    assert [g.label for g in result.by_district] == [review.NO_DISTRICT]


def test_reaction_counts_every_option_including_dont_know(app, app_context, training_session, make_booking):
    ratings = ["very_good", "very_good", "good", "poor", "dont_know"]
    for rating in ratings:
        booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, overall=rating)
    overall = next(d for d in review.choice_distributions(NO_FILTERS) if d.question.key == "overall")
    counts = {label: count for label, count, _ in overall.counts}
    assert counts == {"Very good": 2, "Good": 1, "Neither good nor poor": 0, "Poor": 1, "Very poor": 0, "Don't know": 1}
    assert overall.n == 5
    assert overall.mean_score == 4.0  # (5 + 5 + 4 + 2) / 4: "Don't know" has no score


def test_follow_up_topics_count_each_option_chosen(app, app_context, training_session, make_booking):
    for topics, conversations in [
        ("smoking|alcohol", 2),
        ("alcohol", 0),
        ("", 5),
        ("alcohol|other", 1),
        ("smoking", 4),
    ]:
        booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.FOLLOWUP, respond=True, topics=topics, conversations=conversations)
    topics = next(d for d in review.choice_distributions(NO_FILTERS) if d.question.key == "topics")
    counts = {label: count for label, count, _ in topics.counts}
    assert counts["Alcohol"] == 3
    assert counts["Stopping smoking"] == 2
    assert counts["Something else"] == 1
    conversations = next(n for n in review.number_questions(NO_FILTERS) if n.question.key == "conversations")
    assert (conversations.n, conversations.mean, conversations.median) == (5, 2.4, 2)


def test_the_instrument_drives_the_review(app, app_context, training_session, make_booking):
    extra = Question(
        "examples_useful", Survey.AFTER_SESSION, QuestionType.AGREE_5, "The examples were useful", options=AGREE
    )
    instrument = replace(CURRENT, questions=(*CURRENT.questions, extra))
    assert isinstance(instrument, Instrument)
    for value in ["agree"] * 5:
        booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, examples_useful=value)

    result = review.build_review(NO_FILTERS, instrument=instrument)
    extra_figures = next(d for d in result.distributions["after_session"] if d.question.key == "examples_useful")
    assert {label: count for label, count, _ in extra_figures.counts}["Agree"] == 5
    assert not any(
        d.question.key == "examples_useful" for d in review.build_review(NO_FILTERS).distributions["after_session"]
    )
