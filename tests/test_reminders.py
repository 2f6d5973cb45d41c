"""A coordinator reminds everyone booked who has not confirmed the e-learning: each gets their own link to
confirm it, at most once a day (Europe/London), and never the joining link."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from mecc_volunteer.extensions import db
from mecc_volunteer.models import LONDON, BookingStatus, StaffUser, TrainingSession, utcnow
from mecc_volunteer.sessions import reminders
from tests.helpers import TEAMS, coordinator_id, email_of, outbox, text_of

CONFIRM_LINK = re.compile(r"http://localhost(/my-booking/[A-Za-z0-9_-]+/elearning)")


# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


def remind(app, session_id: int, staff_id: int, *, now=None) -> reminders.ReminderResult:
    with app.app_context():
        result = reminders.send_elearning_reminders(
            db.session.get(TrainingSession, session_id), by=db.session.get(StaffUser, staff_id), now=now
        )
        db.session.commit()
        return reminders.ReminderResult([b.id for b in result.sent], result.already_reminded)


def test_a_coordinator_reminds_everyone_not_confirmed_and_each_can_confirm_from_their_own_link(
    app, client, auth, smtp_server, make_training_session, make_booking, make_ready
):
    training_session = make_training_session(joining_link=TEAMS)
    unconfirmed = [make_booking(training_session.id) for _ in range(2)]
    make_ready(training_session.id)
    make_booking(training_session.id, BookingStatus.WAITING)
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/elearning-reminders"

    page = client.get(url)

    assert page.status_code == 200
    assert "Send reminder to 2 people" in page.text
    assert 'E-learning confirmed</dt><dd class="nhsuk-summary-list__value">1<' in page.text
    assert f"This is the email for {email_of(app, unconfirmed[0])}" in page.text
    assert "Please do the MECC e-learning before your training on" in page.text
    assert TEAMS not in page.text  # not even in the preview: these people are not ready
    assert outbox(app) == []

    done = client.post(url, follow_redirects=True)

    assert done.request.path == f"/manage/sessions/{training_session.id}/emails"
    assert "E-learning reminder sent to 2 people." in done.text
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(email_of(app, b) for b in unconfirmed)
    message = smtp_server.messages[0]
    assert TEAMS not in text_of(message)
    assert TEAMS not in message.get_body(("html",)).get_content()
    assert "https://www.e-lfh.org.uk/programmes/making-every-contact-count/" in text_of(message)

    confirm = CONFIRM_LINK.search(text_of(message)).group(1)
    form = client.get(confirm)
    assert form.status_code == 200
    assert 'id="completed_day"' in form.text
    today = utcnow().astimezone(LONDON).date()
    confirmed = client.post(
        confirm,
        data={
            "completed_day": str(today.day),
            "completed_month": str(today.month),
            "completed_year": str(today.year),
            "declaration": "y",
        },
        follow_redirects=True,
    )
    assert "your e-learning is confirmed" in confirmed.text
    assert TEAMS in confirmed.text  # now booked and confirmed: My booking shows the link


def test_a_second_click_the_same_day_sends_nothing_more_and_says_so(
    app, client, auth, smtp_server, make_training_session, make_booking
):
    training_session = make_training_session()
    make_booking(training_session.id)
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/elearning-reminders"
    client.post(url, follow_redirects=True)

    again = client.post(url, follow_redirects=True)
    page = client.get(url)

    assert again.request.path == url
    assert (
        "The 1 person who has not confirmed the e-learning was already reminded today. Nothing more was sent."
        in again.text
    )
    assert "Everyone who has not confirmed the e-learning has been reminded today." in page.text
    assert "Send reminder to" not in page.text
    assert len(smtp_server.messages) == 1
    assert len(outbox(app, "elearning_reminder")) == 1


def test_reminders_are_once_per_london_day(app, auth, make_training_session, make_booking):
    training_session = make_training_session(starts_at=datetime(2099, 7, 20, 9, 30, tzinfo=UTC))
    booking_id = make_booking(training_session.id)
    staff_id = coordinator_id(app, auth)
    morning = datetime(2099, 7, 1, 9, 0, tzinfo=UTC)

    first = remind(app, training_session.id, staff_id, now=morning)
    afternoon = remind(app, training_session.id, staff_id, now=morning + timedelta(hours=6))
    next_day = remind(app, training_session.id, staff_id, now=morning + timedelta(days=1))

    assert first.sent == [booking_id]
    assert (afternoon.sent, afternoon.already_reminded) == ([], 1)
    assert next_day.sent == [booking_id]
    assert [row.dedupe_key for row in outbox(app, "elearning_reminder")] == [
        f"elearning-reminder:booking:{booking_id}:2099-07-01",
        f"elearning-reminder:booking:{booking_id}:2099-07-02",
    ]


def test_a_reminder_at_half_past_eleven_utc_in_summer_counts_for_the_next_london_day(
    app, auth, make_training_session, make_booking
):
    training_session = make_training_session(starts_at=datetime(2099, 7, 20, 9, 30, tzinfo=UTC))
    booking_id = make_booking(training_session.id)
    staff_id = coordinator_id(app, auth)

    remind(app, training_session.id, staff_id, now=datetime(2099, 7, 1, 22, 30, tzinfo=UTC))  # 11:30pm BST, 1 July
    after_midnight = remind(
        app, training_session.id, staff_id, now=datetime(2099, 7, 1, 23, 30, tzinfo=UTC)
    )  # 12:30am, 2 July

    assert after_midnight.sent == [booking_id]
    assert [row.dedupe_key.rsplit(":", 1)[1] for row in outbox(app, "elearning_reminder")] == [
        "2099-07-01",
        "2099-07-02",
    ]


def test_nobody_to_remind_when_everyone_has_confirmed(app, client, auth, make_training_session, make_ready):
    training_session = make_training_session()
    make_ready(training_session.id)
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/elearning-reminders"

    page = client.get(url)
    done = client.post(url, follow_redirects=True)

    assert "Everyone booked has confirmed the e-learning, so there is no one to remind." in page.text
    assert "Everyone booked has confirmed the e-learning, so there is no one to remind." in done.text
    assert outbox(app) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cancelled", "This session is cancelled, so there is no one to remind."),
        ("started", "This session has already started, so it is too late for e-learning reminders."),
    ],
)
def test_no_reminders_for_a_cancelled_or_started_session(
    app, client, auth, make_training_session, make_booking, case, message
):
    columns = {"cancelled": {"cancelled_at": utcnow()}, "started": {"starts_at": utcnow() - timedelta(minutes=5)}}[case]
    training_session = make_training_session(**columns)
    make_booking(training_session.id)
    auth.login("coordinator")
    url = f"/manage/sessions/{training_session.id}/elearning-reminders"

    page = client.get(url)
    done = client.post(url, follow_redirects=True)

    assert message in page.text
    assert "Send reminder to" not in page.text
    assert message in done.text
    assert outbox(app) == []


def test_two_reminder_clicks_at_once_send_one_email_each(app, auth, make_training_session, make_booking):
    import threading
    import traceback

    training_session = make_training_session(capacity=10)
    ids = [make_booking(training_session.id) for _ in range(5)]
    staff_id = coordinator_id(app, auth)
    barrier = threading.Barrier(2, timeout=60)
    results, failures = [], []

    def click():
        try:
            barrier.wait()
            results.append(remind(app, training_session.id, staff_id))
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert sorted(len(r.sent) for r in results) == [0, 5]
    assert sorted(row.booking_id for row in outbox(app, "elearning_reminder")) == ids
