"""Who did what: every change to a booking and every coordinator's action is in the audit trail, with who made
it; a coordinator reads a booking's history on the roster and a session's recent changes on its page. The trail
is append-only (the database refuses an update) and holds no personal data. And only one module changes a
booking's status."""

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ActorKind,
    AuditAction,
    AuditEvent,
    Booking,
    BookingStatus,
    StaffUser,
    TrainingSession,
    utcnow,
)
from tests.helpers import my_booking_path, register_through_the_form

PACKAGE = Path(__file__).resolve().parent.parent / "mecc_volunteer"


def trail(app, **where) -> list[tuple]:
    """(action, actor kind, staff name or None, from, to, detail) for the matching rows, oldest first."""
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return [
            (
                e.action,
                e.actor_kind,
                e.staff_user.name if e.staff_user else None,
                e.from_status,
                e.to_status,
                e.detail,
            )
            for e in db.session.scalars(query)
        ]


def sign_in_coordinator(auth, name="Sam Coordinator") -> None:
    auth.login("coordinator", email=auth.create("coordinator", name=name))


# --- A volunteer's own changes, and what follows from them ------------------------------------------------


def test_a_volunteer_who_books_then_cancels_is_recorded_as_acting_by_their_link_and_the_next_person_moves_up(
    app, client, make_training_session, make_booking, registration_form
):
    training_session = make_training_session(capacity=1)
    page = register_through_the_form(client, training_session.id, registration_form(email="asha@example.org"))
    waiting = make_booking(training_session.id, BookingStatus.WAITING)

    client.post(my_booking_path(page) + "/cancel")

    with app.app_context():
        booked_id = db.session.scalar(sa.select(Booking.id).where(Booking.id != waiting))
    assert trail(app, booking_id=booked_id) == [
        (AuditAction.BOOKED, ActorKind.VOLUNTEER, None, None, BookingStatus.BOOKED, None),
        (AuditAction.CANCELLED, ActorKind.VOLUNTEER, None, BookingStatus.BOOKED, BookingStatus.CANCELLED, None),
    ]
    # The place freed goes to the first person waiting, by the rules rather than by anyone's hand.
    assert trail(app, booking_id=waiting) == [
        (
            AuditAction.PROMOTED,
            ActorKind.SYSTEM,
            None,
            BookingStatus.WAITING,
            BookingStatus.BOOKED,
            "next in the queue",
        )
    ]


def test_the_e_learning_confirmed_by_the_volunteer_is_in_their_history(
    app, client, make_training_session, registration_form
):
    training_session = make_training_session()
    page = register_through_the_form(client, training_session.id, registration_form())
    today = utcnow().date()

    client.post(
        my_booking_path(page) + "/elearning",
        data={
            "completed_day": today.day,
            "completed_month": today.month,
            "completed_year": today.year,
            "declaration": "y",
        },
    )

    actions = [row[:2] for row in trail(app, training_session_id=training_session.id)]
    assert actions == [
        (AuditAction.BOOKED, ActorKind.VOLUNTEER),
        (AuditAction.ELEARNING_RECORDED, ActorKind.VOLUNTEER),
    ]


# --- A coordinator's changes -------------------------------------------------------------------------------


def test_a_coordinator_cancelling_moving_and_promoting_is_named_in_each_booking_history_on_the_roster(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    sign_in_coordinator(auth, name="Sam Coordinator")
    training_session = make_training_session(capacity=1)
    other = make_training_session(days_ahead=40, capacity=5)
    asha = make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan"))
    ben = make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Ben Jones"))
    cara = make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Cara Lewis"))
    roster = f"/manage/sessions/{training_session.id}/roster"

    client.post(f"{roster}/{asha}/move", data={"training_session": str(other.id)})
    client.post(f"{roster}/{cara}/cancel")

    moved = trail(app, booking_id=asha)
    assert [row[:5] for row in moved] == [
        (AuditAction.MOVED, ActorKind.STAFF, "Sam Coordinator", BookingStatus.BOOKED, BookingStatus.BOOKED)
    ]
    assert moved[0][5].startswith("from ")
    assert "10:30am" in moved[0][5]
    assert trail(app, booking_id=ben)[0][:2] == (AuditAction.PROMOTED, ActorKind.SYSTEM)
    assert trail(app, booking_id=cara)[0][:3] == (AuditAction.CANCELLED, ActorKind.STAFF, "Sam Coordinator")

    page = client.get(roster)
    history = re.search(rf'id="booking-{cara}".*?<details(.*?)</details>', page.text, re.S).group(1)
    assert 'History<span class="nhsuk-u-visually-hidden"> of Cara Lewis\'s booking' in history
    assert "Cancelled, by Sam Coordinator" in history
    moved_page = client.get(f"/manage/sessions/{other.id}/roster")
    assert re.search(r"Moved to another session \(from \w+day .*?\), by Sam Coordinator", moved_page.text)


def test_promoting_by_name_and_marking_attendance_are_recorded_with_the_coordinator(
    app, client, auth, make_training_session, make_booking, time_machine
):
    email = auth.create("coordinator", name="Jo Trainer")
    auth.login(email=email)
    training_session = make_training_session(days_ahead=10, capacity=2)
    booked = make_booking(training_session.id)
    waiting = make_booking(training_session.id, BookingStatus.WAITING)
    base = f"/manage/sessions/{training_session.id}"

    client.post(f"{base}/roster/{waiting}/promote")
    time_machine.move_to(training_session.starts_at + timedelta(minutes=5), tick=False)
    auth.login(email=email)  # ten days on, signed in again
    client.post(f"{base}/attendance/{booked}", data={"attended": "no"})
    client.post(f"{base}/attendance/mark-all")

    assert [row[:5] for row in trail(app, booking_id=waiting)] == [
        (AuditAction.PROMOTED, ActorKind.STAFF, "Jo Trainer", BookingStatus.WAITING, BookingStatus.BOOKED),
        (AuditAction.ATTENDED, ActorKind.STAFF, "Jo Trainer", BookingStatus.BOOKED, BookingStatus.ATTENDED),
    ]
    assert [row[:5] for row in trail(app, booking_id=booked)] == [
        (AuditAction.DID_NOT_ATTEND, ActorKind.STAFF, "Jo Trainer", BookingStatus.BOOKED, BookingStatus.DID_NOT_ATTEND),
    ]
    # Mark all: one row per person marked, and one for the session saying how many.
    assert trail(app, action=AuditAction.ALL_MARKED_ATTENDED) == [
        (AuditAction.ALL_MARKED_ATTENDED, ActorKind.STAFF, "Jo Trainer", None, None, "1 person")
    ]


def test_creating_changing_and_cancelling_a_session_shows_in_its_recent_changes(
    app, client, auth, make_booking, make_volunteer
):
    sign_in_coordinator(auth, name="Sam Coordinator")
    day = (utcnow() + timedelta(days=30)).date()
    form = {
        "day": str(day.day),
        "month": str(day.month),
        "year": str(day.year),
        "start_time": "10:30",
        "end_time": "12:00",
        "kind": "volunteer_training",
        "capacity": "10",
        "trainer_name": "",
        "joining_link": "",
        "cutoff_days": "",
    }
    created = client.post("/manage/sessions/new", data=form)
    assert created.status_code == 303, created.text
    with app.app_context():
        session_id = db.session.scalar(sa.select(TrainingSession.id))
    make_booking(session_id, volunteer_id=make_volunteer(name="Asha Khan"))
    client.post(f"/manage/sessions/{session_id}/edit", data=form | {"capacity": "12", "trainer_name": "Sam Okafor"})
    client.post(f"/manage/sessions/{session_id}/cancel")

    session_rows = list(trail(app, training_session_id=session_id))
    assert [(row[0], row[2], row[5]) for row in session_rows] == [
        (AuditAction.SESSION_CREATED, "Sam Coordinator", None),
        # What changed, by name only: never the values, which could be anything a person typed.
        (AuditAction.SESSION_UPDATED, "Sam Coordinator", "places, trainer"),
        (AuditAction.SESSION_CANCELLED, "Sam Coordinator", None),
        (AuditAction.CANCELLED, "Sam Coordinator", "the session was cancelled"),
    ]

    page = client.get(f"/manage/sessions/{session_id}")
    recent = page.text[page.text.index("Recent changes") :]
    # Newest first; a booking's change names its volunteer.
    assert recent.index("Asha Khan: ") < recent.index("Session cancelled") < recent.index("Session changed (places")
    assert recent.index("Session changed") < recent.index("Session created, by Sam Coordinator")


def test_a_new_session_page_says_nothing_has_changed_yet(client, auth, make_training_session):
    sign_in_coordinator(auth)
    training_session = make_training_session()
    assert "Nothing has changed on this session yet." in client.get(f"/manage/sessions/{training_session.id}").text


# --- The trail itself -------------------------------------------------------------------------------------


def test_the_database_refuses_to_change_a_recorded_event(app, make_training_session, make_booking):
    training_session = make_training_session(capacity=1)
    with app.app_context():
        from mecc_volunteer import audit

        audit.record(AuditAction.SESSION_CREATED, by=audit.SYSTEM, training_session_id=training_session.id)
        db.session.commit()
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(sa.update(AuditEvent).values(detail="rewritten"))
        db.session.rollback()
        assert db.session.scalar(sa.select(AuditEvent.detail)) is None


def test_the_trail_holds_no_personal_data(app, client, auth, make_training_session, registration_form):
    sign_in_coordinator(auth)
    training_session = make_training_session(capacity=1)
    other = make_training_session(days_ahead=40)
    form = registration_form(name="Zainab Quartermaine", email="zainab.q@example.org", phone="07700 900123")
    page = register_through_the_form(client, training_session.id, form)
    token = my_booking_path(page).rsplit("/", 1)[1]
    with app.app_context():
        booking_id = db.session.scalar(sa.select(Booking.id))
    client.post(f"/manage/sessions/{training_session.id}/roster/{booking_id}/move", data={"training_session": other.id})

    with app.app_context():
        rows = db.session.execute(sa.select(AuditEvent.__table__)).all()
        staff_names = set(db.session.scalars(sa.select(StaffUser.name)))
    assert len(rows) >= 2
    text = " ".join(str(value) for row in rows for value in row)
    for personal in ["Zainab", "Quartermaine", "zainab.q", "example.org", "07700", token, "Library assistant"]:
        assert personal not in text
    # Staff are named through their account, not copied into the row.
    assert not any(name in text for name in staff_names)


# --- One owner --------------------------------------------------------------------------------------------


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that set a booking's status: `x.status = BookingStatus...`, or `status=BookingStatus...` passed
    to a constructor or .values()."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets) and "BookingStatus" in (
                ast.unparse(node.value) if node.value else ""
            ):
                found.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg == "status" and "BookingStatus" in ast.unparse(node.value):
            found.append(node.value.lineno)
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Booking"):
            found.append(node.lineno)  # a new Booking row is made in one place too
    return found


def test_only_the_booking_lifecycle_module_writes_a_booking_status():
    writers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = _status_writes(ast.parse(path.read_text(), filename=str(path)))
        if lines:
            writers[str(path.relative_to(PACKAGE))] = lines
    assert list(writers) == ["bookings/lifecycle.py"], writers


def test_the_status_check_finds_each_way_of_writing_a_status():
    # The check above must not pass by finding nothing: each form it guards against is caught.
    samples = [
        "booking.status = BookingStatus.CANCELLED",
        "sa.update(Booking).values(status=BookingStatus.BOOKED)",
        "Booking(status=BookingStatus.WAITING)",
        "Booking(volunteer=v)",
    ]
    for sample in samples:
        assert _status_writes(ast.parse(sample)), sample
    assert not _status_writes(ast.parse("email.status = EmailStatus.SENT"))


# --- Messages ---------------------------------------------------------------------------------------------


def test_sending_joining_links_is_in_each_history_and_once_on_the_session_with_how_many(
    app, client, auth, make_training_session, make_booking
):
    sign_in_coordinator(auth, name="Sam Coordinator")
    training_session = make_training_session(joining_link="https://teams.microsoft.com/l/meetup-join/abc")
    ready = []
    for _ in range(2):
        booking_id = make_booking(training_session.id)
        with app.app_context():
            booking = db.session.get(Booking, booking_id)
            booking.elearning_completed_on, booking.elearning_confirmed_at = utcnow().date(), utcnow()
            db.session.commit()
        ready.append(booking_id)

    client.post(f"/manage/sessions/{training_session.id}/joining-links")

    for booking_id in ready:
        assert trail(app, booking_id=booking_id) == [
            (AuditAction.JOINING_LINK_SENT, ActorKind.STAFF, "Sam Coordinator", None, None, None)
        ]
    page = client.get(f"/manage/sessions/{training_session.id}")
    recent = page.text[page.text.index("Recent changes") :]
    assert "Joining link sent (2 people), by Sam Coordinator" in recent
    assert recent.count("Joining link sent") == 1


def test_the_day_before_reminder_sent_by_the_jobs_is_recorded_as_automatic(
    app, make_training_session, make_booking, time_machine
):
    from mecc_volunteer.jobs import run_due_jobs

    training_session = make_training_session(days_ahead=3)
    booking_id = make_booking(training_session.id)
    time_machine.move_to(training_session.starts_at - timedelta(hours=20), tick=False)
    with app.app_context():
        run_due_jobs()
        db.session.commit()

    assert trail(app, booking_id=booking_id) == [
        (AuditAction.DAY_BEFORE_REMINDER_SENT, ActorKind.SYSTEM, None, None, None, None)
    ]
