"""Programme settings: what an admin changes in the app (names, contact, links, cut-off, timings, meeting hosts,
retention, the privacy notice, the disclosure threshold), read from the programme's row once per request.

The admin area owns the writes (admin/services.py); everything else reads `current()`. Deployment settings
(secret key, database, SMTP, BASE_URL) stay in config. Before a programme exists (a new database), the
model's column defaults apply, so there is one place for each default."""

from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from flask import g, has_app_context

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Programme


@dataclass(frozen=True)
class Settings:
    service_name: str
    organisation_name: str
    contact_email: str
    elearning_url: str
    signpost_name: str
    signpost_url: str
    cutoff_days: int
    late_promotion_hours: int
    evaluation_open_days: int
    evaluation_reminder_days: int
    followup_after_weeks: int
    joining_link_hosts: tuple[str, ...]
    retention_months: int
    privacy_notice_text: str | None
    privacy_notice_version: str
    # Figures about fewer than this many people are hidden in the pilot review and everything that leaves the app.
    disclosure_threshold: int


NAMES = tuple(f.name for f in fields(Settings))


def hosts_from_text(text: str) -> tuple[str, ...]:
    """One host per line (commas and spaces also separate), lower-cased, without duplicates."""
    seen: dict[str, None] = {}
    for host in text.replace(",", "\n").split():
        seen.setdefault(host.strip().lower().rstrip("."), None)
    return tuple(host for host in seen if host)


def _from_row(row: Programme | None) -> Settings:
    values: dict[str, Any] = {}
    for name in NAMES:
        if row is not None:
            value = getattr(row, name)
        else:
            column = Programme.__table__.c[name]
            value = column.default.arg if column.default is not None else None
        values[name] = hosts_from_text(value) if name == "joining_link_hosts" else value
    return Settings(**values)


def programme() -> Programme | None:
    """The programme (the pilot has one)."""
    return db.session.scalar(sa.select(Programme).order_by(Programme.id).limit(1))


def current() -> Settings:
    """The settings in force, read once per request (or app context) and kept on flask.g, from the process's last
    reading while the reference data's version is the one they were read at (every page needs them, and they change
    a few times a pilot; page_cache.kept_while_the_reference_holds)."""
    if not has_app_context():  # pragma: no cover - every caller runs inside the app
        raise RuntimeError("settings.current() needs an app context")
    cached = g.get("programme_settings")
    if cached is None:
        cached = g.programme_settings = _kept_or_read()
    return cached


def _kept_or_read() -> Settings:
    from mecc_volunteer import page_cache

    return page_cache.kept_while_the_reference_holds("programme settings", lambda: _from_row(programme()))


def forget() -> None:
    """After a change: the next current() reads the row again."""
    g.pop("programme_settings", None)


def current_or_defaults() -> Settings:
    """For the error pages: the settings if the database answers, else the defaults (the page must render when
    the database is unreachable). Kept on flask.g, so the page's templates read the same."""
    try:
        return current()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        g.programme_settings = _from_row(None)
        return g.programme_settings
