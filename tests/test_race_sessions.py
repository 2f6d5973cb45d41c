"""A session cancelled while someone registers: real threads, real connections (PostgreSQL and SQLite).

One side's transaction is held open at the point of interest; the other starts and must wait for the
session's lock (seen in pg_stat_activity on PostgreSQL; on SQLite writers always queue), then the first
commits. Whichever came first, nobody is left booked or waiting on a cancelled session without an email.
"""

import threading
import time

import sqlalchemy as sa

from mecc_volunteer import errors
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, OutgoingEmail, StaffUser, TrainingSession
from mecc_volunteer.sessions.services import cancel_session
from mecc_volunteer.volunteers import services
from tests.helpers import registration_details

WAIT = 10


def wait_until_blocked(app, thread: threading.Thread) -> None:
    """Until the other thread waits for a lock (PostgreSQL), or has had time to reach it (SQLite)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            time.sleep(0.5)
            return
        with db.engine.connect() as connection:
            deadline = time.monotonic() + WAIT
            while thread.is_alive() and time.monotonic() < deadline:
                waiting = connection.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar()
                if waiting:
                    return
                time.sleep(0.02)


def in_thread(app, action) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run():
        with app.app_context():
            try:
                outcome.append(action())
                db.session.commit()
            except BaseException as error:
                db.session.rollback()
                outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_registration_in_flight_when_the_session_is_cancelled_ends_cancelled_and_emailed(
    app, make_training_session, staff_id
):
    session_id = make_training_session(capacity=5).id
    details = registration_details(app, 1)

    def cancel():
        training_session = db.session.get(TrainingSession, session_id)
        return cancel_session(training_session, by=db.session.get(StaffUser, staff_id))

    with app.app_context():
        services.register(db.session.get(TrainingSession, session_id), details, config=app.config)
        thread, outcome = in_thread(app, cancel)  # the coordinator cancels while the registration is open
        wait_until_blocked(app, thread)
        db.session.commit()
    thread.join(WAIT)

    assert not thread.is_alive(), outcome
    assert not isinstance(outcome[0], BaseException), outcome
    with app.app_context():
        training_session = db.session.get(TrainingSession, session_id)
        [booking] = db.session.scalars(sa.select(Booking)).all()
        emailed = db.session.scalars(
            sa.select(OutgoingEmail.template).where(OutgoingEmail.booking_id == booking.id)
        ).all()
        assert training_session.cancelled_at is not None
        assert booking.status is BookingStatus.CANCELLED
        assert training_session.places_taken == 0
        assert "session_cancelled" in emailed


def test_a_registration_that_waited_for_a_cancellation_is_refused_and_books_nothing(
    app, make_training_session, staff_id
):
    session_id = make_training_session(capacity=5).id
    details = registration_details(app, 1)

    def register():
        training_session = db.session.get(TrainingSession, session_id)  # read before the cancellation commits
        return services.register(training_session, details, config=app.config)

    with app.app_context():
        cancel_session(db.session.get(TrainingSession, session_id), by=db.session.get(StaffUser, staff_id))
        thread, outcome = in_thread(app, register)
        wait_until_blocked(app, thread)
        db.session.commit()
    thread.join(WAIT)

    assert not thread.is_alive()
    assert isinstance(outcome[0], errors.SessionCancelled), outcome
    with app.app_context():
        assert db.session.scalars(sa.select(Booking)).all() == []
