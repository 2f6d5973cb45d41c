"""After a PostgreSQL restart or failover every pooled connection is dead: the pool pings each before use and
replaces it, so no request fails for it and /readyz stays ready."""

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db

pytestmark = pytest.mark.postgres_only(reason="a database server that drops connections: PostgreSQL")


def terminate_every_other_connection(database_url: str) -> int:
    """From a connection of its own, end every other backend on the test database, as a restart does."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            ended = connection.execute(
                sa.text(
                    "SELECT count(*) FROM ("
                    " SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended"
                )
            ).scalar_one()
            connection.commit()
    finally:
        engine.dispose()
    return ended


def test_requests_after_the_database_dropped_every_connection_answer(app, client, database_url, make_training_session):
    make_training_session()
    assert client.get("/").status_code == 200
    with app.app_context():
        # Two connections in the pool, as a worker keeps for its requests and its mail courier.
        first, second = db.engine.connect(), db.engine.connect()
        first.close()
        second.close()
        assert db.engine.pool.checkedin() == 2

    assert terminate_every_other_connection(database_url) >= 2

    answers = [client.get("/").status_code for _ in range(3)]
    ready = client.get("/readyz")

    assert answers == [200, 200, 200]
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"


def test_without_the_ping_the_same_drop_fails_a_request(make_app, database_url):
    """The check above means something: with pre-ping off, the first request on a dead connection fails."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False})
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    terminate_every_other_connection(database_url)

    assert client.get("/readyz").status_code == 503
