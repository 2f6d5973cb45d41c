"""Fixtures: an app on a migrated database (SQLite file, or TEST_DATABASE_URL), factories, and a real
SMTP server on loopback. Commits are real; every table is emptied after each test."""

import logging
import os
import secrets
import smtplib
from datetime import timedelta

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import request_started

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    District,
    Organisation,
    Programme,
    SessionKind,
    TrainingSession,
    utcnow,
)
from tests import compiled_once
from tests.client import BrowserLikeClient
from tests.helpers import (
    STAFF_PASSWORD,
    STAFF_TOTP_SECRET,
    add_volunteer,
    app_settings,
    confirm_elearning,
    coordinator_id,
    empty_all_tables,
    london,
    next_authenticator_code,
    seed_reference_data,
    staff_password_hashed_once,
)
from tests.mail_servers import ALLOWED_SMTP_PORTS, SilentSMTPServer, SMTPServer, real_smtp_connect, wait_for_mail


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite")


def pytest_configure(config):
    """Every test app reuses the URL builders and templates the apps before it compiled (tests/compiled_once.py)."""
    compiled_once.install()


def pytest_collection_modifyitems(config, items):
    """A test marked postgres_only is skipped, with the marker's reason, unless the run is on PostgreSQL."""
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    for item in items:
        if marker := item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason=marker.kwargs.get("reason", "needs PostgreSQL")))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database migrated once per run. On PostgreSQL each run gets a database of its own on the
    TEST_DATABASE_URL server (created, then dropped), so two runs at once never meet."""
    url = _database_url(tmp_path_factory)
    server = None
    if url.startswith("postgresql"):
        base = sa.engine.make_url(url)
        name = f"{base.database}_{os.getpid()}_{secrets.token_hex(4)}"
        server = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    app = create_app(app_settings(url), instance_path=str(tmp_path_factory.mktemp("instance")))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    yield url
    if server is not None:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def make_app(database_url, tmp_path):
    """Another app on the test database with its own config; its connections are closed afterwards."""
    made = []

    def make(**overrides):
        app = create_app(app_settings(database_url, **overrides), instance_path=str(tmp_path / f"app{len(made)}"))
        app.test_client_class = BrowserLikeClient
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app_config(request):
    """Per-test config overrides: redefine this fixture in a test module or class, or parametrize it. A module
    or test marked real_smtp sends its mail to the real SMTP server on loopback (smtp_server)."""
    if request.node.get_closest_marker("real_smtp"):
        return request.getfixturevalue("smtp_app_config")
    return {}


@pytest.fixture
def app(database_url, app_config, tmp_path):
    app = create_app(app_settings(database_url, **app_config), instance_path=str(tmp_path / "instance"))
    app.test_client_class = BrowserLikeClient
    with app.app_context():
        seed_reference_data()
        db.session.commit()
    yield app
    wait_for_mail(app)  # the courier may still be sending this app's mail: let it finish first
    with app.app_context():
        db.session.remove()
        empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def htmx_headers():
    return {"HX-Request": "true"}


# --- Factories ---------------------------------------------------------------------------------------


@pytest.fixture
def make_training_session(app):
    """make_training_session(days_ahead=30, capacity=10, kind=..., **columns) -> TrainingSession (committed)."""

    def make(days_ahead: int = 30, capacity: int = 10, *, starts_at=None, ends_at=None, **columns):
        with app.app_context():
            programme = db.session.scalar(sa.select(Programme))
            day = (utcnow() + timedelta(days=days_ahead)).astimezone(LONDON).date()
            starts_at = starts_at or london(day, 10, 30)
            ends_at = ends_at or starts_at + timedelta(minutes=90)
            training_session = TrainingSession(
                programme_id=programme.id,
                starts_at=starts_at,
                ends_at=ends_at,
                capacity=capacity,
                kind=columns.pop("kind", SessionKind.VOLUNTEER_TRAINING),
                **columns,
            )
            db.session.add(training_session)
            db.session.commit()
            return db.session.get(TrainingSession, training_session.id)

    return make


@pytest.fixture
def make_volunteer(app):
    """make_volunteer(**columns) -> volunteer id (committed): Volunteer 1, 2, ... (tests.helpers.add_volunteer)."""
    counter = iter(range(1, 100_000))

    def make(**columns):
        with app.app_context():
            volunteer = add_volunteer(next(counter), **columns)
            db.session.commit()
            return volunteer.id

    return make


@pytest.fixture
def make_booking(app, make_volunteer):
    """make_booking(training_session_id, status=BOOKED) -> booking id; keeps places_taken in step."""

    def make(training_session_id: int, status: BookingStatus = BookingStatus.BOOKED, volunteer_id=None, at=None):
        # Make the volunteer first: two open sessions at once would wait on each other's SQLite write lock.
        volunteer_id = volunteer_id or make_volunteer()
        with app.app_context():
            training_session = db.session.get(TrainingSession, training_session_id)
            at = at or utcnow()
            booking = Booking(
                training_session_id=training_session_id,
                volunteer_id=volunteer_id,
                session_kind=training_session.kind,
                status=status,
                created_at=at,
            )
            if status is BookingStatus.WAITING:
                booking.waitlisted_at = at
            else:
                booking.booked_at = at
            if status is BookingStatus.BOOKED:
                training_session.places_taken += 1
            db.session.add(booking)
            db.session.commit()
            return booking.id

    return make


@pytest.fixture
def registration_form(app):
    """A valid registration form body, with overrides."""

    def make(**overrides) -> dict:
        with app.app_context():
            organisation = db.session.scalar(sa.select(Organisation).order_by(Organisation.id))
            district = db.session.scalar(sa.select(District).order_by(District.id))
            data = {
                "name": "Priya Patel",
                "email": "priya@example.org",
                "phone": "",
                "organisation": str(organisation.id),
                "organisation_other": "",
                "role": "Library assistant",
                "district": str(district.id),
                "baseline_confidence": "4",
                "baseline_knowledge": "3",
                "privacy_acknowledged": "y",
            }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}

    return make


# --- Mail --------------------------------------------------------------------------------------------


class SettleMailBeforeRequests:
    """In a test the next request follows at once; a person clicks again seconds later, by when the courier
    has long sent the mail of their last request. So each request to a test app first waits for the courier,
    and a page (a coordinator's email status, say) shows what a person would see. `enabled = False` for a
    test that needs a request while mail is still in flight."""

    def __init__(self):
        self.enabled = True

    def __call__(self, app, **_extra):
        if self.enabled:
            wait_for_mail(app)


@pytest.fixture(autouse=True)
def mail_settles_before_each_request():
    settle = SettleMailBeforeRequests()
    request_started.connect(settle)
    yield settle
    request_started.disconnect(settle)


@pytest.fixture(autouse=True)
def only_loopback_test_smtp(monkeypatch):
    """No test talks to an SMTP server other than the fixture's own."""

    def guarded_connect(self, host="localhost", port=0, source_address=None):
        if int(port) not in ALLOWED_SMTP_PORTS:
            raise AssertionError(f"a test tried to connect to SMTP {host}:{port}")
        return real_smtp_connect(self, host, port, source_address)

    monkeypatch.setattr(smtplib.SMTP, "connect", guarded_connect)


@pytest.fixture
def smtp_server():
    server = SMTPServer()
    server.start()
    ALLOWED_SMTP_PORTS.add(server.port)
    yield server
    wait_for_mail()
    ALLOWED_SMTP_PORTS.discard(server.port)
    server.stop()


@pytest.fixture
def silent_smtp_server():
    server = SilentSMTPServer()
    ALLOWED_SMTP_PORTS.add(server.port)
    yield server
    server.stop()  # the courier's connection fails at once, rather than at its timeout
    wait_for_mail()
    ALLOWED_SMTP_PORTS.discard(server.port)


@pytest.fixture
def smtp_app_config(smtp_server):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_DEFAULT_SENDER": "MECC <mecc@example.org>"}


# --- Staff -------------------------------------------------------------------------------------------


class AuthActions:
    """Sign in as a coordinator, evaluator or admin (flaskr's AuthActions), through both steps: the password,
    then a code from the authenticator app, computed here from the secret the account was enrolled with."""

    TOTP_SECRET = STAFF_TOTP_SECRET

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.counter = 0

    def create(self, role: str = "coordinator", email: str | None = None, *, enrolled: bool = True, **kw) -> str:
        """A staff account; `enrolled` gives it a confirmed second factor (TOTP_SECRET), as if it had set up its
        app at a first sign-in. Without it, the next sign-in goes to the enrolment page."""
        from mecc_volunteer.auth.services import create_staff
        from mecc_volunteer.models import StaffRole

        self.counter += 1
        email = email or f"{role}{self.counter}@example.org"
        with self.app.app_context(), staff_password_hashed_once():
            staff = create_staff(
                email, name=kw.get("name", f"Test {role}"), role=StaffRole(role), password=STAFF_PASSWORD
            )
            if enrolled:
                staff.totp_secret = self.TOTP_SECRET
                staff.totp_confirmed_at = utcnow()
            db.session.commit()
        return email

    def code(self, email: str) -> str:
        """The account's next authenticator code (tests.helpers.next_authenticator_code)."""
        return next_authenticator_code(self.app, email)

    def login(self, role: str = "coordinator", email: str | None = None, *, client=None, next: str | None = None):
        """Sign in through both steps (on `client`, by default the test's own); the response to the code."""
        client = client or self.client
        email = email or self.create(role)
        response = client.post(
            "/manage/sign-in",
            query_string={"next": next} if next else None,
            data={"email": email, "password": STAFF_PASSWORD},
        )
        assert response.status_code == 303, response.text
        assert response.headers["Location"].endswith("/manage/sign-in/code"), response.headers["Location"]
        response = client.post("/manage/sign-in/code", data={"code": self.code(email)})
        assert response.status_code == 303, response.text
        return response

    def logout(self, *, client=None):
        return (client or self.client).post("/manage/sign-out")


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


@pytest.fixture
def coordinator(auth):
    """The test client is signed in as a coordinator."""
    auth.login("coordinator")


@pytest.fixture
def staff_id(app, auth) -> int:
    """The id of a coordinator account, for calling services as that person."""
    return coordinator_id(app, auth)


@pytest.fixture
def make_ready(app, make_booking):
    """make_ready(session_id) -> booking id: booked, with the e-learning confirmed."""

    def make(training_session_id: int, status: BookingStatus = BookingStatus.BOOKED) -> int:
        booking_id = make_booking(training_session_id, status)
        confirm_elearning(app, booking_id)
        return booking_id

    return make


@pytest.fixture
def app_logs(caplog, monkeypatch):
    """caplog for the app's loggers. migrations/env.py runs logging.config.fileConfig(), which disables every
    logger that exists by then (the whole app's), so they are switched back on for the test."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("mecc_volunteer") and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.DEBUG, logger="mecc_volunteer")
    return caplog
