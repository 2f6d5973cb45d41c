"""Demo data: the Oxfordshire pilot, with sessions placed relative to today so every status shows."""

import random
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from mecc_volunteer import audit
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import MULTIPLE_SEPARATOR
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    OrganisationType,
    Programme,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)

PROGRAMME_NAME = "Oxfordshire MECC volunteer training pilot"
ORGANISATION_TYPES = [
    "Library",
    "Carers' or other charity",
    "Fire and rescue",
    "Refugee support",
    "District or city council",
    "Primary care",
    "Pharmacy",
    "Faith group",
    "Business",
    "Other",
]
# Each demo organisation with its type (the review reports by type).
ORGANISATIONS = [
    ("Oxfordshire Library Service", "Library"),
    ("Carers Oxfordshire", "Carers' or other charity"),
    ("Home-Start", "Carers' or other charity"),
    ("Restore", "Carers' or other charity"),
    ("Refugee Resource", "Refugee support"),
    ("Oxfordshire Fire and Rescue Service", "Fire and rescue"),
    ("Cherwell District Council", "District or city council"),
    ("Oxford City Council", "District or city council"),
    ("South and Vale District Councils", "District or city council"),
    ("West Oxfordshire District Council", "District or city council"),
    ("Primary care", "Primary care"),
    ("Active Reach Banbury", "Carers' or other charity"),
]
DISTRICTS = ["Cherwell", "Oxford City", "South Oxfordshire", "Vale of White Horse", "West Oxfordshire"]
FIRST_NAMES = [
    "Amira",
    "Ben",
    "Chloë",
    "Dev",
    "Eilidh",
    "Femi",
    "Grace",
    "Hamid",
    "Isla",
    "Jakub",
    "Kerry-Ann",
    "Liam",
    "Mei",
    "Niamh",
    "Olu",
    "Priya",
    "Rhys",
    "Saoirse",
    "Tomasz",
    "Usha",
    "Yusuf",
    "Zofia",
]
LAST_NAMES = [
    "Ahmed",
    "Brown",
    "Chen",
    "D'Souza",
    "Evans",
    "Farah",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Kowalski",
    "Lewis",
    "Mensah",
    "Nowak",
    "O'Brien",
    "Patel",
    "Quinn",
    "Roberts",
    "Singh",
    "Taylor",
    "Walker",
]
ROLES = [
    "Library assistant",
    "Volunteer driver",
    "Carer support volunteer",
    "Community firefighter",
    "Housing officer",
    "Befriender",
    "Receptionist",
    "Social prescribing link worker",
    "Youth worker",
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
    types = {name: OrganisationType(name=name, sort_order=i) for i, name in enumerate(ORGANISATION_TYPES)}
    organisations = [
        Organisation(name=name, sort_order=i, organisation_type=types[kind])
        for i, (name, kind) in enumerate(ORGANISATIONS)
    ]
    other = Organisation(name="Other", sort_order=len(ORGANISATIONS), is_other=True, organisation_type=types["Other"])
    districts = [District(name=name, sort_order=i) for i, name in enumerate(DISTRICTS)]
    db.session.add_all([*types.values(), *organisations, other, *districts])

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
    session(12, 16, cancelled_at=now - timedelta(days=2))
    open_session = session(20, 20)
    few_places = session(27, 20)
    full = session(34, 12)
    train_the_trainer = session(41, 8, kind=SessionKind.TRAIN_THE_TRAINER, trainer="Jo Whitfield")
    db.session.flush()

    counter = iter(range(1, 10_000))

    def volunteer(registered_at: datetime, pool: list[Organisation] | None = None) -> Volunteer:
        n = next(counter)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        organisation = pool[n % len(pool)] if pool else rng.choice([*organisations, other])
        person = Volunteer(
            name=f"{first} {last}",
            email=f"volunteer{n}@example.org",
            email_normalised=f"volunteer{n}@example.org",
            phone=f"07700 900{n:03d}" if rng.random() < 0.6 else None,
            organisation=organisation,
            organisation_other="Banbury Food Bank" if organisation is other else None,
            role=rng.choice(ROLES),
            district=rng.choice([*districts, None]),
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

    baselines: dict[Booking, tuple[int, int]] = {}

    def book(training_session: TrainingSession, count: int, status=BookingStatus.BOOKED, pool=None) -> list[Booking]:
        bookings = []
        for i in range(count):
            registered_at = min(training_session.starts_at - timedelta(days=40 - i), now - timedelta(hours=i + 1))
            # Through the booking's own rules, as a registration would: a place, or the waiting list once full.
            booking = lifecycle.create(
                training_session, volunteer(registered_at, pool), by=audit.VOLUNTEER, now=registered_at
            )
            # Everyone who came did the e-learning first; of those booked, most have done it already.
            if booking.status is BookingStatus.BOOKED and (status is not BookingStatus.BOOKED or rng.random() < 0.6):
                done_at = min(registered_at + timedelta(days=rng.randint(1, 10)), now - timedelta(hours=1))
                lifecycle.record_elearning(
                    booking, done_at.astimezone(LONDON).date(), by=audit.VOLUNTEER, now=max(done_at, registered_at)
                )
                if training_session.joining_link and training_session.starts_at - timedelta(days=3) < now:
                    booking.joining_link_sent = training_session.joining_link
                    booking.joining_link_sent_at = training_session.starts_at - timedelta(days=3)
            if status in (BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND):
                lifecycle.record_attendance(
                    booking,
                    status is BookingStatus.ATTENDED,
                    by=audit.SYSTEM,
                    now=training_session.ends_at + timedelta(hours=1),
                )
            baseline = (rng.randint(2, 7), rng.randint(1, 7))
            baselines[booking] = baseline
            for key, value in zip(("confidence", "knowledge"), baseline, strict=True):
                db.session.add(
                    EvaluationAnswer(
                        booking=booking,
                        survey=Survey.BASELINE,
                        question_key=key,
                        value=str(value),
                        answered_at=registered_at,
                    )
                )
            bookings.append(booking)
        return bookings

    # Most of the first session came from three organisations, so the review has groups of 5 or more.
    library, carers, restore = organisations[0], organisations[1], organisations[3]
    pool = [library, carers, library, restore, library, other, library, carers, library, library, restore, library]
    finished_attended = book(finished, 12, BookingStatus.ATTENDED, pool=pool)
    book(finished, 2, BookingStatus.DID_NOT_ATTEND)
    # A train-the-trainer session over 8 weeks ago: old enough for the follow-up survey and its cascade questions.
    earlier = session(
        -68,
        10,
        kind=SessionKind.TRAIN_THE_TRAINER,
        trainer="Jo Whitfield",
        joining_link="https://teams.microsoft.com/l/meetup-join/demo-earlier",
    )
    db.session.flush()
    earlier_attended = book(earlier, 7, BookingStatus.ATTENDED, pool=organisations[3:7])
    book(earlier, 1, BookingStatus.DID_NOT_ATTEND)
    book(closed, 10)
    book(open_session, 6)
    book(few_places, 17)
    book(full, 12)
    book(full, 3, BookingStatus.WAITING)
    book(train_the_trainer, 2)
    # A session over a year ago (beyond the 12 months personal data is kept): the next `flask jobs run` removes
    # its attendee's name and contact details, and keeps their answers for the review.
    long_ago = session(-400, 12, joining_link="https://teams.microsoft.com/l/meetup-join/demo-long-ago")
    db.session.flush()
    long_ago_attended = book(long_ago, 1, BookingStatus.ATTENDED)
    db.session.flush()

    for i, booking in enumerate(finished_attended[:10]):  # two have not answered yet
        _answer_after_session(booking, baselines[booking], rng, comment=i % 3 == 0)
    for booking in long_ago_attended:
        _answer_after_session(booking, baselines[booking], rng, comment=False)
    for booking in earlier_attended[:6]:
        _answer_after_session(booking, baselines[booking], rng, comment=rng.random() < 0.5)
        if booking.volunteer.followup_consent:
            _answer_followup(booking, rng)
    db.session.flush()
    return True


COMMENTS = [
    (
        "I'll ask people how they're doing and actually listen to the answer 🙂",
        "More time for the practice conversations in breakout rooms.",
    ),
    (
        "Mention Live Well Oxfordshire when someone says they're struggling to stop smoking.",
        "The video kept freezing – maybe share the slides before the session?",
    ),
    (
        "Be more confident about raising mental wellbeing with the carers I visit 💪",
        "Nothing, it was great. Thank you!",
    ),
    (
        "Use the 'ask, advise, assist' steps with the people who come into the library.",
        "A printed list of local services we can hand out 📄",
    ),
]
FOLLOWUP_BARRIERS = [
    "Time – the café is busy and it's hard to have a proper chat.",
    "I wasn't sure it was my place to bring it up with regulars.",
    "",
    "Some people didn't want to talk about it, which is fine 🤷",
]


def _answer(booking: Booking, survey: Survey, values: dict[str, str], at: datetime) -> None:
    db.session.add(EvaluationResponse(booking=booking, survey=survey, instrument_version=1, submitted_at=at))
    for key, value in values.items():
        if value:
            db.session.add(
                EvaluationAnswer(
                    booking=booking, survey=survey, instrument_version=1, question_key=key, value=value, answered_at=at
                )
            )


def _answer_after_session(booking: Booking, baseline: tuple[int, int], rng: random.Random, *, comment: bool) -> None:
    """Mostly improving, paired with the baseline; now and then no change or a small drop."""
    confidence = min(10, max(0, baseline[0] + rng.choice([-1, 0, 1, 2, 2, 3, 3, 4])))
    knowledge = min(10, max(0, baseline[1] + rng.choice([0, 1, 2, 3, 3, 4, 5])))
    do_differently, improve = rng.choice(COMMENTS) if comment else ("", "")
    _answer(
        booking,
        Survey.AFTER_SESSION,
        {
            "confidence": str(confidence),
            "knowledge": str(knowledge),
            "overall": rng.choice(["very_good", "very_good", "good", "good", "neither", "dont_know"]),
            "relevant": rng.choice(["strongly_agree", "agree", "agree", "neither", "disagree"]),
            "intention": rng.choice(["strongly_agree", "strongly_agree", "agree", "neither"]),
            "online_format": rng.choice(["very_well", "well", "well", "neither", "badly"]),
            "do_differently": do_differently,
            "improve": improve,
        },
        booking.training_session.ends_at + timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 8)),
    )


def _answer_followup(booking: Booking, rng: random.Random) -> None:
    topics = rng.sample(
        ["smoking", "physical_activity", "alcohol", "healthy_weight", "mental_wellbeing", "other"], rng.randint(1, 3)
    )
    actions = rng.sample(["asked", "brief_advice", "signposted", "referred"], rng.randint(1, 3))
    values = {
        "conversations": str(rng.choice([0, 2, 3, 5, 8, 12])),
        "topics": MULTIPLE_SEPARATOR.join(topics),
        "actions": MULTIPLE_SEPARATOR.join(actions),
        "barriers": rng.choice(FOLLOWUP_BARRIERS),
    }
    if booking.session_kind is SessionKind.TRAIN_THE_TRAINER:
        values["sessions_delivered"] = str(rng.randint(0, 4))
        values["people_trained"] = str(rng.choice([0, 6, 11, 24]))
        values["cascade_organisations"] = rng.choice(["Home-Start, Restore", "Oxfordshire Library Service", ""])
    at = booking.training_session.ends_at + timedelta(weeks=8, days=rng.randint(0, 5))
    _answer(booking, Survey.FOLLOWUP, values, at)
