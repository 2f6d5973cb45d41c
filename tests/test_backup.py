"""`flask backup` then `flask restore` gives the same data, table by table, on the test database's own backend
(SQLite, or PostgreSQL when TEST_DATABASE_URL says so: restored into a database made and dropped here); a backup
taken while writes go on is consistent; a restore never replaces data unasked; pg_dump gets no password on its
command line."""

import contextlib
import re
import secrets
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mecc_volunteer import backups, create_app, pseudonyms
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Base, Booking, BookingStatus, EvaluationAnswer, Survey, TrainingSession
from tests.client import BrowserLikeClient
from tests.helpers import add_volunteer, app_settings


def everything(app) -> dict[str, list[str]]:
    """Every row of every table (and the schema's version), in a stable order; the data version's number moves on
    at a restore (see data_version)."""
    with app.app_context(), db.engine.connect() as connection:
        tables = [*Base.metadata.sorted_tables, sa.table("alembic_version", sa.column("version_num"))]
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table.columns)))
            for table in tables
            if table.name != "data_version"
        }


def data_version(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT version FROM data_version"))


@pytest.fixture
def fresh_app(app, tmp_path):
    """fresh_app(): an app on a new, empty database of the test database's kind, with no tables (dropped after)."""
    made: list[tuple] = []
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])

    def make():
        if url.get_backend_name() == "sqlite":
            target = f"sqlite:///{tmp_path / f'restored{len(made)}.sqlite'}"
            name = None
        else:
            name = f"mecc_restore_{secrets.token_hex(6)}"
            with _server(url) as server, server.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            target = url.set(database=name).render_as_string(hide_password=False)
        other = create_app(app_settings(target), instance_path=str(tmp_path / f"restored{len(made)}"))
        other.test_client_class = BrowserLikeClient
        made.append((other, name))
        return other

    yield make
    for other, name in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
        if name is not None:
            with _server(url) as server, server.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def _server(url: sa.URL) -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the test server's maintenance database, for CREATE and DROP DATABASE."""
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pilot(app, auth, make_training_session, make_booking):
    """Some of everything: sessions held and to come, bookings in several states, answers, a staff account, the
    pseudonymisation key."""
    held = make_training_session(days_ahead=-10)
    coming = make_training_session(days_ahead=20)
    bookings = [make_booking(held.id, status) for status in (BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND)]
    bookings += [make_booking(coming.id), make_booking(coming.id, BookingStatus.WAITING)]
    with app.app_context():
        for booking_id in bookings:
            db.session.add(
                EvaluationAnswer(
                    booking_id=booking_id,
                    survey=Survey.BASELINE,
                    question_key="confidence",
                    value="Ó'Brien, 4 – “quoted”\nnew line",
                    instrument_version=1,
                )
            )
        db.session.commit()
        pseudonyms.pseudonymisation_key()
    auth.create("coordinator")
    return bookings


def backed_up(app, out: Path) -> Path:
    result = app.test_cli_runner().invoke(args=["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Backed up the database to {out} (" in result.output
    return out


def restored(app, backup: Path, *args: str):
    return app.test_cli_runner().invoke(args=["restore", str(backup), *args])


def test_backup_then_restore_gives_the_same_data(app, pilot, fresh_app, tmp_path):
    before = everything(app)
    assert sum(len(rows) for rows in before.values()) > 20

    backup = backed_up(app, tmp_path / "pilot.backup")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # it holds personal data
    assert not list(tmp_path.glob("*.partial"))
    target = fresh_app()
    result = restored(target, backup)
    assert result.exit_code == 0, result.output
    assert "Restart the app servers" in result.output
    assert everything(target) == before
    # Past any number a running server may have kept pages at since the backup (mecc_volunteer.page_cache).
    assert data_version(target) > data_version(app) + 2**32

    # The restored database carries on: new rows get new ids, and respondent codes are the same as before.
    with target.app_context():
        volunteer = add_volunteer(99)
        db.session.commit()
        assert volunteer.id > max(row[0] for row in db.session.execute(sa.select(Booking.volunteer_id)))
    for each in (app, target):
        with each.app_context():
            each.extensions.pop(pseudonyms._EXTENSION, None)
    with app.app_context():
        key = pseudonyms.pseudonymisation_key()
    with target.app_context():
        assert pseudonyms.pseudonymisation_key() == key


def test_a_restore_never_replaces_data_unless_told_to(app, pilot, fresh_app, tmp_path):
    backup = backed_up(app, tmp_path / "pilot.backup")
    target = fresh_app()
    assert restored(target, backup).exit_code == 0
    with target.app_context():
        training_session = db.session.scalar(sa.select(TrainingSession).limit(1))
        training_session.location = "Changed after the backup"
        db.session.commit()
    changed = everything(target)

    refused = restored(target, backup)
    assert refused.exit_code == 1
    assert "already holds data" in refused.output
    assert "--yes" in refused.output
    assert everything(target) == changed

    result = restored(target, backup, "--yes")
    assert result.exit_code == 0, result.output
    assert everything(target) == everything(app)


def test_a_freshly_migrated_database_counts_as_empty(app, pilot, fresh_app, tmp_path):
    import flask_migrate

    backup = backed_up(app, tmp_path / "pilot.backup")
    target = fresh_app()
    with target.app_context():
        flask_migrate.upgrade()  # the tables, the schema's version and a pseudonymisation key of its own
        assert not backups.holds_data(db.engine)
    result = restored(target, backup)
    assert result.exit_code == 0, result.output
    assert everything(target) == everything(app)


def test_a_backup_taken_while_writes_go_on_is_consistent(app, make_training_session, make_booking, fresh_app, tmp_path):
    """Each write books a place: a booking and the session's places_taken, in one transaction (make_booking). A
    backup during which writes were committed holds whole writes only: places_taken is the number of bookings."""
    training_session = make_training_session(days_ahead=20, capacity=100_000)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def keep_booking():
        try:
            while not stop.is_set():
                written.append(make_booking(training_session.id))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    writer = threading.Thread(target=keep_booking)
    writer.start()
    try:
        while len(written) < 5 and not errors:
            stop.wait(0.01)
        backup_paths = []  # backups during which at least one write was committed
        for n in range(50):
            at_start = len(written)
            backup = backed_up(app, tmp_path / f"busy{n}.backup")
            if len(written) > at_start:
                backup_paths.append(backup)
                if len(backup_paths) == 3:
                    break
            while len(written) < at_start + 3 and not errors:  # a few more writes before the next backup
                stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(backup_paths) == 3, "no write landed during the backups"

    counts = []
    for backup in backup_paths:
        target = fresh_app()
        assert restored(target, backup).exit_code == 0
        with target.app_context():
            places_taken = db.session.scalar(sa.select(TrainingSession.places_taken))
            booked = db.session.scalar(
                sa.select(sa.func.count()).select_from(Booking).where(Booking.status == BookingStatus.BOOKED)
            )
        assert places_taken == booked
        counts.append(booked)
    assert 0 < counts[0] < counts[1] < counts[2] <= len(written)


def test_backup_writes_a_timestamped_file_in_the_instance_folder_by_default(app, runner):
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    path = Path(re.search(r"to (\S+) \(", result.output).group(1))
    assert path.parent == Path(app.instance_path) / "backups"
    with app.app_context():
        suffix = ".sqlite" if db.engine.url.get_backend_name() == "sqlite" else ".dump"
    assert re.fullmatch(r"mecc_volunteer-\d{8}T\d{6}Z" + re.escape(suffix), path.name)
    assert path.is_file()
    again = runner.invoke(args=["backup", "--out", str(path)])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_restoring_something_that_is_not_a_backup_says_so(app, fresh_app, tmp_path):
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a database\n" * 100)
    result = restored(fresh_app(), not_a_backup)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "Traceback" not in result.output


POSTGRES = sa.make_url("postgresql+psycopg://mecc:s3cret%20pass@db.example.org:5433/mecc?sslmode=require")


def test_pg_dump_gets_the_password_in_its_environment_never_on_its_command_line(monkeypatch, tmp_path):
    seen = {}

    def fake_run(command, *, env, **_kwargs):
        seen.update(command=command, env=env)
        Path(command[command.index("--file") + 1]).write_bytes(b"PGDMP")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(backups.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(backups.subprocess, "run", fake_run)
    backups.back_up(POSTGRES, tmp_path / "pilot.dump")
    command = seen["command"]
    assert command[:2] == ["/usr/bin/pg_dump", "--format=custom"]
    assert "postgresql://mecc@db.example.org:5433/mecc?sslmode=require" in command
    assert not any("s3cret" in part for part in command)
    assert seen["env"]["PGPASSWORD"] == "s3cret pass"
    assert (tmp_path / "pilot.dump").read_bytes() == b"PGDMP"


def test_a_failing_or_missing_pg_dump_is_a_clear_error_without_the_password(monkeypatch, tmp_path):
    monkeypatch.setattr(backups.shutil, "which", lambda name: None)
    with pytest.raises(backups.BackupError, match="pg_dump was not found: install PostgreSQL's client programs"):
        backups.back_up(POSTGRES, tmp_path / "pilot.dump")

    monkeypatch.setattr(backups.shutil, "which", lambda name: f"/usr/bin/{name}")

    def failing_run(command, **_kwargs):
        return subprocess.CompletedProcess(command, 1, "", 'pg_dump: error: connection to server at "db" failed\n')

    monkeypatch.setattr(backups.subprocess, "run", failing_run)
    with pytest.raises(backups.BackupError, match="pg_dump failed: pg_dump: error: connection") as raised:
        backups.back_up(POSTGRES, tmp_path / "pilot.dump")
    assert "s3cret" not in str(raised.value)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


@pytest.mark.postgres_only(reason="SQLite needs no pg_dump")
def test_the_backup_command_says_when_pg_dump_is_missing(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PG_DUMP", "/nowhere/pg_dump")
    result = app.test_cli_runner().invoke(args=["backup", "--out", str(tmp_path / "x.dump")])
    assert result.exit_code == 1
    assert "/nowhere/pg_dump was not found" in result.output
