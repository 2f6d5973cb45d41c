"""The outbox against a real SMTP server on loopback: queue, deliver after the response, retry, never twice.

Most tests point the app at the `smtp_server` fixture (the module's `app_config`); the .eml tests at the end
use the default test config, which has no MAIL_SERVER.
"""

import re
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import icalendar
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from mecc_volunteer.extensions import db
from mecc_volunteer.mail import RETRY_DELAYS, deliver_pending, queue_email, retry_failed
from mecc_volunteer.models import Booking, BookingStatus, EmailStatus, OutgoingEmail, utcnow
from tests.helpers import my_booking_path, outbox
from tests.mail_servers import wait_for_mail

MY_BOOKING_LINK = re.compile(r"http://localhost(/my-booking/[A-Za-z0-9_-]+)")


# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


# --- Helpers -------------------------------------------------------------------------------------------


def submit_registration(client, session_id: int, form: dict):
    """Fill in the form, then confirm on Check your answers. Returns the confirming response, unclosed."""
    response = client.post(f"/sessions/{session_id}/register", data=form)
    assert response.status_code == 303, response.text
    return client.post(f"/sessions/{session_id}/register/check", data={"confirm": "yes"})


def queue_messages(app, count: int = 1, *, to: str = "volunteer@example.org") -> list[int]:
    """Queue plain messages directly, as any area's emails.py would, and commit."""
    with app.app_context():
        emails = [
            queue_email(
                template="test",
                to=to,
                subject=f"Message {n}",
                text=f"Hello {n}: http://localhost/my-booking/secret-{n}",
                html=f"<p>Hello {n}</p>",
            )
            for n in range(count)
        ]
        db.session.commit()
        return [email.id for email in emails]


def deliver(app, **kwargs):
    wait_for_mail(app)  # mail handed over after a request goes out on the courier's thread: until it is done
    with app.app_context():
        return deliver_pending(**kwargs)


def start_again(server) -> None:
    """aiosmtpd cannot restart a stopped controller: bring up a new one on the same port and handler."""
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port)
    server.start()


# --- The volunteer journey -------------------------------------------------------------------------------


def test_a_registration_is_confirmed_by_email_with_a_calendar_invite(
    app, client, smtp_server, make_training_session, registration_form
):
    training_session = make_training_session(days_ahead=30, capacity=10)

    response = submit_registration(client, training_session.id, registration_form())

    assert response.status_code == 303
    assert response.location.endswith(f"/sessions/{training_session.id}/register/done")
    # Mail is handed to the courier when the WSGI server closes the response. Flask's test client hands the
    # response back unclosed (only redirects it follows are closed), so nothing has gone out yet...
    assert smtp_server.messages == []
    [row] = outbox(app)
    assert row.status is EmailStatus.QUEUED
    # ...until the response is closed, as a real server does once the page has been sent; then the courier
    # sends it, on a thread of its own (smtp_server.messages waits for it).
    response.close()

    [message] = smtp_server.messages
    assert message["To"] == "priya@example.org"
    assert message["Subject"] == "You're booked: MECC training"
    assert message.get_all("Message-ID") == [f"<outbox-{row.id}@example.org>"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Dear Priya Patel" in text
    assert "Dear Priya Patel" in html

    [invite] = list(message.iter_attachments())
    assert invite.get_content_type() == "text/calendar"
    assert invite.get_filename() == "mecc-training.ics"
    [event] = icalendar.Calendar.from_ical(invite.get_content()).walk("VEVENT")
    starts_at = event.decoded("DTSTART")
    assert starts_at.utcoffset() == timedelta(0)
    assert starts_at == training_session.starts_at
    assert "MECC" in str(event["SUMMARY"])

    path = my_booking_path(message)
    assert f'href="http://localhost{path}"' in html
    page = client.get(path)
    assert page.status_code == 200
    assert "Priya Patel" in page.text
    assert "<strong>Booked</strong>" in page.text

    [row] = outbox(app)
    assert row.status is EmailStatus.SENT


def test_a_volunteer_who_joins_a_full_sessions_waiting_list_is_told_their_place_in_the_queue(
    app, client, smtp_server, make_training_session, make_booking, registration_form
):
    training_session = make_training_session(capacity=1)
    make_booking(training_session.id)

    # Following the redirect closes the 303, which is what sends the email.
    response = client.post(f"/sessions/{training_session.id}/register", data=registration_form())
    assert response.status_code == 303
    done = client.post(
        f"/sessions/{training_session.id}/register/check", data={"confirm": "yes"}, follow_redirects=True
    )
    assert done.status_code == 200
    assert done.history[0].status_code == 303

    [message] = smtp_server.messages
    assert message["Subject"] == "You're on the waiting list: MECC training"
    text = message.get_body(("plain",)).get_content()
    assert "Your position on the waiting list: 1" in text
    assert list(message.iter_attachments()) == []  # no calendar invite for a place not yet held
    page = client.get(my_booking_path(message))
    assert page.status_code == 200
    assert "<strong>On the waiting list</strong>, position 1" in page.text


def test_when_a_booked_volunteer_cancels_the_first_person_waiting_is_emailed_that_the_place_is_theirs(
    app, client, smtp_server, make_training_session, registration_form
):
    training_session = make_training_session(capacity=1)
    submit_registration(client, training_session.id, registration_form()).close()
    submit_registration(
        client, training_session.id, registration_form(name="Sam Jones", email="sam@example.org")
    ).close()
    booked, waiting = smtp_server.messages
    assert booked["Subject"] == "You're booked: MECC training"
    assert waiting["To"] == "sam@example.org"
    assert waiting["Subject"] == "You're on the waiting list: MECC training"

    response = client.post(my_booking_path(booked) + "/cancel", data={"confirm": "yes"})
    assert response.status_code == 303
    response.close()

    assert len(smtp_server.messages) == 3
    offer = smtp_server.messages[2]
    assert offer["To"] == "sam@example.org"
    assert offer["Subject"] == "A place is now yours: MECC training"
    [invite] = list(offer.iter_attachments())
    assert invite.get_content_type() == "text/calendar"
    page = client.get(my_booking_path(offer))
    assert page.status_code == 200
    assert "Sam Jones" in page.text
    assert "<strong>Booked</strong>" in page.text
    with app.app_context():
        statuses = list(db.session.scalars(sa.select(Booking.status).order_by(Booking.id)))
    assert statuses == [BookingStatus.CANCELLED, BookingStatus.BOOKED]


# --- International addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent_to"),
    [
        ("priya@exämple.org", "priya@xn--exmple-cua.org"),
        # IDNA 2008, as registries use it: Flask-Mail's own IDNA 2003 would send this to strasse.de instead.
        ("anna@straße.de", "anna@xn--strae-oqa.de"),
    ],
)
def test_a_volunteer_with_an_international_domain_gets_their_confirmation_and_link(
    app, client, smtp_server, make_training_session, registration_form, typed, sent_to
):
    training_session = make_training_session()

    submit_registration(client, training_session.id, registration_form(email=typed)).close()

    [message] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == [sent_to]  # RCPT TO: what the server was asked to deliver to
    assert message["To"] == sent_to
    assert message["Subject"] == "You're booked: MECC training"
    page = client.get(my_booking_path(message))
    assert page.status_code == 200
    assert "<strong>Booked</strong>" in page.text
    [row] = outbox(app)
    assert row.status is EmailStatus.SENT
    assert row.to_address == typed  # the coordinator sees the address as the volunteer typed it


@pytest.mark.parametrize("typed", ["zoë@exämple.org", "zoë@example.org", "李华@example.org"])
def test_an_address_with_letters_outside_a_to_z_before_the_at_is_refused_at_the_form(
    app, client, make_training_session, registration_form, typed
):
    """Sending to it needs SMTPUTF8, which most mail servers lack: the volunteer would never get their link."""
    training_session = make_training_session()

    response = client.post(f"/sessions/{training_session.id}/register", data=registration_form(email=typed))

    assert response.status_code == 200
    assert response.text.startswith("<!DOCTYPE html>")
    assert "<title>Error:" in response.text
    assert "Enter an email address with only the letters a to z, numbers and symbols before the @" in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_a_queued_email_to_an_address_no_server_takes_fails_with_the_reason_and_the_rest_go_out(app, smtp_server):
    """For addresses stored before the forms refused them."""
    [unsendable] = queue_messages(app, to="zoë@exämple.org")
    [fine] = queue_messages(app, to="sam@exämple.org")

    report = deliver(app)

    assert (report.failed, report.sent) == ([unsendable], [fine])
    failed, sent = outbox(app)
    assert failed.status is EmailStatus.FAILED
    assert (
        failed.last_error
        == "the email address has letters outside a to z before the @, which mail servers do not accept"
    )
    assert sent.status is EmailStatus.SENT
    assert smtp_server.envelopes == [("mecc@example.org", ["sam@xn--exmple-cua.org"])]


# --- Failures and retries ---------------------------------------------------------------------------------


def test_a_volunteer_can_register_while_the_mail_server_is_down_and_the_email_follows_later(
    app, client, smtp_server, make_training_session, registration_form
):
    training_session = make_training_session()
    smtp_server.stop()

    response = submit_registration(client, training_session.id, registration_form())
    response.close()  # the best-effort delivery after the response finds nobody listening

    assert response.status_code == 303
    assert response.location.endswith(f"/sessions/{training_session.id}/register/done")
    assert client.get(response.location).status_code == 200
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.status is BookingStatus.BOOKED
    [row] = outbox(app)
    assert row.status is EmailStatus.QUEUED
    assert row.attempts == 1
    assert row.last_error
    assert row.next_attempt_at > utcnow()

    start_again(smtp_server)
    assert deliver(app).sent == []  # backing off: not due yet
    later = utcnow() + timedelta(minutes=2)
    report = deliver(app, now=later)

    assert report.sent == [row.id]
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0]["Subject"] == "You're booked: MECC training"
    assert deliver(app, now=later + timedelta(hours=1)).sent == []
    assert len(smtp_server.messages) == 1
    [row] = outbox(app)
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 2, None)


class TestAMailServerThatNeverAnswers:
    """It accepts the connection and never says a word. Mail goes out on the courier's thread, so the
    request is answered and closed while the courier still waits; nothing else waits on the server."""

    @pytest.fixture
    def app_config(self, silent_smtp_server):
        # A long timeout, so that waiting for it inside the request could not go unnoticed.
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": silent_smtp_server.port, "MAIL_TIMEOUT_INLINE": 10}

    def test_a_registration_is_answered_and_closed_while_its_email_waits_for_the_server(
        self,
        app,
        client,
        silent_smtp_server,
        make_training_session,
        registration_form,
        mail_settles_before_each_request,
    ):
        mail_settles_before_each_request.enabled = False  # requests while the courier still waits on the server
        training_session = make_training_session()

        response = submit_registration(client, training_session.id, registration_form())
        response.close()  # what once ran the delivery, on the request's thread, until the timeout

        with app.app_context():
            row = db.session.scalar(sa.select(OutgoingEmail))
            assert row.status in (EmailStatus.QUEUED, EmailStatus.SENDING)
            assert row.last_error is None
        assert silent_smtp_server.accepted.acquire(timeout=10), "the courier never connected"
        assert client.get(response.location).status_code == 200  # the app answers meanwhile
        assert client.get("/").status_code == 200

        silent_smtp_server.stop()  # the server goes away: the attempt fails and is retried later
        [row] = outbox(app)
        assert (row.status, row.attempts) == (EmailStatus.QUEUED, 1)
        assert row.last_error
        assert row.next_attempt_at > utcnow()

    def test_a_batch_gives_up_at_the_first_message_rather_than_wait_out_a_timeout_for_each(
        self, app, silent_smtp_server
    ):
        first, *others = queue_messages(app, 3)

        report = deliver(app, timeout=0.5)

        assert (report.retrying, report.sent, report.failed) == ([first], [], [])
        rows = outbox(app)
        assert [(row.status, row.attempts) for row in rows] == [(EmailStatus.QUEUED, 1)] + [(EmailStatus.QUEUED, 0)] * 2
        assert rows[0].last_error.startswith("SMTPServerDisconnected") or "timed out" in rows[0].last_error
        assert [row.id for row in rows[1:]] == others


def test_two_delivery_workers_at_once_send_each_message_exactly_once(app, smtp_server):
    ids = queue_messages(app, 30)
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                reports.append(deliver_pending())
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(reports) == 2
    first, second = (set(report.sent) for report in reports)
    assert first.isdisjoint(second)
    assert first | second == set(ids)
    assert sorted(message["Message-ID"] for message in smtp_server.messages) == sorted(
        f"<outbox-{email_id}@example.org>" for email_id in ids
    )
    assert {(row.status, row.attempts) for row in outbox(app)} == {(EmailStatus.SENT, 1)}


def test_the_app_can_still_write_while_a_slow_mail_server_takes_a_message(
    app, smtp_server, make_training_session, monkeypatch
):
    """No transaction (on SQLite, the write lock) is held while talking to the mail server."""
    queue_messages(app)
    accept = smtp_server.handler.handle_DATA
    wrote_meanwhile = []
    writer = threading.Thread(target=make_training_session)

    async def slow_data(server, session, envelope):
        writer.start()  # e.g. a coordinator adds a session while the message is on the wire
        writer.join(timeout=2)
        wrote_meanwhile.append(not writer.is_alive())
        return await accept(server, session, envelope)

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", slow_data)

    assert len(deliver(app).sent) == 1
    writer.join(timeout=10)
    assert wrote_meanwhile == [True]


def test_two_workers_against_a_busy_server_try_each_message_once_and_back_off(app, smtp_server):
    """A message one worker has just failed to send is not due for the other, though it was in its list."""
    ids = queue_messages(app, 30)
    smtp_server.handler.reply = "421 4.3.2 Too busy, try later"
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                deliver_pending()
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    rows = outbox(app)
    assert [row.id for row in rows] == ids
    assert {(row.status, row.attempts) for row in rows} == {(EmailStatus.QUEUED, 1)}
    assert smtp_server.messages == []


def test_a_busy_mail_server_gets_the_message_again_after_a_minute(app, smtp_server):
    [email_id] = queue_messages(app)
    smtp_server.handler.reply = "421 4.3.2 Too busy, try later"
    now = utcnow()

    report = deliver(app, now=now)

    assert report.retrying == [email_id]
    [row] = outbox(app)
    assert row.status is EmailStatus.QUEUED
    assert row.attempts == 1
    assert row.last_error.startswith("421")
    assert row.next_attempt_at == now + RETRY_DELAYS[0] == now + timedelta(minutes=1)
    assert row.claimed_at is None

    smtp_server.handler.reply = None
    assert deliver(app, now=now + timedelta(seconds=30)).sent == []
    assert deliver(app, now=now + timedelta(minutes=1)).sent == [email_id]
    assert len(smtp_server.messages) == 1


def test_a_refused_address_fails_at_once_and_a_coordinator_can_send_it_again(app, smtp_server):
    [email_id] = queue_messages(app)
    smtp_server.handler.reply = "550 5.1.1 Mailbox unavailable"

    report = deliver(app)

    assert report.failed == [email_id]
    [row] = outbox(app)
    assert row.status is EmailStatus.FAILED
    assert row.attempts == 1
    assert "550" in row.last_error
    assert row.body_text  # kept, so it can be sent again
    assert deliver(app, now=utcnow() + timedelta(days=1)).sent == []

    smtp_server.handler.reply = None
    with app.app_context():
        retry_failed(db.session.get(OutgoingEmail, email_id))
        db.session.commit()
    assert outbox(app)[0].status is EmailStatus.QUEUED

    assert deliver(app).sent == [email_id]
    [message] = smtp_server.messages
    assert message["Subject"] == "Message 0"
    assert outbox(app)[0].status is EmailStatus.SENT


def test_a_message_stuck_in_sending_by_a_dead_worker_is_sent_after_ten_minutes(app, smtp_server):
    stuck_id, busy_id = queue_messages(app, 2)
    now = utcnow()
    with app.app_context():
        for email_id, claimed_at in ((stuck_id, now - timedelta(minutes=11)), (busy_id, now - timedelta(minutes=5))):
            db.session.execute(
                sa.update(OutgoingEmail)
                .where(OutgoingEmail.id == email_id)
                .values(status=EmailStatus.SENDING, claimed_at=claimed_at, attempts=1)
            )
        db.session.commit()

    report = deliver(app, now=now)

    assert report.sent == [stuck_id]
    assert [message["Subject"] for message in smtp_server.messages] == ["Message 0"]
    stuck, busy = outbox(app)
    assert (stuck.status, stuck.attempts) == (EmailStatus.SENT, 2)
    assert busy.status is EmailStatus.SENDING  # another worker may still be sending it: leave it alone


def test_a_sent_message_keeps_no_copy_of_the_personal_link(app, smtp_server):
    [email_id] = queue_messages(app)
    with app.app_context():
        db.session.get(OutgoingEmail, email_id).attachments = [
            {"filename": "a.ics", "content_type": "text/calendar", "data": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"}
        ]
        db.session.commit()
    before = utcnow()

    deliver(app)

    assert "secret-0" in smtp_server.messages[0].get_body(("plain",)).get_content()
    [row] = outbox(app)
    assert row.status is EmailStatus.SENT
    assert row.sent_at is not None
    assert row.sent_at >= before
    assert (row.body_text, row.body_html, row.attachments) == (None, None, None)
    assert row.subject == "Message 0"  # what was sent, and when, stays for the coordinator


def test_flask_mail_deliver_prints_one_line_with_the_counts(app, runner, smtp_server):
    queue_messages(app, 2)

    result = runner.invoke(args=["mail", "deliver"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "Mail: sent 2, will retry 0, failed 0.\n"
    assert len(smtp_server.messages) == 2


def test_the_logs_never_hold_an_email_address(
    app, client, smtp_server, make_training_session, registration_form, app_logs
):
    training_session = make_training_session()
    # Real servers quote the address they refuse.
    smtp_server.handler.reply = "550 5.1.1 <priya@example.org>: Recipient address rejected"
    submit_registration(client, training_session.id, registration_form()).close()
    [row] = outbox(app)
    assert row.status is EmailStatus.FAILED
    assert "priya@example.org" in row.last_error  # the coordinator can see it; the logs cannot

    smtp_server.handler.reply = None
    with app.app_context():
        retry_failed(db.session.get(OutgoingEmail, row.id))
        db.session.commit()
    assert deliver(app).sent == [row.id]

    messages = [record.getMessage() for record in app_logs.records]
    assert any(f"mail {row.id} failed: 550" in message for message in messages)
    assert any("mail delivery: sent 1" in message for message in messages)
    logged = "\n".join([*messages, app_logs.text])
    assert "@example.org" not in logged


# --- No mail server: .eml files ------------------------------------------------------------------------------


class TestWithoutAMailServer:
    @pytest.fixture
    def app_config(self):
        return {}  # the default test config: MAIL_SERVER is None

    def test_a_registration_email_is_written_to_an_eml_file_in_the_instance_folder(
        self, app, client, make_training_session, registration_form
    ):
        training_session = make_training_session()

        submit_registration(client, training_session.id, registration_form()).close()
        ids = queue_messages(app, 2)
        deliver(app)

        [row, *_] = outbox(app)
        folder = Path(app.instance_path) / "mail"
        assert sorted(path.name for path in folder.iterdir()) == sorted(
            f"outbox-{email_id}.eml" for email_id in [row.id, *ids]
        )
        message = message_from_bytes((folder / f"outbox-{row.id}.eml").read_bytes(), policy=policy.default)
        assert message["Subject"] == "You're booked: MECC training"
        assert message["To"] == "priya@example.org"
        assert message.get_body(("plain",)).get_content().startswith("Dear Priya Patel")
        assert {r.status for r in outbox(app)} == {EmailStatus.SENT}
