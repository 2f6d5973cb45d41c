"""A coordinator sends the joining link to everyone booked who has confirmed the e-learning: once per person
per link, whatever the clicks, retries or concurrency; a changed link can be re-sent to those who had the old one.
"""

import re
import threading
import traceback
from collections import Counter
from datetime import timedelta

import icalendar
import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.mail import deliver_pending
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    EmailStatus,
    LinkPurpose,
    OutgoingEmail,
    StaffUser,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.sessions import joining_links
from mecc_volunteer.tokens import issue_link
from tests.helpers import TEAMS, booking, coordinator_id, email_of, outbox, session_form, text_of

ZOOM = "https://us02web.zoom.us/j/123456?pwd=xyz"
JOIN_TIMEOUT = 60


# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


# --- Helpers (the reminder, job and email status tests use them too) ---------------------------------------


def name_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).volunteer.name


def calendar_event(message):
    [invite] = list(message.iter_attachments())
    assert invite.get_content_type() == "text/calendar"
    [event] = icalendar.Calendar.from_ical(invite.get_content()).walk("VEVENT")
    return event


def send(app, session_id: int, staff_id: int, **kwargs) -> list[int]:
    """send_joining_links as a request would: one transaction, committed."""
    with app.app_context():
        sent = joining_links.send_joining_links(
            db.session.get(TrainingSession, session_id), by=db.session.get(StaffUser, staff_id), **kwargs
        )
        db.session.commit()
        return [b.id for b in sent]


def set_link(app, session_id: int, link: str | None) -> None:
    with app.app_context():
        db.session.get(TrainingSession, session_id).joining_link = link
        db.session.commit()


# --- Sending ---------------------------------------------------------------------------------------------


def test_a_coordinator_previews_the_email_then_sends_the_link_to_everyone_ready_and_a_second_click_sends_nothing(
    app, client, auth, smtp_server, make_training_session, make_booking, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    ready = [make_ready(training_session.id) for _ in range(2)]
    unconfirmed = make_booking(training_session.id)
    make_ready(training_session.id, BookingStatus.WAITING)  # confirmed, but has no place
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/joining-links"

    page = client.get(url)

    assert page.status_code == 200
    assert "Send joining link to 2 people" in page.text
    assert 'Ready, and not sent the current link</dt><dd class="nhsuk-summary-list__value">2<' in page.text
    assert 'Not ready yet (e-learning not confirmed)</dt><dd class="nhsuk-summary-list__value">1' in page.text
    assert f"This is the email for {email_of(app, ready[0])}" in page.text
    assert "Your joining link: MECC training on" in page.text
    assert f"Dear {name_of(app, ready[0])}," in page.text
    assert TEAMS in page.text
    assert not outbox(app)  # a preview writes nothing, not even a personal link

    done = client.post(url, follow_redirects=True)  # following the 303 closes it: the mail goes out

    assert done.request.path == f"/manage/sessions/{training_session.id}/emails"
    assert "Joining link sent to 2 people." in done.text
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(email_of(app, b) for b in ready)
    for message in smtp_server.messages:
        assert message["Subject"].startswith("Your joining link: MECC training on ")
        assert TEAMS in text_of(message)
        assert f'href="{TEAMS}"' in message.get_body(("html",)).get_content()
        event = calendar_event(message)
        assert str(event["LOCATION"]) == TEAMS
        assert str(event["URL"]) == TEAMS
        assert f"Join the session: {TEAMS}" in str(event["DESCRIPTION"])
    for booking_id in ready:
        assert booking(app, booking_id).joining_link_sent == TEAMS
        assert booking(app, booking_id).joining_link_sent_at is not None
    assert booking(app, unconfirmed).joining_link_sent is None

    again = client.post(url, follow_redirects=True)

    assert "already has the current joining link. Nothing more was sent." in again.text
    assert "There is no one to send it to now" in again.text
    assert len(smtp_server.messages) == 2
    rows = outbox(app, "joining_link")
    assert len(rows) == 2
    assert {r.status for r in rows} == {EmailStatus.SENT}
    assert {r.dedupe_key.rsplit(":", 1)[0] for r in rows} == {f"joining-link:booking:{b}" for b in ready}


def test_the_email_holds_a_personal_link_to_my_booking_that_works(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    send(app, training_session.id, coordinator_id(app, auth))
    with app.app_context():
        deliver_pending()

    [message] = smtp_server.messages
    path = re.search(r"http://localhost(/my-booking/[A-Za-z0-9_-]+)", text_of(message)).group(1)
    page = client.get(path)
    assert page.status_code == 200
    assert TEAMS in page.text  # the volunteer is ready, so My booking shows it too


def test_sending_twice_at_once_with_two_delivery_workers_gives_each_person_exactly_one_message(
    app, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(capacity=20, joining_link=TEAMS)
    ready = [make_ready(training_session.id) for _ in range(12)]
    staff_id = coordinator_id(app, auth)
    start_sending = threading.Barrier(2, timeout=JOIN_TIMEOUT)
    start_delivering = threading.Barrier(2, timeout=JOIN_TIMEOUT)
    sent_counts, failures = [], []

    def coordinator_clicks_send_then_a_worker_delivers():
        try:
            with app.app_context():
                start_sending.wait()
                # Each thread is its own request: load, lock, send, commit.
                training_session_here = db.session.get(TrainingSession, training_session.id)
                sent = joining_links.send_joining_links(training_session_here, by=db.session.get(StaffUser, staff_id))
                db.session.commit()
                sent_counts.append(len(sent))
                start_delivering.wait()
                deliver_pending()
        except BaseException:
            failures.append(traceback.format_exc())
            start_delivering.abort()  # so the other thread does not wait for this one

    threads = [threading.Thread(target=coordinator_clicks_send_then_a_worker_delivers) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert sorted(sent_counts) == [0, 12]
    received = Counter(message["To"] for message in smtp_server.messages)
    assert received == Counter({email_of(app, b): 1 for b in ready})
    rows = outbox(app, "joining_link")
    assert len(rows) == 12
    assert {(row.status, row.attempts) for row in rows} == {(EmailStatus.SENT, 1)}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no link", "This session has no joining link yet."),
        ("cancelled", "This session is cancelled, so there is no joining link to send."),
        ("finished", "This session has already taken place, so there is no joining link to send."),
        ("link not allowed", "The joining link must be a Microsoft Teams or Zoom link. Edit the session to correct"),
    ],
)
def test_the_link_is_not_sent_without_a_link_or_for_a_cancelled_or_finished_session(
    app, client, auth, make_training_session, make_ready, case, message
):
    columns = {
        "no link": {"joining_link": None},
        "cancelled": {"joining_link": TEAMS, "cancelled_at": utcnow()},
        "finished": {"joining_link": TEAMS, "days_ahead": -2},
        "link not allowed": {"joining_link": "https://meet.example.org/abc"},
    }[case]
    training_session = make_training_session(**columns)
    make_ready(training_session.id)
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/joining-links"

    page = client.get(url)
    done = client.post(url, follow_redirects=True)

    assert page.status_code == 200
    assert message in page.text
    assert "Send joining link to" not in page.text
    assert done.request.path == url
    assert message in done.text
    assert outbox(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(Booking.joining_link_sent)) is None


# --- A changed link --------------------------------------------------------------------------------------


def test_after_the_link_changes_the_coordinator_is_asked_to_resend_it_to_the_people_who_had_the_old_one(
    app, client, auth, smtp_server, make_training_session, make_ready, make_booking
):
    training_session = make_training_session(joining_link=TEAMS)
    had_old = [make_ready(training_session.id) for _ in range(2)]
    auth.login("coordinator")
    client.post(f"/manage/sessions/{training_session.id}/joining-links", follow_redirects=True)
    assert len(smtp_server.messages) == 2
    newly_ready = make_ready(training_session.id)
    make_booking(training_session.id)  # not ready: gets nothing
    day = training_session.starts_at.astimezone(LONDON).date()

    edited = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year), joining_link=ZOOM),
    )

    assert edited.status_code == 303
    assert edited.location.endswith(f"/manage/sessions/{training_session.id}/joining-links/resend")
    prompt = client.get(edited.location)
    assert "The joining link changed: 2 people have the old one." in prompt.text
    assert "Re-send the new link to the 2 people who had the old one?" in prompt.text
    assert "1 more person is ready but has not had a link yet, and will get it too." in prompt.text
    assert f'href="/manage/sessions/{training_session.id}">No, not now</a>' in prompt.text
    assert len(smtp_server.messages) == 2  # nothing is sent until the coordinator says yes

    done = client.post(edited.location, follow_redirects=True)

    assert "Joining link sent to 3 people." in done.text
    new = smtp_server.messages[2:]
    assert sorted(m["To"] for m in new) == sorted(email_of(app, b) for b in [*had_old, newly_ready])
    for message in new:
        assert ZOOM in text_of(message)
        assert TEAMS not in text_of(message)
        assert str(calendar_event(message)["LOCATION"]) == ZOOM
        changed = message["To"] != email_of(app, newly_ready)
        assert message["Subject"].startswith("New joining link" if changed else "Your joining link")
        assert ("has changed" in text_of(message)) is changed
    assert {booking(app, b).joining_link_sent for b in [*had_old, newly_ready]} == {ZOOM}
    assert len(outbox(app, "joining_link")) == 5


def test_removing_the_link_says_there_is_nothing_to_resend(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    client.post(f"/manage/sessions/{training_session.id}/joining-links", follow_redirects=True)
    day = training_session.starts_at.astimezone(LONDON).date()

    edited = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year), joining_link=""),
        follow_redirects=True,
    )

    assert "The joining link cannot be re-sent" in edited.text
    assert "This session has no joining link yet." in edited.text
    assert "Yes, send" not in edited.text
    assert len(smtp_server.messages) == 1


def test_saying_no_to_the_resend_sends_nothing_and_the_link_can_be_sent_later(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    client.post(f"/manage/sessions/{training_session.id}/joining-links", follow_redirects=True)
    set_link(app, training_session.id, ZOOM)

    detail = client.get(f"/manage/sessions/{training_session.id}")  # "No, not now"
    later = client.get(f"/manage/sessions/{training_session.id}/joining-links")

    assert "Send joining links" in detail.text
    assert len(smtp_server.messages) == 1
    assert "Send joining link to 1 person" in later.text
    assert "(1 of them had an earlier link)" in later.text
    assert "New joining link: MECC training" in later.text


def test_an_edit_that_keeps_the_link_goes_back_to_the_session(app, client, auth, make_training_session, make_ready):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    client.post(f"/manage/sessions/{training_session.id}/joining-links")
    day = training_session.starts_at.astimezone(LONDON).date()

    edited = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data=session_form(day=str(day.day), month=str(day.month), year=str(day.year), joining_link=TEAMS),
    )

    assert edited.location.endswith(f"/manage/sessions/{training_session.id}")


def test_a_link_changed_and_changed_back_is_sent_again_once(app, auth, make_training_session, make_ready):
    training_session = make_training_session(joining_link=TEAMS)
    booking_id = make_ready(training_session.id)
    staff_id = coordinator_id(app, auth)

    assert send(app, training_session.id, staff_id) == [booking_id]
    set_link(app, training_session.id, ZOOM)
    assert send(app, training_session.id, staff_id) == [booking_id]
    set_link(app, training_session.id, TEAMS)
    assert send(app, training_session.id, staff_id) == [booking_id]
    assert send(app, training_session.id, staff_id) == []

    keys = [row.dedupe_key for row in outbox(app, "joining_link")]
    assert len(keys) == len(set(keys)) == 3
    assert keys[2] == keys[0] + ":2"
    assert booking(app, booking_id).joining_link_sent == TEAMS


# --- The link stays private ------------------------------------------------------------------------------


def test_the_joining_link_is_never_in_a_page_or_email_for_someone_not_booked_with_the_e_learning_confirmed(
    app, client, auth, smtp_server, make_training_session, make_booking, make_ready
):
    training_session = make_training_session(capacity=3, joining_link=TEAMS)
    ready = make_ready(training_session.id)
    others = {
        "booked, e-learning not confirmed": make_booking(training_session.id),
        "waiting, e-learning confirmed": make_ready(training_session.id, BookingStatus.WAITING),
        "cancelled, e-learning confirmed": make_ready(training_session.id, BookingStatus.CANCELLED),
    }
    tokens = {}
    with app.app_context():
        for name, booking_id in [("ready", ready), *others.items()]:
            tokens[name] = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
        db.session.commit()
    secret = "teams.microsoft.com/l/meetup-join"

    public = ["/", f"/sessions/{training_session.id}/register", "/lost-link"]
    for path in public:
        assert secret not in client.get(path).text, path
    for name in others:
        page = client.get(f"/my-booking/{tokens[name]}")
        assert page.status_code == 200, name
        assert secret not in page.text, name
        calendar = client.get(f"/my-booking/{tokens[name]}/calendar.ics")
        assert secret not in calendar.text, name
    assert secret in client.get(f"/my-booking/{tokens['ready']}").text  # the control: it does show when allowed

    send(app, training_session.id, coordinator_id(app, auth))
    with app.app_context():
        deliver_pending()

    assert [m["To"] for m in smtp_server.messages] == [email_of(app, ready)]
    assert [row.to_address for row in outbox(app)] == [email_of(app, ready)]


def test_the_calendar_file_carries_the_link_only_when_asked_and_only_for_someone_ready(
    app, make_training_session, make_booking, make_ready
):
    from mecc_volunteer.calendar import booking_ics

    training_session = make_training_session(joining_link=TEAMS)
    ready = make_ready(training_session.id)
    unconfirmed = make_booking(training_session.id)

    with app.app_context():
        for booking_id, asked, shown in [(ready, True, True), (ready, False, False), (unconfirmed, True, False)]:
            ics = booking_ics(db.session.get(Booking, booking_id), with_joining_link=asked)
            [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
            assert (TEAMS in ics.replace("\r\n ", "")) is shown
            assert (str(event["LOCATION"]) == TEAMS) is shown
            assert ("URL" in event) is shown


# --- Access ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/joining-links"),
        ("post", "/joining-links"),
        ("get", "/joining-links/resend"),
        ("post", "/joining-links/resend"),
        ("get", "/elearning-reminders"),
        ("post", "/elearning-reminders"),
        ("get", "/emails"),
        ("post", "/emails/1/retry"),
    ],
)
def test_only_coordinators_can_email_volunteers(app, client, auth, make_training_session, method, path):
    training_session = make_training_session(joining_link=TEAMS)
    url = f"/manage/sessions/{training_session.id}{path}"

    anonymous = getattr(client, method)(url)
    auth.login("evaluator")
    evaluator = getattr(client, method)(url)

    assert anonymous.status_code == 303
    assert "/manage/sign-in" in anonymous.location
    assert evaluator.status_code == 403
    assert outbox(app) == []


@pytest.mark.parametrize("path", ["/joining-links", "/joining-links/resend", "/elearning-reminders", "/emails"])
def test_an_unknown_session_is_a_404(client, auth, path):
    auth.login("coordinator")
    assert client.get(f"/manage/sessions/999999{path}").status_code == 404
    if path != "/emails":
        assert client.post(f"/manage/sessions/999999{path}").status_code == 404


def test_sending_needs_a_valid_csrf_token(make_app, make_training_session, make_ready, auth):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    email = auth.create("coordinator")
    app = make_app()
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/manage/sign-in").text).group(1)
    assert (
        client.post(
            "/manage/sign-in", data={"email": email, "password": "a long test password", "csrf_token": token}
        ).status_code
        == 303
    )

    forged = client.post(f"/manage/sessions/{training_session.id}/joining-links", csrf=False)

    assert forged.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutgoingEmail.id))) == 0


def test_the_session_page_links_to_the_email_actions(client, auth, make_training_session):
    training_session = make_training_session(joining_link=TEAMS)
    finished = make_training_session(days_ahead=-3)
    auth.login("coordinator")

    page = client.get(f"/manage/sessions/{training_session.id}").text
    past = client.get(f"/manage/sessions/{finished.id}").text

    for text, path in [
        ("Send joining links", "joining-links"),
        ("Send e-learning reminder", "elearning-reminders"),
        ("Email status", "emails"),
    ]:
        assert f'href="/manage/sessions/{training_session.id}/{path}">{text}</a>' in page
    assert "Send joining links" not in past
    assert "Email status" in past


def test_a_sent_link_is_counted_on_the_session_page(app, client, auth, make_training_session, make_ready):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    client.post(f"/manage/sessions/{training_session.id}/joining-links")

    page = client.get(f"/manage/sessions/{training_session.id}").text

    assert 'Joining link sent</dt><dd class="nhsuk-summary-list__value">1<' in page


def test_a_session_that_started_minutes_ago_can_still_send_the_link(app, auth, make_training_session, make_ready):
    """Latecomers: the link can go out while the session runs, until it ends."""
    starts_at = utcnow() - timedelta(minutes=10)
    training_session = make_training_session(joining_link=TEAMS, starts_at=starts_at)
    booking_id = make_ready(training_session.id)

    assert send(app, training_session.id, coordinator_id(app, auth)) == [booking_id]
