"""The evaluation in a browser: a volunteer answers the after-session survey from their link on a phone (with
and without JavaScript), is thanked, signposted and given a certificate; an evaluator filters the pilot review
and downloads the matching responses as a pseudonymous CSV. Every page is checked with axe-core."""

import csv
import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CONFIDENCE, KNOWLEDGE, RETROSPECTIVE_CONFIDENCE
from mecc_volunteer.models import Booking, BookingStatus, LinkPurpose, Survey, utcnow
from mecc_volunteer.templating import format_date
from mecc_volunteer.tokens import issue_link
from tests.browser.helpers import assert_no_sideways_scroll, sign_in
from tests.helpers import stored_answers

pytestmark = pytest.mark.browser

NAME = "Amira Haddad"
DO_DIFFERENTLY = "Ask how people are doing 🙂 and mention Live Well"
IMPROVE = "وقت أطول للأسئلة، شكراً"  # Right-to-left: "more time for questions, thanks"


@pytest.fixture
def survey(app, make_training_session, make_booking, make_volunteer):
    """An attended booking of a session that ended an hour ago, and its evaluation link."""
    ends_at = utcnow() - timedelta(hours=1)
    training_session = make_training_session(starts_at=ends_at - timedelta(minutes=90), ends_at=ends_at)
    booking_id = make_booking(
        training_session.id, BookingStatus.ATTENDED, volunteer_id=make_volunteer(name=NAME, followup_consent=True)
    )
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.EVALUATION)
        db.session.commit()
    return {"path": f"/evaluation/{token}", "booking_id": booking_id, "date": format_date(training_session.starts_at)}


def choose(page: Page, legend: str, label: str) -> None:
    page.get_by_role("group", name=legend).get_by_label(label, exact=True).check()


def test_a_volunteer_answers_the_evaluation_on_a_phone(app, page, survey, assert_accessible):
    page.goto(survey["path"])
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text(survey["date"]).first).to_be_visible()
    assert not page.title().startswith("Error")
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    page.get_by_role("button", name="Send your answers").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("There is a problem")
    expect(page).to_have_title(re.compile(r"^Error: "))
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    choose(page, CONFIDENCE, "8")
    choose(page, RETROSPECTIVE_CONFIDENCE, "5")
    choose(page, KNOWLEDGE, "7")
    choose(page, "Overall, how was your experience of the training?", "Very good")
    choose(page, "The session was relevant to my role", "Agree")
    choose(page, "I intend to have at least one MECC conversation in the next 4 weeks", "Strongly agree")
    choose(page, "How well did the online format work for you?", "Well")
    page.get_by_label("What will you do differently? (optional)").fill(DO_DIFFERENTLY)
    page.get_by_label("What would improve this session? (optional)").fill(IMPROVE)
    page.get_by_role("button", name="Send your answers").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your answers")
    expect(page.get_by_role("link", name="Live Well Oxfordshire")).to_have_attribute(
        "href", re.compile(r"^https://livewell\.oxfordshire\.gov\.uk")
    )
    assert_accessible(page)
    assert_no_sideways_scroll(page)
    assert stored_answers(app, survey["booking_id"]) == {
        "confidence": "8",
        "confidence_before": "5",
        "knowledge": "7",
        "overall": "very_good",
        "relevant": "agree",
        "intention": "strongly_agree",
        "online_format": "well",
        "do_differently": DO_DIFFERENTLY,
        "improve": IMPROVE,
    }

    page.get_by_role("link", name="Get your certificate of attendance").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.get_by_text(survey["date"])).to_be_visible()
    assert_accessible(page)
    assert_no_sideways_scroll(page)


def test_the_same_evaluation_works_without_javascript(app, nojs_page, survey, assert_accessible):
    page = nojs_page
    page.goto(survey["path"])
    page.get_by_role("button", name="Send your answers").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("There is a problem")
    assert_accessible(page)

    choose(page, CONFIDENCE, "5")
    choose(page, RETROSPECTIVE_CONFIDENCE, "3")
    choose(page, KNOWLEDGE, "6")
    choose(page, "Overall, how was your experience of the training?", "Good")
    choose(page, "The session was relevant to my role", "Agree")
    choose(page, "I intend to have at least one MECC conversation in the next 4 weeks", "Agree")
    choose(page, "How well did the online format work for you?", "Very well")
    page.get_by_role("button", name="Send your answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your answers")
    assert_accessible(page)
    assert_no_sideways_scroll(page)
    answers = stored_answers(app, survey["booking_id"])
    assert (answers["overall"], answers["confidence_before"]) == ("good", "3")


@pytest.fixture
def pilot(app, auth, make_training_session, make_booking, make_volunteer):
    """Two held sessions with answered evaluations (4 and 3 bookings), plus one attended booking with no answers."""
    from tests.helpers import store_answers as answer

    sessions = [make_training_session(days_ahead=-20), make_training_session(days_ahead=-6)]
    people = []
    for training_session, count in zip(sessions, (4, 3), strict=True):
        for i in range(count):
            name, email = f"Pilot Person {len(people)}", f"pilot.person{len(people)}@example.org"
            people.append((name, email))
            booking_id = make_booking(
                training_session.id, status=BookingStatus.ATTENDED, volunteer_id=make_volunteer(name=name, email=email)
            )
            answer(app, booking_id, Survey.BASELINE, confidence=3, knowledge=4)
            answer(
                app,
                booking_id,
                Survey.AFTER_SESSION,
                respond=True,
                confidence=6,
                knowledge=7,
                overall="very_good",
                relevant="agree",
                intention="strongly_agree",
                online_format="well",
                improve=f"Comment {i}",
            )
    make_booking(sessions[1].id, status=BookingStatus.ATTENDED)  # attended, answered nothing: a row all the same
    return {"email": auth.create("evaluator"), "sessions": [s.id for s in sessions], "people": people}


def test_an_evaluator_filters_the_review_and_downloads_the_csv(page, pilot, tmp_path, assert_accessible):
    sign_in(page, pilot["email"])
    page.goto("/manage/review/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pilot review")
    assert_accessible(page)

    session_id = str(pilot["sessions"][1])
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Session", exact=True).select_option(session_id)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"\?session={session_id}&"))
    assert page.evaluate("window.__sameDocument === true"), "the results were not updated in place"
    assert_accessible(page)

    page.get_by_role("link", name="Download these responses or the evaluator pack").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Download the feedback")
    expect(page).to_have_url(re.compile(rf"/manage/exports/\?.*session={session_id}"))
    expect(page.get_by_label("Session", exact=True)).to_have_value(session_id)
    assert_accessible(page)
    assert_no_sideways_scroll(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Responses (CSV)").click()
    saved = tmp_path / "responses.csv"
    download_info.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "the CSV starts with the UTF-8 byte order mark, for Excel"
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert "respondent" in rows[0]
    assert len(rows) - 1 == 4, "one row per booking holding a place at the chosen session, answers or not"
    respondents = [row[rows[0].index("respondent")] for row in rows[1:]]
    assert len(set(respondents)) == 4
    assert all(respondents)
    for name, email in pilot["people"]:
        assert name not in text
        assert email not in text
    assert "@" not in text
