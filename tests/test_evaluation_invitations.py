"""Survey emails: the evaluation invitation after the session, its one reminder, and the follow-up 8 weeks on.
Sent by `flask jobs run` at the right time (given as now=) and by the coordinator's button; never twice."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import jobs
from mecc_volunteer.evaluation import emails
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, OutgoingEmail, TrainingSession, utcnow
from tests.helpers import AFTER

SURVEY_LINK = re.compile(r"http://localhost(/(?:evaluation|follow-up)/[A-Za-z0-9_-]{43})")


@pytest.fixture
def finished_session(app, make_training_session, make_booking, make_volunteer):
    """A session that ends at `ends_at`, with 2 attendees (one consenting to the follow-up), one who did not
    attend and one who stayed booked. Returns (session id, {name: booking id})."""

    def make(ends_at=None):
        ends_at = ends_at or utcnow() - timedelta(hours=1)
        training_session = make_training_session(starts_at=ends_at - timedelta(minutes=90), ends_at=ends_at)
        people = {
            "consented": make_booking(
                training_session.id, BookingStatus.ATTENDED, volunteer_id=make_volunteer(followup_consent=True)
            ),
            "attended": make_booking(training_session.id, BookingStatus.ATTENDED),
            "absent": make_booking(
                training_session.id, BookingStatus.DID_NOT_ATTEND, volunteer_id=make_volunteer(followup_consent=True)
            ),
            "booked": make_booking(training_session.id, BookingStatus.BOOKED),
        }
        return training_session.id, people, ends_at

    return make


def run_job(app, job, now) -> int:
    with app.app_context():
        done = job(now)
        db.session.commit()
        return done


def sent(app, template: str) -> dict[int, OutgoingEmail]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.template == template))
        return {row.booking_id: row for row in rows}


def survey_path(email: OutgoingEmail) -> str:
    found = SURVEY_LINK.search(email.body_text)
    assert found
    assert found.group(0) in (email.body_html or "")
    return found.group(1)


def test_attendees_are_invited_to_the_evaluation_once_the_session_has_ended(app, client, finished_session):
    _session_id, people, ends_at = finished_session(utcnow() + timedelta(minutes=5))

    assert run_job(app, emails.evaluation_invitations_due, ends_at - timedelta(minutes=1)) == 0
    assert run_job(app, emails.evaluation_invitations_due, ends_at) == 2
    assert run_job(app, emails.evaluation_invitations_due, ends_at + timedelta(minutes=1)) == 0  # idempotent

    invitations = sent(app, "evaluation_invitation")
    assert sorted(invitations) == sorted([people["consented"], people["attended"]])
    email = invitations[people["attended"]]
    assert email.subject == "How was your MECC training? Tell us in 5 minutes"
    assert email.dedupe_key == f"evaluation-invitation:booking:{people['attended']}"
    assert "The survey is open until" in email.body_text
    path = survey_path(email)
    assert path.startswith("/evaluation/")
    # The session ended 5 minutes from now; by the time the volunteer clicks, it will be open.
    assert "This survey is not open yet" in client.get(path).text


def test_the_invitation_link_opens_the_survey_and_answers_are_stored(app, client, finished_session):
    _, people, ends_at = finished_session()
    run_job(app, emails.evaluation_invitations_due, ends_at + timedelta(minutes=1))
    path = survey_path(sent(app, "evaluation_invitation")[people["attended"]])
    assert client.post(path, data=AFTER).status_code == 303
    with app.app_context():
        assert db.session.get(Booking, people["attended"]) is not None
    assert "Thank you for your answers" in client.get(path).text


def test_no_invitations_after_the_evaluation_closes(app, finished_session):
    _, _, ends_at = finished_session()
    assert run_job(app, emails.evaluation_invitations_due, ends_at + timedelta(days=14)) == 0
    assert sent(app, "evaluation_invitation") == {}


def test_no_invitations_for_a_cancelled_session(app, finished_session):
    cancelled_id, _, cancelled_end = finished_session()
    with app.app_context():
        db.session.get(TrainingSession, cancelled_id).cancelled_at = utcnow()
        db.session.commit()
    assert run_job(app, emails.evaluation_invitations_due, cancelled_end + timedelta(hours=1)) == 0
    assert sent(app, "evaluation_invitation") == {}


def test_one_reminder_goes_after_7_days_to_attendees_who_have_not_answered(app, client, finished_session):
    _, people, ends_at = finished_session()
    run_job(app, emails.evaluation_invitations_due, ends_at + timedelta(minutes=1))
    answered_path = survey_path(sent(app, "evaluation_invitation")[people["consented"]])
    assert client.post(answered_path, data=AFTER).status_code == 303

    assert run_job(app, emails.evaluation_reminders_due, ends_at + timedelta(days=7) - timedelta(minutes=1)) == 0
    assert run_job(app, emails.evaluation_reminders_due, ends_at + timedelta(days=7)) == 1
    assert run_job(app, emails.evaluation_reminders_due, ends_at + timedelta(days=8)) == 0

    reminders = sent(app, "evaluation_reminder")
    assert list(reminders) == [people["attended"]]
    assert "This is the only reminder we send" in reminders[people["attended"]].body_text
    assert 'name="confidence"' in client.get(survey_path(reminders[people["attended"]])).text


def test_no_reminder_once_the_evaluation_has_closed(app, finished_session):
    _, _, ends_at = finished_session()
    run_job(app, emails.evaluation_invitations_due, ends_at + timedelta(minutes=1))
    assert run_job(app, emails.evaluation_reminders_due, ends_at + timedelta(days=14)) == 0


def test_the_follow_up_goes_8_weeks_after_the_session_to_attendees_who_consented(app, client, finished_session):
    _, people, ends_at = finished_session(utcnow() - timedelta(weeks=8, hours=1))
    followup_opens = ends_at + timedelta(weeks=8)

    assert run_job(app, emails.followup_invitations_due, followup_opens - timedelta(minutes=1)) == 0
    assert run_job(app, emails.followup_invitations_due, followup_opens) == 1
    assert run_job(app, emails.followup_invitations_due, followup_opens + timedelta(days=1)) == 0

    invitations = sent(app, "followup_invitation")
    assert list(invitations) == [people["consented"]]
    email = invitations[people["consented"]]
    assert email.dedupe_key == f"followup-invitation:booking:{people['consented']}"
    assert "Live Well Oxfordshire" in email.body_text
    path = survey_path(email)
    assert path.startswith("/follow-up/")
    assert "In the last 4 weeks, how many MECC conversations have you had?" in client.get(path).text


def test_the_survey_jobs_run_with_the_others_and_do_nothing_more_the_second_time(app, finished_session):
    _, _, ends_at = finished_session()
    with app.app_context():
        first = jobs.run_due_jobs(ends_at + timedelta(hours=1))
        second = jobs.run_due_jobs(ends_at + timedelta(hours=1, minutes=1))
    assert first.done["evaluation invitations"] == 2
    assert not first.failed
    assert second.done["evaluation invitations"] == 0
    assert second.done["evaluation reminders"] == 0


# --- The coordinator's button ------------------------------------------------------------------------------------


def test_a_coordinator_sends_evaluation_invitations_for_a_finished_session(app, client, auth, finished_session):
    session_id, _people, _ = finished_session()
    auth.login("coordinator")
    detail = client.get(f"/manage/sessions/{session_id}")
    assert "Send evaluation invitations" in detail.text

    page = client.get(f"/manage/sessions/{session_id}/evaluation-invitations")
    assert page.status_code == 200
    assert "Send invitation to 2 people" in page.text
    assert sent(app, "evaluation_invitation") == {}  # nothing changes on GET

    done = client.post(f"/manage/sessions/{session_id}/evaluation-invitations")
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/manage/sessions/{session_id}/emails")
    status = client.get(done.headers["Location"]).text
    assert "Evaluation invitation sent to 2 people" in status
    assert status.count("Evaluation invitation") >= 3
    again = client.post(f"/manage/sessions/{session_id}/evaluation-invitations", follow_redirects=True)
    assert "Nothing more was sent" in again.text
    assert len(sent(app, "evaluation_invitation")) == 2
    assert "Already invited, not answered yet" in again.text


def test_an_upcoming_session_has_no_evaluation_invitations(app, client, auth, make_training_session, make_booking):
    training_session = make_training_session(days_ahead=10)
    make_booking(training_session.id)
    auth.login("coordinator")
    assert "Send evaluation invitations" not in client.get(f"/manage/sessions/{training_session.id}").text
    page = client.get(f"/manage/sessions/{training_session.id}/evaluation-invitations")
    assert "This session has not finished yet" in page.text
    assert "Send invitation to" not in page.text
    refused = client.post(f"/manage/sessions/{training_session.id}/evaluation-invitations", follow_redirects=True)
    assert "This session has not finished yet" in refused.text
    assert sent(app, "evaluation_invitation") == {}
