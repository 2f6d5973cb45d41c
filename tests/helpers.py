"""Plain helpers the tests share (fixtures live in conftest.py): reading pages, CSVs and emails as a person
would, and the small bits of state several journeys set up."""

import contextlib
import csv
import functools
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import sleep
from unittest import mock

import pyotp
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Base,
    Booking,
    District,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    OutgoingEmail,
    Programme,
    StaffUser,
    Survey,
    Volunteer,
    utcnow,
)
from mecc_volunteer.volunteers import services
from tests.mail_servers import wait_for_mail

DISTRICTS = ["Cherwell", "Oxford City", "South Oxfordshire", "Vale of White Horse", "West Oxfordshire"]
ORGANISATIONS = ["Oxfordshire Library Service", "Carers Oxfordshire", "Restore"]
STAFF_PASSWORD = "a long test password"
# The authenticator app secret of the test staff accounts (AuthActions.create enrols it; browsers compute codes).
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting-abc"

# A whole after-session survey (instrument version 2), answered well.
AFTER = {
    "confidence": "8",
    "confidence_before": "5",
    "knowledge": "7",
    "overall": "very_good",
    "relevant": "agree",
    "intention": "strongly_agree",
    "online_format": "well",
    "do_differently": "Ask people how they're doing, and mention Live Well Oxfordshire.",
    "improve": "",
}

MY_BOOKING_PATH = re.compile(r"(/my-booking/[A-Za-z0-9_-]{43})\b")


# --- A test app and its database -----------------------------------------------------------------------


def app_settings(database_url: str, **overrides) -> dict:
    """The config every test app starts from (with production's safeguards on), plus overrides."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SERVER_NAME": "localhost",
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": None,
    }
    config.update(overrides)
    return config


def seed_reference_data() -> None:
    db.session.add(Programme(name="Oxfordshire MECC volunteer training pilot", cutoff_days=7))
    db.session.add_all(Organisation(name=name, sort_order=i) for i, name in enumerate(ORGANISATIONS))
    db.session.add(Organisation(name="Other", sort_order=99, is_other=True))
    db.session.add_all(District(name=name, sort_order=i) for i, name in enumerate(DISTRICTS))


def empty_all_tables() -> None:
    """Every table but app_secrets and data_version: the pseudonymisation key and the data version's one row come
    with the migrated database, as in production, where nothing deletes them (a test of a missing key deletes it
    itself). Rows are deleted, children first; on PostgreSQL the id sequences then start again at 1, as SQLite's
    ids do once a table is empty. (TRUNCATE took 0.17 s a test, whatever the test wrote: it replaces every
    table's files; a DELETE of the few rows a test makes takes a few milliseconds.)"""
    tables = [table for table in Base.metadata.sorted_tables if table.name not in ("app_secrets", "data_version")]
    with db.engine.begin() as connection:
        for table in reversed(tables):
            connection.execute(table.delete())
        if connection.dialect.name == "postgresql":
            sequences = ", ".join(
                f"pg_get_serial_sequence('{table.name}', '{table.autoincrement_column.name}')"
                for table in tables
                if table.autoincrement_column is not None
            )
            # The names come from the models, not from input.
            connection.execute(sa.text(f"SELECT setval(s, 1, false) FROM unnest(ARRAY[{sequences}]) AS s"))  # noqa: S608


# The test accounts' password hash: scrypt, as the app's own, at a cost of 2**10 rather than werkzeug's 2**15, so a
# sign-in checks it in about 4 ms rather than 0.12 s of CPU (half a typical staff test's time went on it). The app's
# own hashing, and its cost, are checked where it hashes (tests/test_auth.py).
TEST_ACCOUNT_HASH_METHOD = "scrypt:1024:8:1"


@functools.cache
def staff_password_hash() -> str:
    """STAFF_PASSWORD hashed once per run, for every test account that has it (TEST_ACCOUNT_HASH_METHOD)."""
    return generate_password_hash(STAFF_PASSWORD, method=TEST_ACCOUNT_HASH_METHOD)


@contextlib.contextmanager
def staff_password_hashed_once():
    """Within it, the app's create_staff gives an account made with STAFF_PASSWORD the run's one hash of it
    (staff_password_hash), which sign-in checks as it checks any hash. Any other password is hashed as ever."""
    from mecc_volunteer.auth import services

    def hash_once(password: str, *args, **kwargs) -> str:
        if password == STAFF_PASSWORD and not args and not kwargs:
            return staff_password_hash()
        return generate_password_hash(password, *args, **kwargs)

    with mock.patch.object(services, "generate_password_hash", hash_once):
        yield


def london(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in London on `day`, as the aware UTC datetime the database stores."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def add_volunteer(n: int, **columns) -> Volunteer:
    """Volunteer n in the current database session (flushed, not committed): "Volunteer n",
    volunteer<n>@example.org, the first organisation, unless `columns` say otherwise."""
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
    db.session.flush()
    return volunteer


# --- Pages ---------------------------------------------------------------------------------------------


def assert_fragment(response) -> None:
    """An htmx answer: the changed part of the page only, and a response that varies on HX-Request."""
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "HX-Request" in response.headers.get("Vary", "")


def without_csrf_tokens(html: str) -> str:
    """The page without its CSRF tokens (they carry the second they were made in), to compare two pages."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r"\1", html)


def register_through_the_form(client, session_id: int, form: dict):
    """Fill in the registration form, then confirm on Check your answers; returns the confirmation page."""
    response = client.post(f"/sessions/{session_id}/register", data=form)
    assert response.status_code == 303, response.text
    assert response.headers["Location"].endswith(f"/sessions/{session_id}/register/check")
    return client.post(f"/sessions/{session_id}/register/check", follow_redirects=True)


def my_booking_path(page_or_email) -> str:
    """The My booking link on a page (a response) or in an email (its plain-text body)."""
    text = text_of(page_or_email) if hasattr(page_or_email, "get_body") else page_or_email.text
    match = MY_BOOKING_PATH.search(text)
    assert match, "no My booking link"
    return match.group(1)


def session_form(**overrides) -> dict:
    """A valid "Add a session" form, 30 days ahead; None leaves a field out."""
    day = (utcnow() + timedelta(days=30)).astimezone(LONDON).date()
    form = {
        "day": str(day.day),
        "month": str(day.month),
        "year": str(day.year),
        "start_time": "10:30",
        "end_time": "12:00",
        "kind": "volunteer_training",
        "capacity": "16",
        "trainer_name": "Sam Okafor",
        "joining_link": "https://teams.microsoft.com/l/meetup-join/19%3ameeting",
        "cutoff_days": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


# --- Downloads and emails --------------------------------------------------------------------------------


def read_csv(source) -> list[list[str]]:
    """A downloaded CSV's rows, from a response, a saved file or bytes. It starts with the byte order mark
    Excel needs to read UTF-8."""
    if isinstance(source, Path):
        data = source.read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        assert source.status_code == 200, source.text
        data = source.data
    assert data.startswith(b"\xef\xbb\xbf"), "a CSV starts with the UTF-8 byte order mark, for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def text_of(message) -> str:
    """An email's plain-text body, as received by the SMTP server."""
    return message.get_body(("plain",)).get_content()


# --- State ---------------------------------------------------------------------------------------------------


def confirm_elearning(app, booking_id: int) -> None:
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        booking.elearning_completed_on = utcnow().astimezone(LONDON).date()
        booking.elearning_confirmed_at = utcnow()
        db.session.commit()


def email_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).volunteer.email


def stored_answers(app, booking_id, survey=Survey.AFTER_SESSION) -> dict[str, str]:
    """What the database holds of a booking's answers to a survey: question key -> value."""
    with app.app_context():
        answers = db.session.scalars(
            sa.select(EvaluationAnswer).where(
                EvaluationAnswer.booking_id == booking_id, EvaluationAnswer.survey == survey
            )
        )
        return {answer.question_key: answer.value for answer in answers}


def store_answers(app, booking_id: int, survey: Survey, respond: bool = False, **answers) -> None:
    """Store answers for a booking directly; respond=True also records the submitted survey."""
    with app.app_context():
        for key, value in answers.items():
            db.session.add(EvaluationAnswer(booking_id=booking_id, survey=survey, question_key=key, value=str(value)))
        if respond:
            db.session.add(EvaluationResponse(booking_id=booking_id, survey=survey))
        db.session.commit()


def outbox(app, template: str | None = None) -> list[OutgoingEmail]:
    """Every email the app queued (only `template`'s, if given), oldest first, once the mail courier has
    finished with them: what a person would see a moment later."""
    wait_for_mail(app)
    with app.app_context():
        query = sa.select(OutgoingEmail).order_by(OutgoingEmail.id)
        if template:
            query = query.where(OutgoingEmail.template == template)
        return list(db.session.scalars(query))


def coordinator_id(app, auth) -> int:
    email = auth.create("coordinator")
    with app.app_context():
        return db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email))


def registration_details(app, i: int) -> services.RegistrationDetails:
    with app.app_context():
        organisation_id = db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id))
    return services.RegistrationDetails(
        name=f"Racer {i}",
        email=f"racer{i}@example.org",
        role="Library assistant",
        organisation_id=organisation_id,
        organisation_other=None,
        district_id=None,
        baseline_confidence=5,
        baseline_knowledge=5,
        privacy_acknowledged=True,
    )


def booking(app, booking_id) -> Booking:
    with app.app_context():
        found = db.session.get(Booking, booking_id)
        db.session.expunge(found)
        return found


def next_authenticator_code(app, email: str) -> str:
    """The account's next code: for a time step after the last one it used and within a step of the clock
    (the earliest such, so several sign-ins in a row rarely wait), waiting for the next step if none is
    free. Read from the database, so a sign-in through any client or the browser counts."""
    from mecc_volunteer.models import StaffUser

    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        assert staff is not None, f"no staff account {email}"
        secret, last_step = staff.totp_secret, staff.totp_last_step
    assert secret is not None, f"{email} has no authenticator app set up"
    totp = pyotp.TOTP(secret)
    for _ in range(3):
        now = datetime.now(UTC)
        current = totp.timecode(now)
        # One step back only with time to spare: the server must still see it within its window.
        earliest = current - 1 if now.timestamp() % totp.interval < totp.interval - 5 else current
        step = max(earliest, (last_step or 0) + 1)
        if step <= current + 1:
            return totp.generate_otp(step)
        sleep(totp.interval - now.timestamp() % totp.interval + 0.1)
    raise AssertionError(f"no unused code for {email}: is the clock frozen?")
