"""Volunteers answer the after-session survey and the follow-up from their personal links; the forms are built
from the instrument, and each rule (attended, open, once, consent, own link) has a clear page."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import instrument
from mecc_volunteer.evaluation import services
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import AGREE, VERSION_1, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    EvaluationAnswer,
    EvaluationResponse,
    LinkPurpose,
    SessionKind,
    Survey,
    utcnow,
)
from mecc_volunteer.tokens import issue_link
from tests.helpers import AFTER, stored_answers

FOLLOWUP = {"conversations": "3", "topics": ["smoking", "mental_wellbeing"], "actions": ["signposted"], "barriers": ""}


@pytest.fixture
def survey_link(app, make_training_session, make_booking, make_volunteer):
    """survey_link(survey=AFTER_SESSION, status=ATTENDED, ended=timedelta(days=1), consent=True, kind=...)
    -> (path, booking id): a session that ended `ended` ago and a live link of the survey's purpose."""

    def make(
        survey=Survey.AFTER_SESSION,
        status=BookingStatus.ATTENDED,
        ended=timedelta(days=1),
        consent=True,
        kind=SessionKind.VOLUNTEER_TRAINING,
        name=None,
    ):
        ends_at = utcnow() - ended
        training_session = make_training_session(starts_at=ends_at - timedelta(minutes=90), ends_at=ends_at, kind=kind)
        columns = {"followup_consent": consent}
        if name:
            columns["name"] = name
        booking_id = make_booking(training_session.id, status, volunteer_id=make_volunteer(**columns))
        purpose = LinkPurpose.FOLLOWUP if survey is Survey.FOLLOWUP else LinkPurpose.EVALUATION
        with app.app_context():
            token = issue_link(db.session.get(Booking, booking_id), purpose)
            db.session.commit()
        prefix = "/follow-up/" if survey is Survey.FOLLOWUP else "/evaluation/"
        return prefix + token, booking_id

    return make


def followup_link(survey_link, **kw):
    return survey_link(Survey.FOLLOWUP, ended=timedelta(weeks=8, days=1), **kw)


def responses(app, booking_id=None) -> int:
    with app.app_context():
        query = sa.select(sa.func.count(EvaluationResponse.id))
        if booking_id is not None:
            query = query.where(EvaluationResponse.booking_id == booking_id)
        return db.session.scalar(query)


# --- Answering -------------------------------------------------------------------------------------------


def test_an_attendee_answers_the_evaluation_and_is_thanked_with_a_signpost_and_a_certificate(app, client, survey_link):
    path, booking_id = survey_link()

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["X-Robots-Tag"] == "noindex"
    for question in VERSION_1.for_survey(Survey.AFTER_SESSION):
        assert question.wording in page.text
    assert 'name="confidence"' in page.text
    assert 'name="do_differently"' in page.text
    assert "<textarea" in page.text
    assert responses(app) == 0  # nothing changes on GET

    sent = client.post(path, data=AFTER)
    assert sent.status_code == 303
    assert sent.headers["Location"].endswith(path)
    thanks = client.get(path)

    assert "Thank you for your answers" in thanks.text
    assert "Live Well Oxfordshire" in thanks.text
    assert "https://livewell.oxfordshire.gov.uk/" in thanks.text
    assert f"{path}/certificate" in thanks.text
    answers = stored_answers(app, booking_id)
    assert answers == {k: v for k, v in AFTER.items() if v}  # the optional blank is not stored
    with app.app_context():
        response = db.session.scalar(sa.select(EvaluationResponse))
        assert response.booking_id == booking_id
        assert response.instrument_version == instrument.CURRENT.version == 2


def test_a_consenting_attendee_answers_the_follow_up_with_several_topics(app, client, survey_link):
    path, booking_id = followup_link(survey_link)

    page = client.get(path)
    assert page.status_code == 200
    assert 'type="checkbox"' in page.text
    assert 'value="mental_wellbeing"' in page.text
    assert "How many MECC sessions have you delivered" not in page.text  # cascade questions: trainers only
    assert client.post(path, data=FOLLOWUP).status_code == 303

    assert stored_answers(app, booking_id, Survey.FOLLOWUP) == {
        "conversations": "3",
        "topics": "smoking|mental_wellbeing",
        "actions": "signposted",
    }
    assert "Thank you for your answers" in client.get(path).text


def test_a_trainer_is_asked_the_cascade_questions_in_the_follow_up(app, client, survey_link):
    path, booking_id = followup_link(survey_link, kind=SessionKind.TRAIN_THE_TRAINER)
    assert "How many MECC sessions have you delivered since your training?" in client.get(path).text

    data = {**FOLLOWUP, "sessions_delivered": "2", "people_trained": "17", "cascade_organisations": "Home-Start"}
    assert client.post(path, data=data).status_code == 303
    answers = stored_answers(app, booking_id, Survey.FOLLOWUP)
    assert answers["sessions_delivered"] == "2"
    assert answers["people_trained"] == "17"


def test_emoji_and_right_to_left_text_are_stored_intact(app, client, survey_link):
    path, booking_id = survey_link()
    comment = "Brilliant 👍🏽 session – I’ll use it.\nسأطرح السؤال على الزوار"
    assert client.post(path, data={**AFTER, "improve": comment}).status_code == 303
    assert stored_answers(app, booking_id)["improve"] == comment


# --- The form is built from the instrument ------------------------------------------------------------------

EXTRA = Question(
    "felt_welcome", Survey.AFTER_SESSION, QuestionType.AGREE_5, "I felt welcome at the session", options=AGREE
)
TEST_INSTRUMENT = Instrument(version=99, questions=(*VERSION_1.questions, EXTRA))


def test_a_question_added_to_the_instrument_is_asked_validated_and_stored(app, client, survey_link, monkeypatch):
    monkeypatch.setattr(instrument, "CURRENT", TEST_INSTRUMENT)
    path, booking_id = survey_link()

    assert "I felt welcome at the session" in client.get(path).text
    missing = client.post(path, data=AFTER)
    assert missing.status_code == 200
    assert "<title>Error:" in missing.text
    assert "Select an answer for: I felt welcome at the session" in missing.text
    assert responses(app) == 0

    assert client.post(path, data={**AFTER, "felt_welcome": "strongly_agree"}).status_code == 303
    assert stored_answers(app, booking_id)["felt_welcome"] == "strongly_agree"
    with app.app_context():
        versions = set(db.session.scalars(sa.select(EvaluationAnswer.instrument_version)))
        assert versions == {99}


# --- Validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conversations", "message"),
    [
        ("-1", "The number of MECC conversations must be 0 or more"),
        ("1.5", "Enter the number of MECC conversations as a whole number, like 3"),
        ("ten", "Enter the number of MECC conversations as a whole number, like 3"),
        ("\uff13", "Enter the number of MECC conversations as a whole number, like 3"),
        ("501", "The number of MECC conversations must be 500 or fewer"),
        ("", "Enter the number of MECC conversations"),
    ],
)
def test_the_number_of_conversations_must_be_a_whole_number_in_range(app, client, survey_link, conversations, message):
    path, _ = followup_link(survey_link)
    page = client.post(path, data={**FOLLOWUP, "conversations": conversations})
    assert page.status_code == 200
    assert "<title>Error:" in page.text
    assert message in page.text
    assert 'href="#conversations"' in page.text
    assert responses(app) == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"improve": "ok\x00"}, "improve", "must not contain a null character"),
        ({"improve": "fine \u202eevil"}, "improve", "must not contain a hidden text-direction character"),
        ({"improve": "x" * 2001}, "improve", "must be 2000 characters or fewer"),
        ({"overall": None}, "overall", "Select an answer for: Overall, how was your experience of the training"),
        ({"confidence": None}, "confidence", "Select a number from 0 to 10 for: How confident"),
        ({"confidence": "11"}, "confidence", "Select a number from 0 to 10"),
        ({"relevant": "maybe"}, "relevant", "Select an answer from the list"),
    ],
)
def test_the_evaluation_explains_each_problem(app, client, survey_link, changes, field, message):
    path, _ = survey_link()
    data = {k: v for k, v in {**AFTER, **changes}.items() if v is not None}
    page = client.post(path, data=data)
    assert page.status_code == 200
    assert "<title>Error:" in page.text
    assert message in page.text
    assert f'href="#{field}"' in page.text
    assert responses(app) == 0


def test_a_topic_that_is_not_in_the_list_is_refused(app, client, survey_link):
    path, _ = followup_link(survey_link)
    page = client.post(path, data={**FOLLOWUP, "topics": ["smoking", "gambling"]})
    assert "Select answers from the list" in page.text
    assert responses(app) == 0


# --- Who may answer, and when -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"status": BookingStatus.BOOKED}, "only for people who came to the training session"),
        ({"status": BookingStatus.DID_NOT_ATTEND}, "only for people who came to the training session"),
        ({"ended": timedelta(days=14, minutes=1)}, "This survey has closed"),
        ({"ended": -timedelta(minutes=30)}, "This survey is not open yet"),
    ],
)
def test_the_evaluation_explains_why_it_cannot_be_answered(app, client, survey_link, kw, says):
    path, _booking_id = survey_link(**kw)
    for response in (client.get(path), client.post(path, data=AFTER)):
        assert response.status_code == 200
        assert says in response.text
        assert 'name="confidence"' not in response.text
    assert responses(app) == 0


def test_the_evaluation_is_still_open_just_before_it_closes(app, client, survey_link):
    path, _ = survey_link(ended=timedelta(days=13, hours=23))
    assert client.post(path, data=AFTER).status_code == 303


def test_the_follow_up_is_only_for_attendees_who_consented(app, client, survey_link):
    path, _ = followup_link(survey_link, consent=False)
    for response in (client.get(path), client.post(path, data=FOLLOWUP)):
        assert "did not agree to be contacted about the follow-up survey" in response.text
    assert responses(app) == 0


def test_the_follow_up_is_not_open_until_8_weeks_after_the_session(app, client, survey_link):
    path, _ = survey_link(Survey.FOLLOWUP, ended=timedelta(weeks=7))
    assert "This survey is not open yet" in client.get(path).text


def test_answering_twice_keeps_the_first_answers(app, client, survey_link):
    path, booking_id = survey_link()
    client.post(path, data=AFTER)
    again = client.post(path, data={**AFTER, "confidence": "2"})
    assert again.status_code == 200
    assert "Thank you for your answers" in again.text
    assert stored_answers(app, booking_id)["confidence"] == "8"
    assert responses(app) == 1


def test_two_submissions_at_once_store_one_response_and_the_second_is_told_it_was_answered(
    app, client, survey_link, monkeypatch
):
    path, booking_id = survey_link()
    client.post(path, data=AFTER)
    # The second request checked before the first committed: only the database's constraint stops it.
    monkeypatch.setattr(services, "has_answered", lambda booking, survey: False)

    late = client.post(path, data={**AFTER, "confidence": "1"})

    assert late.status_code == 200
    assert "You have already answered this survey, so we kept your first answers" in late.text
    assert responses(app) == 1
    assert stored_answers(app, booking_id)["confidence"] == "8"


def test_a_link_opens_only_its_own_booking_and_purpose(app, client, survey_link):
    mine, my_booking = survey_link()
    theirs, _ = survey_link()
    client.post(theirs, data=AFTER)
    assert 'name="confidence"' in client.get(mine).text  # their answer is not mine
    with app.app_context():
        manage = issue_link(db.session.get(Booking, my_booking), LinkPurpose.MANAGE)
        followup = issue_link(db.session.get(Booking, my_booking), LinkPurpose.FOLLOWUP)
        db.session.commit()
    assert client.get(f"/evaluation/{manage}").status_code == 404
    assert client.get(f"/evaluation/{followup}").status_code == 404
    assert client.get(f"/follow-up/{manage}").status_code == 404
    assert client.post("/evaluation/" + "x" * 43, data=AFTER).status_code == 404
    assert client.get("/evaluation/not-a-token/certificate").status_code == 404
    assert responses(app, my_booking) == 0


def test_the_service_refuses_each_broken_rule(app, survey_link):
    _, not_attended = survey_link(status=BookingStatus.BOOKED)
    _, closed = survey_link(ended=timedelta(days=20))
    _, no_consent = followup_link(survey_link, consent=False)
    answers = {k: v for k, v in AFTER.items() if v}
    with app.app_context():

        def get(booking_id):
            return db.session.get(Booking, booking_id)

        with pytest.raises(services.NotAttended):
            services.submit_response(get(not_attended), Survey.AFTER_SESSION, answers)
        with pytest.raises(services.SurveyClosed):
            services.submit_response(get(closed), Survey.AFTER_SESSION, answers)
        with pytest.raises(services.NoFollowupConsent):
            services.submit_response(get(no_consent), Survey.FOLLOWUP, {"conversations": "1"})
        assert services.survey_state(get(closed), Survey.AFTER_SESSION) is services.SurveyState.CLOSED
        early = get(closed).training_session.ends_at + timedelta(days=1)
        assert services.survey_state(get(closed), Survey.AFTER_SESSION, early) is services.SurveyState.OPEN
        with pytest.raises(services.IncompleteAnswers):
            services.submit_response(get(closed), Survey.AFTER_SESSION, {"confidence": "5"}, now=early)
        db.session.rollback()


# --- The certificate -------------------------------------------------------------------------------------------


def test_an_attendee_prints_a_certificate_of_attendance(app, client, survey_link):
    path, booking_id = survey_link(name="Siobhán O'Brien")
    page = client.get(f"{path}/certificate")
    assert page.status_code == 200
    assert "Siobhán O&#39;Brien" in page.text
    assert "Making Every Contact Count volunteer training" in page.text
    assert "Oxfordshire MECC partnership" in page.text
    with app.app_context():
        from mecc_volunteer.templating import format_date

        assert format_date(db.session.get(Booking, booking_id).training_session.starts_at) in page.text


def test_someone_who_did_not_attend_gets_no_certificate(client, survey_link):
    path, _ = survey_link(status=BookingStatus.DID_NOT_ATTEND)
    page = client.get(f"{path}/certificate")
    assert "Certificate of attendance" not in page.text
    assert "only for people who came" in page.text


def test_the_survey_form_needs_its_csrf_token(app, make_app, survey_link):
    path, _ = survey_link()
    strict = app.test_client()
    page = strict.get(path)
    assert 'name="csrf_token"' in page.text
    assert strict.post(path, data=AFTER, csrf=False).status_code == 400
    assert responses(app) == 0
