"""Demo data: the Oxfordshire pilot, placed relative to today so every session status and every section of the
pilot review shows real figures.

Seven volunteer-training sessions have been held over the last four months (about 70 attended), two
train-the-trainer sessions (one of whose trainers now runs sessions in the app), and the usual upcoming, closed,
full, cancelled and train-the-trainer sessions. After-session surveys before about six weeks ago were answered
under instrument version 1, later ones under version 2 (with the retrospective confidence question). Everything
goes through the booking rules and the seeded rng, so the demo is the same on every load.
"""

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
# Each demo organisation with its type (the review reports by type) and how often its people register: libraries,
# charities, councils and fire and rescue make groups of 5 or more; primary care and "Other" stay small.
ORGANISATIONS = [
    ("Oxfordshire Library Service", "Library", 14),
    ("Carers Oxfordshire", "Carers' or other charity", 6),
    ("Home-Start", "Carers' or other charity", 4),
    ("Restore", "Carers' or other charity", 3),
    ("Refugee Resource", "Refugee support", 5),
    ("Oxfordshire Fire and Rescue Service", "Fire and rescue", 8),
    ("Cherwell District Council", "District or city council", 3),
    ("Oxford City Council", "District or city council", 3),
    ("South and Vale District Councils", "District or city council", 2),
    ("West Oxfordshire District Council", "District or city council", 2),
    ("Primary care", "Primary care", 2),
    ("Active Reach Banbury", "Carers' or other charity", 2),
]
OTHER_WEIGHT = 2
# Areas and how often people come from each; None is outside Oxfordshire or not sure (a small group).
DISTRICTS = [
    ("Cherwell", 25),
    ("Oxford City", 30),
    ("South Oxfordshire", 15),
    ("Vale of White Horse", 15),
    ("West Oxfordshire", 6),
]
NO_DISTRICT_WEIGHT = 4
# The equality questions, with the keys the registration form stores (volunteers/forms.py), and how often each
# answer is given: the larger groups reach 5, the rest are suppressed in the review.
AGE_BANDS = [("under-25", 5), ("25-34", 15), ("35-44", 20), ("45-54", 22), ("55-64", 20), ("65-plus", 12)]
GENDERS = [("woman", 64), ("man", 30), ("another-way", 2), ("prefer-not", 3)]
ETHNIC_GROUPS = [("white", 72), ("asian", 10), ("black", 7), ("mixed", 4), ("other", 2), ("prefer-not", 3)]
DISABILITY = [("no", 80), ("yes", 12), ("prefer-not", 5)]
# Share of registrations that skip the optional equality questions altogether.
EQUALITY_SKIPPED = 0.12
FOLLOWUP_CONSENT = 0.7
# (attended, did not attend) in each volunteer-training session held: about 70 attended in all.
HELD_ATTENDANCE = [(10, 2), (12, 2), (10, 1), (9, 2), (12, 2), (10, 1), (8, 2)]
# Instrument version 2 (the retrospective confidence question) has been in use for about six weeks.
VERSION_2_WEEKS = 6
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
    """A weekday about days_ahead from today (training runs Tuesday to Thursday): the next one for a session
    to come, the one before for a session held."""
    step = timedelta(days=1 if days_ahead >= 0 else -1)
    day = today + timedelta(days=days_ahead)
    while day.weekday() not in (1, 2, 3):
        day += step
    return day


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def _weighted(rng: random.Random, weighted: list[tuple]) -> object:
    return rng.choices([item for item, _ in weighted], weights=[weight for _, weight in weighted])[0]


def load_demo(*, now: datetime | None = None, seed: int = 2026) -> bool:
    """Load the demo into an empty database. Returns False (and changes nothing) if there is data."""
    if db.session.scalar(sa.select(Programme.id).limit(1)) is not None:
        return False
    now = now or utcnow()
    today = now.astimezone(LONDON).date()
    rng = random.Random(seed)
    version_2_from = now - timedelta(weeks=VERSION_2_WEEKS)

    def version_at(moment: datetime) -> int:
        return 2 if moment >= version_2_from else 1

    programme = Programme(name=PROGRAMME_NAME, cutoff_days=7)
    db.session.add(programme)
    types = {name: OrganisationType(name=name, sort_order=i) for i, name in enumerate(ORGANISATION_TYPES)}
    organisations = [
        Organisation(name=name, sort_order=i, organisation_type=types[kind])
        for i, (name, kind, _) in enumerate(ORGANISATIONS)
    ]
    other = Organisation(name="Other", sort_order=len(ORGANISATIONS), is_other=True, organisation_type=types["Other"])
    districts = [District(name=name, sort_order=i) for i, (name, _) in enumerate(DISTRICTS)]
    db.session.add_all([*types.values(), *organisations, other, *districts])
    organisation_weights = [
        *zip(organisations, (weight for *_, weight in ORGANISATIONS), strict=True),
        (other, OTHER_WEIGHT),
    ]
    district_weights = [
        *zip(districts, (weight for _, weight in DISTRICTS), strict=True),
        (None, NO_DISTRICT_WEIGHT),
    ]

    def session(
        days_ahead: int,
        capacity: int,
        *,
        kind=SessionKind.VOLUNTEER_TRAINING,
        trainer="Sam Okafor",
        start=(10, 30),
        link: str | None = None,
        **kw,
    ) -> TrainingSession:
        day = _session_day(today, days_ahead)
        starts_at = _at(day, *start)
        training_session = TrainingSession(
            programme=programme,
            kind=kind,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=90),
            capacity=capacity,
            places_taken=0,
            trainer_name=trainer,
            location="Online",
            joining_link=f"https://teams.microsoft.com/l/meetup-join/demo-{link}" if link else None,
            **kw,
        )
        db.session.add(training_session)
        return training_session

    # Volunteer training held over the last four months: the first four before instrument version 2 came in.
    held = [
        session(-110, 16, link="held-1"),
        session(-89, 16, link="held-2", start=(18, 30)),
        session(-68, 16, link="held-3"),
        session(-52, 16, link="held-4", trainer=None),  # run by a trainer trained here (set below)
        session(-30, 16, link="held-5", start=(18, 30)),
        session(-16, 16, link="held-6"),
        session(-5, 16, link="held-7"),
    ]
    # Train-the-trainer held, both over 8 weeks ago: their follow-up asks about cascade.
    trainer_training = [
        session(-100, 10, kind=SessionKind.TRAIN_THE_TRAINER, trainer="Jo Whitfield", link="ttt-1", start=(9, 30)),
        session(-68, 10, kind=SessionKind.TRAIN_THE_TRAINER, trainer="Jo Whitfield", link="ttt-2", start=(13, 30)),
    ]
    # What the start page shows: one session of each status.
    closed = session(2, 16, link="closed")  # within the week: always 2 to 6 days ahead
    session(12, 16, cancelled_at=now - timedelta(days=2))
    open_session = session(20, 20, trainer=None)  # the trained trainer's next session (set below)
    few_places = session(27, 20, start=(18, 30))
    full = session(34, 12)
    train_the_trainer = session(41, 8, kind=SessionKind.TRAIN_THE_TRAINER, trainer="Jo Whitfield")
    # A session over a year ago (beyond the 12 months personal data is kept): the next `flask jobs run` removes
    # its attendee's name and contact details, and keeps their answers for the review.
    long_ago = session(-400, 12, link="long-ago")
    db.session.flush()

    counter = iter(range(1, 10_000))

    def volunteer(registered_at: datetime, *, equality: bool = True, consent: float = FOLLOWUP_CONSENT) -> Volunteer:
        n = next(counter)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        organisation = _weighted(rng, organisation_weights)
        answers_equality = equality and rng.random() >= EQUALITY_SKIPPED

        def equality_answer(options):  # now and then one question is left unanswered
            return _weighted(rng, options) if answers_equality and rng.random() < 0.95 else None

        person = Volunteer(
            name=f"{first} {last}",
            email=f"volunteer{n}@example.org",
            email_normalised=f"volunteer{n}@example.org",
            phone=f"07700 900{n:03d}" if rng.random() < 0.6 else None,
            organisation=organisation,
            organisation_other="Banbury Food Bank" if organisation is other else None,
            role=rng.choice(ROLES),
            district=_weighted(rng, district_weights),
            age_band=equality_answer(AGE_BANDS),
            gender=equality_answer(GENDERS),
            ethnic_group=equality_answer(ETHNIC_GROUPS),
            disability=equality_answer(DISABILITY),
            privacy_notice_version="2026-09",
            privacy_acknowledged_at=registered_at,
            followup_consent=rng.random() < consent,
            created_at=registered_at,
        )
        if person.followup_consent:
            person.followup_consent_version = "2026-09"
            person.followup_consent_at = registered_at
        db.session.add(person)
        return person

    baselines: dict[Booking, tuple[int, int]] = {}

    def book(training_session: TrainingSession, count: int, status=BookingStatus.BOOKED, **kw) -> list[Booking]:
        bookings = []
        for i in range(count):
            registered_at = min(training_session.starts_at - timedelta(days=40 - i), now - timedelta(hours=i + 1))
            # Through the booking's own rules, as a registration would: a place, or the waiting list once full.
            booking = lifecycle.create(
                training_session, volunteer(registered_at, **kw), by=audit.VOLUNTEER, now=registered_at
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
            version = version_at(registered_at)  # the form current when they registered
            for key, value in zip(("confidence", "knowledge"), baseline, strict=True):
                db.session.add(
                    EvaluationAnswer(
                        booking=booking,
                        survey=Survey.BASELINE,
                        instrument_version=version,
                        question_key=key,
                        value=str(value),
                        answered_at=registered_at,
                    )
                )
            bookings.append(booking)
        return bookings

    held_attended = []
    for training_session, (came, missed) in zip(held, HELD_ATTENDANCE, strict=True):
        held_attended.append(book(training_session, came, BookingStatus.ATTENDED))
        book(training_session, missed, BookingStatus.DID_NOT_ATTEND)
    # Trainers mostly agree to the follow-up: it is how the cascade is counted.
    trainers_attended = [
        book(trainer_training[0], 8, BookingStatus.ATTENDED, consent=0.9),
        book(trainer_training[1], 7, BookingStatus.ATTENDED, consent=0.9),
    ]
    book(trainer_training[0], 1, BookingStatus.DID_NOT_ATTEND)
    book(closed, 10)
    book(open_session, 6)
    book(few_places, 17)
    book(full, 12)
    book(full, 3, BookingStatus.WAITING)
    book(train_the_trainer, 2)
    # No equality answers: removing their identity then leaves every figure of the review as it was.
    long_ago_attended = book(long_ago, 1, BookingStatus.ATTENDED, equality=False)
    db.session.flush()

    # One of the first trainers trained now runs volunteer training in the app: one session held, one to come.
    trained_trainer = trainers_attended[0][0]
    trained_trainer.volunteer.followup_consent = True
    trained_trainer.volunteer.followup_consent_version = "2026-09"
    trained_trainer.volunteer.followup_consent_at = trained_trainer.volunteer.created_at
    cascade_session = held[3]
    for training_session in (cascade_session, open_session):
        training_session.trainer_name = trained_trainer.volunteer.name
        training_session.trainer_volunteer = trained_trainer.volunteer

    for training_session, attended in zip(held, held_attended, strict=True):
        recent = now - training_session.ends_at < timedelta(days=10)  # the survey is still open: fewer so far
        for booking in attended:
            if rng.random() < (0.7 if recent else 0.85):
                _answer_after_session(booking, baselines[booking], rng, now=now, version_at=version_at)
            if booking.volunteer.followup_consent and rng.random() < 0.75:
                _answer_followup(booking, rng, now=now, version_at=version_at)
    # At follow-up, the trained trainer reports the session they ran here; of the others who answer, most have
    # delivered nothing yet and two have (CASCADE_DELIVERED).
    responders = 0
    for attended in trainers_attended:
        for booking in attended:
            if rng.random() < 0.85:
                _answer_after_session(booking, baselines[booking], rng, now=now, version_at=version_at)
            if booking is trained_trainer:
                people = held_attended[3]
                organisations_trained = dict.fromkeys(b.volunteer.organisation_name for b in people)
                cascade = {
                    "sessions_delivered": "1",
                    "people_trained": str(len(people)),
                    "cascade_organisations": ", ".join(organisations_trained),
                }
            elif booking.volunteer.followup_consent and rng.random() < 0.85:
                delivered = CASCADE_DELIVERED[responders % len(CASCADE_DELIVERED)]
                responders += 1
                cascade = {
                    "sessions_delivered": str(delivered),
                    "people_trained": str(sum(rng.randint(4, 12) for _ in range(delivered))),
                    "cascade_organisations": rng.choice(CASCADE_ORGANISATIONS) if delivered else "",
                }
            else:
                continue
            _answer_followup(booking, rng, now=now, version_at=version_at, cascade=cascade)
    for booking in long_ago_attended:
        _answer_after_session(booking, baselines[booking], rng, now=now, version_at=version_at, comments=False)
    db.session.flush()
    return True


DO_DIFFERENTLY = [
    "I'll ask people how they're doing and actually listen to the answer 🙂",
    "Mention Live Well Oxfordshire when someone says they're struggling to stop smoking.",
    "Be more confident about raising mental wellbeing with the carers I visit 💪",
    "Use the 'ask, advise, assist' steps with the people who come into the library.",
    "Keep a few leaflets in the van so I have something to hand over after a home safety visit.",
    "Listen for the cues I used to let pass, like someone saying they never get out any more.",
    "Not rush to give advice – ask what they'd like to change first.",
    "Talk to my team about how we can signpost people when they come to the front desk.",
    "Look up the local walking groups so I can mention them.",
    "Ask open questions instead of yes/no ones.",
    "Share the Live Well Oxfordshire link in our volunteers' newsletter.",
    "Try it with the families I support – gently, when the moment is right.",
]
IMPROVE = [
    "More time for the practice conversations in breakout rooms.",
    "The video kept freezing – maybe share the slides before the session?",
    "Nothing, it was great. Thank you!",
    "A printed list of local services we can hand out 📄",
    "An evening session would suit people who volunteer after work.",
    "Some examples from a fire and rescue setting, not just health settings.",
    "A shorter e-learning module – it took longer than it said.",
    "Send the joining link a bit earlier; I nearly missed it.",
    "Subtitles on the videos, please.",
    "A follow-up session after a few months to share how it's going.",
]
FOLLOWUP_BARRIERS = [
    "Time – the café is busy and it's hard to have a proper chat.",
    "I wasn't sure it was my place to bring it up with regulars.",
    "Some people didn't want to talk about it, which is fine 🤷",
    "Most of my visits are short and there are other things to get through.",
    "Language – some of the people I support speak little English.",
    "I couldn't find a local service for one of the topics.",
    "Nothing really, it has become part of how I chat to people.",
    "Our team changed shifts and I've had fewer contacts with the public.",
]
# Sessions delivered, as the train-the-trainer attendees who answer the follow-up report them in turn (published
# evaluations found few trainers go on to cascade).
CASCADE_DELIVERED = [0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0]
CASCADE_ORGANISATIONS = [
    "Home-Start, Restore",
    "Oxfordshire Library Service",
    "Our own volunteers at Refugee Resource",
    "Carers Oxfordshire and a local food bank",
]
# Change in confidence and knowledge from before to after the session. People from fire and rescue, who already
# talk to the public about safety, gain less; a few everywhere stay the same or rate themselves lower.
CONFIDENCE_CHANGES = [-1, 0, 1, 1, 2, 2, 3, 3, 4]
KNOWLEDGE_CHANGES = [-1, 0, 1, 2, 3, 3, 4, 5]
SMALLER_CHANGES = {"Fire and rescue": ([-1, 0, 0, 0, 1, 1, 2], [-1, 0, 0, 1, 1, 2, 2])}


def _answer(booking: Booking, survey: Survey, values: dict[str, str], at: datetime, version: int) -> None:
    db.session.add(EvaluationResponse(booking=booking, survey=survey, instrument_version=version, submitted_at=at))
    for key, value in values.items():
        if value:
            db.session.add(
                EvaluationAnswer(
                    booking=booking,
                    survey=survey,
                    instrument_version=version,
                    question_key=key,
                    value=value,
                    answered_at=at,
                )
            )


def _answer_after_session(
    booking: Booking, baseline: tuple[int, int], rng: random.Random, *, now, version_at, comments: bool = True
) -> None:
    """Mostly improving, paired with the baseline; now and then no change or a small drop. Under version 2 the
    retrospective "before" confidence is usually a little below the baseline given at registration (response
    shift: people find they knew less than they thought)."""
    at = min(
        booking.training_session.ends_at + timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 8)),
        now - timedelta(minutes=30),
    )
    version = version_at(booking.training_session.ends_at)
    organisation_type = booking.volunteer.organisation.organisation_type
    confidence_changes, knowledge_changes = SMALLER_CHANGES.get(
        organisation_type.name if organisation_type else "", (CONFIDENCE_CHANGES, KNOWLEDGE_CHANGES)
    )
    confidence = min(10, max(0, baseline[0] + rng.choice(confidence_changes)))
    knowledge = min(10, max(0, baseline[1] + rng.choice(knowledge_changes)))
    values = {"confidence": str(confidence)}
    if version >= 2:
        values["confidence_before"] = str(max(0, baseline[0] - rng.choice([0, 0, 1, 1, 1, 2, 2, 3, -1])))
    values |= {
        "knowledge": str(knowledge),
        "overall": rng.choice(["very_good", "very_good", "good", "good", "good", "neither", "dont_know"]),
        "relevant": rng.choice(["strongly_agree", "strongly_agree", "agree", "agree", "agree", "neither", "disagree"]),
        "intention": rng.choice(["strongly_agree", "strongly_agree", "agree", "agree", "agree", "neither", "disagree"]),
        "online_format": rng.choice(["very_well", "well", "well", "well", "neither", "neither", "badly"]),
        "do_differently": rng.choice(DO_DIFFERENTLY) if comments and rng.random() < 0.45 else "",
        "improve": rng.choice(IMPROVE) if comments and rng.random() < 0.35 else "",
    }
    _answer(booking, Survey.AFTER_SESSION, values, at, version)


def _answer_followup(
    booking: Booking, rng: random.Random, *, now, version_at, cascade: dict[str, str] | None = None
) -> None:
    """The follow-up survey, once its window has opened (8 weeks after the session); not yet for later sessions.
    Train-the-trainer attendees also give the cascade answers."""
    opens_at = booking.training_session.ends_at + timedelta(weeks=8)
    if opens_at >= now:
        return
    at = min(opens_at + timedelta(days=rng.randint(0, 10), hours=rng.randint(1, 8)), now - timedelta(minutes=30))
    conversations = rng.choice([0, 0, 1, 2, 2, 3, 4, 5, 6, 8, 10, 15])
    values = {"conversations": str(conversations)}
    if conversations:
        topics = rng.sample(
            ["smoking", "physical_activity", "alcohol", "healthy_weight", "mental_wellbeing", "other"],
            rng.randint(1, 3),
        )
        actions = rng.sample(["asked", "brief_advice", "signposted", "referred"], rng.randint(1, 3))
        values["topics"] = MULTIPLE_SEPARATOR.join(topics)
        values["actions"] = MULTIPLE_SEPARATOR.join(actions)
    values["barriers"] = rng.choice(FOLLOWUP_BARRIERS) if rng.random() < 0.6 else ""
    if booking.session_kind is SessionKind.TRAIN_THE_TRAINER and cascade is not None:
        values |= cascade
    _answer(booking, Survey.FOLLOWUP, values, at, version_at(at))
