"""A volunteer's own data (issue 9, section 4): from My booking they read everything we hold about them and
download it as JSON; they delete it (asked to confirm; a GET changes nothing), which cancels their booking so the
next person waiting gets the place, removes their identity and keeps their answers; afterwards the link opens
nothing. A new privacy notice version is shown until they have read it. A coordinator does the same for someone
who asks (a subject access request), each step in the audit trail with their name."""

import json

import pytest
import sqlalchemy as sa

from mecc_volunteer import jobs
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import KNOWLEDGE
from mecc_volunteer.models import (
    ActorKind,
    AuditAction,
    AuditEvent,
    Booking,
    BookingStatus,
    EvaluationAnswer,
    LinkPurpose,
    PersonalLink,
    Programme,
    StaffUser,
    Survey,
    Volunteer,
)
from mecc_volunteer.models.programme import DEFAULT_PRIVACY_NOTICE_VERSION
from mecc_volunteer.tokens import issue_link
from tests.helpers import (
    AFTER,
    assert_fragment,
    my_booking_path,
    outbox,
    register_through_the_form,
    store_answers,
)


@pytest.fixture
def priya(app, client, make_training_session, make_booking, registration_form):
    """Priya registers through the form (with equality answers and follow-up consent) on a session of one place;
    Sam waits behind her; someone else is booked on another session."""
    training_session = make_training_session(capacity=1)
    done = register_through_the_form(
        client,
        training_session.id,
        registration_form(
            name="Priya Patel",
            email="Priya@Example.org",
            phone="07700 900123",
            role="Library assistant",
            age_band="35-44",
            gender="woman",
            followup_consent="y",
        ),
    )
    path = my_booking_path(done)
    waiting = make_booking(training_session.id, BookingStatus.WAITING)
    other_session = make_training_session(days_ahead=40)
    other = make_booking(other_session.id)
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking).join(Booking.volunteer).where(Volunteer.name == "Priya Patel"))
        sam = db.session.get(Booking, waiting).volunteer
        stranger = db.session.get(Booking, other).volunteer
        return {
            "path": path,
            "booking_id": booking.id,
            "volunteer_id": booking.volunteer_id,
            "session_id": training_session.id,
            "waiting": waiting,
            "sam": (sam.name, sam.email),
            "stranger": (stranger.name, stranger.email),
        }


def trail(app, action: AuditAction) -> list[AuditEvent]:
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        found = list(events)
        for event in found:
            db.session.expunge(event)
        return found


def volunteer(app, volunteer_id: int) -> Volunteer:
    with app.app_context():
        found = db.session.get(Volunteer, volunteer_id)
        db.session.expunge(found)
        return found


# --- Reading and downloading --------------------------------------------------------------------------------


def test_my_booking_links_to_your_data(client, priya):
    page = client.get(priya["path"]).text
    assert f'href="{priya["path"]}/your-data"' in page
    assert f'href="{priya["path"]}/delete-your-data"' in page


def test_the_your_data_page_shows_everything_we_hold_and_nothing_about_anyone_else(app, client, priya):
    response = client.get(priya["path"] + "/your-data")

    assert response.status_code == 200
    page = response.text
    for expected in [
        "Priya Patel",
        "Priya@Example.org",
        "07700 900123",
        "Library assistant",
        "Oxfordshire Library Service",
        "Cherwell",
        "35 to 44",
        "Woman",
        "wording version",
        "Booked a place",
        "How confident do you feel about starting a conversation",
        "You&#39;re booked: MECC training",
    ]:
        assert expected in page, expected
    for name, email in (priya["sam"], priya["stranger"]):
        assert name not in page
        assert email not in page
    assert response.headers["Cache-Control"] == "no-store"
    [event] = trail(app, AuditAction.DATA_DOWNLOADED)
    assert (event.actor_kind, event.volunteer_id, event.detail) == (ActorKind.VOLUNTEER, priya["volunteer_id"], "page")


def test_the_json_file_holds_everything_we_hold(app, client, priya):
    store_answers(app, priya["booking_id"], Survey.AFTER_SESSION, respond=True, **AFTER)

    response = client.get(priya["path"] + "/your-data.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    data = json.loads(response.get_data(as_text=True))
    assert data["identity"] == {
        "name": "Priya Patel",
        "email": "Priya@Example.org",
        "phone": "07700 900123",
        "role": "Library assistant",
    }
    assert data["organisation"]["name"] == "Oxfordshire Library Service"
    assert data["area"] == "Cherwell"
    assert data["equality_answers"]["Age group"] == "35 to 44"
    privacy, followup = data["consents"]
    assert privacy["wording_version"] == DEFAULT_PRIVACY_NOTICE_VERSION
    assert privacy["at"]
    assert followup["given"] is True
    assert followup["wording_version"]
    [booking] = data["bookings"]
    assert booking["status"] == "Booked"
    assert booking["session"]["starts_at"]
    assert [event["what"] for event in booking["history"]] == ["Booked a place"]
    answers = {(a["survey"], a["question"]): a["answer"] for a in booking["answers"]}
    assert answers[("After the session", "Overall, how was your experience of the training?")] == "Very good"
    assert answers[("At registration", KNOWLEDGE)] == "3"
    assert [(e["template"], e["subject"]) for e in data["emails"]] == [
        ("booking_confirmation", "You're booked: MECC training")
    ]
    text = response.get_data(as_text=True)
    for name, email in (priya["sam"], priya["stranger"]):
        assert name not in text
        assert email not in text
    [event] = trail(app, AuditAction.DATA_DOWNLOADED)
    assert (event.actor_kind, event.detail) == (ActorKind.VOLUNTEER, "file")


# --- Deleting ---------------------------------------------------------------------------------------------------


def test_deleting_asks_first_and_the_get_changes_nothing(app, client, priya):
    page = client.get(priya["path"] + "/delete-your-data")

    assert page.status_code == 200
    assert "Are you sure you want to delete your data?" in page.text
    assert "your place goes to the next person waiting" in page.text
    assert 'method="post"' in page.text
    assert volunteer(app, priya["volunteer_id"]).name == "Priya Patel"
    assert not trail(app, AuditAction.DATA_DELETED)


def test_deleting_cancels_the_booking_promotes_the_first_person_waiting_and_removes_identity(app, client, priya):
    store_answers(app, priya["booking_id"], Survey.AFTER_SESSION, respond=True, **AFTER)
    with app.app_context():
        answers = db.session.scalar(
            sa.select(sa.func.count(EvaluationAnswer.id)).where(EvaluationAnswer.booking_id == priya["booking_id"])
        )
    client.get(priya["path"] + "/delete-your-data")

    response = client.post(priya["path"] + "/delete-your-data")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/your-data-deleted")
    done = client.get(response.headers["Location"])
    assert "Your data has been deleted" in done.text
    with app.app_context():
        assert db.session.get(Booking, priya["booking_id"]).status is BookingStatus.CANCELLED
        assert db.session.get(Booking, priya["waiting"]).status is BookingStatus.BOOKED
        assert (
            db.session.scalar(
                sa.select(sa.func.count(EvaluationAnswer.id)).where(EvaluationAnswer.booking_id == priya["booking_id"])
            )
            == answers
        )
    gone = volunteer(app, priya["volunteer_id"])
    assert gone.identity_removed_at is not None
    assert (gone.name, gone.email, gone.email_normalised, gone.phone, gone.role, gone.age_band, gone.gender) == (
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )
    # Sam, first on the waiting list, is told the place is theirs; Priya's address is nowhere in the outbox.
    emails = outbox(app)
    assert [e.template for e in emails if e.to_address == priya["sam"][1]] == ["place_offered"]
    assert not [e for e in emails if "priya" in e.to_address.lower()]
    [event] = trail(app, AuditAction.DATA_DELETED)
    assert (event.actor_kind, event.volunteer_id) == (ActorKind.VOLUNTEER, priya["volunteer_id"])
    # The link no longer opens anything.
    for suffix in ("", "/your-data", "/your-data.json", "/delete-your-data"):
        assert client.get(priya["path"] + suffix).status_code == 404
    assert client.post(priya["path"] + "/delete-your-data", csrf=False).status_code in (400, 404)


def test_deleting_with_htmx_moves_to_the_done_page(client, priya):
    client.get(priya["path"] + "/delete-your-data")
    response = client.post(priya["path"] + "/delete-your-data", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Location"].endswith("/your-data-deleted")


def test_the_roster_and_attendance_cope_with_a_volunteer_whose_data_is_deleted(app, client, auth, priya):
    client.get(priya["path"] + "/delete-your-data")
    client.post(priya["path"] + "/delete-your-data")
    auth.login("coordinator")

    roster = client.get(f"/manage/sessions/{priya['session_id']}/roster?status=cancelled")
    csv = client.get(f"/manage/sessions/{priya['session_id']}/roster.csv")

    assert roster.status_code == 200
    assert "Personal data removed" in roster.text
    assert csv.status_code == 200


# --- A new privacy notice ----------------------------------------------------------------------------------------


def set_notice_version(app, version: str) -> None:
    with app.app_context():
        db.session.scalar(sa.select(Programme)).privacy_notice_version = version
        db.session.commit()


def test_a_new_privacy_notice_is_shown_until_the_volunteer_has_read_it(app, client, priya):
    assert "We have updated our privacy notice" not in client.get(priya["path"]).text

    set_notice_version(app, "2027-01")
    page = client.get(priya["path"])
    assert "We have updated our privacy notice" in page.text
    assert 'href="/privacy"' in page.text

    response = client.post(priya["path"] + "/privacy-notice")

    assert response.status_code == 303
    assert "We have updated our privacy notice" not in client.get(priya["path"]).text
    read = volunteer(app, priya["volunteer_id"])
    assert read.privacy_notice_version == "2027-01"
    [event] = trail(app, AuditAction.PRIVACY_NOTICE_ACKNOWLEDGED)
    assert (event.actor_kind, event.volunteer_id, event.detail) == (ActorKind.VOLUNTEER, read.id, "version 2027-01")


def test_acknowledging_with_htmx_answers_with_the_banner_only(app, client, priya):
    set_notice_version(app, "2027-01")
    client.get(priya["path"])
    response = client.post(priya["path"] + "/privacy-notice", headers={"HX-Request": "true"})
    assert_fragment(response)
    assert "Thank you for reading the updated privacy notice." in response.text
    assert volunteer(app, priya["volunteer_id"]).privacy_notice_version == "2027-01"


def test_the_privacy_notice_says_how_long_from_the_settings_and_how_to_use_the_rights(app, client):
    with app.app_context():
        programme = db.session.scalar(sa.select(Programme))
        programme.retention_months = 18
        programme.privacy_notice_version = "2027-02"
        db.session.commit()
    page = client.get("/privacy").text
    assert "18 months after your last session" in page
    assert "Version 2027-02" in page
    assert "download or delete your data" in page
    assert "without anything that identifies you" in page
    assert "mailto:" in page


def test_the_privacy_notice_shows_the_admins_own_text_as_escaped_paragraphs(app, client):
    with app.app_context():
        db.session.scalar(sa.select(Programme)).privacy_notice_text = "First <b>para</b>.\r\n\r\nSecond para."
        db.session.commit()
    page = client.get("/privacy").text
    assert "<p>First &lt;b&gt;para&lt;/b&gt;.</p>" in page
    assert "<p>Second para.</p>" in page
    assert "What we keep" not in page


# --- A subject access request, by a coordinator --------------------------------------------------------------


def coordinator_of(app, auth) -> int:
    email = auth.create("coordinator", name="Sam Coordinator")
    auth.login("coordinator", email=email)
    with app.app_context():
        return db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email))


def test_a_coordinator_finds_a_volunteer_downloads_and_deletes_their_data_each_recorded(app, client, auth, priya):
    staff_id = coordinator_of(app, auth)
    home = client.get("/manage/")
    assert 'href="/manage/volunteer-data"' in home.text

    client.get("/manage/volunteer-data")
    found = client.post("/manage/volunteer-data", data={"email": "  priya@EXAMPLE.org "})

    assert found.status_code == 303
    page = client.get(found.headers["Location"])
    assert page.status_code == 200
    assert "Priya Patel" in page.text
    assert priya["sam"][0] not in page.text
    download = client.get(found.headers["Location"] + "/data.json")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert json.loads(download.get_data(as_text=True))["identity"]["name"] == "Priya Patel"

    confirm = client.get(found.headers["Location"] + "/delete")
    assert "Are you sure you want to delete Priya Patel" in confirm.text
    assert volunteer(app, priya["volunteer_id"]).name == "Priya Patel"
    deleted = client.post(found.headers["Location"] + "/delete")

    assert deleted.status_code == 303
    after = client.get(deleted.headers["Location"]).text
    assert "Their personal data is deleted and 1 booking cancelled." in after
    assert "Priya Patel" not in after
    assert volunteer(app, priya["volunteer_id"]).identity_removed_at is not None
    with app.app_context():
        assert db.session.get(Booking, priya["waiting"]).status is BookingStatus.BOOKED
    downloads = trail(app, AuditAction.DATA_DOWNLOADED)
    assert [(e.actor_kind, e.staff_user_id, e.volunteer_id) for e in downloads][:2] == [
        (ActorKind.STAFF, staff_id, priya["volunteer_id"])
    ] * 2
    assert [e.detail for e in downloads][:2] == ["page, for a request", "file, for a request"]
    [event] = trail(app, AuditAction.DATA_DELETED)
    assert (event.actor_kind, event.staff_user_id, event.volunteer_id) == (
        ActorKind.STAFF,
        staff_id,
        priya["volunteer_id"],
    )
    # The volunteer's own link is dead too; a second delete says it is done already.
    assert client.get(priya["path"]).status_code == 404
    again = client.get(found.headers["Location"] + "/delete")
    assert again.status_code == 303


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@example.org", "No volunteer has registered with that email address"),
        ("", "Enter the volunteer&#39;s email address"),
        ("not an address", "Enter an email address in the correct format"),
        ("x" * 300 + "@example.org", "Email address must be 254 characters or fewer"),
    ],
)
def test_a_wrong_email_gives_an_error_not_a_500(app, client, auth, priya, email, message):
    coordinator_of(app, auth)
    client.get("/manage/volunteer-data")

    response = client.post("/manage/volunteer-data", data={"email": email})

    assert response.status_code == 200
    assert message in response.text
    assert "<title>Error:" in response.text
    assert 'href="#email"' in response.text
    assert not trail(app, AuditAction.DATA_DOWNLOADED)


def test_finding_with_htmx_answers_with_the_form_or_moves_on(app, client, auth, priya):
    coordinator_of(app, auth)
    client.get("/manage/volunteer-data")
    wrong = client.post("/manage/volunteer-data", data={"email": "nobody@example.org"}, headers={"HX-Request": "true"})
    assert_fragment(wrong)
    assert "No volunteer has registered" in wrong.text
    right = client.post("/manage/volunteer-data", data={"email": "priya@example.org"}, headers={"HX-Request": "true"})
    assert right.status_code == 204
    assert right.headers["HX-Location"] == f"/manage/volunteer-data/{priya['volunteer_id']}"


def test_an_evaluator_cannot_see_a_volunteers_data(client, auth, priya):
    auth.login("evaluator")
    assert client.get("/manage/volunteer-data").status_code == 403
    assert client.get(f"/manage/volunteer-data/{priya['volunteer_id']}").status_code == 403


def test_an_unknown_volunteer_id_is_not_found(client, auth, priya):
    auth.login("coordinator")
    assert client.get("/manage/volunteer-data/999999").status_code == 404
    assert client.get("/manage/volunteer-data/999999/data.json").status_code == 404


def test_a_personal_link_of_another_purpose_does_not_open_your_data(app, client, priya):
    with app.app_context():
        token = issue_link(db.session.get(Booking, priya["booking_id"]), LinkPurpose.EVALUATION)
        db.session.commit()
    assert client.get(f"/my-booking/{token}/your-data").status_code == 404


def test_an_attendee_who_deleted_their_data_is_never_sent_a_survey(app, client, make_training_session, make_booking):
    ended = make_training_session(days_ahead=-1)
    booking_id = make_booking(ended.id, BookingStatus.ATTENDED)
    make_booking(ended.id, BookingStatus.ATTENDED)  # someone else, who is invited
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
        db.session.commit()
    client.get(f"/my-booking/{token}/delete-your-data")
    assert client.post(f"/my-booking/{token}/delete-your-data").status_code == 303

    with app.app_context():
        first = jobs.run_due_jobs()
        second = jobs.run_due_jobs()

    assert first.done["evaluation invitations"] == 1
    assert second.done["evaluation invitations"] == 0
    assert booking_id not in [e.booking_id for e in outbox(app, "evaluation_invitation")]
    with app.app_context():
        assert not db.session.scalars(sa.select(PersonalLink).where(PersonalLink.booking_id == booking_id)).all()
        assert not db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.booking_id == booking_id, AuditEvent.action == AuditAction.EVALUATION_INVITATION_SENT
            )
        ).all()
