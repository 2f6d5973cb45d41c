"""Data retention (SPEC 4, issue 9): a step of `flask jobs run` that runs at most once a day.

What goes, each after its own period:
- a volunteer's identity (volunteers.privacy.remove_identity), once their last session ended more than the
  programme's retention_months ago (calendar months). Someone with a booking for a session that has not ended
  that long ago is never due, whatever its status; someone with no booking counts from when they registered.
  Bookings and answers stay, under the pseudonymous respondent code, so the review's figures do not change;
- outgoing email rows sent over 90 days ago, or failed and queued that long ago (one still queued is never lost);
- failed sign-ins and rate-limit hits over a day old (their windows are minutes long);
- personal links that open nothing (revoked, or a removed volunteer's), and staff links used or expired over
  30 days ago.

Each table's rows are removed by its owner (mail, tokens, limits, auth.services) in batches. The day's run
starts by inserting its RetentionRun row (run_on is unique), in a savepoint: a second server running the job at
the same moment collides there (PostgreSQL makes it wait for the first to commit; SQLite queues writers) and
skips, and the job runner's transaction carries on. Nothing here commits: the runner does.
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mecc_volunteer import audit, limits, settings, tokens
from mecc_volunteer.auth.services import count_sign_in_attempts_before, delete_sign_in_attempts_before
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import count_old_emails, delete_old_emails
from mecc_volunteer.models import (
    LONDON,
    AuditAction,
    Booking,
    RetentionRun,
    StaffLink,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.transactions import rows_changed
from mecc_volunteer.volunteers.privacy import remove_identity

OUTGOING_EMAIL_DAYS = 90
SIGN_IN_ATTEMPT_HOURS = 24
RATE_LIMIT_HIT_HOURS = 24
STAFF_LINK_DAYS = 30
BATCH = 500


def months_before(moment: datetime, months: int) -> datetime:
    """The same time of day, `months` calendar months earlier (31 March less one month is 28 or 29 February)."""
    years, month_index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month_index + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Cutoffs:
    volunteers: datetime  # a last session that ended before this
    outgoing_emails: datetime
    sign_in_attempts: datetime
    rate_limit_hits: datetime
    staff_links: datetime

    @classmethod
    def at(cls, now: datetime, retention_months: int) -> "Cutoffs":
        return cls(
            volunteers=months_before(now, retention_months),
            outgoing_emails=now - timedelta(days=OUTGOING_EMAIL_DAYS),
            sign_in_attempts=now - timedelta(hours=SIGN_IN_ATTEMPT_HOURS),
            rate_limit_hits=now - timedelta(hours=RATE_LIMIT_HIT_HOURS),
            staff_links=now - timedelta(days=STAFF_LINK_DAYS),
        )


@dataclass(frozen=True)
class RetentionPreview:
    """What the next run will remove (counts only) and when it runs: at the next `flask jobs run`, or, if today's
    run has happened, the first after midnight (`when`)."""

    when: datetime
    ran_today: bool
    retention_months: int
    volunteers: int
    outgoing_emails: int
    sign_in_attempts: int
    links: int
    rate_limit_hits: int

    @property
    def total(self) -> int:
        return self.volunteers + self.outgoing_emails + self.sign_in_attempts + self.links + self.rate_limit_hits


def run_day(now: datetime) -> date:
    """The day a run belongs to (Europe/London)."""
    return now.astimezone(LONDON).date()


def next_run_at(now: datetime) -> datetime:
    """The next `flask jobs run` if today's run has not happened; else the first after midnight."""
    today = run_day(now)
    if db.session.scalar(sa.select(RetentionRun.id).where(RetentionRun.run_on == today)) is None:
        return now
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(now.tzinfo)


def last_run() -> RetentionRun | None:
    return db.session.scalar(sa.select(RetentionRun).order_by(RetentionRun.run_on.desc()).limit(1))


# --- Who and what is due ----------------------------------------------------------------------------------


def due_volunteers(cutoff: datetime) -> sa.Select:
    """Ids of volunteers who still have their identity and whose last session ended before the cutoff (or, with no
    booking at all, who registered before it)."""
    theirs = Booking.volunteer_id == Volunteer.id
    recent = sa.select(Booking.id).join(Booking.training_session).where(theirs, TrainingSession.ends_at >= cutoff)
    any_booking = sa.select(Booking.id).where(theirs)
    return sa.select(Volunteer.id).where(
        Volunteer.identity_removed_at.is_(None),
        ~recent.exists(),
        sa.or_(any_booking.exists(), Volunteer.created_at < cutoff),
    )


def _old_staff_links(cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(StaffLink.used_at < cutoff, StaffLink.expires_at < cutoff)


def due(now: datetime | None = None) -> RetentionPreview:
    """What the next run will remove, counted as of when it runs."""
    now = now or utcnow()
    when = next_run_at(now)
    months = settings.current().retention_months
    cutoffs = Cutoffs.at(when, months)
    volunteers = due_volunteers(cutoffs.volunteers)
    staff_links = db.session.execute(
        sa.select(sa.func.count(StaffLink.id)).where(_old_staff_links(cutoffs.staff_links))
    ).scalar_one()
    return RetentionPreview(
        when=when,
        ran_today=when > now,
        retention_months=months,
        volunteers=db.session.execute(sa.select(sa.func.count()).select_from(volunteers.subquery())).scalar_one(),
        outgoing_emails=count_old_emails(cutoffs.outgoing_emails),
        sign_in_attempts=count_sign_in_attempts_before(cutoffs.sign_in_attempts),
        links=tokens.count_dead_links(also_of_volunteers=volunteers) + staff_links,
        rate_limit_hits=limits.count_older_than(cutoffs.rate_limit_hits),
    )


# --- The run ------------------------------------------------------------------------------------------------


def _in_batches(delete_one_batch) -> int:
    total = 0
    while True:
        deleted = delete_one_batch()
        total += deleted
        if deleted < BATCH:
            return total


def _claim_today(now: datetime) -> RetentionRun | None:
    """Insert today's run, or None if there is one (here, or from another server at this moment)."""
    today = run_day(now)
    if db.session.scalar(sa.select(RetentionRun.id).where(RetentionRun.run_on == today)) is not None:
        return None
    record = RetentionRun(run_on=today, started_at=now)
    try:
        with db.session.begin_nested():  # a savepoint: the collision undoes this insert only
            db.session.add(record)
    except IntegrityError:
        return None
    return record


def _remove_identities(cutoff: datetime, now: datetime) -> int:
    removed = 0
    while True:
        ids = db.session.scalars(due_volunteers(cutoff).order_by(Volunteer.id).limit(BATCH)).all()
        for volunteer_id in ids:
            volunteer = db.session.get_one(Volunteer, volunteer_id)
            removed += remove_identity(volunteer, by=audit.SYSTEM, now=now, action=AuditAction.IDENTITY_REMOVED)
        db.session.flush()
        if len(ids) < BATCH:
            return removed


def run(now: datetime | None = None) -> RetentionRun | None:
    """Today's run, if no server has done it yet: remove what is due and record what went (counts only). None if
    today's run has already happened."""
    now = now or utcnow()
    record = _claim_today(now)
    if record is None:
        return None
    cutoffs = Cutoffs.at(now, settings.current().retention_months)
    record.outgoing_emails = _in_batches(lambda: delete_old_emails(cutoffs.outgoing_emails, batch=BATCH))
    record.sign_in_attempts = _in_batches(lambda: delete_sign_in_attempts_before(cutoffs.sign_in_attempts, batch=BATCH))
    record.rate_limit_hits = _in_batches(lambda: limits.delete_older_than(cutoffs.rate_limit_hits, batch=BATCH))
    record.volunteers = _remove_identities(cutoffs.volunteers, now)
    personal_links = _in_batches(lambda: tokens.delete_dead_links(batch=BATCH))
    staff_links = rows_changed(sa.delete(StaffLink).where(_old_staff_links(cutoffs.staff_links)))
    record.links = personal_links + staff_links
    record.finished_at = max(now, utcnow())
    audit.record(
        AuditAction.RETENTION_RUN,
        by=audit.SYSTEM,
        now=now,
        detail=(
            f"volunteers {record.volunteers}, emails {record.outgoing_emails}, "
            f"sign-in attempts {record.sign_in_attempts}, links {record.links}, "
            f"rate limit hits {record.rate_limit_hits}"
        ),
    )
    db.session.flush()
    return record


def run_job(now: datetime) -> int:
    """The jobs runner's step: how many rows today's run removed (0 if it had already run today)."""
    record = run(now)
    if record is None:
        return 0
    return record.volunteers + record.outgoing_emails + record.sign_in_attempts + record.links + record.rate_limit_hits
