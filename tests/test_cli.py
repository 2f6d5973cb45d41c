"""Commands, the demo, the health check and staff accounts (what reaches the logs: test_logs.py)."""

import re

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from tests.helpers import STAFF_PASSWORD, empty_all_tables


def test_demo_load_fills_an_empty_database_so_every_status_shows(app, runner, client):
    with app.app_context():
        empty_all_tables()

    first = runner.invoke(args=["demo", "load"])
    second = runner.invoke(args=["demo", "load"])

    assert first.exit_code == 0
    assert "Demo data loaded." in first.output
    assert second.exit_code == 0
    assert "already has data" in second.output
    page = client.get("/").text
    for tag in ["Open", "Few places left", "Now full – join the waiting list", "Registration closed", "Cancelled"]:
        assert f">{tag}</strong>" in page, tag
    assert "Train the trainer" in page
    assert re.search(r"\d+ waiting", page)


def test_demo_has_a_finished_session_with_attended_volunteers(app, runner):
    from sqlalchemy import func, select

    from mecc_volunteer.models import Booking, BookingStatus, TrainingSession

    with app.app_context():
        empty_all_tables()
    runner.invoke(args=["demo", "load"])
    with app.app_context():
        attended = db.session.scalar(
            select(func.count(Booking.id))
            .join(Booking.training_session)
            .where(Booking.status == BookingStatus.ATTENDED, TrainingSession.ends_at < func.now())
        )
        assert attended >= 5
        # The stored counter agrees with the bookings holding a place (attendance keeps the place).
        holding = [BookingStatus.BOOKED, BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND]
        for training_session in db.session.scalars(select(TrainingSession)):
            booked = db.session.scalar(
                select(func.count(Booking.id)).where(
                    Booking.training_session_id == training_session.id, Booking.status.in_(holding)
                )
            )
            assert training_session.places_taken == booked


def test_demo_gives_every_section_of_the_pilot_review_real_figures(app, runner):
    from collections import Counter
    from datetime import timedelta

    from sqlalchemy import select

    from mecc_volunteer.models import (
        Booking,
        BookingStatus,
        EvaluationAnswer,
        EvaluationResponse,
        SessionKind,
        Survey,
        TrainingSession,
        utcnow,
    )

    with app.app_context():
        empty_all_tables()
    runner.invoke(args=["demo", "load"])
    with app.app_context():
        now = utcnow()
        held = [
            s
            for s in db.session.scalars(select(TrainingSession).where(TrainingSession.cancelled_at.is_(None)))
            if s.ends_at < now and s.starts_at > now - timedelta(days=365)
        ]
        bookings = [b for s in held for b in db.session.scalars(select(Booking).where(Booking.training_session == s))]
        attended = [b for b in bookings if b.status is BookingStatus.ATTENDED]
        training = [b for b in attended if b.session_kind is SessionKind.VOLUNTEER_TRAINING]
        trainers = [b for b in attended if b.session_kind is SessionKind.TRAIN_THE_TRAINER]
        answers = {(a.booking_id, a.survey, a.question_key): a for a in db.session.scalars(select(EvaluationAnswer))}
        responses = {(r.booking_id, r.survey): r for r in db.session.scalars(select(EvaluationResponse))}

        def small_and_large(counts: Counter) -> bool:
            return any(n >= 5 for n in counts.values()) and any(n < 5 for n in counts.values())

        # Held sessions with groups of 5 or more, some older than the 8 weeks of the follow-up, some recent.
        assert 60 <= len(training) <= 80
        assert any(b.status is BookingStatus.DID_NOT_ATTEND for b in bookings)
        starts = {b.training_session.starts_at for b in training}
        assert min(starts) < now - timedelta(weeks=8)
        assert max(starts) > now - timedelta(weeks=2)
        # Organisation types, areas and equality answers: groups of 5 or more, and groups to suppress.
        types = Counter(b.volunteer.organisation.organisation_type.name for b in training)
        assert sum(n >= 5 for n in types.values()) >= 2
        assert small_and_large(types)
        assert small_and_large(Counter(b.volunteer.district_id for b in training))
        for field in ("age_band", "gender", "ethnic_group"):
            counts = Counter(getattr(b.volunteer, field) for b in training)
            assert counts.pop(None, 0) > 0, field
            assert sum(counts.values()) > len(training) / 2, field
        assert small_and_large(Counter(b.volunteer.gender for b in training if b.volunteer.gender))
        # Two instrument versions: the retrospective question only in version 2, answered by 5 or more.
        after = [responses[b.id, Survey.AFTER_SESSION] for b in training if (b.id, Survey.AFTER_SESSION) in responses]
        assert {r.instrument_version for r in after} == {1, 2}
        assert len(after) < len(training)
        retrospective = [a for a in answers.values() if a.question_key == "confidence_before"]
        assert len(retrospective) >= 5
        assert {a.instrument_version for a in retrospective} == {2}
        for response in after:
            answer = answers[response.booking_id, Survey.AFTER_SESSION, "confidence"]
            assert answer.instrument_version == response.instrument_version
        # Paired change: some improve, some stay the same, some decline.
        changes = [
            int(answers[b.id, Survey.AFTER_SESSION, "confidence"].value)
            - int(answers[b.id, Survey.BASELINE, "confidence"].value)
            for b in training
            if (b.id, Survey.AFTER_SESSION, "confidence") in answers
        ]
        assert any(c > 0 for c in changes)
        assert any(c == 0 for c in changes)
        assert any(c < 0 for c in changes)
        # Follow-ups from most, not all, of those who consented once the survey was due.
        due = [
            b
            for b in training
            if b.volunteer.followup_consent and b.training_session.ends_at < now - timedelta(weeks=8)
        ]
        followed_up = [b for b in due if (b.id, Survey.FOLLOWUP) in responses]
        assert len(due) / 2 < len(followed_up) < len(due)
        # Cascade: two train-the-trainer sessions held; most trainers have delivered nothing yet, a few have.
        assert len({b.training_session_id for b in trainers}) >= 2
        delivered = [
            int(answers[b.id, Survey.FOLLOWUP, "sessions_delivered"].value)
            for b in trainers
            if (b.id, Survey.FOLLOWUP, "sessions_delivered") in answers
        ]
        assert delivered.count(0) > len(delivered) / 2
        assert any(1 <= n <= 4 for n in delivered)
        # A trained trainer runs volunteer training in the app: one session held, one to come.
        trained = {b.volunteer_id for b in trainers}
        run_by_trainer = list(
            db.session.scalars(select(TrainingSession).where(TrainingSession.trainer_volunteer_id.in_(trained)))
        )
        assert any(s.ends_at < now for s in run_by_trainer)
        assert any(s.starts_at > now for s in run_by_trainer)
        assert all(s.kind is SessionKind.VOLUNTEER_TRAINING for s in run_by_trainer)


def test_readiness_answers_503_when_the_database_is_unreachable_and_liveness_still_200(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
        },
        instance_path=str(tmp_path),
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "reason": "database unreachable", "database": "unreachable"}
    assert app.test_client().get("/healthz").status_code == 200  # the process answers: no restart


# --- Staff accounts ------------------------------------------------------------------------------------


def test_staff_set_password_asks_twice_and_ends_every_session(app, runner, client, auth):
    email = auth.create("coordinator", email="sam@example.org")
    auth.login(email=email)
    assert client.get("/manage/").status_code == 200

    mismatch = runner.invoke(args=["staff", "set-password", email], input="a brand new password\nsomething else\n" * 3)
    weak = runner.invoke(args=["staff", "set-password", email], input="short\nshort\n")
    unknown = runner.invoke(
        args=["staff", "set-password", "nobody@example.org"], input="a brand new password\na brand new password\n"
    )
    assert mismatch.exit_code != 0
    assert weak.exit_code != 0
    assert "at least 12 characters" in weak.output
    assert unknown.exit_code != 0
    assert "no staff account" in unknown.output
    assert client.get("/manage/").status_code == 200  # nothing changed yet

    changed = runner.invoke(
        args=["staff", "set-password", " SAM@example.org "], input="a brand new password\na brand new password\n"
    )

    assert changed.exit_code == 0, changed.output
    assert "sessions have ended" in changed.output
    assert email not in changed.output
    assert client.get("/manage/").status_code == 303
    assert (
        "Enter a correct email address"
        in client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).text
    )
    assert client.post("/manage/sign-in", data={"email": email, "password": "a brand new password"}).status_code == 303


def test_staff_deactivate_signs_the_account_out_and_keeps_it_out_until_reactivated(app, runner, client, auth):
    email = auth.create("evaluator", email="eva@example.org")
    auth.login(email=email)

    deactivated = runner.invoke(args=["staff", "deactivate", email])

    assert deactivated.exit_code == 0
    assert "Deactivated account" in deactivated.output
    assert client.get("/manage/").status_code == 303
    assert (
        "Enter a correct email address"
        in client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).text
    )
    assert runner.invoke(args=["staff", "deactivate", "nobody@example.org"]).exit_code != 0

    reactivated = runner.invoke(args=["staff", "reactivate", email])
    assert reactivated.exit_code == 0
    assert "Reactivated account" in reactivated.output
    assert client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).status_code == 303
