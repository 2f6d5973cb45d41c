"""Commands, the demo, the health check and what reaches the logs."""

import datetime as dt
import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config as GunicornConfig

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from tests.conftest import empty_all_tables


def test_demo_load_fills_an_empty_database_so_every_status_shows(app, runner, client):
    with app.app_context():
        empty_all_tables()

    first = runner.invoke(args=["demo", "load"])
    second = runner.invoke(args=["demo", "load"])

    assert first.exit_code == 0 and "Demo data loaded." in first.output
    assert second.exit_code == 0 and "already has data" in second.output
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


def test_the_access_log_never_holds_a_personal_link():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", Path(__file__).parent.parent / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    logger = conf.RedactingLogger(GunicornConfig())
    secret = "Zm9vYmFyYmF6cXV4cXV1eGZvb2Jhcgo_-abcdefghij"
    request = SimpleNamespace(headers=[], method="GET", path=f"/my-booking/{secret}/cancel", query="", uri=f"/my-booking/{secret}/cancel", version=(1, 1))
    response = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/my-booking/{secret}/cancel",
        "PATH_INFO": f"/my-booking/{secret}/cancel",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"http://localhost/my-booking/{secret}",
    }
    atoms = logger.atoms(response, request, environ, dt.timedelta(seconds=0.01))
    assert secret not in repr(atoms)
    assert "/my-booking/[link]/cancel" in atoms["r"]
