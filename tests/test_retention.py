"""Retention that runs itself (issue 9, section 3): once a volunteer's last session is older than the retention
period, their identity goes and their answers stay, so the review's figures and the pseudonymous export do not
change; outgoing email, sign-in attempts, dead links and rate-limit hits go after their own periods. At most one
run a day, whether the job runs twice or on two servers at once; the admin page says what the next run will
remove and what the last one did."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.admin import retention
from mecc_volunteer.evaluation import review
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import services as exports
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ActorKind,
    AuditAction,
    AuditEvent,
    Booking,
    BookingStatus,
    EmailStatus,
    EvaluationAnswer,
    LinkPurpose,
    OutgoingEmail,
    PersonalLink,
    RateLimitHit,
    RetentionRun,
    SignInAttempt,
    StaffLink,
    StaffLinkPurpose,
    StaffUser,
    Survey,
    Volunteer,
    utcnow,
)
from mecc_volunteer.tokens import find_booking, issue_link
from tests.helpers import empty_all_tables, store_answers

# A year and two months: well past the default 12 months.
LONG_AGO = timedelta(days=430)


@pytest.fixture
def pilot(app, make_training_session, make_booking, make_volunteer):
    """An old session (over a year ago) whose six attendees all answered the evaluation; a recent one with five;
    one upcoming. Returns the ids."""
    now = utcnow()
    old = make_training_session(starts_at=now - LONG_AGO, ends_at=now - LONG_AGO + timedelta(minutes=90))
    recent = make_training_session(days_ahead=-20)
    upcoming = make_training_session(days_ahead=30)
    old_bookings, recent_bookings = [], []
    for i in range(6):
        volunteer_id = make_volunteer(
            created_at=now - LONG_AGO - timedelta(days=30),
            phone="07700 900123",
            age_band="35-44",
            gender="woman",
            ethnic_group="white",
            disability="no",
            followup_consent=True,
            followup_consent_version="2026-09",
            followup_consent_at=now - LONG_AGO - timedelta(days=30),
        )
        booking_id = make_booking(old.id, BookingStatus.ATTENDED, volunteer_id=volunteer_id)
        store_answers(app, booking_id, Survey.BASELINE, confidence=3 + i % 3, knowledge=4)
        store_answers(
            app,
            booking_id,
            Survey.AFTER_SESSION,
            respond=True,
            confidence=7,
            knowledge=6 + i % 2,
            overall="good",
            improve=f"Comment {i}",
        )
        old_bookings.append(booking_id)
    for _ in range(5):
        booking_id = make_booking(recent.id, BookingStatus.ATTENDED)
        store_answers(app, booking_id, Survey.BASELINE, confidence=5, knowledge=5)
        store_answers(app, booking_id, Survey.AFTER_SESSION, respond=True, confidence=8, knowledge=8)
        recent_bookings.append(booking_id)
    upcoming_booking = make_booking(upcoming.id)
    with app.app_context():
        tokens = {
            booking_id: issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
            for booking_id in old_bookings
        }
        tokens[upcoming_booking] = issue_link(db.session.get(Booking, upcoming_booking), LinkPurpose.MANAGE)
        db.session.commit()
    return {
        "old": old.id,
        "recent": recent.id,
        "old_bookings": old_bookings,
        "recent_bookings": recent_bookings,
        "upcoming_booking": upcoming_booking,
        "tokens": tokens,
    }


def volunteer_of(app, booking_id: int) -> Volunteer:
    with app.app_context():
        volunteer = db.session.get(Booking, booking_id).volunteer
        db.session.expunge(volunteer)
        return volunteer


EQUALITY_ANSWERS = ("age_band", "gender", "ethnic_group")
# One moment for both looks at the review, so only the retention run differs between them.
FIXED_NOW = utcnow()


def figures(app):
    """What the evaluators see: the dashboard's figures, and the responses download's rows, without the
    equality answers (the retention run removes them with the rest of the identity: those people move to
    "Not answered")."""
    with app.app_context():
        filters = ReviewFilters()
        headers, rows = exports.responses(filters)
        kept = [i for i, name in enumerate(headers) if name not in EQUALITY_ANSWERS]
        result = review.build_review(filters, now=FIXED_NOW)
        result.inequalities = [b for b in result.inequalities if b.key not in EQUALITY_ANSWERS]
        return result, [headers[i] for i in kept], [[row[i] for i in kept] for row in rows]


def equality_groups(app, key: str) -> dict[str, object]:
    with app.app_context():
        table = review.build_review(ReviewFilters(), now=FIXED_NOW).breakdown(key).table
        return {row.label: table.figure(row, "registered").value for row in table.rows}


def run_retention(app, now=None):
    with app.app_context():
        record = retention.run(now or utcnow())
        db.session.commit()
        return (
            None
            if record is None
            else (
                record.volunteers,
                record.outgoing_emails,
                record.sign_in_attempts,
                record.links,
                record.rate_limit_hits,
            )
        )


def preview(app, now=None) -> retention.RetentionPreview:
    with app.app_context():
        return retention.due(now or utcnow())


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- The review does not change ---------------------------------------------------------------------------


def test_the_review_and_the_responses_export_are_the_same_before_and_after_a_retention_run(app, pilot):
    before = figures(app)
    assert equality_groups(app, "age_band") == {"35 to 44": 6, "Not answered": 5}

    removed = run_retention(app)

    assert removed is not None
    assert removed[0] == 6
    assert equality_groups(app, "age_band") == {"Not answered": 11}  # the six old attendees' answers went too
    after = figures(app)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    # ...and the old attendees really were in those figures.
    assert before[0].funnel.figure(before[0].funnel.total, "attended").value == 11
    assert len(before[2]) >= 11


def test_removing_identity_keeps_bookings_answers_and_consents_and_ends_links(app, pilot):
    old_booking = pilot["old_bookings"][0]
    answers_before = count(app, EvaluationAnswer, EvaluationAnswer.booking_id == old_booking)

    run_retention(app)

    volunteer = volunteer_of(app, old_booking)
    assert volunteer.identity_removed_at is not None
    for field in (
        "name",
        "email",
        "email_normalised",
        "phone",
        "role",
        "age_band",
        "gender",
        "ethnic_group",
        "disability",
    ):
        assert getattr(volunteer, field) is None, field
    assert volunteer.display_name == "Personal data removed"
    # Kept: the organisation (for the review), consents' versions and times, the booking and its answers.
    assert volunteer.organisation_id is not None
    assert volunteer.privacy_notice_version == "test"
    assert volunteer.followup_consent_version == "2026-09"
    assert volunteer.followup_consent_at is not None
    with app.app_context():
        assert db.session.get(Booking, old_booking).status is BookingStatus.ATTENDED
        assert find_booking(pilot["tokens"][old_booking], LinkPurpose.MANAGE) is None
        # The upcoming volunteer's link still works.
        assert find_booking(pilot["tokens"][pilot["upcoming_booking"]], LinkPurpose.MANAGE) is not None
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.IDENTITY_REMOVED).order_by(AuditEvent.id)
        ).all()
        assert {event.volunteer_id for event in events} == {
            db.session.get(Booking, booking_id).volunteer_id for booking_id in pilot["old_bookings"]
        }
        assert all(event.actor_kind is ActorKind.SYSTEM for event in events)
        [run_event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.RETENTION_RUN))
        assert run_event.detail.startswith("volunteers 6, ")
    assert count(app, EvaluationAnswer, EvaluationAnswer.booking_id == old_booking) == answers_before


def test_a_volunteer_with_a_recent_or_upcoming_session_is_kept(
    app, pilot, make_training_session, make_booking, make_volunteer
):
    now = utcnow()
    # An old attendee who has booked again (even if they then cancelled) is not due.
    old = pilot["old"]
    returning = make_volunteer(created_at=now - LONG_AGO)
    make_booking(old, BookingStatus.ATTENDED, volunteer_id=returning)
    later = make_training_session(days_ahead=40)
    make_booking(later.id, BookingStatus.CANCELLED, volunteer_id=returning)
    # Someone who registered long ago with no booking at all is due; someone who registered last week is not.
    never_booked_long_ago = make_volunteer(created_at=now - LONG_AGO)
    never_booked_lately = make_volunteer(created_at=now - timedelta(days=7))
    # Just inside the 12 months: a session that ended 11 months ago.
    eleven_months = make_training_session(
        starts_at=now - timedelta(days=335), ends_at=now - timedelta(days=335) + timedelta(hours=1)
    )
    make_booking(
        eleven_months.id, BookingStatus.ATTENDED, volunteer_id=(inside := make_volunteer(created_at=now - LONG_AGO))
    )

    run_retention(app)

    with app.app_context():

        def removed(volunteer_id):
            return db.session.get(Volunteer, volunteer_id).identity_removed_at is not None

        assert not removed(returning)
        assert removed(never_booked_long_ago)
        assert not removed(never_booked_lately)
        assert not removed(inside)
        for booking_id in pilot["recent_bookings"] + [pilot["upcoming_booking"]]:
            assert not removed(db.session.get(Booking, booking_id).volunteer_id)


def test_a_shorter_retention_period_from_the_settings_removes_more(app, pilot):
    with app.app_context():
        from mecc_volunteer.models import Programme

        db.session.scalar(sa.select(Programme)).retention_months = 0
        db.session.commit()
    assert preview(app).retention_months == 0
    # Everyone whose last session has ended (the old and the recent attendees), not the person booked ahead.
    assert preview(app).volunteers == 11


# --- Once a day, whoever runs it ------------------------------------------------------------------------


def test_running_twice_the_same_day_does_nothing_the_second_time(app, pilot):
    first = run_retention(app)
    second = run_retention(app)

    assert first is not None
    assert second is None
    assert count(app, RetentionRun) == 1
    assert count(app, AuditEvent, AuditEvent.action == AuditAction.RETENTION_RUN) == 1
    assert count(app, AuditEvent, AuditEvent.action == AuditAction.IDENTITY_REMOVED) == 6
    # The next day runs again, and finds nothing more to remove.
    assert run_retention(app, utcnow() + timedelta(days=1)) == (0, 0, 0, 0, 0)


def test_two_servers_running_at_once_remove_once(app, pilot):
    """Two app contexts (two database connections, as two servers would have) start the day's run together."""
    now = utcnow()
    barrier = threading.Barrier(2)
    results: list = []
    errors: list = []

    def server():
        try:
            with app.app_context():
                barrier.wait()
                record = retention.run(now)
                outcome = None if record is None else record.volunteers
                db.session.commit()
                results.append(outcome)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=server) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sorted(results, key=lambda r: r is None) == [6, None]
    assert count(app, RetentionRun) == 1
    assert count(app, AuditEvent, AuditEvent.action == AuditAction.IDENTITY_REMOVED) == 6
    assert count(app, AuditEvent, AuditEvent.action == AuditAction.RETENTION_RUN) == 1


def test_a_run_another_server_has_already_made_today_is_skipped_and_the_jobs_transaction_survives(app, pilot):
    now = utcnow()
    with app.app_context():
        db.session.add(RetentionRun(run_on=retention.run_day(now), started_at=now))
        db.session.commit()
    with app.app_context():
        marker = db.session.get(Booking, pilot["upcoming_booking"])
        marker.elearning_confirmed_at = now  # something else the runner's transaction is holding
        assert retention.run(now) is None
        db.session.commit()
    with app.app_context():
        assert db.session.get(Booking, pilot["upcoming_booking"]).elearning_confirmed_at is not None
    assert count(app, Volunteer, Volunteer.identity_removed_at.is_not(None)) == 0


def test_an_insert_that_collides_in_the_unique_day_is_skipped_without_undoing_the_rest(app, pilot, monkeypatch):
    """The collision itself (as on PostgreSQL, where the other server's row appears only when it commits): the
    check before the insert sees nothing, the insert fails, the savepoint undoes only it."""
    now = utcnow()
    with app.app_context():
        db.session.add(RetentionRun(run_on=retention.run_day(now), started_at=now))
        db.session.commit()
    real_scalar = db.session.scalar

    def unseen(statement, *args, **kwargs):
        if "retention_runs" in str(statement):
            return None
        return real_scalar(statement, *args, **kwargs)

    with app.app_context():
        marker = db.session.get(Booking, pilot["upcoming_booking"])
        marker.elearning_confirmed_at = now
        monkeypatch.setattr(db.session, "scalar", unseen)
        assert retention.run(now) is None
        monkeypatch.undo()
        db.session.commit()
    with app.app_context():
        assert db.session.get(Booking, pilot["upcoming_booking"]).elearning_confirmed_at is not None
    assert count(app, RetentionRun) == 1


# --- What the next run will remove ----------------------------------------------------------------------------


@pytest.fixture
def leftovers(app, pilot, auth):
    """Rows of every kind retention removes, each with one that is young enough to stay."""
    now = utcnow()
    staff_email = auth.create("coordinator")
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == staff_email))

        def email(status, *, created, sent=None):
            db.session.add(
                OutgoingEmail(
                    template="test",
                    to_address="someone@example.org",
                    subject="A test",
                    status=status,
                    created_at=created,
                    sent_at=sent,
                    next_attempt_at=created,
                )
            )

        email(EmailStatus.SENT, created=now - timedelta(days=100), sent=now - timedelta(days=100))  # goes
        email(EmailStatus.FAILED, created=now - timedelta(days=95))  # goes
        email(EmailStatus.QUEUED, created=now - timedelta(days=120))  # stays: never lost
        email(EmailStatus.SENT, created=now - timedelta(days=10), sent=now - timedelta(days=10))  # stays
        db.session.add(SignInAttempt(email_hash="a" * 64, remote_hash="b" * 64, attempted_at=now - timedelta(days=2)))
        db.session.add(
            SignInAttempt(email_hash="a" * 64, remote_hash="c" * 64, attempted_at=now - timedelta(minutes=5))
        )
        db.session.add(RateLimitHit(bucket="lost-link-address", key_hash="d" * 64, hit_at=now - timedelta(days=3)))
        db.session.add(RateLimitHit(bucket="lost-link-address", key_hash="e" * 64, hit_at=now - timedelta(minutes=1)))
        recent = db.session.get(Booking, pilot["recent_bookings"][0])
        issue_link(recent, LinkPurpose.MANAGE, now=now - timedelta(days=3))
        issue_link(recent, LinkPurpose.MANAGE, now=now)  # revokes the first: it goes, this one stays
        for i, (used, expires) in enumerate(
            [
                (now - timedelta(days=40), now - timedelta(days=38)),  # goes
                (None, now - timedelta(days=31)),  # goes: expired unused
                (None, now + timedelta(days=2)),  # stays
                (now - timedelta(days=3), now + timedelta(days=1)),  # stays
            ]
        ):
            db.session.add(
                StaffLink(
                    staff_user_id=staff.id,
                    purpose=StaffLinkPurpose.INVITATION,
                    token_hash=f"{i:064d}",
                    expires_at=expires,
                    used_at=used,
                )
            )
        db.session.commit()


def test_the_preview_counts_exactly_what_the_run_then_removes(app, pilot, leftovers):
    now = utcnow()
    expected = preview(app, now)

    removed = run_retention(app, now)

    assert expected.when == now  # no run yet today: the next jobs run
    assert not expected.ran_today
    # Six identities; the sent and the failed old email; one sign-in; one rate-limit hit; links: the six old
    # volunteers' and the revoked one, and two staff links.
    assert (
        expected.volunteers,
        expected.outgoing_emails,
        expected.sign_in_attempts,
        expected.links,
        expected.rate_limit_hits,
    ) == (6, 2, 1, 9, 1)
    assert removed == (6, 2, 1, 9, 1)
    assert count(app, OutgoingEmail, OutgoingEmail.status == EmailStatus.QUEUED) == 1
    assert count(app, SignInAttempt) == 1
    assert count(app, RateLimitHit) == 1
    assert count(app, StaffLink) == 2
    assert count(app, PersonalLink, PersonalLink.revoked_at.is_(None)) == 2
    # After today's run the next is tomorrow, and it would find nothing more.
    later = preview(app, now)
    assert later.ran_today
    assert later.when > now
    assert later.volunteers == 0


def test_the_outbox_forgets_a_removed_volunteers_address(app, pilot):
    old_booking = pilot["old_bookings"][0]
    with app.app_context():
        address = db.session.get(Booking, old_booking).volunteer.email
        now = utcnow()
        db.session.add_all(
            [
                OutgoingEmail(
                    template="sent",
                    to_address=address,
                    subject="Sent",
                    status=EmailStatus.SENT,
                    booking_id=old_booking,
                    sent_at=now,
                    created_at=now,
                ),
                OutgoingEmail(
                    template="queued",
                    to_address=address,
                    subject="Queued",
                    status=EmailStatus.QUEUED,
                    booking_id=old_booking,
                    body_text="a link",
                ),
            ]
        )
        db.session.commit()

    run_retention(app)

    with app.app_context():
        rows = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.booking_id == old_booking)).all()
        assert [(row.template, row.to_address) for row in rows] == [("sent", "")]
        assert db.session.scalar(sa.select(OutgoingEmail.id).where(OutgoingEmail.to_address == address)) is None


def test_calendar_months_before_a_date():
    assert retention.months_before(datetime(2027, 3, 31, 9, tzinfo=UTC), 1) == datetime(2027, 2, 28, 9, tzinfo=UTC)
    assert retention.months_before(datetime(2028, 3, 31, 9, tzinfo=UTC), 1) == datetime(2028, 2, 29, 9, tzinfo=UTC)
    assert retention.months_before(datetime(2027, 1, 15, tzinfo=UTC), 12) == datetime(2026, 1, 15, tzinfo=UTC)
    assert retention.months_before(datetime(2027, 1, 15, tzinfo=UTC), 13) == datetime(2025, 12, 15, tzinfo=UTC)


# --- The jobs and the admin page --------------------------------------------------------------------------------


def test_flask_jobs_run_removes_an_old_volunteers_identity(app, runner, pilot):
    result = runner.invoke(args=["jobs", "run"])

    assert result.exit_code == 0, result.output
    assert "data retention " in result.output
    assert count(app, Volunteer, Volunteer.identity_removed_at.is_not(None)) == 6
    again = runner.invoke(args=["jobs", "run"])
    assert "data retention 0" in again.output


def test_the_admin_page_shows_what_the_next_run_will_remove_and_the_last_run(app, client, auth, pilot):
    auth.login("admin")
    page = client.get("/manage/admin/retention")
    assert page.status_code == 200
    assert "12 months after their last session" in page.text
    assert "It has not run yet." in page.text
    names = [volunteer_of(app, booking_id).name for booking_id in pilot["old_bookings"]]
    assert not any(name in page.text for name in names)

    run_retention(app)

    page = client.get("/manage/admin/retention")
    assert "It has not run yet." not in page.text
    assert "after midnight" in page.text or "The first run of" in page.text


def test_only_an_admin_sees_the_retention_page(client, auth):
    auth.login("coordinator")
    assert client.get("/manage/admin/retention").status_code == 403


def test_on_the_demo_flask_jobs_run_removes_the_long_ago_attendee_and_the_review_stays(app, runner):
    with app.app_context():
        empty_all_tables()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    before = figures(app)

    result = runner.invoke(args=["jobs", "run"])

    assert result.exit_code == 0, result.output
    assert count(app, Volunteer, Volunteer.identity_removed_at.is_not(None)) == 1
    after = figures(app)
    assert after[0] == before[0]
    assert after[2] == before[2]
