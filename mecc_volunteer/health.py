"""Health checks for load balancers and process managers.

- GET /healthz, liveness: the process answers (200), touching nothing else. A database restart must not get
  every app server restarted.
- GET /readyz, readiness: 200 when the database answers and holds every migration this code has; 503 with the
  reason when it does not answer or a migration is pending (send no traffic here until `flask db upgrade`). A
  database a migration ahead of this code (a rolling deploy has upgraded it for the next release) is still
  ready: migrations keep the previous release working.
"""

import functools
import logging

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import to_tuple
from flask import Blueprint, current_app, jsonify

from mecc_volunteer.extensions import csrf, db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        with db.engine.connect() as connection:
            applied = MigrationContext.configure(connection).get_current_heads()
    except sa.exc.SQLAlchemyError as error:
        log.warning("not ready: database unreachable (%s)", type(error).__name__)
        return jsonify(status="not ready", reason="database unreachable", database="unreachable"), 503
    pending = pending_migrations(migrations_directory(), applied)
    if pending is None:
        return jsonify(status="ready", database="ok", migrations="database is newer than this code")
    if pending:
        log.warning("not ready: %d migration(s) pending", len(pending))
        reason = f"{len(pending)} migration(s) pending: run flask db upgrade"
        return jsonify(status="not ready", reason=reason, database="ok", pending_migrations=pending), 503
    return jsonify(status="ready", database="ok", migrations="ok")


def migrations_directory() -> str:
    return current_app.extensions["migrate"].directory


@functools.cache
def _scripts(directory: str) -> ScriptDirectory:
    """The migrations this code has: read once per process (they change only with the code)."""
    return ScriptDirectory(directory)


def pending_migrations(directory: str, applied: tuple[str, ...]) -> list[str] | None:
    """The revisions this code has that the database (at `applied`) lacks, oldest first; None when the
    database is at a revision this code does not know (a newer release's)."""
    revisions = {revision.revision: revision for revision in _scripts(directory).walk_revisions()}
    if any(head not in revisions for head in applied):
        return None
    done: set[str] = set()
    todo = list(applied)
    while todo:
        name = todo.pop()
        if name not in done:
            done.add(name)
            todo.extend(to_tuple(revisions[name].down_revision, default=()))
    # walk_revisions goes from the heads down: the oldest pending migration comes first here.
    return [name for name in reversed(revisions) if name not in done]


csrf.exempt(bp)
