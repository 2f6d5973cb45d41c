"""Trained trainers: the volunteers who attended a train-the-trainer session that has taken place. A session's
trainer may be one of them (TrainingSession.trainer_volunteer_id), so the cascade is counted from the app's own
records (evaluation.cascade). Read-only; the session services store the choice."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer import errors
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, SessionKind, TrainingSession, Volunteer, utcnow


class NotATrainedTrainer(errors.DomainError):
    message = "Select a trainer from the list, or “None of these”"


@dataclass(frozen=True)
class TrainerChoice:
    volunteer_id: int
    label: str  # their name and organisation, to tell namesakes apart


def held(now: datetime, training_session=TrainingSession) -> sa.ColumnElement[bool]:
    """The session (TrainingSession, or an alias of it) took place: it has ended and was not cancelled."""
    return sa.and_(training_session.ends_at <= now, training_session.cancelled_at.is_(None))


def trained(now: datetime) -> sa.ColumnElement[bool]:
    """For a query joining Booking to its TrainingSession: this booking made its volunteer a trained trainer (they
    attended a train-the-trainer session that took place). The one definition, for the form and the review."""
    return sa.and_(
        Booking.status == BookingStatus.ATTENDED,
        TrainingSession.kind == SessionKind.TRAIN_THE_TRAINER,
        held(now),
    )


def _trained_volunteer_ids(now: datetime) -> sa.Select:
    return (
        sa.select(Booking.volunteer_id)
        .join(TrainingSession, TrainingSession.id == Booking.training_session_id)
        .where(trained(now))
    )


def _choosable(now: datetime) -> sa.ColumnElement[bool]:
    """For a query on Volunteer: they can be chosen as a session's trained trainer. The one rule for the form's
    list and for checking a choice: trained (above), and their identity still held (a removed identity has no name
    to choose by)."""
    return sa.and_(Volunteer.id.in_(_trained_volunteer_ids(now)), Volunteer.identity_removed_at.is_(None))


def _label(volunteer: Volunteer) -> str:
    return f"{volunteer.display_name}, {volunteer.organisation_name}"


def trained_trainers(*, now: datetime | None = None) -> list[TrainerChoice]:
    """Everyone who can be chosen as a session's trained trainer, by name."""
    now = now or utcnow()
    volunteers = db.session.scalars(
        sa.select(Volunteer)
        .options(joinedload(Volunteer.organisation))
        .where(_choosable(now))
        .order_by(Volunteer.name, Volunteer.id)
    )
    return [TrainerChoice(volunteer.id, _label(volunteer)) for volunteer in volunteers]


def trainer_choices(*, keep: int | None = None, now: datetime | None = None) -> list[TrainerChoice]:
    """The form's choices: the trained trainers, and the session's current one (`keep`) even if they are no longer
    listed (their identity removed since), so that saving other changes does not drop the link."""
    choices = trained_trainers(now=now)
    if keep is not None and all(choice.volunteer_id != keep for choice in choices):
        volunteer = db.session.get(Volunteer, keep)
        if volunteer is not None:
            choices.append(TrainerChoice(volunteer.id, _label(volunteer)))
    return choices


def chosen_trainer(volunteer_id: int, *, keep: int | None = None, now: datetime | None = None) -> Volunteer:
    """The volunteer chosen as a session's trained trainer; raises NotATrainedTrainer if they are not one (a stale
    or made-up choice). `keep` is the session's current trainer, who stays valid."""
    now = now or utcnow()
    query = sa.select(Volunteer).where(Volunteer.id == volunteer_id)
    if volunteer_id != keep:
        query = query.where(_choosable(now))
    volunteer = db.session.scalar(query)
    if volunteer is None:
        raise NotATrainedTrainer()
    return volunteer


def trainer_of(training_session: TrainingSession) -> TrainerChoice | None:
    """The session's trained trainer as its page shows them, if it has one."""
    if training_session.trainer_volunteer_id is None:
        return None
    volunteer = db.session.scalars(
        sa.select(Volunteer)
        .options(joinedload(Volunteer.organisation))
        .where(Volunteer.id == training_session.trainer_volunteer_id)
    ).one_or_none()
    return TrainerChoice(volunteer.id, _label(volunteer)) if volunteer is not None else None
