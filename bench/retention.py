"""The data retention run on a pilot's worth of old data: N volunteers whose last session ended 14 months ago,
each with an attended booking, a personal link and a sent email. Times the admin page's preview (due) and the
run itself, and checks the run removed every identity and kept every booking.

Run by hand: .venv/bin/python bench/retention.py [--people 2000]
Uses a throwaway SQLite database, or BENCH_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/bench).
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import flask_migrate
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mecc_volunteer import create_app
from mecc_volunteer.admin import retention
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    EmailStatus,
    LinkPurpose,
    Organisation,
    OutgoingEmail,
    PersonalLink,
    Programme,
    SessionKind,
    TrainingSession,
    Volunteer,
    utcnow,
)


def seed(people: int) -> None:
    now = utcnow()
    ended = now - timedelta(days=430)
    programme = Programme(name="Bench")
    organisation = Organisation(name="Bench organisation")
    training_session = TrainingSession(
        programme=programme,
        starts_at=ended - timedelta(minutes=90),
        ends_at=ended,
        capacity=people,
        places_taken=people,
        kind=SessionKind.VOLUNTEER_TRAINING,
    )
    db.session.add_all([programme, organisation, training_session])
    db.session.flush()
    for n in range(people):
        volunteer = Volunteer(
            name=f"Volunteer {n}",
            email=f"v{n}@example.org",
            email_normalised=f"v{n}@example.org",
            organisation_id=organisation.id,
            role="Volunteer",
            privacy_notice_version="2026-09",
            privacy_acknowledged_at=ended,
            created_at=ended,
        )
        booking = Booking(
            volunteer=volunteer,
            training_session=training_session,
            session_kind=SessionKind.VOLUNTEER_TRAINING,
            status=BookingStatus.ATTENDED,
            booked_at=ended,
        )
        db.session.add_all([volunteer, booking])
        if n % 500 == 499:
            db.session.flush()
    db.session.flush()
    booking_ids = db.session.scalars(sa.select(Booking.id)).all()
    db.session.execute(
        sa.insert(PersonalLink),
        [
            {"booking_id": b, "purpose": LinkPurpose.MANAGE, "token_hash": f"{b:064x}", "created_at": ended}
            for b in booking_ids
        ],
    )
    db.session.execute(
        sa.insert(OutgoingEmail),
        [
            {
                "template": "booking_confirmation",
                "to_address": f"v{i}@example.org",
                "subject": "You're booked",
                "booking_id": b,
                "status": EmailStatus.SENT,
                "sent_at": ended,
                "created_at": ended,
                "next_attempt_at": ended,
            }
            for i, b in enumerate(booking_ids)
        ],
    )
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite"
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}, instance_path=folder)
    with app.app_context():
        flask_migrate.upgrade()
        seed(args.people)

        started = time.perf_counter()
        preview = retention.due()
        preview_seconds = time.perf_counter() - started

        started = time.perf_counter()
        record = retention.run()
        counts = (record.volunteers, record.outgoing_emails, record.links) if record is not None else None
        db.session.commit()
        run_seconds = time.perf_counter() - started

        if counts is None:
            raise SystemExit("the run did not start: a run for today exists already")
        left = db.session.scalar(sa.select(sa.func.count(Volunteer.id)).where(Volunteer.name.is_not(None)))
        bookings = db.session.scalar(sa.select(sa.func.count(Booking.id)))
        again = retention.run()
    print(f"database: {url.split(':')[0]}, {args.people} old volunteers")
    print(f"preview (admin page): {preview_seconds * 1000:.0f} ms, says {preview.volunteers} volunteers")
    print(
        f"run: {run_seconds:.2f} s ({run_seconds / args.people * 1000:.2f} ms per volunteer): removed "
        f"{counts[0]} identities, {counts[1]} emails, {counts[2]} links"
    )
    print(f"identities left {left}, bookings kept {bookings}, a second run the same day: {again}")


if __name__ == "__main__":
    main()
