"""Capacity under concurrency: real threads, real connections, real commits (SQLite file and PostgreSQL).

One harness (`race`) releases every thread at once through a barrier and collects what each one raised;
`tally` reads back what the database holds. The real test and a deliberately naive "count, then insert"
control share both, so the control proves the harness can see an overbooking when there is one.
"""

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Organisation,
    OutgoingEmail,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.volunteers import services
from tests.helpers import registration_details


@pytest.fixture
def app_config():
    """Threads race in one process here, more of them at once than a gunicorn sync worker ever runs: the pool is
    sized for them, as an operator sizes it (DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW; SQLAlchemy's
    default 5 + 10, where a sync worker needs 2 + 2)."""
    return {"DATABASE_POOL_SIZE": 5, "DATABASE_MAX_OVERFLOW": 10}


RACERS = 50
CAPACITY = 10
# Long enough for 50 threads to queue for 15 pooled connections and SQLite's write lock; short enough
# that a deadlocked run fails instead of hanging.
JOIN_TIMEOUT = 60


# --- The shared harness ------------------------------------------------------------------------------


def race(app, n: int, attempt: Callable[[int], None], *, app_context: bool = True) -> list[str]:
    """Run attempt(i) in n threads, each in its own app context, all released together.

    With app_context=False the thread pushes none (a test client request pushes its own, as in production).
    Returns the formatted tracebacks of the threads that raised (an empty list when none did).
    """
    start = threading.Barrier(n, timeout=JOIN_TIMEOUT)
    failures: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            if not app_context:
                start.wait()
                attempt(i)
                return
            with app.app_context():
                start.wait()
                try:
                    attempt(i)
                finally:
                    db.session.rollback()
        except BaseException:
            with lock:
                failures.append(f"thread {i}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {JOIN_TIMEOUT}s: {stuck}"
    return failures


@dataclass
class Tally:
    booked: int
    waiting: int
    places_taken: int
    waiting_positions: list[int]


def tally(app, session_id: int) -> Tally:
    """What the database holds for the session once every thread has finished."""
    with app.app_context():
        training_session = db.session.get(TrainingSession, session_id)
        bookings = db.session.scalars(sa.select(Booking).where(Booking.training_session_id == session_id)).all()
        waiting = [b for b in bookings if b.status is BookingStatus.WAITING]
        return Tally(
            booked=sum(b.status is BookingStatus.BOOKED for b in bookings),
            waiting=len(waiting),
            places_taken=training_session.places_taken,
            waiting_positions=sorted(services.waiting_position(b) for b in waiting),
        )


def race_for_places(app, session_id: int, attempt: Callable[[int], None], n: int = RACERS) -> Tally:
    """The race, the check that no thread raised (say, "database is locked"), then the counts."""
    failures = race(app, n, attempt)
    assert failures == [], f"{len(failures)} of {n} threads raised:\n" + "\n".join(failures)
    return tally(app, session_id)


def assert_never_overbooked(result: Tally, capacity: int) -> None:
    assert result.booked <= capacity, f"overbooked: {result.booked} booked for {capacity} places"
    assert result.places_taken == result.booked, "places_taken is out of step with the bookings"


# --- Registration racing for the last places ---------------------------------------------------------


def test_fifty_volunteers_racing_for_ten_places_never_overbook(app, make_training_session):
    session_id = make_training_session(capacity=CAPACITY).id
    details = [registration_details(app, i) for i in range(RACERS)]

    def register(i: int) -> None:
        training_session = db.session.get(TrainingSession, session_id)
        services.register(training_session, details[i], config=app.config)
        db.session.commit()

    result = race_for_places(app, session_id, register)

    assert_never_overbooked(result, CAPACITY)
    assert result.booked == CAPACITY
    assert result.waiting == RACERS - CAPACITY
    assert result.places_taken == CAPACITY
    assert result.waiting_positions == list(range(1, RACERS - CAPACITY + 1))


def test_the_race_harness_catches_a_naive_count_then_insert_booking(app, make_training_session):
    """Negative control: the same harness against 'count, commit, then insert' must see the overbooking."""
    session_id = make_training_session(capacity=CAPACITY).id
    with app.app_context():
        organisation_id = db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id))
    everyone_has_counted = threading.Barrier(RACERS, timeout=JOIN_TIMEOUT)

    def naive_register(i: int) -> None:
        booked = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.training_session_id == session_id, Booking.status == BookingStatus.BOOKED
            )
        )
        db.session.commit()
        everyone_has_counted.wait()
        now = utcnow()
        volunteer = Volunteer(
            name=f"Naive {i}",
            email=f"naive{i}@example.org",
            email_normalised=f"naive{i}@example.org",
            organisation_id=organisation_id,
            role="Library assistant",
            privacy_notice_version="test",
            privacy_acknowledged_at=now,
        )
        training_session = db.session.get(TrainingSession, session_id)
        status = BookingStatus.BOOKED if booked < training_session.capacity else BookingStatus.WAITING
        db.session.add(
            Booking(
                training_session_id=session_id,
                volunteer=volunteer,
                session_kind=training_session.kind,
                status=status,
                created_at=now,
                booked_at=now if status is BookingStatus.BOOKED else None,
                waitlisted_at=now if status is BookingStatus.WAITING else None,
            )
        )
        db.session.commit()

    result = race_for_places(app, session_id, naive_register)

    assert result.booked > CAPACITY
    with pytest.raises(AssertionError, match="overbooked"):
        assert_never_overbooked(result, CAPACITY)


# --- Two cancels of one booking ----------------------------------------------------------------------


@pytest.mark.parametrize("people_waiting", [0, 1])
def test_two_concurrent_cancels_of_one_booking_free_exactly_one_place(
    app, make_training_session, make_booking, people_waiting
):
    session_id = make_training_session(capacity=2).id
    booking_id = make_booking(session_id)
    make_booking(session_id)
    waiting_ids = [make_booking(session_id, BookingStatus.WAITING) for _ in range(people_waiting)]

    def cancel(_i: int) -> None:
        booking = db.session.get(Booking, booking_id)
        services.cancel_booking(booking)
        db.session.commit()

    failures = race(app, 2, cancel)

    assert failures == [], "\n".join(failures)
    with app.app_context():
        training_session = db.session.get(TrainingSession, session_id)
        assert db.session.get(Booking, booking_id).status is BookingStatus.CANCELLED
        place_offered = db.session.scalars(
            sa.select(OutgoingEmail).where(OutgoingEmail.template == "place_offered")
        ).all()
        if people_waiting:
            promoted = db.session.get(Booking, waiting_ids[0])
            assert promoted.status is BookingStatus.BOOKED
            assert training_session.places_taken == 2
            assert [email.booking_id for email in place_offered] == [promoted.id]
        else:
            assert training_session.places_taken == 1
            assert place_offered == []


# --- One registration submitted twice at once --------------------------------------------------------


def test_a_registration_submitted_twice_at_once_books_one_place(app, make_training_session, registration_form):
    session_id = make_training_session(capacity=10).id
    form = registration_form(email="double@example.org")
    clients = [app.test_client() for _ in range(2)]
    for client in clients:
        primed = client.post(f"/sessions/{session_id}/register", data=form)
        assert primed.status_code == 303, primed.text
    statuses: list[int] = []

    def submit(i: int) -> None:
        statuses.append(clients[i].post(f"/sessions/{session_id}/register/check", data={}).status_code)

    failures = race(app, 2, submit, app_context=False)

    assert failures == [], "\n".join(failures)
    assert sorted(statuses) == [303, 303]
    with app.app_context():
        active = db.session.scalars(
            sa.select(Booking)
            .join(Booking.volunteer)
            .where(Volunteer.email_normalised == "double@example.org", Booking.status.in_(ACTIVE_STATUSES))
        ).all()
        assert len(active) == 1
        assert db.session.get(TrainingSession, session_id).places_taken == 1


# --- Rate limits under concurrency ---------------------------------------------------------------------


def skip_unless_postgresql(app) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("needs PostgreSQL: SQLite's BEGIN IMMEDIATE already runs these one at a time")


def test_twenty_wrong_passwords_at_once_are_checked_against_the_limit_of_five(app):
    from mecc_volunteer.auth import services as auth_services
    from mecc_volunteer.models import SignInAttempt, StaffRole

    with app.app_context():
        auth_services.create_staff(
            "target@example.org", name="Target", role=StaffRole.COORDINATOR, password="the right password"
        )
        db.session.commit()
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        try:
            staff = auth_services.authenticate("target@example.org", f"wrong guess {i}", remote_addr="203.0.113.30")
            db.session.commit()
            outcome = "signed in" if staff else "checked"
        except auth_services.TooManyAttempts:
            db.session.rollback()
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    failures = race(app, 20, guess)

    assert failures == [], "\n".join(failures)
    assert sorted(outcomes).count("checked") == auth_services.MAX_ATTEMPTS_PER_PAIR, sorted(outcomes)
    assert outcomes.count("refused") == 20 - auth_services.MAX_ATTEMPTS_PER_PAIR
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(SignInAttempt.id))) == auth_services.MAX_ATTEMPTS_PER_PAIR


def test_ten_lost_link_requests_at_once_send_one_email(app, make_training_session, make_volunteer, make_booking):
    volunteer_id = make_volunteer(email="lost@example.org")
    make_booking(make_training_session().id, volunteer_id=volunteer_id)

    def ask(i: int) -> None:
        services.request_link("lost@example.org", remote_addr=f"198.51.100.{i}")
        db.session.commit()

    failures = race(app, 10, ask)

    assert failures == [], "\n".join(failures)
    with app.app_context():
        sent = db.session.scalar(
            sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.template == "your_link")
        )
        assert sent == 1, f"{sent} link emails for 10 requests at once"


def test_a_database_limit_holds_when_fifty_requests_hit_it_at_once(app):
    from mecc_volunteer import limits
    from mecc_volunteer.models import RateLimitHit

    limit = limits.Limit("race", max_hits=5, window=timedelta(minutes=15))
    allowed: list[bool] = []

    def hit(_i: int) -> None:
        within = limits.hit(limit, "203.0.113.31")
        db.session.commit()
        allowed.append(within)

    failures = race(app, RACERS, hit)

    assert failures == [], "\n".join(failures)
    assert allowed.count(True) == 5
    assert allowed.count(False) == RACERS - 5
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RateLimitHit.id))) == 5


def test_the_race_harness_catches_a_limit_counted_without_the_lock(app):
    """Negative control (PostgreSQL): the same race against count-then-insert with no lock lets more through,
    so the test above can fail. (On SQLite the write lock already serialises it, and the barrier would wait.)"""
    from mecc_volunteer import limits
    from mecc_volunteer.models import RateLimitHit

    skip_unless_postgresql(app)
    limit = limits.Limit("race-naive", max_hits=5, window=timedelta(minutes=15))
    racers = 12  # each holds a connection at the barrier: fewer than the pool's 15
    everyone_has_counted = threading.Barrier(racers, timeout=JOIN_TIMEOUT)

    def naive_hit(_i: int) -> None:
        hashed = limits.key_hash("203.0.113.32")
        if limits.count(limit, hashed, now=utcnow()) < limit.max_hits:
            everyone_has_counted.wait()
            db.session.add(RateLimitHit(bucket=limit.bucket, key_hash=hashed, hit_at=utcnow()))
        else:
            everyone_has_counted.wait()
        db.session.commit()

    failures = race(app, racers, naive_hit)

    assert failures == [], "\n".join(failures)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RateLimitHit.id))) > limit.max_hits
