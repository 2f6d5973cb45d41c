"""Respondent codes are keyed on the pseudonymisation key, made once and shared through the database, never on
SECRET_KEY: rotating SECRET_KEY keeps every code, so the pilot's data stays linked over time."""

import hashlib
import hmac
import threading

import flask_migrate
import pytest
import sqlalchemy as sa

from mecc_volunteer import create_app, pseudonyms
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AppSecret, EvaluationAnswer, Survey
from tests.helpers import app_settings, read_csv


@pytest.fixture
def held_bookings(app, make_training_session, make_booking):
    """Three bookings at a session that has taken place, each with a baseline answer: three rows in a download."""
    training_session = make_training_session(days_ahead=-3)
    bookings = [make_booking(training_session.id) for _ in range(3)]
    with app.app_context():
        for booking_id in bookings:
            db.session.add(
                EvaluationAnswer(
                    booking_id=booking_id,
                    survey=Survey.BASELINE,
                    question_key="confidence",
                    value="4",
                    instrument_version=1,
                )
            )
        db.session.commit()
    return bookings


@pytest.fixture
def downloaded_codes(auth):
    """downloaded_codes(app): the respondent codes of the responses CSV, downloaded by an evaluator signed in on
    `app` (conftest's AuthActions, on a client of that app)."""

    def download(app) -> list[str]:
        client = app.test_client()
        actions = type(auth)(app, client)
        actions.login("evaluator", email=actions.create("evaluator", email=f"evaluator-{id(app)}@example.org"))
        rows = read_csv(client.get("/manage/exports/responses.csv"))
        assert rows[0][0] == "respondent"
        return [row[0] for row in rows[1:]]

    return download


def code_under(key: bytes, booking_id: int) -> str:
    """A respondent code computed here, independently of the app: HMAC-SHA256 of the booking, 10 hex digits."""
    return "R-" + hmac.new(key, f"respondent:{booking_id}".encode(), hashlib.sha256).hexdigest()[:10]


def stored_keys(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AppSecret.value).where(AppSecret.name == pseudonyms.KEY_NAME)))


def test_respondent_codes_stay_the_same_when_the_secret_key_is_rotated(app, make_app, held_bookings, downloaded_codes):
    before = downloaded_codes(app)
    assert len(set(before)) == 3

    rotated = make_app(SECRET_KEY="a new secret key", SECRET_KEY_FALLBACKS=["test-secret-key"])
    assert downloaded_codes(rotated) == before
    replaced = make_app(SECRET_KEY="another secret key, the old one gone")
    assert downloaded_codes(replaced) == before

    # They are keyed on the stored key, not on any SECRET_KEY.
    [key] = stored_keys(app)
    assert sorted(before) == sorted(code_under(key.encode(), b) for b in held_bookings)
    assert not set(before) & {code_under(b"test-secret-key", b) for b in held_bookings}


def test_every_app_server_reads_the_same_stored_key(app, make_app):
    others = [make_app(), make_app(SECRET_KEY="a different secret key")]
    keys = set()
    for each in [app, *others]:
        with each.app_context():
            keys.add(pseudonyms.pseudonymisation_key())
    assert len(keys) == 1
    assert stored_keys(app) == [keys.pop().decode()]


def test_two_servers_making_the_missing_key_at_once_agree_on_one(app, make_app):
    """The row is missing (as in a database emptied by hand): both make one, one insert wins, both read it."""
    servers = [make_app(), make_app()]
    start = threading.Barrier(len(servers))
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def make_key(server):
        try:
            with server.app_context():
                start.wait()
                keys.append(pseudonyms.pseudonymisation_key())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=make_key, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert stored_keys(app) == [keys[0].decode()]


def test_the_key_is_kept_by_the_app_once_read(app):
    with app.app_context():
        key = pseudonyms.pseudonymisation_key()
        db.session.execute(sa.delete(AppSecret))
        db.session.commit()
        assert pseudonyms.pseudonymisation_key() == key  # no second read: it never changes once made


def test_a_configured_pseudonymisation_key_wins_over_the_stored_one(app, make_app, held_bookings, downloaded_codes):
    stored = downloaded_codes(app)
    configured = make_app(PSEUDONYMISATION_KEY="an operator's own key")
    codes = downloaded_codes(configured)
    assert sorted(codes) == sorted(code_under(b"an operator's own key", b) for b in held_bookings)
    assert not set(codes) & set(stored)


def test_the_migration_makes_the_key(tmp_path):
    app = create_app(
        app_settings("sqlite:///" + str(tmp_path / "fresh.sqlite")), instance_path=str(tmp_path / "instance")
    )
    with app.app_context():
        flask_migrate.upgrade()
        [secret] = db.session.scalars(sa.select(AppSecret)).all()
        assert secret.name == pseudonyms.KEY_NAME
        assert len(bytes.fromhex(secret.value)) == pseudonyms.KEY_BYTES
        assert pseudonyms.pseudonymisation_key() == secret.value.encode()
        db.session.remove()
        db.engine.dispose()


def test_a_command_makes_the_missing_key_and_keeps_it(app, runner, held_bookings, tmp_path, downloaded_codes):
    """On SQLite a command holds the write lock from its first query: the key, if missing, is made in its transaction
    (a second connection would wait for that lock) and kept when the command commits."""
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["export", "responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [key] = stored_keys(app)
    codes = [row[0] for row in read_csv(out)[1:]]
    assert sorted(codes) == sorted(code_under(key.encode(), b) for b in held_bookings)
    assert downloaded_codes(app) == codes
