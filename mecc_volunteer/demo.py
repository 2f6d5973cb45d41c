"""Demo data: the Oxfordshire pilot, with sessions placed relative to today so every status shows."""

import random
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    Organisation,
    Programme,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)

PROGRAMME_NAME = "Oxfordshire MECC volunteer training pilot"
ORGANISATIONS = [
    "Oxfordshire Library Service",
    "Carers Oxfordshire",
    "Home-Start",
    "Restore",
    "Refugee Resource",
    "Oxfordshire Fire and Rescue Service",
    "Cherwell District Council",
    "Oxford City Council",
    "South and Vale District Councils",
    "West Oxfordshire District Council",
    "Primary care",
    "Active Reach Banbury",
]
DISTRICTS = ["Cherwell", "Oxford City", "South Oxfordshire", "Vale of White Horse", "West Oxfordshire"]
FIRST_NAMES = [
    "Amira", "Ben", "Chloë", "Dev", "Eilidh", "Femi", "Grace", "Hamid", "Isla", "Jakub", "Kerry-Ann",
    "Liam", "Mei", "Niamh", "Olu", "Priya", "Rhys", "Saoirse", "Tomasz", "Usha", "Yusuf", "Zofia",
]
LAST_NAMES = [
    "Ahmed", "Brown", "Chen", "D'Souza", "Evans", "Farah", "Green", "Hughes", "Iqbal", "Jones", "Kowalski",
    "Lewis", "Mensah", "Nowak", "O'Brien", "Patel", "Quinn", "Roberts", "Singh", "Taylor", "Walker",
]
ROLES = [
    "Library assistant", "Volunteer driver", "Carer support volunteer", "Community firefighter",
    "Housing officer", "Befriender", "Receptionist", "Social prescribing link worker", "Youth worker",
]


def _session_day(today: date, days_ahead: int) -> date:
    """A weekday about days_ahead from today (training runs Tuesday to Thursday)."""
    day = today + timedelta(days=days_ahead)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def load_demo(*, now: datetime | None = None, seed: int = 2026) -> bool:
    """Load the demo into an empty database. Returns False (and changes nothing) if there is data."""
    if db.session.scalar(sa.select(Programme.id).limit(1)) is not None:
        return False
    now = now or utcnow()
    today = now.astimezone(LONDON).date()
    rng = random.Random(seed)

    programme = Programme(name=PROGRAMME_NAME, cutoff_days=7)
    db.session.add(programme)
    organisations = [Organisation(name=name, sort_order=i) for i, name in enumerate(ORGANISATIONS)]
    other = Organisation(name="Other", sort_order=len(ORGANISATIONS), is_other=True)
    districts = [District(name=name, sort_order=i) for i, name in enumerate(DISTRICTS)]
    db.session.add_all([*organisations, other, *districts])

    def session(days_ahead: int, capacity: int, *, kind=SessionKind.VOLUNTEER_TRAINING, trainer="Sam Okafor", **kw):
        day = _session_day(today, days_ahead) if days_ahead >= 0 else today + timedelta(days=days_ahead)
        training_session = TrainingSession(
            programme=programme,
            kind=kind,
            starts_at=_at(day, 10, 30),
            ends_at=_at(day, 12, 0),
            capacity=capacity,
            places_taken=0,
            trainer_name=trainer,
            location="Online",
            **kw,
        )
        db.session.add(training_session)
        return training_session

    finished = session(-30, 16, joining_link="https://teams.microsoft.com/l/meetup-join/demo-finished")
    closed = session(4, 16, joining_link="https://teams.microsoft.com/l/meetup-join/demo-closed")
    cancelled = session(12, 16, cancelled_at=now - timedelta(days=2))
    open_session = session(20, 20)
    few_places = session(27, 20)
    full = session(34, 12)
    train_the_trainer = session(41, 8, kind=SessionKind.TRAIN_THE_TRAINER, trainer="Jo Whitfield")
    db.session.flush()

    counter = iter(range(1, 10_000))

    def volunteer(registered_at: datetime) -> Volunteer:
        n = next(counter)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        organisation = rng.choice(organisations + [other])
        person = Volunteer(
            name=f"{first} {last}",
            email=f"volunteer{n}@example.org",
            email_normalised=f"volunteer{n}@example.org",
            phone=f"07700 900{n:03d}" if rng.random() < 0.6 else None,
            organisation=organisation,
            organisation_other="Banbury Food Bank" if organisation is other else None,
            role=rng.choice(ROLES),
            district=rng.choice(districts + [None]),
            age_band=rng.choice(["25-34", "35-44", "45-54", "55-64", "65-plus", None]),
            privacy_notice_version="2026-09",
            privacy_acknowledged_at=registered_at,
            followup_consent=rng.random() < 0.7,
            created_at=registered_at,
        )
        if person.followup_consent:
            person.followup_consent_version = "2026-09"
            person.followup_consent_at = registered_at
        db.session.add(person)
        return person

    def book(training_session: TrainingSession, count: int, status=BookingStatus.BOOKED) -> list[Booking]:
        bookings = []
        for i in range(count):
            registered_at = min(training_session.starts_at - timedelta(days=40 - i), now - timedelta(hours=i + 1))
            booking = Booking(
                training_session=training_session,
                volunteer=volunteer(registered_at),
                session_kind=training_session.kind,
                status=status,
                created_at=registered_at,
            )
            if status is BookingStatus.WAITING:
                booking.waitlisted_at = registered_at
            else:
                booking.booked_at = registered_at
                training_session.places_taken += 1
            if status in (BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND):
                booking.attendance_recorded_at = training_session.ends_at + timedelta(hours=1)
            db.session.add(booking)
            baseline_confidence = rng.randint(2, 7)
            for key, value in (("confidence", baseline_confidence), ("knowledge", rng.randint(1, 7))):
                db.session.add(
                    EvaluationAnswer(
                        booking=booking, survey=Survey.BASELINE, question_key=key, value=str(value),
                        answered_at=registered_at,
                    )
                )
            bookings.append(booking)
        return bookings

    book(finished, 12, BookingStatus.ATTENDED)
    book(finished, 2, BookingStatus.DID_NOT_ATTEND)
    book(closed, 10)
    book(open_session, 6)
    book(few_places, 17)
    book(full, 12)
    book(full, 3, BookingStatus.WAITING)
    book(train_the_trainer, 2)
    db.session.flush()
    return True
