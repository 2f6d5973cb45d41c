"""Backups taken while the app runs, and their restore (`flask backup`, `flask restore`).

- SQLite: the online backup API (sqlite3.Connection.backup) copies one consistent snapshot while writers carry on
  (WAL), into a single self-contained file; a restore copies the file back the same way, into the live database.
- PostgreSQL: `pg_dump --format=custom` (one consistent snapshot; writers carry on) and `pg_restore`. The URL is the
  app's, turned into a libpq one; its password goes to pg_dump in the environment (PGPASSWORD), never on the
  command line or in a log.

A backup holds personal data: it is written readable by its owner only (0600), and appears under its name only
once complete. A restore refuses a database that already holds data unless told to replace it.
"""

import os
import secrets
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

# Tables a database freshly made by `flask db upgrade` already fills: it still counts as empty.
_FILLED_BY_MIGRATIONS = {"alembic_version", "app_secrets", "data_version"}


class BackupError(Exception):
    """What went wrong, for the operator (no password, no personal data)."""


def default_path(instance_path: str, url: sa.URL, now: datetime) -> Path:
    """instance/backups/mecc_volunteer-20261203T145501Z.sqlite (or .dump for PostgreSQL), in UTC."""
    suffix = ".sqlite" if _is_sqlite(url) else ".dump"
    return Path(instance_path) / "backups" / f"mecc_volunteer-{now.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def back_up(url: sa.URL, out: Path, *, pg_dump: str = "pg_dump") -> int:
    """Write a consistent backup of the database at `url` to `out` (which must not exist); its size in bytes."""
    if out.exists():
        raise BackupError(f"{out} already exists: choose another file.")
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    _private_empty_file(partial)
    try:
        if _is_sqlite(url):
            _back_up_sqlite(_sqlite_file(url), partial)
        else:
            _run(_program(pg_dump), ["--format=custom", "--file", str(partial), "--dbname", libpq_url(url)], url)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out.stat().st_size


def restore(engine: sa.Engine, backup: Path, *, replace: bool, pg_restore: str = "pg_restore") -> None:
    """Put the backup's data in place of the database's. A database holding data is replaced only with `replace`."""
    if not backup.is_file():
        raise BackupError(f"{backup} is not a file.")
    if holds_data(engine) and not replace:
        raise BackupError("The database already holds data: restoring would replace all of it. Add --yes to do so.")
    engine.dispose()  # none of this process's connections in the way
    url = engine.url
    if _is_sqlite(url):
        _restore_sqlite(backup, _sqlite_file(url))
    else:
        # --clean --if-exists: a migrated database's tables make way; --single-transaction: all of it or nothing.
        arguments = ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname", libpq_url(url)]
        _run(_program(pg_restore), [*arguments, str(backup)], url)
    _move_the_data_version_past_any_kept_page(engine)


def _move_the_data_version_past_any_kept_page(engine: sa.Engine) -> None:
    """The restored data version is the backup's, and servers still running may keep pages rendered at that number
    from the data written since (mecc_volunteer.page_cache). A jump no server can have reached makes them render
    again. Nothing to do for a backup made before the data version existed."""
    with engine.begin() as connection:
        if sa.inspect(connection).has_table("data_version"):
            jump = 2**32 + secrets.randbelow(2**32)
            connection.execute(sa.text("UPDATE data_version SET version = version + :jump"), {"jump": jump})


def holds_data(engine: sa.Engine) -> bool:
    """Whether any table has a row, besides those a freshly migrated database fills."""
    with engine.connect() as connection:
        for name in sa.inspect(connection).get_table_names():
            if (
                name not in _FILLED_BY_MIGRATIONS
                and connection.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
            ):
                return True
    return False


def libpq_url(url: sa.URL) -> str:
    """postgresql+psycopg://user:pw@host/db -> postgresql://user@host/db: what pg_dump understands, with no password
    (that goes in PGPASSWORD)."""
    bare = sa.URL.create(
        "postgresql", username=url.username, host=url.host, port=url.port, database=url.database, query=url.query
    )  # not url.set(password=None): None there means "keep it"
    return bare.render_as_string(hide_password=False)


def _is_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: sa.URL) -> str:
    if not url.database or url.database == ":memory:":
        raise BackupError("The database is in memory: there is no file to back up or restore.")
    return url.database


def _private_empty_file(path: Path) -> None:
    """An empty file only its owner may read (SQLite and pg_dump write into it, keeping its mode)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _back_up_sqlite(database: str, out: Path) -> None:
    source = sqlite3.connect(database, timeout=15)
    try:
        target = sqlite3.connect(out)
        try:
            source.backup(target)  # all pages in one step: one snapshot, however busy the writers
            target.execute("PRAGMA journal_mode=DELETE")  # one file, with no -wal beside it
            _check(target, out)
        finally:
            target.close()
    finally:
        source.close()


def _restore_sqlite(backup: Path, database: str) -> None:
    try:
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{backup} cannot be opened as an SQLite database: {error}") from error
    try:
        _check(source, backup)
        target = sqlite3.connect(database, timeout=15)
        try:
            source.backup(target)  # page by page into the live database, under its write lock
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    finally:
        source.close()


def _check(connection: sqlite3.Connection, path: Path) -> None:
    try:
        result = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a usable SQLite database: {error}") from error
    if not result or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's check: {result[0] if result else 'no answer'}")


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found: install PostgreSQL's client programs (postgresql-client, the server's major"
            " version or newer), or set PG_DUMP and PG_RESTORE to where they are."
        )
    return found


def _run(program: str, arguments: list[str], url: sa.URL) -> None:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run([program, *arguments], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise BackupError(f"{Path(program).name} failed: {message}")
