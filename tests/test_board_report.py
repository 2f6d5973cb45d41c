"""The board report (issue 10, section 6): who may see it, the period, bad filter values, the rules for outputs
(every count of 1 to 4 reads "fewer than 5", and a figure that would give one away is "hidden"), a table for every
chart, no inline style or script, and that a GET writes nothing."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Base, BookingStatus, Organisation, OrganisationType, Survey
from tests.helpers import confirm_elearning, store_answers

URL = "/manage/review/board-report"
SECTIONS = [
    "1. Reach",
    "2. The funnel",
    "3. Reaction",
    "4. Learning",
    "5. Intention",
    "6. Behaviour at follow-up",
    "7. Cascade",
    "8. Inequalities",
    "9. How these figures were made",
]


@pytest.fixture
def pilot(app, make_training_session, make_booking):
    """Two past sessions: six people in the first, five in the second, each with before/after answers."""
    first = make_training_session(days_ahead=-20)
    second = make_training_session(days_ahead=-5)
    for training_session, people in [(first, 6), (second, 5)]:
        for _i in range(people):
            booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED)
            store_answers(app, booking_id, Survey.BASELINE, confidence=4, knowledge=3)
            store_answers(
                app,
                booking_id,
                Survey.AFTER_SESSION,
                respond=True,
                confidence=7 if training_session is first else 5,
                knowledge=6,
                overall="good",
                relevant="agree",
                intention="strongly_agree",
            )
    return {"first": first.id, "second": second.id, "second_day": second.starts_at.date()}


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in Base.metadata.sorted_tables
        }


def cell(page: str, row: str) -> str:
    """The first figure in the table row headed `row`."""
    found = re.search(rf'<th scope="row">{re.escape(row)}</th>\s*<td class="app-numeric">([^<]*)</td>', page)
    assert found, f"no row {row!r}"
    return found[1]


def test_an_evaluator_sees_the_board_report_in_its_sections(client, auth, pilot):
    auth.login("evaluator")
    response = client.get(URL)
    assert response.status_code == 200
    page = response.text
    assert "<title>Board report – " in page
    positions = [page.index(f">{heading}") for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "All sessions to date" in page
    assert "Made on" in page
    assert "Figures about fewer than 5 people are shown as “fewer than 5”" in page
    assert "use your browser’s Print and choose Save as PDF" in page
    assert "of registered (n = 11)" in page
    assert "Volunteer 1" not in page  # no names anywhere
    assert "People paired" in page  # the learning section's paired change, with its n


def test_an_admin_sees_the_board_report(client, auth):
    auth.login("admin")
    assert client.get(URL).status_code == 200


def test_a_coordinator_cannot_see_the_board_report(client, auth):
    auth.login("coordinator")
    assert client.get(URL).status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 303
    assert "/manage/sign-in" in response.headers["Location"]


def test_the_review_links_to_the_board_report_with_its_filters(client, auth, pilot):
    auth.login("evaluator")
    page = client.get("/manage/review/", query_string={"session": pilot["second"]}).text
    assert f'href="/manage/review/board-report?session={pilot["second"]}"' in page
    assert "Board report for these filters (to print or save as PDF)" in page
    report = client.get(URL, query_string={"session": pilot["second"]}).text
    assert cell(report, "Registered") == "5"


def test_the_period_narrows_the_figures(client, auth, pilot):
    auth.login("evaluator")
    assert cell(client.get(URL).text, "Registered") == "11"
    day = pilot["second_day"]
    start = day - timedelta(days=1)
    page = client.get(URL, query_string={"from": start.isoformat(), "to": day.isoformat()}).text
    assert cell(page, "Registered") == "5"
    assert f"Sessions from {start.day} {start:%B %Y} to {day.day} {day:%B %Y}" in page
    assert f'value="{start.isoformat()}"' in page
    from_only = client.get(URL, query_string={"from": start.isoformat()}).text
    assert f"Sessions from {start.day} {start:%B %Y} to date" in from_only


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"from": "yesterday"}, "from", "Enter the start of the date range as a real date"),
        ({"to": "2026-02-31"}, "to", "Enter the end of the date range as a real date"),
        ({"from": "2026-09-10", "to": "2026-09-01"}, "to", "The end of the date range must be on or after its start"),
        ({"session": "abc"}, "session", "Choose an option from the list"),
        ({"session": "999999"}, "session", "Choose an option from the list"),
        ({"organisation": "999999"}, "organisation", "Choose an option from the list"),
        ({"kind": "workshop"}, "kind", "Choose an option from the list"),
    ],
)
def test_bad_filter_values_show_an_error_summary_not_a_server_error(client, auth, pilot, args, field, message):
    auth.login("evaluator")
    response = client.get(URL, query_string=args)
    assert response.status_code == 200
    page = response.text
    assert "There is a problem" in page
    assert f'<a href="#{field}">{message}' in page
    assert re.search(rf'id="{field}-error">\s*<span class="nhsuk-u-visually-hidden">Error:</span> {message}', page)
    assert "<title>Error: " in page
    assert cell(page, "Registered") == "11"  # the bad filter is left out, not guessed


def test_a_count_of_one_to_four_is_fewer_than_five_where_the_screen_shows_it(
    client, auth, make_training_session, make_booking
):
    training_session = make_training_session(days_ahead=-3)
    for status in [BookingStatus.ATTENDED] * 3 + [BookingStatus.DID_NOT_ATTEND] * 3:
        make_booking(training_session.id, status=status)
    auth.login("evaluator")
    screen = client.get("/manage/review/").text
    assert cell(screen, "Registered") == "6"
    assert cell(screen, "Attended") == "3"
    report = client.get(URL).text
    assert cell(report, "Registered") == "6"
    assert cell(report, "Attended") == "fewer than 5"
    assert "fewer than 5 (of registered, n = 6)" in report  # nor its rate


def test_a_hidden_figure_cannot_be_worked_out_from_a_total_on_the_page(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    with app.app_context():
        kinds = [
            OrganisationType(name="Libraries", sort_order=0),
            OrganisationType(name="Fire and rescue", sort_order=1),
        ]
        db.session.add_all(kinds)
        db.session.flush()
        organisations = db.session.scalars(sa.select(Organisation).order_by(Organisation.id).limit(2)).all()
        for organisation, kind in zip(organisations, kinds, strict=True):
            organisation.organisation_type_id = kind.id
        organisation_ids = [o.id for o in organisations]
        db.session.commit()
    # Long enough ago for the follow-up: every count in every column is about the same 7 and 2 people.
    training_session = make_training_session(days_ahead=-70)
    for organisation_id, people in zip(organisation_ids, (7, 2), strict=True):
        for _i in range(people):
            volunteer_id = make_volunteer(organisation_id=organisation_id, followup_consent=True)
            booking_id = make_booking(training_session.id, status=BookingStatus.ATTENDED, volunteer_id=volunteer_id)
            confirm_elearning(app, booking_id)
            store_answers(app, booking_id, Survey.BASELINE, confidence=4, knowledge=4)
            answers = {"confidence": 6, "knowledge": 6, "intention": "agree"}
            store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, **answers)
            store_answers(app, booking_id, Survey.FOLLOWUP, respond=True, conversations=2)
    auth.login("evaluator")
    page = client.get(URL).text
    reach = page[page.index('id="reach-organisation_type-caption"') :]
    reach = reach[: reach.index("</table>")]
    assert cell(reach, "All") == "9"
    assert cell(reach, "Fire and rescue") == "fewer than 5"
    # 9 minus "fewer than 5" would leave the libraries' 7 with one possible value, so it is hidden too.
    assert re.search(
        r'<th scope="row">Libraries</th>\s*<td class="app-numeric">hidden</td><td class="app-numeric">hidden</td>',
        reach,
    )
    assert not re.search(r'<td class="app-numeric">7\b', page)
    assert 'id="reach-organisation_type-chart-title"' not in page  # a bar would show the hidden count


def test_every_chart_is_named_and_has_a_table_and_nothing_is_inline(client, auth, pilot):
    auth.login("evaluator")
    page = client.get(URL).text
    charts = re.findall(r'<svg class="app-chart" role="img" aria-labelledby="([^"]+)-title"', page)
    # Reach by type, the funnel, and confidence and knowledge before and after. (An answer's chart is drawn only
    # when no count is hidden: here every option but one is 0, which disclosure control hides as a small group.)
    assert {"reach-organisation_type-chart", "funnel-chart", "learning-confidence-chart"} <= set(charts)
    for chart in charts:
        assert f'<title id="{chart}-title">' in page
        after = page[page.index(f'<title id="{chart}-title">') :]
        assert "<table" in re.split(r"<h[1-4][ >]", after, maxsplit=1)[0], f"{chart} has no table beside it"
    assert "style=" not in page
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    assert " on" + "click=" not in page


def test_the_period_form_and_print_hint_are_not_printed(client, auth, pilot):
    auth.login("evaluator")
    page = client.get(URL).text
    form = page.index('<form class="app-review-filters" method="get" action="/manage/review/board-report"')
    assert page.rfind('<div class="app-no-print">', 0, form) > page.index("<h1>")
    assert page.index("use your browser’s Print") < page.index(">1. Reach")


def test_looking_at_the_board_report_writes_nothing(app, client, auth, pilot):
    auth.login("evaluator")
    before = row_counts(app)
    for args in [{}, {"session": pilot["first"]}, {"from": "nonsense"}, {"from": "2026-01-01", "to": "2026-12-31"}]:
        assert client.get(URL, query_string=args).status_code == 200
    assert row_counts(app) == before
