"""A coordinator follows every email about a session: queued, sending, sent or failed, with the reason; a busy
mail server means a retry later, a refused address a failure that "Try again" sends once more."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.mail import deliver_pending, queue_email
from mecc_volunteer.models import Booking, BookingStatus, EmailStatus, OutgoingEmail, utcnow
from mecc_volunteer.templating import format_datetime
from tests.helpers import TEAMS, email_of, outbox

# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


def send_link(client, session_id: int):
    """The coordinator sends the joining link; following the 303 closes it, which delivers the mail."""
    return client.post(f"/manage/sessions/{session_id}/joining-links", follow_redirects=True)


def status_page(client, session_id: int, **params):
    return client.get(f"/manage/sessions/{session_id}/emails", query_string=params)


def test_the_status_page_shows_every_email_about_the_session_newest_first(
    app, client, auth, smtp_server, make_training_session, make_booking, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    ready = make_ready(training_session.id)
    unconfirmed = make_booking(training_session.id)
    other = make_training_session(joining_link=TEAMS)
    make_ready(other.id)
    auth.login("coordinator")
    send_link(client, other.id)
    send_link(client, training_session.id)
    client.post(f"/manage/sessions/{training_session.id}/elearning-reminders", follow_redirects=True)

    page = status_page(client, training_session.id)

    assert page.status_code == 200
    text = page.text
    assert "All (2)" in text
    assert "Sent (2)" in text
    assert "Failed (0)" in text
    assert text.index("E-learning reminder<br>") < text.index("Joining link<br>")
    assert email_of(app, ready) in text
    assert email_of(app, unconfirmed) in text
    rows = outbox(app)
    assert len(rows) == 3
    for row in rows:
        if row.training_session_id == training_session.id:
            assert f"Sent {format_datetime(row.sent_at)}" in text
    assert text.count('nhsuk-tag--green">Sent</strong>') == 2
    assert "Try again" not in text


def test_a_busy_mail_server_leaves_the_email_queued_with_the_next_try_shown(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    smtp_server.handler.reply = "421 4.3.2 Too busy, try later"

    send_link(client, training_session.id)

    [row] = outbox(app)
    assert (row.status, row.attempts) == (EmailStatus.QUEUED, 1)
    page = status_page(client, training_session.id).text
    assert 'nhsuk-tag--blue">Queued</strong>' in page
    assert f"Next try {format_datetime(row.next_attempt_at)}" in page
    assert "Last error: 421 4.3.2 Too busy, try later" in page
    assert "Try again" not in page  # it is tried again anyway

    smtp_server.handler.reply = None
    with app.app_context():
        assert deliver_pending(now=row.next_attempt_at).sent == [row.id]

    page = status_page(client, training_session.id).text
    assert 'nhsuk-tag--green">Sent</strong>' in page
    assert "Last error" not in page
    assert "Next try" not in page
    assert len(smtp_server.messages) == 1


def test_a_refused_address_is_shown_as_failed_and_try_again_sends_it(
    app,
    client,
    auth,
    smtp_server,
    make_training_session,
    make_ready,
    app_logs,
):
    training_session = make_training_session(joining_link=TEAMS)
    booking_id = make_ready(training_session.id)
    address = email_of(app, booking_id)
    auth.login("coordinator")
    smtp_server.handler.reply = f"550 5.1.1 <{address}>: Recipient address rejected"

    send_link(client, training_session.id)

    page = status_page(client, training_session.id).text
    assert 'nhsuk-tag--red">Failed</strong>' in page
    assert f"Last error: 550 5.1.1 &lt;{address}&gt;: Recipient address rejected" in page
    assert "Failed (1)" in page
    [row] = outbox(app)
    assert f'action="/manage/sessions/{training_session.id}/emails/{row.id}/retry"' in page

    smtp_server.handler.reply = None
    done = client.post(f"/manage/sessions/{training_session.id}/emails/{row.id}/retry", follow_redirects=True)

    assert done.request.path == f"/manage/sessions/{training_session.id}/emails"
    assert f"Trying again to send the email to {address}." in done.text
    [message] = smtp_server.messages
    assert message["To"] == address
    assert TEAMS in message.get_body(("plain",)).get_content()
    [row] = outbox(app)
    assert (row.status, row.attempts) == (EmailStatus.SENT, 2)
    assert 'nhsuk-tag--green">Sent</strong>' in status_page(client, training_session.id).text

    logged = "\n".join([record.getMessage() for record in app_logs.records] + [app_logs.text])
    assert f"mail {row.id} failed: 550" in logged
    assert "@example.org" not in logged  # the coordinator sees addresses; the logs never hold them


def test_try_again_with_htmx_swaps_in_the_updated_list(
    app, client, auth, smtp_server, make_training_session, make_ready, htmx_headers
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    smtp_server.handler.reply = "550 5.1.1 Mailbox unavailable"
    send_link(client, training_session.id)
    smtp_server.handler.reply = None
    [row] = outbox(app)
    url = f"/manage/sessions/{training_session.id}/emails/{row.id}/retry"
    assert f'hx-post="{url}" hx-target="#emails" hx-swap="outerHTML"' in status_page(client, training_session.id).text

    response = client.post(url, headers=htmx_headers)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="emails">')
    assert "HX-Request" in response.headers["Vary"]
    assert 'hx-swap-oob="innerHTML"' in response.text
    assert "Trying again to send the email to" in response.text
    assert 'nhsuk-tag--blue">Queued</strong>' in response.text
    response.close()  # as a server does once the fragment is sent: the after-request delivery runs
    assert len(smtp_server.messages) == 1
    assert outbox(app)[0].status is EmailStatus.SENT


def test_the_full_page_and_the_htmx_fragment_agree(client, auth, make_training_session, htmx_headers):
    training_session = make_training_session()
    auth.login("coordinator")

    full = status_page(client, training_session.id)
    fragment = client.get(f"/manage/sessions/{training_session.id}/emails", headers=htmx_headers)

    assert "<html" in full.text
    assert "No emails about this session yet." in full.text
    assert "<html" not in fragment.text
    assert "No emails about this session yet." in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]
    assert "HX-Request" in full.headers["Vary"]


def test_only_a_failed_email_of_this_session_can_be_tried_again(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    other = make_training_session()
    with app.app_context():
        elsewhere = queue_email(
            template="test", to="a@example.org", subject="x", text="x", training_session_id=other.id
        )
        unrelated = queue_email(template="test", to="b@example.org", subject="y", text="y")
        db.session.commit()
        elsewhere_id, unrelated_id = elsewhere.id, unrelated.id
    auth.login("coordinator")
    send_link(client, training_session.id)
    sent = outbox(app, "joining_link")[0]
    base = f"/manage/sessions/{training_session.id}/emails"

    not_failed = client.post(f"{base}/{sent.id}/retry", follow_redirects=True)

    assert "This email has not failed, so there is nothing to try again." in not_failed.text
    for email_id in (elsewhere_id, unrelated_id, 999999):
        assert client.post(f"{base}/{email_id}/retry").status_code == 404
    assert len(smtp_server.messages) == 1  # the joining link only


def test_a_failed_joining_link_is_not_sent_again_to_someone_who_has_since_cancelled(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    booking_id = make_ready(training_session.id)
    auth.login("coordinator")
    smtp_server.handler.reply = "550 5.1.1 Mailbox unavailable"
    send_link(client, training_session.id)
    smtp_server.handler.reply = None
    with app.app_context():
        db.session.get(Booking, booking_id).status = BookingStatus.CANCELLED
        db.session.commit()
    [row] = outbox(app)

    done = client.post(f"/manage/sessions/{training_session.id}/emails/{row.id}/retry", follow_redirects=True)

    assert "This person is no longer booked on the session, so this email is not sent again." in done.text
    assert outbox(app)[0].status is EmailStatus.FAILED
    assert smtp_server.messages == []


def test_a_failed_email_with_an_old_joining_link_is_not_sent_again(
    app, client, auth, smtp_server, make_training_session, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    make_ready(training_session.id)
    auth.login("coordinator")
    smtp_server.handler.reply = "550 5.1.1 Mailbox unavailable"
    send_link(client, training_session.id)
    smtp_server.handler.reply = None
    with app.app_context():
        db.session.execute(sa.text("UPDATE training_sessions SET joining_link = 'https://zoom.us/j/42'"))
        db.session.commit()
    [row] = outbox(app)

    done = client.post(f"/manage/sessions/{training_session.id}/emails/{row.id}/retry", follow_redirects=True)

    assert "The joining link has changed since this email was written. Send the new link instead." in done.text
    assert smtp_server.messages == []


@pytest.mark.parametrize("status", ["failed", "queued", "sent", "sending"])
def test_the_list_can_show_one_status(app, client, auth, make_training_session, status):
    training_session = make_training_session()
    with app.app_context():
        for value in EmailStatus:
            queue_email(
                template="session_changed",
                to=f"{value.value}@example.org",
                subject="s",
                text="t",
                training_session_id=training_session.id,
            )
        db.session.flush()
        for row in db.session.scalars(sa.select(OutgoingEmail)):
            row.status = EmailStatus(row.to_address.split("@")[0])
        db.session.commit()
    auth.login("coordinator")

    page = status_page(client, training_session.id, status=status).text

    assert f"{status}@example.org" in page
    assert sum(f"{other.value}@example.org" in page for other in EmailStatus) == 1
    assert f'<strong aria-current="page">{status.capitalize()} (1)</strong>' in page
    assert "Session changed" in page


@pytest.mark.parametrize("junk", ["<script>", "FAILED", "", "0", "sent' OR 1=1"])
def test_an_unknown_filter_shows_every_email(client, auth, make_training_session, junk):
    training_session = make_training_session()
    auth.login("coordinator")

    page = status_page(client, training_session.id, status=junk)

    assert page.status_code == 200
    assert '<strong aria-current="page">All (0)</strong>' in page.text
    assert "<script>" not in page.text.split("<main", 1)[1]


def test_a_message_being_sent_shows_as_sending(app, client, auth, make_training_session):
    training_session = make_training_session()
    with app.app_context():
        email = queue_email(
            template="joining_link", to="v@example.org", subject="s", text="t", training_session_id=training_session.id
        )
        db.session.flush()
        email.status, email.attempts, email.claimed_at = EmailStatus.SENDING, 1, utcnow() - timedelta(seconds=5)
        db.session.commit()
    auth.login("coordinator")

    page = status_page(client, training_session.id).text

    assert 'nhsuk-tag--yellow">Sending</strong>' in page
    assert "Being sent now" in page
