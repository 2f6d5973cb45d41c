"""Fixtures: an app on a migrated database (SQLite file, or TEST_DATABASE_URL), factories, and a real
SMTP server on loopback. Commits are real; every table is emptied after each test."""

import contextlib
import gzip
import json
import logging
import os
import secrets
import smtplib
import socket
import threading
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from html.parser import HTMLParser
from urllib.parse import urlsplit

import flask_migrate
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import request_started
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers, MultiDict

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import wait_until_courier_idle
from mecc_volunteer.models import (
    LONDON,
    Base,
    Booking,
    BookingStatus,
    District,
    Organisation,
    Programme,
    SessionKind,
    TrainingSession,
    Volunteer,
    utcnow,
)
from tests.helpers import confirm_elearning, coordinator_id

DISTRICTS = ["Cherwell", "Oxford City", "South Oxfordshire", "Vale of White Horse", "West Oxfordshire"]
ORGANISATIONS = ["Oxfordshire Library Service", "Carers Oxfordshire", "Restore"]


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite")


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
    app = create_app(_test_config(url), instance_path=str(tmp_path_factory.mktemp("instance")))
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
        app = create_app(_test_config(database_url, **overrides), instance_path=str(tmp_path / f"app{len(made)}"))
        app.test_client_class = BrowserLikeClient
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


def _test_config(url: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "SERVER_NAME": "localhost",
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": None,
    }
    config.update(overrides)
    return config


@pytest.fixture
def app_config(request):
    """Per-test config overrides: redefine this fixture in a test module or class, or parametrize it. A module
    or test marked real_smtp sends its mail to the real SMTP server on loopback (smtp_server)."""
    if request.node.get_closest_marker("real_smtp"):
        return request.getfixturevalue("smtp_app_config")
    return {}


@pytest.fixture
def app(database_url, app_config, tmp_path):
    app = create_app(_test_config(database_url, **app_config), instance_path=str(tmp_path / "instance"))
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


def seed_reference_data() -> None:
    db.session.add(Programme(name="Oxfordshire MECC volunteer training pilot", cutoff_days=7))
    db.session.add_all(Organisation(name=name, sort_order=i) for i, name in enumerate(ORGANISATIONS))
    db.session.add(Organisation(name="Other", sort_order=99, is_other=True))
    db.session.add_all(District(name=name, sort_order=i) for i, name in enumerate(DISTRICTS))


def empty_all_tables() -> None:
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # One statement, and no row-by-row foreign-key checks however many rows a test made.
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


class _PageForms(HTMLParser):
    """What a browser keeps of a page for posting: each form's action, method and hidden CSRF field, and the
    token in the body's hx-headers that htmx sends with its requests."""

    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.forms: list[dict] = []
        self.header_token: str | None = None
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body" and attrs.get("hx-headers"):
            with contextlib.suppress(ValueError):
                self.header_token = json.loads(attrs["hx-headers"]).get("X-CSRFToken")
        elif tag == "form":
            action = urlsplit(attrs.get("action") or self.url).path
            self._form = {"action": action, "method": (attrs.get("method") or "get").lower(), "csrf": None}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attrs.get("name") == "csrf_token":
            self._form["csrf"] = attrs.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def post_forms(self, path: str) -> list[dict]:
        return [form for form in self.forms if form["method"] == "post" and form["action"] == path]


class BrowserLikeClient(FlaskClient):
    """The test client, used the way a browser uses the app, so CSRF stays on in every test:

    - a plain POST carries the CSRF token from the hidden field of the form on the page that posts to that
      URL: the last page this client got, or else the page at that URL or the nearest page above it, as a
      person would open it first. A form that posts to the URL without a CSRF field fails the test.
    - an htmx POST (HX-Request: true) carries the token from the body's hx-headers, as htmx does.
    - every request asks for gzip, and the body is decompressed as a browser would (the headers still say
      Content-Encoding: gzip; `response.wire_size` is the compressed size).
    `post(..., csrf=False)` sends no token: for the tests of what happens without one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.page: _PageForms | None = None

    def open(self, *args, csrf: bool = True, **kwargs):
        builder_form = args and not isinstance(args[0], str)
        if not builder_form:
            headers = Headers(kwargs.get("headers") or {})
            headers.setdefault("Accept-Encoding", "gzip")
            kwargs["headers"] = headers
            if csrf and args and str(kwargs.get("method", "GET")).upper() == "POST":
                self._add_csrf_token(args[0], kwargs)
        response = super().open(*args, **kwargs)
        if response.headers.get("Content-Encoding") == "gzip" and not hasattr(response, "wire_size"):
            wire = response.get_data()
            response.set_data(gzip.decompress(wire))
            response.wire_size = len(wire)
        self._remember(response)
        return response

    def _remember(self, response) -> None:
        url = response.request.path if response.request is not None else "/"
        if 300 <= response.status_code < 400 or "HX-Location" in response.headers or "HX-Redirect" in response.headers:
            self.page = None  # the browser goes on to another page
        elif response.mimetype == "text/html":
            page = _PageForms(url)
            page.feed(response.get_data(as_text=True))
            if response.request is not None and response.request.headers.get("HX-Request") == "true":
                if self.page is not None:  # a fragment swapped into the page: its forms join the page's
                    swapped = {form["action"] for form in page.forms}
                    self.page.forms = [f for f in self.page.forms if f["action"] not in swapped] + page.forms
                return
            self.page = page

    def _add_csrf_token(self, url: str, kwargs: dict) -> None:
        data = kwargs.get("data")
        if isinstance(data, (str, bytes)) or "json" in kwargs:
            return
        headers = Headers(kwargs.get("headers") or {})
        fields = MultiDict(data or {})
        if "X-CSRFToken" in headers or "csrf_token" in fields:
            return
        path = urlsplit(url).path
        if headers.get("HX-Request") == "true":
            page = self.page if self.page is not None and self.page.header_token else self._open_page_for(path)
            if page is not None and page.header_token:
                headers["X-CSRFToken"] = page.header_token
                kwargs["headers"] = headers
            return
        token = self._form_token(self.page, path)
        if token is None:
            page = self._open_page_for(path)
            token = self._form_token(page, path)
            if token is None and page is not None:
                # No page shows a form for this URL (a closed session, a stale tab): post as a stale page would.
                token = page.header_token or next((f["csrf"] for f in page.forms if f["csrf"]), None)
        if token is not None:
            fields["csrf_token"] = token
            kwargs["data"] = fields

    @staticmethod
    def _form_token(page: "_PageForms | None", path: str) -> str | None:
        if page is None:
            return None
        forms = page.post_forms(path)
        if not forms:
            return None
        missing = [form for form in forms if not form["csrf"]]
        assert not missing, f"the form on {page.url} that posts to {path} has no CSRF field"
        return forms[0]["csrf"]

    def _open_page_for(self, path: str) -> "_PageForms | None":
        """GET the URL, then each URL above it, until a page has a form that posts to `path`."""
        candidates = [path]
        parts = path.rstrip("/").split("/")
        while len(parts) > 1:
            parts = parts[:-1]
            candidates.append("/".join(parts) + "/" if len(parts) > 1 else "/")
        last = None
        for candidate in dict.fromkeys(candidates):
            self.get(candidate, follow_redirects=True)
            if self.page is not None:
                last = self.page
                if self.page.post_forms(path):
                    return self.page
        return last


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


def london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


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
    counter = iter(range(1, 100_000))

    def make(**columns):
        with app.app_context():
            n = next(counter)
            organisation = db.session.scalar(sa.select(Organisation).order_by(Organisation.id))
            email = columns.pop("email", f"volunteer{n}@example.org")
            volunteer = Volunteer(
                name=columns.pop("name", f"Volunteer {n}"),
                email=email,
                email_normalised=email.strip().lower(),
                organisation_id=columns.pop("organisation_id", organisation.id),
                role=columns.pop("role", "Library assistant"),
                privacy_notice_version="test",
                privacy_acknowledged_at=utcnow(),
                **columns,
            )
            db.session.add(volunteer)
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


def free_port() -> int:
    """aiosmtpd will not bind port 0, so ask the OS for a free port first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


COURIER_TIMEOUT = 30.0  # seconds: generous, for a busy CI machine


def wait_for_mail(app=None) -> None:
    """Until the mail courier (the background thread that sends mail after each request) has sent, or
    given up on, everything it was handed: for `app`, or for every app."""
    assert wait_until_courier_idle(app, timeout=COURIER_TIMEOUT), f"mail courier still busy after {COURIER_TIMEOUT}s"


class RecordingHandler:
    """Accepts every message; `reply` can be set to an SMTP error such as '421 ...' or '550 ...'.

    Setting `reply` first waits for the courier, so mail handed over before the change meets the server
    as it was then (as it did when mail went out on the request's own thread)."""

    def __init__(self):
        self.messages = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO) of each message accepted
        self._reply: str | None = None
        self.lock = threading.Lock()

    @property
    def reply(self) -> str | None:
        return self._reply

    @reply.setter
    def reply(self, value: str | None) -> None:
        wait_for_mail()
        self._reply = value

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
        if self._reply:
            return self._reply
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPServer:
    """A real SMTP server on loopback. `messages` and `envelopes` wait for the courier first, so a test can
    read them straight after a request."""

    def __init__(self):
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        wait_for_mail()
        return self.handler.messages

    @property
    def envelopes(self):
        wait_for_mail()
        return self.handler.envelopes

    def start(self):
        self.controller.start()

    def stop(self):
        wait_for_mail()  # mail handed over while the server was up finds it up
        self.controller.stop()


class SilentSMTPServer:
    """A mail server that has hung: it accepts connections and never says a word, not even the greeting.
    Each connection is held until stop(); `hung_up` counts those the client has closed meanwhile."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Semaphore(0)
        self.hung_up = 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="silent-smtp", daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # stopped
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()
            self.accepted.release()

    def _hold(self, connection):
        try:
            while connection.recv(1024):
                pass
        except OSError:
            return  # closed by stop()
        with self.lock:
            self.hung_up += 1

    def stop(self):
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()


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


ALLOWED_SMTP_PORTS: set[int] = set()
_real_connect = smtplib.SMTP.connect


@pytest.fixture(autouse=True)
def only_loopback_test_smtp(monkeypatch):
    """No test talks to an SMTP server other than the fixture's own."""

    def guarded_connect(self, host="localhost", port=0, source_address=None):
        if int(port) not in ALLOWED_SMTP_PORTS:
            raise AssertionError(f"a test tried to connect to SMTP {host}:{port}")
        return _real_connect(self, host, port, source_address)

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

STAFF_PASSWORD = "a long test password"


class AuthActions:
    """Sign in as a coordinator, evaluator or admin (flaskr's AuthActions)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.counter = 0

    def create(self, role: str = "coordinator", email: str | None = None, **kw) -> str:
        from mecc_volunteer.auth.services import create_staff
        from mecc_volunteer.models import StaffRole

        self.counter += 1
        email = email or f"{role}{self.counter}@example.org"
        with self.app.app_context():
            create_staff(email, name=kw.get("name", f"Test {role}"), role=StaffRole(role), password=STAFF_PASSWORD)
            db.session.commit()
        return email

    def login(self, role: str = "coordinator", email: str | None = None):
        email = email or self.create(role)
        response = self.client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
        assert response.status_code == 303, response.text
        return response

    def logout(self):
        return self.client.post("/manage/sign-out")


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


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
