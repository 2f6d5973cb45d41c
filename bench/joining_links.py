"""Sending the joining link to a full 500-place session: queueing (send_joining_links + commit), then delivery
(deliver_pending) to a real SMTP server (aiosmtpd) on loopback.

Run by hand: .venv/bin/python bench/joining_links.py [--people 500]
Uses a throwaway SQLite database, or BENCH_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/bench).
"""

import argparse
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import deliver_pending
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    EmailStatus,
    Organisation,
    OutgoingEmail,
    Programme,
    SessionKind,
    StaffRole,
    StaffUser,
    TrainingSession,
    Volunteer,
)
from mecc_volunteer.sessions.joining_links import send_joining_links

LINK = "https://teams.microsoft.com/l/meetup-join/19%3abench-meeting"


class CountingHandler:
    def __init__(self):
        self.received = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
        self.received += 1
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build(people: int) -> tuple[int, int]:
    """A programme, a session with `people` booked volunteers who confirmed the e-learning, and a coordinator."""
    now = datetime.now(UTC)
    programme = Programme(name="Bench programme", cutoff_days=7)
    organisation = Organisation(name="Bench organisation", sort_order=0)
    db.session.add_all([programme, organisation])
    db.session.flush()
    starts_at = now + timedelta(days=10)
    training_session = TrainingSession(
        programme_id=programme.id,
        kind=SessionKind.VOLUNTEER_TRAINING,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        capacity=people,
        places_taken=people,
        joining_link=LINK,
    )
    staff = StaffUser(email="coordinator@example.org", name="Bench", role=StaffRole.COORDINATOR, password_hash="x")
    db.session.add_all([training_session, staff])
    db.session.flush()
    for n in range(people):
        volunteer = Volunteer(
            name=f"Volunteer {n}",
            email=f"volunteer{n}@example.org",
            email_normalised=f"volunteer{n}@example.org",
            organisation_id=organisation.id,
            role="Library assistant",
            privacy_notice_version="bench",
            privacy_acknowledged_at=now,
        )
        db.session.add(volunteer)
        db.session.flush()
        db.session.add(
            Booking(
                training_session_id=training_session.id,
                volunteer_id=volunteer.id,
                session_kind=SessionKind.VOLUNTEER_TRAINING,
                status=BookingStatus.BOOKED,
                booked_at=now,
                elearning_completed_on=now.date(),
                elearning_confirmed_at=now,
            )
        )
    db.session.commit()
    return training_session.id, staff.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    args = parser.parse_args()

    folder = tempfile.mkdtemp()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite"
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "BASE_URL": "http://localhost",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_DEFAULT_SENDER": "MECC <mecc@example.org>",
        },
        instance_path=folder,
    )
    try:
        with app.app_context():
            flask_migrate.upgrade()
            session_id, staff_id = build(args.people)

        # One app context per step, as in production: the coordinator's request queues, then a worker (the
        # after-request delivery, or `flask jobs run`) sends, each with its own database session.
        with app.app_context():
            started = time.perf_counter()
            sent = len(
                send_joining_links(db.session.get(TrainingSession, session_id), by=db.session.get(StaffUser, staff_id))
            )
            db.session.commit()
            queued_in = time.perf_counter() - started

        with app.app_context():
            started = time.perf_counter()
            delivered = 0
            while True:
                report = deliver_pending(limit=1000)
                delivered += len(report.sent)
                if not (report.sent or report.retrying or report.failed):
                    break
            delivered_in = time.perf_counter() - started

        with app.app_context():
            statuses = dict(
                db.session.execute(
                    sa.select(OutgoingEmail.status, sa.func.count(OutgoingEmail.id)).group_by(OutgoingEmail.status)
                ).all()
            )
            again = send_joining_links(
                db.session.get(TrainingSession, session_id), by=db.session.get(StaffUser, staff_id)
            )
            db.session.rollback()
            backend = db.engine.dialect.name
            db.engine.dispose()
    finally:
        controller.stop()

    print(f"database: {backend}; {args.people} booked volunteers with the e-learning confirmed")
    print(f"queue    send_joining_links + commit: {sent} emails in {queued_in:.2f}s ({sent / queued_in:.0f} emails/s)")
    print(
        f"deliver  deliver_pending to aiosmtpd on loopback: {delivered} messages in {delivered_in:.2f}s "
        f"({delivered / delivered_in:.0f} messages/s); the server received {handler.received}"
    )
    print(f"outbox   {', '.join(f'{s.value} {n}' for s, n in statuses.items())}; a second send queues {len(again)}")
    if statuses != {EmailStatus.SENT: args.people}:
        raise RuntimeError(f"not every email was sent: {statuses}")
    if handler.received != args.people:
        raise RuntimeError(f"the server received {handler.received} emails for {args.people} people")
    if again:
        raise RuntimeError(f"a second send queued {len(again)} emails")


if __name__ == "__main__":
    main()
