"""The migrations build the models' schema from nothing: `flask db check` finds no drift afterwards.

Each test uses its own empty database (the shared test database is already migrated by conftest):
a fresh SQLite file always, and a freshly created PostgreSQL database when TEST_DATABASE_URL is PostgreSQL.
"""

import os
import secrets

import flask_migrate
import pytest
import sqlalchemy as sa

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Base

MODEL_TABLES = {table.name for table in Base.metadata.sorted_tables}


def _app_on(url: str, tmp_path):
    # The keys of conftest's _test_config (not imported: tests/browser has a conftest module too).
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "SERVER_NAME": "localhost",
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": None,
    }
    return create_app(config, instance_path=str(tmp_path / "instance"))


def _table_names(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def _db_check(app):
    # Alembic prints "No new upgrade operations detected." to the sys.stdout it saw at import time, which
    # the CLI runner cannot capture; what it can see is the exit code and the log, where drift shows up.
    return app.test_cli_runner().invoke(args=["db", "check"])


def _assert_no_drift(app) -> None:
    result = _db_check(app)
    assert result.exit_code == 0, result.output
    assert "New upgrade operations detected" not in result.output
    assert "Error" not in result.output


def _upgrade_and_check(app) -> None:
    assert _table_names(app) == set(), "the database should start empty"
    with app.app_context():
        flask_migrate.upgrade()
    assert _table_names(app) == MODEL_TABLES | {"alembic_version"}
    _assert_no_drift(app)


@pytest.fixture
def fresh_sqlite_app(tmp_path):
    app = _app_on("sqlite:///" + str(tmp_path / "fresh.sqlite"), tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fresh_postgresql_app(tmp_path):
    """A new, empty database on the TEST_DATABASE_URL server, dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL is not PostgreSQL")
    name = f"mecc_migrations_{secrets.token_hex(6)}"
    server = sa.make_url(url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    app = _app_on(server.set(database=name).render_as_string(hide_password=False), tmp_path)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_build_an_empty_sqlite_database_with_no_drift(fresh_sqlite_app):
    _upgrade_and_check(fresh_sqlite_app)


def test_migrations_build_an_empty_postgresql_database_with_no_drift(fresh_postgresql_app):
    _upgrade_and_check(fresh_postgresql_app)


@pytest.mark.parametrize("fresh_app", ["fresh_sqlite_app", "fresh_postgresql_app"])
def test_migrations_downgrade_to_base_and_upgrade_again(request, fresh_app):
    app = request.getfixturevalue(fresh_app)
    _upgrade_and_check(app)
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    assert _table_names(app) <= {"alembic_version"}
    with app.app_context():
        flask_migrate.upgrade()
    assert _table_names(app) == MODEL_TABLES | {"alembic_version"}
    _assert_no_drift(app)


def test_db_check_reports_drift_when_the_schema_differs_from_the_models(fresh_sqlite_app):
    """Control: the check above would fail if the migrations and the models disagreed."""
    _upgrade_and_check(fresh_sqlite_app)
    with fresh_sqlite_app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_bookings_waiting_list")
    result = _db_check(fresh_sqlite_app)
    assert result.exit_code == 1
    assert "New upgrade operations detected" in result.output
    assert "ix_bookings_waiting_list" in result.output


@pytest.mark.parametrize("fresh_app", ["fresh_sqlite_app", "fresh_postgresql_app"])
def test_upgrading_a_database_with_bookings_keeps_every_row(request, fresh_app):
    """SQLite batch migrations rebuild tables; no row that points at a rebuilt table may be lost."""
    app = request.getfixturevalue(fresh_app)
    first_revision = "c79694a6f6cf"
    with app.app_context():
        flask_migrate.upgrade(revision=first_revision)
        with db.engine.begin() as connection:

            def run(sql):
                return connection.execute(sa.text(sql))

            run("INSERT INTO programmes (id, name, cutoff_days) VALUES (1, 'Pilot', 7)")
            run("INSERT INTO organisations (id, name, sort_order, is_other) VALUES (1, 'Restore', 0, false)")
            run(
                "INSERT INTO training_sessions (id, programme_id, kind, starts_at, ends_at, capacity, places_taken,"
                " location, allow_late_promotion, created_at) VALUES (1, 1, 'VOLUNTEER_TRAINING',"
                " '2030-01-08 10:30:00', '2030-01-08 12:00:00', 10, 1, 'Online', false, '2029-12-01 00:00:00')"
            )
            run(
                "INSERT INTO volunteers (id, name, email, email_normalised, organisation_id, role,"
                " privacy_notice_version, privacy_acknowledged_at, followup_consent, created_at, updated_at)"
                " VALUES (1, 'Ann', 'ann@example.org', 'ann@example.org', 1, 'Driver', 'v1',"
                " '2029-12-01 00:00:00', false, '2029-12-01 00:00:00', '2029-12-01 00:00:00')"
            )
            run(
                "INSERT INTO bookings (id, training_session_id, volunteer_id, session_kind, status, created_at)"
                " VALUES (1, 1, 1, 'VOLUNTEER_TRAINING', 'BOOKED', '2029-12-01 00:00:00')"
            )
            run(
                "INSERT INTO evaluation_answers (booking_id, survey, instrument_version, question_key, value,"
                " answered_at) VALUES (1, 'BASELINE', 1, 'confidence', '4', '2029-12-01 00:00:00')"
            )
            run(
                "INSERT INTO personal_links (booking_id, purpose, token_hash, created_at)"
                " VALUES (1, 'MANAGE', 'abc', '2029-12-01 00:00:00')"
            )
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            for table in ("training_sessions", "bookings", "evaluation_answers", "personal_links"):
                rows = connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()
                assert rows == 1, table
        db.engine.dispose()
