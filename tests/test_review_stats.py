"""The pilot review's figures against small hand-computed fixtures (SPEC 2, the evaluator): rates over the people
who could reach each stage at sessions already held, paired before/after per person (from registration and,
in version 2, thinking back), instrument versions side by side, breakdowns with their unanswered groups, and
small numbers hidden on screen and in outputs."""

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import instrument as instruments
from mecc_volunteer.evaluation import review
from mecc_volunteer.evaluation.disclosure import Figure, Mark, Mode
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import Question, QuestionType
from mecc_volunteer.models import (
    BookingStatus,
    District,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    OrganisationType,
    Survey,
    utcnow,
)
from mecc_volunteer.search import contains_pattern
from tests.disclosure_intruder import intruder_ranges, zero_total_columns
from tests.helpers import confirm_elearning, store_answers

ALL = ReviewFilters()
ATTENDED = BookingStatus.ATTENDED


# --- Setting the scene ------------------------------------------------------------------------------------


@pytest.fixture
def book(app, make_booking, make_volunteer):
    """book(training_session, n=1, status=ATTENDED, elearning=False, **volunteer columns) -> booking ids."""

    def make(training_session, n: int = 1, status: BookingStatus = ATTENDED, *, elearning: bool = False, **volunteer):
        ids = []
        for _ in range(n):
            booking_id = make_booking(training_session.id, status=status, volunteer_id=make_volunteer(**volunteer))
            if elearning:
                confirm_elearning(app, booking_id)
            ids.append(booking_id)
        return ids

    return make


@pytest.fixture
def organisations(app) -> list[int]:
    """The ids of the three organisations the tests' reference data lists (tests.helpers.ORGANISATIONS)."""
    with app.app_context():
        return list(
            db.session.scalars(sa.select(Organisation.id).where(~Organisation.is_other).order_by(Organisation.id))
        )


def answer(app, booking_id: int, survey: Survey, *, version: int = 1, respond: bool = True, **answers) -> None:
    """A booking's answers to a survey, given under an instrument version (and its submitted response)."""
    store_answers(app, booking_id, survey, respond=respond and survey is not Survey.BASELINE, **answers)
    with app.app_context():
        for model in (EvaluationAnswer, EvaluationResponse):
            db.session.execute(
                sa.update(model)
                .where(model.booking_id == booking_id, model.survey == survey)
                .values(instrument_version=version)
            )
        db.session.commit()


def build(app, filters: ReviewFilters = ALL, **options) -> review.Review:
    with app.app_context():
        return review.build_review(filters, **options)


def counts(table, column: str = "registered") -> list[tuple[str, int | None]]:
    """(group, count) for each row, None where the count is hidden."""
    return [(row.label, table.figure(row, column).value) for row in table.rows]


def paired(result: review.Review) -> dict[str, review.PairedResult]:
    return {item.comparison.key: item for item in result.paired}


def people(table) -> dict[str, Figure]:
    """A one-column table (options, reasons): label -> figure, the total included."""
    rows = [*table.rows, *([table.total] if table.total else [])]
    return {row.label: row.figures[0] for row in rows}


# --- Rates over who could reach each stage -------------------------------------------------------------


def test_attendance_is_a_rate_of_places_held_at_sessions_already_held_not_of_every_registration(
    app, make_training_session, book
):
    """The evaluator's example: 66 registered, 22 of them for sessions already held, 19 attended. The rate is
    19 of 22; the 44 registered for sessions to come are counted apart."""
    held = make_training_session(days_ahead=-10, capacity=30)
    book(held, 19)
    book(held, 3, status=BookingStatus.DID_NOT_ATTEND)
    for _ in range(2):
        book(make_training_session(days_ahead=20, capacity=30), 22, status=BookingStatus.BOOKED)

    result = build(app)
    funnel, everyone = result.funnel, result.funnel.total
    assert funnel.figure(everyone, "registered") == Figure(22)
    assert funnel.figure(everyone, "attended") == Figure(19)
    assert funnel.percent(everyone, "attended", "registered").value == 86.4  # 19 / 22, not 19 / 66 (28.8)
    assert result.upcoming.rows[0].figures[0] == Figure(44)


def test_a_cancelled_session_and_waiting_or_cancelled_bookings_are_not_counted(app, make_training_session, book):
    held = make_training_session(days_ahead=-10)
    book(held, 5)
    book(held, status=BookingStatus.WAITING)
    book(held, status=BookingStatus.CANCELLED)
    called_off = make_training_session(days_ahead=-12, cancelled_at=utcnow() - timedelta(days=20))
    book(called_off, 3, status=BookingStatus.BOOKED)
    to_come = make_training_session(days_ahead=20)
    book(to_come, 5, status=BookingStatus.BOOKED)
    book(to_come, 2, status=BookingStatus.WAITING)
    book(make_training_session(days_ahead=25, cancelled_at=utcnow()), 2, status=BookingStatus.BOOKED)

    result = build(app)
    assert result.funnel.total.figures[:3] == [Figure(5), Figure(0), Figure(5)]  # registered, e-learning, attended
    assert result.upcoming.rows[0].figures[0] == Figure(5)
    with app.app_context():
        held_label = dict(review.session_choices())[held.id]
    assert counts(result.breakdown("session").table) == [(held_label, 5)]


def test_evaluated_is_a_rate_of_attended_and_followed_up_a_rate_of_those_due(app, make_training_session, book):
    """Follow-up is due for those who attended, agreed to be contacted, and whose session ended at least 8
    weeks ago: a session 4 weeks ago is not due yet, even for someone who has already answered."""
    ten_weeks_ago = make_training_session(days_ahead=-70)
    consented = book(ten_weeks_ago, 7, followup_consent=True, elearning=True)
    not_consented = book(ten_weeks_ago, 3, followup_consent=False)
    no_show = book(ten_weeks_ago, status=BookingStatus.DID_NOT_ATTEND, followup_consent=True)
    four_weeks_ago = make_training_session(days_ahead=-28)
    recent = book(four_weeks_ago, 5, followup_consent=True)

    for booking_id in [*consented[:5], *not_consented[:3], *no_show, *recent]:
        answer(app, booking_id, Survey.AFTER_SESSION, overall="good")
    for booking_id in [*consented[:5], not_consented[0], *no_show, *recent[:2]]:
        answer(app, booking_id, Survey.FOLLOWUP, conversations=2)

    result = build(app)
    funnel, everyone = result.funnel, result.funnel.total
    shown = {name: funnel.figure(everyone, name).value for name in review.COUNT_COLUMNS[:6]}
    assert shown == {
        "registered": 16,
        "elearning_confirmed": 7,
        "attended": 15,
        "evaluated": 13,  # 5 + 3 ten weeks ago, 5 four weeks ago; the no-show's answers do not count
        "followup_due": 7,  # consented, ten weeks ago
        "followed_up": 5,  # of those due; the one who did not consent and the recent two are not
    }
    assert funnel.percent(everyone, "elearning_confirmed", "registered").value == 43.8
    assert funnel.percent(everyone, "evaluated", "attended").value == 86.7
    assert funnel.percent(everyone, "followed_up", "followup_due").value == 71.4


# --- Paired before and after ---------------------------------------------------------------------------------


def test_confidence_is_paired_per_person_and_the_unpaired_are_counted_by_reason(app, make_training_session, book):
    held = make_training_session(days_ahead=-10, capacity=30)
    # Before 3,5,5,6,1,4 and after 6,5,4,8,2,7: changes +3, 0, -1, +2, +1, +3.
    for (before, after), booking_id in zip(
        [(3, 6), (5, 5), (5, 4), (6, 8), (1, 2), (4, 7)], book(held, 6), strict=True
    ):
        answer(app, booking_id, Survey.BASELINE, confidence=before)
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=after)
    for booking_id in book(held, 5):  # answered after the session only
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=9)
    for booking_id in book(held, 6):  # answered at registration only
        answer(app, booking_id, Survey.BASELINE, confidence=0)
    for booking_id in book(held, status=BookingStatus.DID_NOT_ATTEND):  # not at the session: never paired
        answer(app, booking_id, Survey.BASELINE, confidence=0)
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=10)

    result = paired(build(app))
    confidence = result["confidence"]
    change = confidence.change
    assert (confidence.n, change.n) == (6, 6)
    assert (change.mean_before, change.mean_after, change.mean_change) == (4.0, 5.3, 1.3)  # 24/6, 32/6, 8/6
    assert change.median_change == 1.5  # the middle of -1, 0, 1, 2, 3, 3
    assert (change.improved, change.unchanged, change.declined) == (4, 1, 1)
    # On screen the shares of 4, 1 and 1 people are each "fewer than 5"; the 6 paired are shown.
    assert people(confidence.shares) == {
        "Improved": Figure(None, Mark.SMALL),
        "Unchanged": Figure(None, Mark.SMALL),
        "Declined": Figure(None, Mark.SMALL),
        "Paired": Figure(6),
    }
    assert people(confidence.not_paired) == {
        "No baseline answer": Figure(5),
        "No answer after the session": Figure(6),
        "Not paired": Figure(11),
    }
    # Nobody answered the knowledge question: nothing is paired, and all 17 attendees lack a baseline.
    knowledge = result["knowledge"]
    assert (knowledge.n, knowledge.change) == (0, None)
    assert people(knowledge.not_paired)["No baseline answer"] == Figure(17)


def test_fewer_than_five_paired_show_no_change(app, make_training_session, book):
    held = make_training_session(days_ahead=-10)
    for booking_id in book(held, 4):
        answer(app, booking_id, Survey.BASELINE, confidence=3)
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=7)

    confidence = paired(build(app))["confidence"]
    assert confidence.change is None
    assert confidence.shares.total.figures[0] == Figure(None, Mark.SMALL)


def test_the_retrospective_pair_comes_from_version_2_answers_only(app, make_training_session, book):
    """Version 2 asks after the session how confident people were before it; version 1 did not, so its
    answers are paired at registration only, never retrospectively."""
    held = make_training_session(days_ahead=-10)
    # Version 1: before 4,4,5,6,2 at registration, after 6,5,5,8,3: changes +2, +1, 0, +2, +1.
    for (before, after), booking_id in zip([(4, 6), (4, 5), (5, 5), (6, 8), (2, 3)], book(held, 5), strict=True):
        answer(app, booking_id, Survey.BASELINE, confidence=before)
        answer(app, booking_id, Survey.AFTER_SESSION, version=1, confidence=after)
    # Version 2, thinking back 2,3,4,5,6 and now 6,6,5,5,8: changes +4, +3, +1, 0, +2 (no baseline).
    for (before, after), booking_id in zip([(2, 6), (3, 6), (4, 5), (5, 5), (6, 8)], book(held, 5), strict=True):
        answer(app, booking_id, Survey.AFTER_SESSION, version=2, confidence_before=before, confidence=after)

    result = paired(build(app))
    registration, retrospective = result["confidence"], result["confidence_retrospective"]
    assert registration.comparison.design == "registration"
    assert retrospective.comparison.design == "retrospective"
    assert retrospective.comparison.before.key == "confidence_before"

    r = registration.change
    assert (r.n, r.mean_before, r.mean_after, r.mean_change) == (5, 4.2, 5.4, 1.2)
    assert (r.improved, r.unchanged, r.declined) == (4, 1, 0)
    assert people(registration.not_paired)["No baseline answer"] == Figure(5)  # the version 2 people

    t = retrospective.change
    assert (t.n, t.mean_before, t.mean_after, t.mean_change) == (5, 4.0, 6.0, 2.0)
    assert (t.improved, t.unchanged, t.declined) == (4, 1, 0)
    assert people(retrospective.not_paired) == {
        "Not asked or not answered": Figure(5),  # the version 1 people
        "No answer after the session": Figure(0),
        "Not paired": Figure(5),
    }


# --- Instrument versions side by side ---------------------------------------------------------------------------


def test_answers_given_under_versions_1_and_2_count_together(app, make_training_session, book):
    held = make_training_session(days_ahead=-10, capacity=20)
    given = [(1, "very_good")] * 5 + [(1, "good")] * 3 + [(2, "good")] * 2 + [(2, "neither")] * 5
    for (version, overall), booking_id in zip(given, book(held, len(given)), strict=True):
        answer(app, booking_id, Survey.AFTER_SESSION, version=version, overall=overall)

    overall = next(d for d in build(app).distributions["after_session"] if d.question.key == "overall")
    assert overall.answered == 15
    assert people(overall.table) == {
        "Very good": Figure(5),
        "Good": Figure(5),  # 3 under version 1 and 2 under version 2
        "Neither good nor poor": Figure(5),
        "Poor": Figure(0),
        "Very poor": Figure(0),
        "Don't know": Figure(0),
        "All": Figure(15),
    }
    assert overall.mean_score == 4.0  # (5 x 5 + 5 x 4 + 5 x 3) / 15


def confidence_on_five_points(*, paired_with: str) -> Question:
    return Question(
        "confidence_5",
        Survey.AFTER_SESSION,
        QuestionType.NUMBER,
        "How confident do you feel, from 1 to 5?",
        minimum=1,
        maximum=5,
        concept_key="confidence",
        paired_with=paired_with,
    )


def test_a_question_on_a_new_scale_is_never_paired_with_the_old_scale(app, make_training_session, book):
    """A version 3 asking confidence from 1 to 5 under a new key, said to pair with the 0-10 baseline: the
    pairing is refused, and the 0-10 pairs are what they were."""
    version_3 = replace(
        instruments.VERSION_2,
        version=3,
        questions=(*instruments.VERSION_2.questions, confidence_on_five_points(paired_with="confidence")),
    )
    assert [c.key for c in review.comparisons(version_3)] == [c.key for c in review.comparisons()]
    assert [c.key for c in review.comparisons()] == ["confidence", "confidence_retrospective", "knowledge"]

    held = make_training_session(days_ahead=-10, capacity=20)
    for before, booking_id in zip([2, 3, 4, 5, 6], book(held, 5), strict=True):
        answer(app, booking_id, Survey.BASELINE, confidence=before)
        answer(app, booking_id, Survey.AFTER_SESSION, version=1, confidence=before + 2)
    for booking_id in book(held, 5):
        answer(app, booking_id, Survey.BASELINE, confidence=1)
        answer(app, booking_id, Survey.AFTER_SESSION, version=3, confidence_5=5)

    with_version_3 = paired(build(app, instrument=version_3))
    assert "confidence_5" not in with_version_3
    assert not any(item.comparison.after.key == "confidence_5" for item in with_version_3.values())
    confidence = with_version_3["confidence"]
    assert (confidence.n, confidence.change.mean_before, confidence.change.mean_change) == (5, 4.0, 2.0)
    assert confidence.change == paired(build(app))["confidence"].change
    # The version 3 people answered on the new scale only: after the session, nothing on 0-10.
    assert people(confidence.not_paired)["No answer after the session"] == Figure(5)


def test_a_question_on_a_new_scale_is_paired_with_its_own_baseline():
    baseline = replace(confidence_on_five_points(paired_with=None), survey=Survey.BASELINE)
    version_3 = replace(
        instruments.VERSION_2,
        version=3,
        questions=(baseline, *instruments.VERSION_2.questions, confidence_on_five_points(paired_with="confidence_5")),
    )
    found = {c.key: c for c in review.comparisons(version_3)}
    assert set(found) == {"confidence", "confidence_retrospective", "knowledge", "confidence_5"}
    assert (found["confidence_5"].before, found["confidence_5"].maximum) == (baseline, 5)


# --- Breakdowns ------------------------------------------------------------------------------------------------


def test_every_breakdown_has_its_unanswered_group_and_adds_up_to_the_funnel(
    app, make_training_session, book, organisations
):
    with app.app_context():
        library = OrganisationType(name="Library")
        db.session.add(library)
        db.session.flush()
        db.session.get(Organisation, organisations[0]).organisation_type_id = library.id
        cherwell = db.session.scalar(sa.select(District.id).where(District.name == "Cherwell"))
        db.session.commit()
    held = make_training_session(days_ahead=-10)
    answered = book(
        held,
        5,
        organisation_id=organisations[0],
        district_id=cherwell,
        age_band="25-34",
        gender="woman",
        ethnic_group="white",
    )
    unanswered = book(held, 5, organisation_id=organisations[1])
    for booking_id in answered:  # confidence 3 -> 6: +3
        answer(app, booking_id, Survey.BASELINE, confidence=3)
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=6)
    for booking_id in unanswered:  # confidence 5 -> 6: +1
        answer(app, booking_id, Survey.BASELINE, confidence=5)
        answer(app, booking_id, Survey.AFTER_SESSION, confidence=6)

    result = build(app)
    expected = {
        "organisation_type": [("Library", 5), (review.NO_TYPE, 5)],
        "area": [("Cherwell", 5), (review.NO_DISTRICT, 5)],
        "age_band": [("25 to 34", 5), (review.NOT_ANSWERED, 5)],
        "gender": [("Woman", 5), (review.NOT_ANSWERED, 5)],
        "ethnic_group": [("White", 5), (review.NOT_ANSWERED, 5)],
    }
    assert [b.key for b in result.inequalities] == list(expected)
    for item in result.inequalities:
        assert counts(item.table) == expected[item.key], item.key
        assert counts(item.table, "paired") == expected[item.key], item.key
        assert item.table.total == result.funnel.total, item.key
        first, second = (label for label, _ in expected[item.key])
        assert item.mean_change == {first: 3.0, second: 1.0, "All": 2.0}, item.key
    assert [b.key for b in result.breakdowns] == ["session", "organisation", "organisation_type", "area"]
    for item in result.breakdowns:
        assert item.table.total == result.funnel.total, item.key
    assert sum(value for _, value in counts(result.breakdown("organisation").table)) == 10


# --- Small numbers ---------------------------------------------------------------------------------------------


def test_a_group_of_four_is_fewer_than_five_and_another_is_hidden_so_it_cannot_be_worked_out(
    app, make_training_session, book, organisations
):
    held = make_training_session(days_ahead=-10)
    book(held, 5, organisation_id=organisations[0])
    book(held, 4, organisation_id=organisations[1])

    table = build(app).breakdown("organisation").table
    five, four = table.rows
    assert all(figure == Figure(None, Mark.SMALL) for figure in four.figures)
    assert table.figure(five, "registered") == Figure(None, Mark.HIDDEN)  # else 9 - 5 = 4
    assert table.figure(table.total, "registered") == Figure(9)
    assert table.percent(five, "attended", "registered").hidden
    zeros = zero_total_columns(table)
    for cell, (smallest, largest) in intruder_ranges(table).items():
        assert cell[1] in zeros or largest is None or largest > smallest, cell


def test_the_issue_case_a_session_of_seven_beside_a_session_of_one_is_hidden(app, make_training_session, book):
    """Total 8, one session 7: showing the 7 would say the other session had 1."""
    seven, one = make_training_session(days_ahead=-20), make_training_session(days_ahead=-10)
    book(seven, 7)
    book(one, 1)

    table = build(app).breakdown("session").table
    first, second = table.rows
    assert table.figure(first, "registered") == Figure(None, Mark.HIDDEN)
    assert table.figure(second, "registered") == Figure(None, Mark.SMALL)
    assert table.figure(table.total, "registered") == Figure(8)


def test_comments_are_hidden_when_fewer_than_five_in_the_view_answered(app, make_training_session, book, organisations):
    held = make_training_session(days_ahead=-10)
    for booking_id in book(held, 5, organisation_id=organisations[0]):
        answer(app, booking_id, Survey.AFTER_SESSION, improve="More examples")
    [alone] = book(held, organisation_id=organisations[1])
    answer(app, alone, Survey.AFTER_SESSION, improve="Only I would say this")

    everyone = build(app)
    assert not everyone.comments_hidden
    assert everyone.comment_count == 6
    assert "Only I would say this" in [c.text for c in everyone.comments]

    one_organisation = build(app, ReviewFilters(organisation_id=organisations[1]))
    assert one_organisation.comments_hidden
    assert (one_organisation.comments, one_organisation.comment_count) == ([], 0)


def test_a_count_of_two_in_a_group_of_nine_is_shown_on_screen_and_hidden_in_outputs(app, make_training_session, book):
    held = make_training_session(days_ahead=-10)
    book(held, 2, elearning=True)
    book(held, 7)

    on_screen = build(app).funnel
    assert on_screen.figure(on_screen.total, "elearning_confirmed") == Figure(2)
    assert on_screen.percent(on_screen.total, "elearning_confirmed", "registered").value == 22.2

    output = build(app, mode=Mode.OUTPUT).funnel
    assert output.figure(output.total, "elearning_confirmed") == Figure(None, Mark.SMALL)
    assert output.figure(output.total, "registered") == Figure(9)
    assert output.percent(output.total, "elearning_confirmed", "registered").hidden


# --- Pure helpers ----------------------------------------------------------------------------------------------


def test_number_statistics_give_n_mean_median_and_total():
    question = instruments.CURRENT.question(Survey.FOLLOWUP, "conversations")
    stats = review.number_statistics(question, [0, 2, 3, 10, 1])
    assert (stats.n, stats.mean, stats.median, stats.total) == (5, 3.2, 2, 16)


def test_like_wildcards_in_a_search_are_escaped():
    assert contains_pattern(r"50%_a\b") == r"%50\%\_a\\b%"
