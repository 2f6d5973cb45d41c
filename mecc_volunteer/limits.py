"""Rate limits kept in the database, so every app instance behind a load balancer shares them (SPEC 7).

A limit counts hits in a sliding window, per bucket ("lost-link-address") and per key (a SHA-256 of what is
limited: an address, an email; never the value itself). The rule is the same as for capacity: lock before you
count, inside the transaction that records the hit, so requests sent at once queue for the count instead of
all reading the same number (PostgreSQL: a transaction-scoped advisory lock on the bucket and key; SQLite:
the write lock, which every POST transaction takes with BEGIN IMMEDIATE). The caller commits.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import RateLimitHit, utcnow
from mecc_volunteer.transactions import rows_changed

# Expired rows deleted per hit, besides the key's own: enough to keep the table small, never a long delete.
PRUNE_BATCH = 100
# Bulk deletes of rows the session never loads: nothing to synchronise.
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class Limit:
    bucket: str  # at most 40 characters (rate_limit_hits.bucket)
    max_hits: int
    window: timedelta


def key_hash(value: str) -> str:
    """What is stored for the limited thing (an address or an email): its SHA-256, never the value."""
    return hashlib.sha256((value or "").encode("utf-8", "surrogatepass")).hexdigest()


def lock(bucket: str, hashed_key: str) -> None:
    """Hold the lock for one bucket and key until the transaction ends (commit or rollback)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        digest = hashlib.sha256(f"rate-limit:{bucket}:{hashed_key}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        # A write statement (it changes nothing) takes the database's write lock now if the transaction does not
        # hold it already (a POST's BEGIN IMMEDIATE does), so no other writer can count between here and commit.
        db.session.execute(sa.delete(RateLimitHit).where(sa.false()), execution_options=_NO_SYNC)
    else:  # pragma: no cover - the app runs on SQLite and PostgreSQL only
        raise NotImplementedError(connection.dialect.name)


def count(limit: Limit, hashed_key: str, *, now: datetime) -> int:
    """Hits for the key within the window (call lock() first if the answer decides a write)."""
    return db.session.execute(
        sa.select(sa.func.count(RateLimitHit.id)).where(
            RateLimitHit.bucket == limit.bucket,
            RateLimitHit.key_hash == hashed_key,
            RateLimitHit.hit_at > now - limit.window,
        )
    ).scalar_one()


def hit(limit: Limit, value: str, *, now: datetime | None = None) -> bool:
    """Count one request for `value` against the limit: True if it is within the limit (and recorded),
    False if the limit is reached (nothing recorded, so waiting out the window is enough)."""
    now = now or utcnow()
    hashed = key_hash(value)
    lock(limit.bucket, hashed)
    prune(limit, hashed, now=now)
    if count(limit, hashed, now=now) >= limit.max_hits:
        return False
    db.session.add(RateLimitHit(bucket=limit.bucket, key_hash=hashed, hit_at=now))
    db.session.flush()
    return True


def prune(limit: Limit, hashed_key: str, *, now: datetime) -> None:
    """Delete the key's expired hits (under its lock) and a batch of the bucket's other expired hits."""
    expired = RateLimitHit.hit_at <= now - limit.window
    db.session.execute(
        sa.delete(RateLimitHit).where(
            RateLimitHit.bucket == limit.bucket, RateLimitHit.key_hash == hashed_key, expired
        ),
        execution_options=_NO_SYNC,
    )
    delete_some(RateLimitHit.id, RateLimitHit.bucket == limit.bucket, expired)


def delete_some(id_column, *conditions) -> None:
    """Delete a batch of rows that match (expired ones, say). On PostgreSQL rows that another transaction is
    deleting are skipped rather than waited for, so two prunes never deadlock on each other's rows."""
    ids = sa.select(id_column).where(*conditions).limit(PRUNE_BATCH)
    if db.session.connection().dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    table = id_column.class_
    db.session.execute(sa.delete(table).where(id_column.in_(ids.scalar_subquery())), execution_options=_NO_SYNC)


def count_older_than(before: datetime) -> int:
    """Hits of any bucket from before `before` (the retention job deletes them)."""
    return db.session.execute(
        sa.select(sa.func.count(RateLimitHit.id)).where(RateLimitHit.hit_at < before)
    ).scalar_one()


def delete_older_than(before: datetime, *, batch: int) -> int:
    """Delete up to `batch` hits from before `before`, of any bucket; how many went."""
    ids = sa.select(RateLimitHit.id).where(RateLimitHit.hit_at < before).limit(batch).scalar_subquery()
    return rows_changed(sa.delete(RateLimitHit).where(RateLimitHit.id.in_(ids)))
