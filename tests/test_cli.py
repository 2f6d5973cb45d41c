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


def test_health_check_answers_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
        },
        instance_path=str(tmp_path),
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unreachable"}


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
