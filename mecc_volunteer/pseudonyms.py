"""The key of the pseudonymous respondent codes in downloads (exports.services.respondent_code).

Not SECRET_KEY: that one is rotated (SECRET_KEY_FALLBACKS), and every respondent code would change with it,
breaking the pilot's longitudinal data. This key is made once and never changes:

- `PSEUDONYMISATION_KEY` in config, when an operator sets it, wins (keep it the same on every server, and for
  good: a new value gives every respondent a new code);
- otherwise the "pseudonymisation" row of app_secrets, shared by every server through the database. Migration
  0011 makes it. Should the row be missing (a database emptied by hand, as the tests do), the first server to
  need it inserts one if there is none (ON CONFLICT DO NOTHING) and reads back whichever key won, so two
  servers racing still agree.

It is kept per app (per process) once read, since it never changes; restart the servers after restoring a backup
of another database.
"""

import secrets

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request
from sqlalchemy.dialects import postgresql, sqlite

from mecc_volunteer.extensions import db
from mecc_volunteer.models import AppSecret, utcnow

KEY_NAME = "pseudonymisation"
KEY_BYTES = 32
_EXTENSION = "mecc_volunteer.pseudonyms"


def new_key() -> str:
    """256 random bits, as hex (what migration 0011 stores too)."""
    return secrets.token_hex(KEY_BYTES)


def pseudonymisation_key(app: Flask | None = None) -> bytes:
    """The HMAC key of respondent codes: the configured PSEUDONYMISATION_KEY, else the database's, made if need be.
    `app` is the current app (the default); the key is kept on it."""
    app = app or current_app
    configured = app.config.get("PSEUDONYMISATION_KEY")
    if configured:
        return configured.encode() if isinstance(configured, str) else bytes(configured)
    cache = app.extensions.setdefault(_EXTENSION, {})
    key = cache.get(KEY_NAME)
    if key is None:
        value, durable = _stored_key()
        key = value.encode()
        if durable:
            cache[KEY_NAME] = key
    return key


def _select_key() -> sa.Select:
    return sa.select(AppSecret.value).where(AppSecret.name == KEY_NAME)


def _stored_key() -> tuple[str, bool]:
    """The stored key, made if missing; and whether it is committed (only a committed key may be kept)."""
    if db.session().in_transaction():
        # Read in the caller's transaction: a read never waits for a lock.
        value = db.session.scalar(_select_key())
        if value is not None:
            return value, True
        if _sqlite_session_may_hold_the_write_lock():
            # A second connection's insert would wait for the very lock this caller holds (BEGIN IMMEDIATE,
            # mecc_volunteer._tune_engine). SQLite has one writer and one machine, so no server can race this
            # one: make the key in the caller's transaction; it is kept when the caller commits.
            db.session.execute(_insert_if_absent(db.session.get_bind().dialect.name))
            return db.session.scalar(_select_key()), False
    # Its own transaction, committed at once, so the key never depends on whether the caller commits.
    with db.engine.begin() as connection:
        value = connection.scalar(_select_key())
        if value is None:
            connection.execute(_insert_if_absent(connection.dialect.name))
            value = connection.scalar(_select_key())
    return value, True


def _sqlite_session_may_hold_the_write_lock() -> bool:
    """On SQLite, only a GET or HEAD request reads without taking the write lock (mecc_volunteer._tune_engine)."""
    if db.session.get_bind().dialect.name != "sqlite":
        return False
    return not (has_request_context() and request.method in ("GET", "HEAD"))


def _insert_if_absent(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(AppSecret)
        .values(name=KEY_NAME, value=new_key(), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[AppSecret.name])
    )
