"""The volunteer journey's rules, without HTTP: status, the cut-off, registering, the waiting list,
cancelling, moving and personal links. Time is passed in as `now`, never patched.

On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so each test makes its rows with the
factories first and only then reads in its own session.
"""

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from mecc_volunteer import errors
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    LinkPurpose,
    Organisation,
    OutgoingEmail,
    PersonalLink,
    SessionKind,
    SessionStatus,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.tokens import find_booking, issue_link
from mecc_volunteer.volunteers import services
from mecc_volunteer.volunteers.services import Outcome

MICROSECOND = timedelta(microseconds=1)


# --- Helpers ---------------------------------------------------------------------------------------


def load(model, id_):
    return db.session.get(model, id_)


def emails(template: str | None = None) -> list[OutgoingEmail]:
    query = sa.select(OutgoingEmail).order_by(OutgoingEmail.id)
    if template is not None:
        query = query.where(OutgoingEmail.template == template)
    return list(db.session.scalars(query))


def bookings_of(training_session_id: int) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking).where(Booking.training_session_id == training_session_id).order_by(Booking.id)
        )
    )


def details(email: str = "priya@example.org", name: str = "Priya Patel") -> services.RegistrationDetails:
    organisation_id = db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id))
    return services.RegistrationDetails(
        name=name,
        email=email,
        role="Library assistant",
        organisation_id=organisation_id,
        organisation_other=None,
        district_id=None,
        baseline_confidence=4,
        baseline_knowledge=3,
        privacy_acknowledged=True,
    )


def register(training_session: TrainingSession, email: str, *, now=None) -> services.RegistrationResult:
    return services.register(training_session, details(email), config=current_app.config, now=now)


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Status ----------------------------------------------------------------------------------------


def test_a_session_with_plenty_of_places_is_open(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=10).id)
    assert training_session.status(utcnow()) is SessionStatus.OPEN


@pytest.mark.parametrize(
    ("places_taken", "status"),
    [
        (7, SessionStatus.OPEN),  # 30 % remain
        (8, SessionStatus.FEW_PLACES),  # exactly 20 % remain
        (9, SessionStatus.FEW_PLACES),
        (10, SessionStatus.FULL),
    ],
)
def test_few_places_left_shows_from_exactly_20_percent_remaining_then_now_full(
    app_context, make_training_session, places_taken, status
):
    training_session = load(TrainingSession, make_training_session(capacity=10, places_taken=places_taken).id)
    assert training_session.status(utcnow()) is status


def test_a_full_session_still_takes_registrations_for_the_waiting_list(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=10, places_taken=10).id)
    status = training_session.status(utcnow())
    assert status is SessionStatus.FULL
    assert status.accepts_registrations
    lifecycle.check_accepts_registrations(training_session, now=utcnow())


def test_registration_closes_at_exactly_the_cut_off_and_not_a_microsecond_before(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=10).id)
    closes_at = training_session.registration_closes_at

    assert training_session.status(closes_at - MICROSECOND) is SessionStatus.OPEN
    lifecycle.check_accepts_registrations(training_session, now=closes_at - MICROSECOND)
    assert training_session.status(closes_at) is SessionStatus.CLOSED
    with pytest.raises(errors.RegistrationClosed):
        lifecycle.check_accepts_registrations(training_session, now=closes_at)
    with pytest.raises(errors.RegistrationClosed):
        register(training_session, "late@example.org", now=closes_at)
    assert bookings_of(training_session.id) == []


def test_a_cancelled_session_shows_cancelled_and_takes_no_registrations(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=10, cancelled_at=utcnow()).id)
    assert training_session.status(utcnow()) is SessionStatus.CANCELLED
    with pytest.raises(errors.SessionCancelled):
        register(training_session, "priya@example.org", now=utcnow())


def test_a_session_is_finished_from_its_end_time(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=10).id)
    ends_at = training_session.ends_at

    assert training_session.status(ends_at - MICROSECOND) is SessionStatus.CLOSED
    assert training_session.status(ends_at) is SessionStatus.FINISHED
    assert training_session.status(ends_at + timedelta(days=1)) is SessionStatus.FINISHED
    with pytest.raises(errors.SessionFinished):
        lifecycle.check_accepts_registrations(training_session, now=ends_at)


# --- The cut-off ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "closes_at"),
    [
        # Summer time on both days: Tuesday 16 June 10:30 BST closes Tuesday 9 June 10:30 BST.
        pytest.param(london(2026, 6, 16, 10, 30), utc(2026, 6, 9, 9, 30), id="no-clock-change"),
        # Clocks went forward on Sunday 29 March 2026: 10:30 BST on the 31st closes at 10:30 GMT on the 24th.
        pytest.param(london(2026, 3, 31, 10, 30), utc(2026, 3, 24, 10, 30), id="after-spring-forward"),
        # Clocks go back on Sunday 25 October 2026: 10:30 GMT on the 27th closes at 10:30 BST on the 20th.
        pytest.param(london(2026, 10, 27, 10, 30), utc(2026, 10, 20, 9, 30), id="after-autumn-back"),
    ],
)
def test_registration_closes_seven_days_before_the_start_in_london_wall_clock_time(
    app_context, make_training_session, starts_at, closes_at
):
    training_session = load(TrainingSession, make_training_session(starts_at=starts_at.astimezone(UTC)).id)

    assert training_session.registration_closes_at == closes_at
    assert training_session.registration_closes_at.astimezone(LONDON).time() == starts_at.time()
    assert training_session.status(closes_at - MICROSECOND) is SessionStatus.OPEN
    assert training_session.status(closes_at) is SessionStatus.CLOSED


@pytest.mark.parametrize(
    ("cutoff_days", "closes_at"),
    [
        (3, utc(2026, 10, 24, 9, 30)),  # Saturday 24 October is still summer time
        (14, utc(2026, 10, 13, 9, 30)),
        (0, utc(2026, 10, 27, 10, 30)),  # 0 means "until the start", not "use the programme's"
    ],
)
def test_a_session_can_override_the_programme_cut_off(app_context, make_training_session, cutoff_days, closes_at):
    training_session = load(
        TrainingSession,
        make_training_session(starts_at=london(2026, 10, 27, 10, 30).astimezone(UTC), cutoff_days=cutoff_days).id,
    )
    assert training_session.programme.cutoff_days == 7
    assert training_session.registration_closes_at == closes_at
    assert training_session.status(closes_at - MICROSECOND) is SessionStatus.OPEN
    assert training_session.status(closes_at) is SessionStatus.CLOSED


# --- Registering -------------------------------------------------------------------------------------


def test_registering_books_places_while_they_remain_then_joins_the_waiting_list(app_context, make_training_session):
    training_session = load(TrainingSession, make_training_session(capacity=2).id)
    now = utcnow()

    results = [register(training_session, f"person{i}@example.org", now=now + timedelta(seconds=i)) for i in range(4)]

    assert [r.outcome for r in results] == [Outcome.BOOKED, Outcome.BOOKED, Outcome.WAITING, Outcome.WAITING]
    assert [r.booking.status for r in results] == [BookingStatus.BOOKED] * 2 + [BookingStatus.WAITING] * 2
    assert [r.waiting_position for r in results] == [None, None, 1, 2]
    assert [services.waiting_position(r.booking) for r in results] == [None, None, 1, 2]
    assert all(r.token for r in results)
    assert training_session.places_taken == 2
    assert load(TrainingSession, training_session.id).status(now) is SessionStatus.FULL
    assert len(emails("booking_confirmation")) == 2
    assert len(emails("waiting_list_confirmation")) == 2


def test_registering_again_for_the_same_session_sends_the_link_again_and_books_nothing_more(
    app_context, make_training_session
):
    training_session = load(TrainingSession, make_training_session(capacity=10).id)
    first = register(training_session, "priya@example.org")

    again = register(training_session, "  Priya@Example.ORG  ")

    assert again.outcome is Outcome.ALREADY_BOOKED
    assert again.booking.id == first.booking.id
    assert again.token is None  # the link goes by email only, never to whoever typed the address
    assert len(bookings_of(training_session.id)) == 1
    assert training_session.places_taken == 1
    assert db.session.scalar(sa.select(sa.func.count(Volunteer.id))) == 1
    [your_link] = emails("your_link")
    assert your_link.booking_id == first.booking.id
    assert your_link.to_address == "priya@example.org"


def test_registering_for_another_session_of_the_same_kind_emails_an_offer_to_move(app_context, make_training_session):
    first_id = make_training_session(days_ahead=30).id
    second_id = make_training_session(days_ahead=40).id
    first, second = load(TrainingSession, first_id), load(TrainingSession, second_id)
    booked = register(first, "priya@example.org")

    offer = register(second, "priya@example.org")

    assert offer.outcome is Outcome.MOVE_OFFERED
    assert offer.booking.id == booked.booking.id
    assert offer.booking.training_session_id == first.id
    assert bookings_of(second.id) == []
    assert (first.places_taken, second.places_taken) == (1, 0)
    [move_offer] = emails("move_offer")
    assert move_offer.booking_id == booked.booking.id
    assert f"to={second.id}" in move_offer.body_text


def test_a_train_the_trainer_booking_does_not_block_volunteer_training(app_context, make_training_session):
    trainer_id = make_training_session(kind=SessionKind.TRAIN_THE_TRAINER).id
    volunteer_id = make_training_session(kind=SessionKind.VOLUNTEER_TRAINING).id

    as_trainer = register(load(TrainingSession, trainer_id), "priya@example.org")
    as_volunteer = register(load(TrainingSession, volunteer_id), "priya@example.org")

    assert (as_trainer.outcome, as_volunteer.outcome) == (Outcome.BOOKED, Outcome.BOOKED)
    assert as_trainer.booking.volunteer_id == as_volunteer.booking.volunteer_id
    assert emails("move_offer") == []


# --- Cancelling and the waiting list -----------------------------------------------------------------


@pytest.fixture
def full_session_with_two_waiting(make_training_session, make_booking):
    """One place, taken; two waiting, the first to join made second (so id order is not queue order)."""

    def make(**columns):
        training_session_id = make_training_session(capacity=1, **columns).id
        booked = make_booking(training_session_id)
        joined_second = make_booking(training_session_id, BookingStatus.WAITING, at=utcnow() - timedelta(hours=1))
        joined_first = make_booking(training_session_id, BookingStatus.WAITING, at=utcnow() - timedelta(hours=2))
        return training_session_id, booked, joined_first, joined_second

    return make


def test_cancelling_frees_the_place_for_the_first_person_who_joined_the_waiting_list(
    app_context, full_session_with_two_waiting
):
    session_id, booked_id, first_id, second_id = full_session_with_two_waiting()
    now = utcnow()

    services.cancel_booking(load(Booking, booked_id), now=now)

    assert load(Booking, booked_id).status is BookingStatus.CANCELLED
    promoted = load(Booking, first_id)
    assert promoted.status is BookingStatus.BOOKED
    assert promoted.promoted_at == now
    assert load(Booking, second_id).status is BookingStatus.WAITING
    assert services.waiting_position(load(Booking, second_id)) == 1
    assert load(TrainingSession, session_id).places_taken == 1
    assert [email.booking_id for email in emails("place_offered")] == [first_id]


def test_cancelling_a_waiting_list_place_frees_nothing(app_context, full_session_with_two_waiting):
    session_id, booked_id, first_id, second_id = full_session_with_two_waiting()

    services.cancel_booking(load(Booking, first_id), now=utcnow())

    assert load(Booking, first_id).status is BookingStatus.CANCELLED
    assert load(Booking, booked_id).status is BookingStatus.BOOKED
    assert services.waiting_position(load(Booking, second_id)) == 1
    assert load(TrainingSession, session_id).places_taken == 1


@pytest.mark.parametrize("after_cut_off", [timedelta(0), timedelta(days=2)])
def test_after_the_cut_off_a_freed_place_stays_free(app_context, full_session_with_two_waiting, after_cut_off):
    session_id, booked_id, first_id, _ = full_session_with_two_waiting()
    now = load(TrainingSession, session_id).registration_closes_at + after_cut_off

    services.cancel_booking(load(Booking, booked_id), now=now)

    assert load(Booking, booked_id).status is BookingStatus.CANCELLED
    assert load(Booking, first_id).status is BookingStatus.WAITING
    assert load(TrainingSession, session_id).places_taken == 0
    assert emails("place_offered") == []


def test_just_before_the_cut_off_a_freed_place_still_goes_to_the_waiting_list(
    app_context, full_session_with_two_waiting
):
    session_id, booked_id, first_id, _ = full_session_with_two_waiting()
    now = load(TrainingSession, session_id).registration_closes_at - MICROSECOND

    services.cancel_booking(load(Booking, booked_id), now=now)

    assert load(Booking, first_id).status is BookingStatus.BOOKED
    assert load(TrainingSession, session_id).places_taken == 1


@pytest.mark.parametrize(
    ("before_start", "promoted"),
    [(timedelta(days=5), True), (timedelta(hours=48, minutes=1), True), (timedelta(hours=47), False)],
)
def test_with_late_promotion_a_place_freed_up_to_48_hours_before_the_start_still_goes_to_the_waiting_list(
    app_context, full_session_with_two_waiting, before_start, promoted
):
    session_id, booked_id, first_id, _ = full_session_with_two_waiting(allow_late_promotion=True)
    training_session = load(TrainingSession, session_id)
    now = training_session.starts_at - before_start
    assert now >= training_session.registration_closes_at  # past the ordinary cut-off

    services.cancel_booking(load(Booking, booked_id), now=now)

    assert (load(Booking, first_id).status is BookingStatus.BOOKED) is promoted
    assert load(TrainingSession, session_id).places_taken == (1 if promoted else 0)
    assert len(emails("place_offered")) == (1 if promoted else 0)


def test_a_booking_cannot_be_cancelled_once_its_session_has_started(app_context, full_session_with_two_waiting):
    session_id, booked_id, first_id, _ = full_session_with_two_waiting()
    starts_at = load(TrainingSession, session_id).starts_at

    with pytest.raises(errors.BookingNotActive):
        services.cancel_booking(load(Booking, booked_id), now=starts_at)

    assert load(Booking, booked_id).status is BookingStatus.BOOKED
    assert load(Booking, first_id).status is BookingStatus.WAITING
    assert load(TrainingSession, session_id).places_taken == 1


# --- Moving -----------------------------------------------------------------------------------------


@pytest.fixture
def booked_with_someone_waiting(make_training_session, make_booking):
    """A full one-place session (booked + one waiting), and its booked booking's id."""
    session_id = make_training_session(capacity=1, days_ahead=30).id
    booked_id = make_booking(session_id)
    waiting_id = make_booking(session_id, BookingStatus.WAITING)
    return session_id, booked_id, waiting_id


def _unchanged(booking_id, from_id, from_taken, target_id, target_taken) -> None:
    booking = load(Booking, booking_id)
    assert booking.training_session_id == from_id
    assert booking.status is BookingStatus.BOOKED
    assert booking.moved_at is None
    assert load(TrainingSession, from_id).places_taken == from_taken
    assert load(TrainingSession, target_id).places_taken == target_taken
    assert emails() == []


def test_moving_to_a_session_with_places_frees_the_old_place_for_the_first_person_waiting(
    app_context, booked_with_someone_waiting, make_training_session
):
    from_id, booked_id, waiting_id = booked_with_someone_waiting
    target_id = make_training_session(capacity=5, days_ahead=40).id
    now = utcnow()

    services.move_booking(load(Booking, booked_id), load(TrainingSession, target_id), now=now)

    moved = load(Booking, booked_id)
    assert moved.training_session_id == target_id
    assert moved.status is BookingStatus.BOOKED
    assert moved.moved_at == now
    assert load(TrainingSession, target_id).places_taken == 1
    assert load(Booking, waiting_id).status is BookingStatus.BOOKED
    assert load(TrainingSession, from_id).places_taken == 1
    assert [e.booking_id for e in emails("booking_confirmation")] == [booked_id]
    assert [e.booking_id for e in emails("place_offered")] == [waiting_id]


def test_moving_from_the_waiting_list_to_a_session_with_places_books_a_place(
    app_context, booked_with_someone_waiting, make_training_session
):
    from_id, _booked_id, waiting_id = booked_with_someone_waiting
    target_id = make_training_session(capacity=5, days_ahead=40).id

    services.move_booking(load(Booking, waiting_id), load(TrainingSession, target_id), now=utcnow())

    moved = load(Booking, waiting_id)
    assert (moved.training_session_id, moved.status, moved.waitlisted_at) == (target_id, BookingStatus.BOOKED, None)
    assert load(TrainingSession, target_id).places_taken == 1
    assert load(TrainingSession, from_id).places_taken == 1  # the booked place there is untouched


def test_moving_to_a_full_session_is_refused_and_changes_nothing(
    app_context, booked_with_someone_waiting, make_training_session
):
    from_id, booked_id, _ = booked_with_someone_waiting
    target_id = make_training_session(capacity=3, places_taken=3, days_ahead=40).id

    with pytest.raises(errors.SessionFull):
        services.move_booking(load(Booking, booked_id), load(TrainingSession, target_id), now=utcnow())

    _unchanged(booked_id, from_id, 1, target_id, 3)


def test_moving_to_a_session_whose_registration_has_closed_is_refused(
    app_context, booked_with_someone_waiting, make_training_session
):
    from_id, booked_id, _ = booked_with_someone_waiting
    target_id = make_training_session(capacity=5, days_ahead=3).id  # inside its one-week cut-off

    with pytest.raises(errors.RegistrationClosed):
        services.move_booking(load(Booking, booked_id), load(TrainingSession, target_id), now=utcnow())

    _unchanged(booked_id, from_id, 1, target_id, 0)


def test_moving_to_a_session_of_another_kind_is_refused(
    app_context, booked_with_someone_waiting, make_training_session
):
    from_id, booked_id, _ = booked_with_someone_waiting
    target_id = make_training_session(capacity=5, days_ahead=40, kind=SessionKind.TRAIN_THE_TRAINER).id

    with pytest.raises(errors.NotAllowed):
        services.move_booking(load(Booking, booked_id), load(TrainingSession, target_id), now=utcnow())

    _unchanged(booked_id, from_id, 1, target_id, 0)


# --- The personal link ------------------------------------------------------------------------------


@pytest.fixture
def booking_id(make_training_session, make_booking):
    return make_booking(make_training_session().id)


def test_a_personal_link_is_a_secret_of_at_least_128_bits_stored_only_as_its_sha256(app_context, booking_id):
    token = issue_link(load(Booking, booking_id), LinkPurpose.MANAGE)
    db.session.flush()

    secret = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(secret) * 8 >= 128
    [link] = db.session.scalars(sa.select(PersonalLink)).all()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    rows = db.session.execute(sa.select(PersonalLink.__table__)).all()
    assert rows
    assert not any(token in str(value) for row in rows for value in row)
    assert find_booking(token, LinkPurpose.MANAGE).id == booking_id


def test_a_tampered_unknown_or_revoked_link_finds_no_booking(app_context, booking_id):
    booking = load(Booking, booking_id)
    old = issue_link(booking, LinkPurpose.MANAGE)
    current = issue_link(booking, LinkPurpose.MANAGE)
    tampered = current[:-1] + ("A" if current[-1] != "A" else "B")

    for token in (tampered, secrets.token_urlsafe(32), old, current[:-1], current + "A", ""):
        assert find_booking(token, LinkPurpose.MANAGE) is None, token
    assert find_booking(current, LinkPurpose.MANAGE).id == booking_id


def test_issuing_a_new_link_ends_the_old_one(app_context, booking_id):
    booking = load(Booking, booking_id)
    old = issue_link(booking, LinkPurpose.MANAGE)
    assert find_booking(old, LinkPurpose.MANAGE).id == booking_id

    new = issue_link(booking, LinkPurpose.MANAGE)

    assert new != old
    assert find_booking(old, LinkPurpose.MANAGE) is None
    assert find_booking(new, LinkPurpose.MANAGE).id == booking_id
    live = db.session.scalars(sa.select(PersonalLink).where(PersonalLink.revoked_at.is_(None))).all()
    assert len(live) == 1


def test_a_manage_link_does_not_open_the_evaluation(app_context, booking_id):
    booking = load(Booking, booking_id)
    manage = issue_link(booking, LinkPurpose.MANAGE)
    evaluation = issue_link(booking, LinkPurpose.EVALUATION)

    assert find_booking(manage, LinkPurpose.EVALUATION) is None
    assert find_booking(evaluation, LinkPurpose.MANAGE) is None
    # Issuing one purpose's link leaves the other purpose's link working.
    assert find_booking(manage, LinkPurpose.MANAGE).id == booking_id
    assert find_booking(evaluation, LinkPurpose.EVALUATION).id == booking_id


# --- Lost your link? --------------------------------------------------------------------------------


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count(OutgoingEmail.id))),
        db.session.scalar(sa.select(sa.func.count(PersonalLink.id))),
    )


def test_asking_for_a_link_for_an_unknown_email_changes_nothing(app_context, booking_id):
    before = _counts()

    services.request_link("nobody@example.org", now=utcnow())

    assert _counts() == before
    assert not db.session.new
    assert not db.session.dirty


def test_asking_for_a_link_emails_one_and_asking_again_within_two_minutes_sends_nothing_more(
    app_context, make_training_session, make_booking, make_volunteer
):
    volunteer_id = make_volunteer(email="Sam@example.org")
    booking_id = make_booking(make_training_session().id, volunteer_id=volunteer_id)
    now = utcnow()

    services.request_link("  sam@EXAMPLE.org ", now=now)
    [email] = emails("your_link")
    assert (email.booking_id, email.to_address) == (booking_id, "Sam@example.org")
    links = db.session.scalar(sa.select(sa.func.count(PersonalLink.id)))

    services.request_link("sam@example.org", now=now + timedelta(minutes=1, seconds=59))
    assert len(emails("your_link")) == 1
    assert db.session.scalar(sa.select(sa.func.count(PersonalLink.id))) == links

    services.request_link("sam@example.org", now=now + timedelta(minutes=3))
    assert len(emails("your_link")) == 2


# (days ahead, capacity, places taken, what else) of the one other session there is; whether a booking may move.
OTHER_SESSIONS = {
    "open": ((30, 10, 0, {}), True),
    "few places left": ((30, 10, 9, {}), True),
    "full": ((30, 10, 10, {}), False),
    "cancelled": ((30, 10, 0, {"cancelled": True}), False),
    "past its cut-off": ((3, 10, 0, {}), False),
    "past its own longer cut-off": ((10, 10, 0, {"cutoff_days": 14}), False),
    "before its own shorter cut-off": ((3, 10, 0, {"cutoff_days": 1}), True),
    "finished": ((-2, 10, 0, {}), False),
    "of the other kind": ((30, 10, 0, {"kind": SessionKind.TRAIN_THE_TRAINER}), False),
}


@pytest.mark.parametrize("other", OTHER_SESSIONS.values(), ids=OTHER_SESSIONS.keys())
def test_my_booking_offers_a_move_exactly_when_the_move_page_lists_a_session(
    app, make_training_session, make_booking, other
):
    (days_ahead, capacity, places_taken, extra), may_move = other
    booked = make_training_session(days_ahead=40)
    booking_id = make_booking(booked.id)
    columns = {"places_taken": places_taken, **{k: v for k, v in extra.items() if k != "cancelled"}}
    if extra.get("cancelled"):
        columns["cancelled_at"] = utcnow()
    make_training_session(days_ahead=days_ahead, capacity=capacity, **columns)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert services.can_move_somewhere(booking) is may_move
        assert bool(services.list_sessions_to_move_to(booking)) is may_move
