"""`flask jobs run`, every minute: day-before reminders, waiting-list places that are due, then the mail.
Everything is idempotent: a second run straight after the first does nothing more."""

import re
import threading
import traceback
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import jobs
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import queue_email
from mecc_volunteer.models import LONDON, BookingStatus, EmailStatus, StaffUser, TrainingSession, utcnow
from mecc_volunteer.sessions import joining_links
from tests.helpers import TEAMS, booking, coordinator_id, email_of, outbox, text_of

NOTHING_ELSE_DUE = {
    "evaluation invitations": 0,
    "evaluation reminders": 0,
    "follow-up invitations": 0,
    "unfinished registrations forgotten": 0,
    "data retention": 0,
}
CONFIRM_LINK = re.compile(r"http://localhost(/my-booking/[A-Za-z0-9_-]+/elearning)")


# Mail goes to a real SMTP server on loopback (conftest's app_config).
pytestmark = pytest.mark.real_smtp


def at_london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def run(app, now: datetime) -> jobs.JobReport:
    with app.app_context():
        return jobs.run_due_jobs(now)


def last_sunday_of_october(year: int) -> date:
    day = date(year, 10, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


# --- Day-before reminders ------------------------------------------------------------------------------


def test_the_day_before_everyone_booked_is_reminded_with_the_link_only_if_they_are_ready(
    app, client, auth, smtp_server, make_training_session, make_booking, make_ready
):
    tuesday = date(2099, 6, 16)
    training_session = make_training_session(starts_at=at_london(tuesday, 10, 30), joining_link=TEAMS)
    ready = make_ready(training_session.id)
    unconfirmed = make_booking(training_session.id)
    make_ready(training_session.id, BookingStatus.WAITING)
    make_ready(training_session.id, BookingStatus.CANCELLED)
    later = make_training_session(starts_at=at_london(tuesday + timedelta(days=1), 10, 30), joining_link=TEAMS)
    make_ready(later.id)
    cancelled = make_training_session(starts_at=at_london(tuesday, 14), cancelled_at=utcnow())
    make_booking(cancelled.id)

    report = run(app, at_london(tuesday - timedelta(days=1), 9, 0))

    assert report.done == {"day-before reminders": 2, "promoted from waiting lists": 0, **NOTHING_ELSE_DUE}
    assert report.mail.sent
    assert not report.failed
    by_address = {message["To"]: message for message in smtp_server.messages}
    assert sorted(by_address) == sorted([email_of(app, ready), email_of(app, unconfirmed)])

    to_ready = by_address[email_of(app, ready)]
    assert to_ready["Subject"] == "Tomorrow: your MECC training at 10:30am"
    assert TEAMS in text_of(to_ready)
    assert "Join the session" in text_of(to_ready)
    assert CONFIRM_LINK.search(text_of(to_ready)) is None
    assert booking(app, ready).joining_link_sent == TEAMS  # they have it now: "Send joining links" skips them

    to_unconfirmed = by_address[email_of(app, unconfirmed)]
    assert TEAMS not in text_of(to_unconfirmed)
    assert TEAMS not in to_unconfirmed.get_body(("html",)).get_content()
    assert "You have not told us yet that you have done the MECC e-learning" in text_of(to_unconfirmed)
    assert "https://www.e-lfh.org.uk/programmes/making-every-contact-count/" in text_of(to_unconfirmed)
    confirm = CONFIRM_LINK.search(text_of(to_unconfirmed)).group(1)
    assert 'id="completed_day"' in client.get(confirm).text
    assert booking(app, unconfirmed).joining_link_sent is None

    staff_id = coordinator_id(app, auth)
    with app.app_context():
        assert (
            joining_links.send_joining_links(
                db.session.get(TrainingSession, training_session.id),
                by=db.session.get(StaffUser, staff_id),
                now=at_london(tuesday - timedelta(days=1), 10),
            )
            == []
        )


def test_without_a_joining_link_yet_the_reminder_says_it_will_come(app, smtp_server, make_training_session, make_ready):
    tuesday = date(2099, 6, 16)
    training_session = make_training_session(starts_at=at_london(tuesday, 10, 30), joining_link=None)
    ready = make_ready(training_session.id)

    run(app, at_london(tuesday - timedelta(days=1), 9, 0))

    [message] = smtp_server.messages
    assert "We will email you the link to join the session before it starts." in text_of(message)
    assert CONFIRM_LINK.search(text_of(message)) is None
    assert booking(app, ready).joining_link_sent is None


def test_jobs_run_twice_in_a_row_does_nothing_the_second_time(
    app, smtp_server, make_training_session, make_booking, make_ready
):
    tuesday = date(2099, 6, 16)
    training_session = make_training_session(starts_at=at_london(tuesday, 10, 30), joining_link=TEAMS)
    make_ready(training_session.id)
    make_booking(training_session.id)
    now = at_london(tuesday - timedelta(days=1), 9, 30)

    first = run(app, now)
    second = run(app, now + timedelta(minutes=1))
    third = run(app, now + timedelta(hours=10))

    assert first.done["day-before reminders"] == 2
    assert len(first.mail.sent) == 2
    for report in (second, third):
        assert report.done == {"day-before reminders": 0, "promoted from waiting lists": 0, **NOTHING_ELSE_DUE}
        assert (report.mail.sent, report.mail.retrying, report.mail.failed) == ([], [], [])
    assert len(smtp_server.messages) == 2
    assert len(outbox(app, "day_before_reminder")) == 2


def test_day_before_reminders_follow_london_days_across_the_october_clock_change(
    app, make_training_session, make_booking
):
    """Clocks go back at 2am on the last Sunday in October, so that Sunday is 25 hours long in London."""
    sunday = last_sunday_of_october(utcnow().year + 1)
    saturday, monday = sunday - timedelta(days=1), sunday + timedelta(days=1)
    sessions = {
        "monday morning": make_training_session(starts_at=at_london(monday, 10, 30)),
        "monday just after midnight": make_training_session(starts_at=at_london(monday, 0, 30)),
        "sunday morning": make_training_session(starts_at=at_london(sunday, 10, 30)),
        "sunday late evening": make_training_session(starts_at=at_london(sunday, 23, 30)),
    }
    for training_session in sessions.values():
        make_booking(training_session.id)
    names = {training_session.id: name for name, training_session in sessions.items()}

    def reminded_after(now: datetime) -> set[str]:
        run(app, now)
        return {names[row.training_session_id] for row in outbox(app, "day_before_reminder")}

    # Saturday is still summer time (BST, UTC+1): 9am in London is 8am UTC.
    assert reminded_after(datetime.combine(saturday, time(7, 59), tzinfo=UTC)) == set()
    assert reminded_after(datetime.combine(saturday, time(8, 0), tzinfo=UTC)) == {
        "sunday morning",
        "sunday late evening",
    }
    # Just after midnight on Sunday in London (still Saturday in UTC): before 9am, and Monday is not tomorrow yet.
    assert reminded_after(datetime.combine(saturday, time(23, 30), tzinfo=UTC)) == {
        "sunday morning",
        "sunday late evening",
    }
    # Sunday is winter time (GMT, UTC+0): 8:30am UTC is 8:30am in London, still too early.
    assert reminded_after(datetime.combine(sunday, time(8, 30), tzinfo=UTC)) == {
        "sunday morning",
        "sunday late evening",
    }
    assert reminded_after(datetime.combine(sunday, time(9, 0), tzinfo=UTC)) == set(sessions)
    with app.app_context():
        starts = {names[ts.id]: ts.starts_at for ts in db.session.scalars(sa.select(TrainingSession))}
    assert starts["monday morning"].hour == 10
    assert starts["sunday morning"].hour == 10
    assert len(outbox(app, "day_before_reminder")) == 4


def test_two_job_runners_at_once_send_each_reminder_once(
    app, smtp_server, make_training_session, make_booking, make_ready
):
    """Cron on two servers: the session lock and the dedupe keys leave one reminder per person."""
    tuesday = date(2099, 6, 16)
    sessions = [make_training_session(starts_at=at_london(tuesday, hour), joining_link=TEAMS) for hour in (10, 14)]
    booked = [make_ready(ts.id) for ts in sessions for _ in range(3)] + [make_booking(sessions[0].id)]
    now = at_london(tuesday - timedelta(days=1), 9, 1)
    barrier = threading.Barrier(2, timeout=60)
    reports, failures = [], []

    def cron():
        try:
            with app.app_context():
                barrier.wait()
                reports.append(jobs.run_due_jobs(now))
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=cron) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert all(not report.failed for report in reports)
    assert sum(report.done["day-before reminders"] for report in reports) == len(booked)
    assert Counter(m["To"] for m in smtp_server.messages) == Counter({email_of(app, b): 1 for b in booked})


def test_no_day_before_reminder_for_a_cancelled_session_or_someone_who_cancelled(
    app, make_training_session, make_booking
):
    tuesday = date(2099, 6, 16)
    cancelled = make_training_session(starts_at=at_london(tuesday, 10, 30), cancelled_at=utcnow())
    make_booking(cancelled.id, BookingStatus.CANCELLED)
    running = make_training_session(starts_at=at_london(tuesday, 14))
    make_booking(running.id, BookingStatus.CANCELLED)

    report = run(app, at_london(tuesday - timedelta(days=1), 12))

    assert report.done["day-before reminders"] == 0
    assert outbox(app) == []


# --- Waiting-list places ---------------------------------------------------------------------------------


def test_a_free_place_goes_to_the_first_person_waiting_while_the_session_still_allows_it(
    app, smtp_server, make_training_session, make_booking
):
    now = utcnow()
    open_session = make_training_session(days_ahead=30, capacity=2)
    make_booking(open_session.id)
    first = make_booking(open_session.id, BookingStatus.WAITING, at=now - timedelta(hours=2))
    second = make_booking(open_session.id, BookingStatus.WAITING, at=now - timedelta(hours=1))
    closed = make_training_session(days_ahead=3, capacity=2)  # past the 7-day cut-off
    closed_waiting = make_booking(closed.id, BookingStatus.WAITING)
    cancelled = make_training_session(days_ahead=30, capacity=2, cancelled_at=now)
    cancelled_waiting = make_booking(cancelled.id, BookingStatus.WAITING)

    report = run(app, now)

    assert report.done["promoted from waiting lists"] == 1
    assert booking(app, first).status is BookingStatus.BOOKED
    assert {booking(app, b).status for b in (second, closed_waiting, cancelled_waiting)} == {BookingStatus.WAITING}
    with app.app_context():
        assert db.session.get(TrainingSession, open_session.id).places_taken == 2
    [message] = smtp_server.messages
    assert message["To"] == email_of(app, first)
    assert message["Subject"] == "A place is now yours: MECC training"
    assert run(app, now + timedelta(minutes=1)).done["promoted from waiting lists"] == 0


def test_late_promotion_runs_until_48_hours_before_when_the_coordinator_allows_it(
    app, make_training_session, make_booking
):
    training_session = make_training_session(days_ahead=5, capacity=1, allow_late_promotion=True)
    waiting = make_booking(training_session.id, BookingStatus.WAITING)

    too_late = run(app, training_session.starts_at - timedelta(hours=47))
    in_time = run(app, training_session.starts_at - timedelta(hours=49))

    assert too_late.done["promoted from waiting lists"] == 0
    assert in_time.done["promoted from waiting lists"] == 1
    assert booking(app, waiting).status is BookingStatus.BOOKED


# --- The command ---------------------------------------------------------------------------------------


def test_flask_jobs_run_prints_one_line_and_a_second_run_does_nothing(
    app, runner, smtp_server, make_training_session, make_booking
):
    training_session = make_training_session(days_ahead=30, capacity=1)
    make_booking(training_session.id, BookingStatus.WAITING)
    with app.app_context():
        queue_email(template="test", to="someone@example.org", subject="Queued earlier", text="Hello")
        db.session.commit()

    first = runner.invoke(args=["jobs", "run"])
    second = runner.invoke(args=["jobs", "run"])

    assert first.exit_code == 0, first.output
    assert first.stdout == (
        "Jobs: day-before reminders 0, promoted from waiting lists 1, evaluation invitations 0, "
        "evaluation reminders 0, follow-up invitations 0, unfinished registrations forgotten 0, data retention 0; "
        "mail: sent 2, will retry 0, failed 0.\n"
    )
    assert second.stdout == (
        "Jobs: day-before reminders 0, promoted from waiting lists 0, evaluation invitations 0, "
        "evaluation reminders 0, follow-up invitations 0, unfinished registrations forgotten 0, data retention 0; "
        "mail: sent 0, will retry 0, failed 0.\n"
    )
    assert sorted(m["Subject"] for m in smtp_server.messages) == [
        "A place is now yours: MECC training",
        "Queued earlier",
    ]


def test_a_failing_job_is_reported_and_the_other_jobs_and_the_mail_still_run(app, runner, smtp_server, monkeypatch):
    def broken(now):
        raise RuntimeError("a bug")

    def queues_one(now):
        queue_email(template="test", to="someone@example.org", subject="From a later job", text="Hello")
        return 1

    monkeypatch.setattr(jobs, "DUE_JOBS", [jobs.Job("broken", broken), jobs.Job("working", queues_one)])

    result = runner.invoke(args=["jobs", "run"])

    assert result.exit_code == 1
    assert result.stdout == "Jobs: working 1, broken FAILED (see the log); mail: sent 1, will retry 0, failed 0.\n"
    assert [m["Subject"] for m in smtp_server.messages] == ["From a later job"]
    assert {row.status for row in outbox(app)} == {EmailStatus.SENT}


def test_jobs_run_sends_a_large_queue_in_batches(app, smtp_server, monkeypatch):
    monkeypatch.setattr(jobs, "MAIL_BATCH", 3)
    with app.app_context():
        for n in range(7):
            queue_email(template="test", to=f"v{n}@example.org", subject=f"Message {n}", text="Hello")
        db.session.commit()

    report = run(app, utcnow())

    assert len(report.mail.sent) == 7
    assert len(smtp_server.messages) == 7
