"""The evaluators' pilot review page: who may see it, filters with and without htmx, bad filter values,
free-text search, server-drawn charts, and that a GET writes nothing."""

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import instrument as instrument_module
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import AGREE, CURRENT, Question, QuestionType
from mecc_volunteer.models import LONDON, Base, BookingStatus, Survey
from mecc_volunteer.templating import format_date
from tests.helpers import london, store_answers

URL = "/manage/review/"


@pytest.fixture
def pilot(app, make_training_session, make_booking):
    """Two past sessions: six people in the first, five in the second, each with before/after answers."""
    first = make_training_session(days_ahead=-20)
    second = make_training_session(days_ahead=-5)
    comments = iter(
        [
            "More time for PRACTICE, please",
            "Ask about 50% of visitors",
            "Nothing",
            "Use the_signposting leaflet",
            "",
            "Great trainer",
        ]
    )
    for training_session, people in [(first, 6), (second, 5)]:
        for _i in range(people):
            booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
            store_answers(app, booking_id, Survey.BASELINE, confidence=4, knowledge=3)
            after = {"confidence": 7 if training_session is first else 5, "knowledge": 6, "overall": "good"}
            if training_session is first:
                after["improve"] = next(comments)
            store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, **after)
    return {
        "first": first.id,
        "second": second.id,
        "first_day": first.starts_at.date(),
        "second_day": second.starts_at.date(),
    }


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in Base.metadata.sorted_tables
        }


def test_an_evaluator_sees_the_pilot_review(client, auth, pilot):
    auth.login("evaluator")
    response = client.get(URL)
    assert response.status_code == 200
    page = response.text
    for heading in [
        "From registration to follow-up",
        "Confidence and knowledge, before and after",
        "Breakdowns",
        "Comments",
    ]:
        assert heading in page
    assert "HX-Request" in response.headers["Vary"]
    assert "Volunteer 1" not in page  # no names anywhere


def test_an_admin_sees_the_pilot_review(client, auth):
    auth.login("admin")
    assert client.get(URL).status_code == 200


def test_a_coordinator_cannot_see_the_pilot_review(client, auth):
    auth.login("coordinator")
    assert client.get(URL).status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 303
    assert "/manage/sign-in" in response.headers["Location"]


def test_charts_are_inline_svg_with_names_and_tables_and_no_inline_styles(client, auth, pilot):
    auth.login("evaluator")
    page = client.get(URL).text
    assert page.count('role="img"') >= 3  # the funnel and the two before/after charts at least
    assert '<title id="funnel-chart-title">' in page
    assert 'aria-labelledby="funnel-chart-title"' in page
    assert "style=" not in page
    assert "<script>" not in page
    assert "Mean before, after" in page
    assert "of registered (n = 11)" in page


def test_filtering_by_session_without_javascript_shows_the_whole_page(client, auth, pilot):
    auth.login("evaluator")
    all_people = client.get(URL).text
    assert ">11<" in all_people  # 11 registered in all
    response = client.get(URL, query_string={"session": pilot["second"]})
    assert response.status_code == 200
    assert "<html" in response.text
    assert ">5<" in response.text
    assert ">11<" not in response.text
    assert f'<option value="{pilot["second"]}" selected>' in response.text


def test_filtering_with_htmx_returns_only_the_results(client, auth, pilot, htmx_headers):
    auth.login("evaluator")
    response = client.get(URL, query_string={"session": pilot["first"]}, headers=htmx_headers)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="review-results"')
    assert "HX-Request" in response.headers["Vary"]
    assert ">6<" in response.text


def test_filtering_by_date_range_keeps_only_sessions_in_it(client, auth, pilot):
    auth.login("evaluator")
    day = pilot["second_day"]
    page = client.get(URL, query_string={"from": (day - timedelta(days=1)).isoformat(), "to": day.isoformat()}).text
    assert ">5<" in page
    assert ">11<" not in page


def test_a_small_filtered_group_is_suppressed(client, auth, pilot, make_training_session, make_booking):
    lonely = make_training_session(days_ahead=-2)
    make_booking(lonely.id, status=BookingStatus.ATTENDED)
    auth.login("evaluator")
    page = client.get(URL, query_string={"session": lonely.id}).text
    assert "Registered for sessions held: fewer than 5." in page
    assert 'id="funnel-chart-title"' not in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"from": "yesterday"}, "Enter the start of the date range as a real date"),
        ({"to": "2026-02-31"}, "Enter the end of the date range as a real date"),
        ({"from": "2026-09-10", "to": "2026-09-01"}, "The end of the date range must be on or after its start"),
        ({"session": "abc"}, "Choose an option from the list"),
        ({"organisation": "-1"}, "Choose an option from the list"),
        ({"kind": "workshop"}, "Choose an option from the list"),
        ({"session": "9" * 40}, "Choose an option from the list"),
        ({"q": "x" * 101}, "Search"),
        ({"q": "bad\x00text"}, "Search"),
    ],
)
def test_bad_filter_values_show_an_error_summary_not_a_server_error(client, auth, pilot, args, message, htmx_headers):
    auth.login("evaluator")
    response = client.get(URL, query_string=args)
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert message in response.text
    assert "<title>Error: " in response.text
    fragment = client.get(URL, query_string=args, headers=htmx_headers)
    assert fragment.status_code == 200
    assert "There is a problem" in fragment.text


def test_free_text_search_is_case_insensitive_and_treats_wildcards_literally(client, auth, pilot):
    auth.login("evaluator")
    page = client.get(URL).text
    assert "5 comments" in page  # the empty answer is left out
    assert "What would improve this session?" in page
    found = client.get(URL, query_string={"q": "practice"}).text
    assert "More time for PRACTICE, please" in found
    assert "Great trainer" not in found
    assert "1 comment containing" in found
    percent = client.get(URL, query_string={"q": "50%"}).text
    assert "Ask about 50% of visitors" in percent
    assert "Great trainer" not in percent
    underscore = client.get(URL, query_string={"q": "the_s"}).text
    assert "Use the_signposting leaflet" in underscore
    assert "1 comment containing" in underscore
    nothing = client.get(URL, query_string={"q": "%e"}).text  # a wildcard would match nearly all
    assert "0 comments containing" in nothing


def test_a_question_added_to_the_instrument_appears_on_the_review(client, auth, pilot, monkeypatch):
    extra = Question(
        "examples_useful", Survey.AFTER_SESSION, QuestionType.AGREE_5, "The examples were really useful", options=AGREE
    )
    monkeypatch.setattr(instrument_module, "CURRENT", replace(CURRENT, questions=(*CURRENT.questions, extra)))
    auth.login("evaluator")
    page = client.get(URL).text
    assert "The examples were really useful" in page


def test_looking_at_the_review_writes_nothing(app, client, auth, pilot):
    auth.login("evaluator")
    before = row_counts(app)
    for args in [{}, {"session": pilot["first"]}, {"q": "practice"}, {"from": "nonsense"}]:
        assert client.get(URL, query_string=args).status_code == 200
    assert row_counts(app) == before


def test_the_number_of_queries_does_not_grow_with_the_number_of_bookings(
    app, client, auth, make_training_session, make_booking
):
    auth.login("evaluator")
    training_session = make_training_session(days_ahead=-3)

    def queries_for_one_page() -> int:
        statements = []
        with app.app_context():
            engine = db.engine

        def count(*_args):
            statements.append(1)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(URL).status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    def add_people(n: int) -> None:
        for _ in range(n):
            booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
            store_answers(app, booking_id, Survey.BASELINE, confidence=3, knowledge=3)
            store_answers(
                app,
                booking_id,
                Survey.AFTER_SESSION,
                respond=True,
                confidence=5,
                knowledge=4,
                overall="good",
                improve="More",
            )

    add_people(5)
    few = queries_for_one_page()
    add_people(10)
    assert queries_for_one_page() == few


def test_sessions_on_the_same_day_are_named_apart_in_the_filter_and_the_table_by_session(
    client, auth, make_training_session, make_booking
):
    """Found by the disclosure property test: a morning and an afternoon session of one day had one name, so an
    evaluator could not tell their rows (or their filter options) apart."""
    morning = make_training_session(days_ahead=-3)
    day = morning.starts_at.astimezone(LONDON).date()
    afternoon = [
        make_training_session(starts_at=london(day, 14, 0), location=p) for p in ("Room 1", "Online", "Online")
    ]
    for training_session in (morning, *afternoon):
        for _ in range(3):
            make_booking(training_session.id, status=BookingStatus.ATTENDED)
    auth.login("evaluator")

    page = client.get(URL).text

    date = format_date(morning.starts_at)
    names = [
        f"{date}, 10:30am (Volunteer training)",
        # Side by side at 2pm: by place, then, in the same place, by a number.
        f"{date}, 2pm (Volunteer training), Room 1",
        f"{date}, 2pm (Volunteer training), Online (1 of 2)",
        f"{date}, 2pm (Volunteer training), Online (2 of 2)",
    ]
    for name in names:
        assert f">{name}</option>" in page
        assert page.count(f">{name}<") >= 2, f"{name}: not a row of the table by session"
