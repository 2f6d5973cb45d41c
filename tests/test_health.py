"""Liveness and readiness: /healthz answers while the process does, touching nothing; /readyz answers 200 only
when the database answers and holds every migration of this code. And the database pool's settings."""

import secrets
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from tests.helpers import app_settings

MIGRATIONS = Path(__file__).parent.parent / "migrations"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def fresh_database(database_url, tmp_path):
    """The URL of an empty database of its own (a SQLite file, or a new database on the PostgreSQL server)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    base = sa.engine.make_url(database_url)
    name = f"{base.database}_fresh_{secrets.token_hex(4)}"
    server = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture
def fresh_app(fresh_database, tmp_path):
    app = create_app(app_settings(fresh_database), instance_path=str(tmp_path / "fresh"))
    yield app
    with app.app_context():
        db.engine.dispose()


def migrations_head() -> tuple[str, str]:
    """The newest migration and the one before it."""
    head = ScriptDirectory(str(MIGRATIONS)).get_revision("head")
    return head.revision, head.down_revision


# --- Liveness -----------------------------------------------------------------------------------------------


def test_liveness_answers_without_touching_the_database(app, client):
    statements = []
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        sa.event.listen(db.engine.pool, "checkout", lambda *args: statements.append("checkout"))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert statements == []


def test_liveness_answers_200_while_the_database_is_down(tmp_path):
    app = create_app(app_settings(UNREACHABLE), instance_path=str(tmp_path))
    assert app.test_client().get("/healthz").status_code == 200


# --- Readiness ----------------------------------------------------------------------------------------------


def test_a_migrated_database_is_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "ok", "migrations": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_database_one_migration_behind_is_not_ready_until_it_is_upgraded(fresh_app):
    head, previous = migrations_head()
    with fresh_app.app_context():
        flask_migrate.upgrade(revision=previous)

    response = fresh_app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "reason": "1 migration(s) pending: run flask db upgrade",
        "database": "ok",
        "pending_migrations": [head],
    }
    assert fresh_app.test_client().get("/healthz").status_code == 200  # alive all the same

    with fresh_app.app_context():
        flask_migrate.upgrade()
    assert fresh_app.test_client().get("/readyz").json == {"status": "ready", "database": "ok", "migrations": "ok"}


def test_an_empty_database_is_not_ready_and_every_migration_is_named_oldest_first(fresh_app):
    revisions = [revision.revision for revision in ScriptDirectory(str(MIGRATIONS)).walk_revisions()]

    response = fresh_app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["pending_migrations"] == list(reversed(revisions))


def test_a_database_a_release_ahead_is_still_ready(fresh_app):
    """A rolling deploy has upgraded the database for the next release: this one keeps serving."""
    with fresh_app.app_context():
        flask_migrate.upgrade()
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))

    response = fresh_app.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "ok", "migrations": "database is newer than this code"}


def test_an_unreachable_database_is_not_ready(tmp_path):
    app = create_app(
        app_settings(UNREACHABLE, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}}),
        instance_path=str(tmp_path),
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "reason": "database unreachable", "database": "unreachable"}


# --- The pool --------------------------------------------------------------------------------------------


def test_on_a_database_server_connections_are_pinged_from_a_pool_sized_for_two_sync_workers(tmp_path):
    app = create_app(app_settings(UNREACHABLE), instance_path=str(tmp_path))  # no connection is made
    with app.app_context():
        pool = db.engine.pool
        assert pool._pre_ping
        assert (pool.size(), pool._max_overflow) == (2, 2)


def test_the_pool_size_is_a_setting_and_engine_options_win(tmp_path):
    sized = create_app(
        app_settings(UNREACHABLE, DATABASE_POOL_SIZE="5", DATABASE_MAX_OVERFLOW=0), instance_path=str(tmp_path / "a")
    )
    chosen = create_app(
        app_settings(UNREACHABLE, DATABASE_POOL_SIZE=5, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 9}),
        instance_path=str(tmp_path / "b"),
    )
    with sized.app_context():
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (5, 0)
    with chosen.app_context():
        assert db.engine.pool.size() == 9


def test_sqlite_gets_no_pool_options(tmp_path):
    app = create_app(app_settings(f"sqlite:///{tmp_path / 'x.sqlite'}"), instance_path=str(tmp_path))
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "pool_size" not in options
    assert "pool_pre_ping" not in options


@pytest.mark.parametrize(
    ("setting", "value"),
    [("DATABASE_POOL_SIZE", 0), ("DATABASE_POOL_SIZE", "many"), ("DATABASE_MAX_OVERFLOW", -1)],
)
def test_a_pool_size_that_cannot_be_right_stops_the_app_at_start(tmp_path, setting, value):
    with pytest.raises(RuntimeError, match=f"{setting} \\(FLASK_{setting}\\) must be a whole number"):
        create_app(app_settings(UNREACHABLE, **{setting: value}), instance_path=str(tmp_path))


def test_the_pool_defaults_fit_postgresqls_default_connection_limit():
    """2 servers of 2 workers at most (pool + overflow) each, plus the jobs runner, within 100 - 3 reserved."""
    from mecc_volunteer.config import Config

    per_process = Config.DATABASE_POOL_SIZE + Config.DATABASE_MAX_OVERFLOW
    assert 2 * 2 * per_process + per_process <= 97
