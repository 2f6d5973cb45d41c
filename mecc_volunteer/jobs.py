"""Scheduled work: `flask jobs run`, every minute (cron in production, a loop beside the server in `make run`).

Each job finds what is due at `now` and calls the owning area's service. Every job is idempotent (dedupe keys,
conditional updates), so running twice in a row, or on two servers at once, does nothing more the second time.
Like a CLI command, the runner commits: each job in its own transaction, so one failing job does not undo the
others' work. Mail goes last, so what the jobs queued goes out in the same run.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from mecc_volunteer import audit
from mecc_volunteer.admin.retention import run_job as run_data_retention
from mecc_volunteer.bookings.lifecycle import lock_session, promote_from_waiting_list
from mecc_volunteer.evaluation.emails import (
    evaluation_invitations_due,
    evaluation_reminders_due,
    followup_invitations_due,
)
from mecc_volunteer.exports import prepared as prepared_downloads
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import DeliveryReport, deliver_pending
from mecc_volunteer.models import LONDON, Booking, BookingStatus, TrainingSession, utcnow
from mecc_volunteer.sessions.reminders import send_day_before_reminders
from mecc_volunteer.volunteers.pending import prune_expired as forget_expired_registrations

log = logging.getLogger(__name__)

# Day-before reminders go from this time of day (Europe/London) on the day before, not in the middle of the night.
DAY_BEFORE_REMINDERS_FROM = time(9, 0)
# deliver_pending sends up to 200 a batch; a run sends a few batches, and the next run carries on.
MAIL_BATCHES_PER_RUN = 5
MAIL_BATCH = 200


# --- The jobs -----------------------------------------------------------------------------------------


def queue_day_before_reminders(now: datetime) -> int:
    """Sessions starting tomorrow (a Europe/London calendar day, 23 to 25 hours long): remind everyone booked."""
    local_now = now.astimezone(LONDON)
    if local_now.time() < DAY_BEFORE_REMINDERS_FROM:
        return 0
    tomorrow = local_now.date() + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(0), tzinfo=LONDON).astimezone(UTC)
    ends = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    sessions = db.session.scalars(
        sa.select(TrainingSession)
        .where(
            TrainingSession.starts_at >= starts,
            TrainingSession.starts_at < ends,
            TrainingSession.cancelled_at.is_(None),
        )
        .order_by(TrainingSession.starts_at, TrainingSession.id)
    ).all()
    return sum(len(send_day_before_reminders(training_session, now=now)) for training_session in sessions)


def promote_from_waiting_lists(now: datetime) -> int:
    """Free places on upcoming sessions go to the first people waiting, while the session still allows it."""
    someone_waiting = (
        sa.select(Booking.id)
        .where(Booking.training_session_id == TrainingSession.id, Booking.status == BookingStatus.WAITING)
        .exists()
    )
    sessions = db.session.scalars(
        sa.select(TrainingSession)
        .where(
            TrainingSession.cancelled_at.is_(None),
            TrainingSession.starts_at > now,
            TrainingSession.places_taken < TrainingSession.capacity,
            someone_waiting,
        )
        .order_by(TrainingSession.starts_at, TrainingSession.id)
    ).all()
    promoted = 0
    for training_session in sessions:
        if now >= training_session.promotion_ends_at:
            continue
        lock_session(training_session)
        promoted += len(promote_from_waiting_list(training_session, by=audit.SYSTEM, now=now))
    return promoted


@dataclass(frozen=True)
class Job:
    name: str  # as the report says what it did: "3 day-before reminders"
    run: Callable[[datetime], int]  # does what is due at now; returns how many things it did


# The jobs, in order. Later issues add theirs to this list (evaluation invitations and the one reminder,
# follow-up surveys, the data retention job); mail is delivered after all of them.
DUE_JOBS: list[Job] = [
    Job("day-before reminders", queue_day_before_reminders),
    Job("promoted from waiting lists", promote_from_waiting_lists),
    Job("evaluation invitations", evaluation_invitations_due),
    Job("evaluation reminders", evaluation_reminders_due),
    Job("follow-up invitations", followup_invitations_due),
    Job("unfinished registrations forgotten", forget_expired_registrations),
    Job("data retention", run_data_retention),  # at most once a day; the other runs report 0
]


# --- The runner ---------------------------------------------------------------------------------------


@dataclass
class JobReport:
    done: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    mail: DeliveryReport = field(default_factory=DeliveryReport)
    downloads_prepared: int = 0
    downloads_failed: int = 0

    def __str__(self) -> str:
        parts = [f"{name} {count}" for name, count in self.done.items()]
        parts += [f"{name} FAILED (see the log)" for name in self.failed]
        text = f"{', '.join(parts)}; mail: {self.mail}"
        if self.downloads_prepared or self.downloads_failed:  # said only when there were some
            text += f"; downloads prepared {self.downloads_prepared}, failed {self.downloads_failed}"
        return text


def run_due_jobs(now: datetime | None = None, *, jobs: list[Job] | None = None) -> JobReport:
    now = now or utcnow()
    report = JobReport()
    for job in DUE_JOBS if jobs is None else jobs:
        try:
            report.done[job.name] = job.run(now)
            db.session.commit()
        except Exception as error:  # one failing job must not stop the others or the mail
            db.session.rollback()
            if isinstance(error, sa.exc.SQLAlchemyError):
                # The type only: database errors quote the statement's parameters, which may hold addresses.
                log.error("job %r failed: %s", job.name, type(error).__name__)
            else:
                log.exception("job %r failed", job.name)
            report.failed.append(job.name)
    report.mail = _deliver(max(now, utcnow()))  # what the jobs queued is due from when it was queued
    if jobs is None:
        _prepare_downloads(report, now)
    return report


def _prepare_downloads(report: JobReport, now: datetime) -> None:
    """Last, since a large file takes minutes: downloads an evaluator asked to be prepared (exports.prepared).
    Safe on several servers at once: each request is claimed by a conditional update."""
    with current_app.app_context():
        try:
            report.downloads_prepared, report.downloads_failed = prepared_downloads.prepare_due(max(now, utcnow()))
        except Exception as error:
            db.session.rollback()
            log.error("preparing downloads failed: %s", type(error).__name__)
            report.failed.append("downloads prepared")


def _deliver(now: datetime) -> DeliveryReport:
    """Send what is due, in a fresh app context (its own database session), as a separate worker would: the
    jobs' rows are no longer held in this session, so each of the many small commits stays cheap."""
    report = DeliveryReport()
    with current_app.app_context():
        for _ in range(MAIL_BATCHES_PER_RUN):
            batch = deliver_pending(now=now, limit=MAIL_BATCH)
            db.session.commit()
            report.sent += batch.sent
            report.retrying += batch.retrying
            report.failed += batch.failed
            if len(batch.sent) + len(batch.retrying) + len(batch.failed) < MAIL_BATCH:
                break
    return report
