"""Rules for the volunteer journey: registration, capacity, the waiting list, moving and cancelling.

Services flush when they need ids and never commit: the calling view or command commits once.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from mecc_volunteer import audit, errors, instrument, limits, page_cache, settings
from mecc_volunteer.bookings import emails, lifecycle
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    LinkPurpose,
    Organisation,
    OutgoingEmail,
    Programme,
    SessionKind,
    SessionStatus,
    SessionSummary,
    Survey,
    TrainingSession,
    Volunteer,
    registration_closes_at,
    utcnow,
)
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.validation import normalise_email

log = logging.getLogger(__name__)

# How long a finished session stays on the start page's list: not at all; cancelled ones show until their date.
LINK_REQUEST_INTERVAL = timedelta(minutes=2)


# --- Reading ---------------------------------------------------------------------------------------


# Built once: a select made afresh costs more than running it (SQLAlchemy memoises a statement's cache key on the
# statement itself), and the start page, My booking and Move each run one on every miss or visit.
_WAITING_COUNT = (
    sa.select(sa.func.count(Booking.id))
    .where(Booking.training_session_id == TrainingSession.id, Booking.status == BookingStatus.WAITING)
    .correlate(TrainingSession)
    .scalar_subquery()
)
_UPCOMING = (
    sa.select(TrainingSession, _WAITING_COUNT)
    .options(joinedload(TrainingSession.programme))
    .where(TrainingSession.ends_at > sa.bindparam("now"))
    .order_by(TrainingSession.starts_at, TrainingSession.id)
)
_UPCOMING_OF_KIND = _UPCOMING.where(TrainingSession.kind == sa.bindparam("kind"))
# Those that may have a place (the status still decides: registration may have closed).
_WITH_PLACES = _UPCOMING_OF_KIND.where(
    TrainingSession.cancelled_at.is_(None),
    TrainingSession.places_taken < TrainingSession.capacity,
    TrainingSession.id != sa.bindparam("other_than"),
)


def _summaries(statement: sa.Select, now: datetime, **parameters) -> list[SessionSummary]:
    return [
        SessionSummary(training_session=ts, status=ts.status(now), waiting_count=count)
        for ts, count in db.session.execute(statement, {"now": now, **parameters})
    ]


def list_upcoming_sessions(*, now: datetime | None = None, kind=None) -> list[SessionSummary]:
    """Sessions that have not ended, soonest first, with their derived status and waiting-list length."""
    now = now or utcnow()
    if kind is None:
        return _summaries(_UPCOMING, now)
    return _summaries(_UPCOMING_OF_KIND, now, kind=kind)


def next_status_change(sessions: list[SessionSummary], *, now: datetime) -> datetime | None:
    """When a list of sessions would read differently with no write: the next registration closing or session end
    (a status from then on is CLOSED or FINISHED, and a finished session leaves the list)."""
    moments = [
        moment
        for summary in sessions
        for moment in (summary.training_session.registration_closes_at, summary.training_session.ends_at)
        if moment > now
    ]
    return min(moments, default=None)


def list_sessions_to_move_to(booking: Booking, *, now: datetime | None = None) -> list[SessionSummary]:
    """Other sessions of the same kind that have places now."""
    return list_sessions_with_places(booking.session_kind, other_than=booking.training_session, now=now)


# Only when each of those sessions closes (_WITH_PLACES's conditions): My booking asks on every visit, and needs a
# yes or no.
_CUT_OFFS_WITH_PLACES = (
    sa.select(TrainingSession.starts_at, sa.func.coalesce(TrainingSession.cutoff_days, Programme.cutoff_days))
    .join(Programme, TrainingSession.programme_id == Programme.id)
    .where(cast(sa.ColumnElement[bool], _WITH_PLACES.whereclause))  # never None: _WITH_PLACES has conditions
)


def can_move_somewhere(booking: Booking, *, now: datetime | None = None) -> bool:
    """Whether list_sessions_to_move_to offers any session, without loading them: a session is open or has few
    places (SessionStatus) when it is not cancelled, not finished, not past its cut-off and not full."""
    now = now or utcnow()
    parameters = {"kind": booking.session_kind, "now": now, "other_than": booking.training_session_id}
    cut_offs = db.session.execute(_CUT_OFFS_WITH_PLACES, parameters)
    return any(now < registration_closes_at(starts_at, days) for starts_at, days in cut_offs)


def list_sessions_with_places(
    kind: SessionKind, *, other_than: TrainingSession, now: datetime | None = None
) -> list[SessionSummary]:
    """Sessions of this kind, other than the one given, with a place now: where a booking may move to."""
    summaries = _summaries(_WITH_PLACES, now or utcnow(), kind=kind, other_than=other_than.id)
    return [summary for summary in summaries if summary.status in (SessionStatus.OPEN, SessionStatus.FEW_PLACES)]


# What a session's registration form shows of the session itself; with the reference data's version, all the page
# is rendered from (its places only as open, few or full).
_REGISTRATION_PAGE_SESSION = sa.select(
    TrainingSession.id,
    TrainingSession.kind,
    TrainingSession.starts_at,
    TrainingSession.ends_at,
    TrainingSession.location,
    TrainingSession.cancelled_at,
    TrainingSession.cutoff_days,
    TrainingSession.capacity,
    TrainingSession.places_taken,
).where(TrainingSession.id == sa.bindparam("session_id"))


def registration_page_content(session_id: int) -> tuple | None:
    """What the registration form of a session is rendered from, read afresh (page_cache.public_page)."""
    row = db.session.execute(_REGISTRATION_PAGE_SESSION, {"session_id": session_id}).first()
    return None if row is None else _registration_page_content(row)


def registration_page_content_of(training_session: TrainingSession) -> tuple | None:
    """The same, from the session a view rendered."""
    return _registration_page_content(training_session)


def _registration_page_content(ts) -> tuple | None:
    reference = page_cache.reference_version()
    if reference is None:  # the row is missing: nothing to compare, so the page is rendered again
        return None
    places_left = max(ts.capacity - ts.places_taken, 0)
    full, few = ts.places_taken >= ts.capacity, places_left * 5 <= ts.capacity  # as TrainingSession.status
    fields = (ts.id, ts.kind, ts.starts_at, ts.ends_at, ts.location, ts.cancelled_at, ts.cutoff_days, full, few)
    return (reference, fields)


def get_session_open_for_registration(session_id: int, *, now: datetime | None = None) -> TrainingSession:
    """The session, or a DomainError that says why it cannot be booked."""
    # With its programme: the cut-off needs it, and every registration page asks.
    training_session = db.session.get(TrainingSession, session_id, options=[joinedload(TrainingSession.programme)])
    if training_session is None:
        raise errors.SessionNotFound()
    lifecycle.check_accepts_registrations(training_session, now=now)
    return training_session


@dataclass(frozen=True)
class Choice:
    """An organisation or area the registration form offers."""

    id: int
    name: str
    is_other: bool = False  # an organisation that asks for its name ("Other")


_ORGANISATIONS_OFFERED = (
    sa.select(Organisation.id, Organisation.name, Organisation.is_other)
    .where(Organisation.retired_at.is_(None))
    .order_by(Organisation.sort_order, Organisation.name)
)
_DISTRICTS_OFFERED = (
    sa.select(District.id, District.name)
    .where(District.retired_at.is_(None))
    .order_by(District.sort_order, District.name)
)


def registration_choices() -> Mapping[str, tuple[Choice, ...]]:
    """The organisations offered to a new registration (a retired one stays only on what already has it) and the
    areas (not the retired ones), as the form takes them; kept per process until the reference data changes (each
    registration step shows or checks them)."""
    return page_cache.kept_while_the_reference_holds("registration choices", _read_registration_choices)


def _read_registration_choices() -> Mapping[str, tuple[Choice, ...]]:
    # Read-only: one process's requests share it.
    return MappingProxyType(
        {
            "organisations": tuple(Choice(*row) for row in db.session.execute(_ORGANISATIONS_OFFERED)),
            "districts": tuple(Choice(*row) for row in db.session.execute(_DISTRICTS_OFFERED)),
        }
    )


def waiting_position(booking: Booking) -> int | None:
    """1 for the first person waiting; None if the booking is not on the waiting list."""
    if booking.status is not BookingStatus.WAITING:
        return None
    ahead = db.session.execute(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.training_session_id == booking.training_session_id,
            Booking.status == BookingStatus.WAITING,
            sa.or_(
                Booking.waitlisted_at < booking.waitlisted_at,
                sa.and_(Booking.waitlisted_at == booking.waitlisted_at, Booking.id < booking.id),
            ),
        )
    ).scalar_one()
    return ahead + 1


# --- Registration ---------------------------------------------------------------------------------


@dataclass
class RegistrationDetails:
    name: str
    email: str
    role: str
    organisation_id: int
    organisation_other: str | None
    district_id: int | None
    # None when not asked (a coordinator adding someone by hand): no baseline answers are stored.
    baseline_confidence: int | None
    baseline_knowledge: int | None
    privacy_acknowledged: bool
    followup_consent: bool = False
    phone: str | None = None
    age_band: str | None = None
    gender: str | None = None
    ethnic_group: str | None = None
    disability: str | None = None


class Outcome(Enum):
    BOOKED = "booked"
    WAITING = "waiting"
    ALREADY_BOOKED = "already_booked"
    MOVE_OFFERED = "move_offered"


@dataclass
class RegistrationResult:
    outcome: Outcome
    booking: Booking
    # The raw secret for a new booking's My booking link (only shown to whoever just registered).
    token: str | None = None
    waiting_position: int | None = None
    # False when a repeat email was held back (one was sent moments ago): the page must not say it was sent.
    email_sent: bool = True


def register(
    training_session: TrainingSession,
    details: RegistrationDetails,
    *,
    config: dict,
    by: audit.By = audit.VOLUNTEER,
    now: datetime | None = None,
    allow_after_cutoff: bool = False,
) -> RegistrationResult:
    """Book a place, or a place on the waiting list; an existing booking gets its link again instead."""
    now = now or utcnow()
    lifecycle.lock_session(training_session)
    lifecycle.check_accepts_registrations(training_session, now=now, allow_after_cutoff=allow_after_cutoff)
    if not details.privacy_acknowledged:
        raise errors.DomainError("Confirm that you have read the privacy notice.")

    volunteer = db.session.scalar(
        sa.select(Volunteer).where(Volunteer.email_normalised == normalise_email(details.email))
    )
    if volunteer is not None:
        existing = active_booking(volunteer, training_session.kind)
        if existing is not None:
            return _handle_existing_booking(existing, training_session, now=now)

    organisation = db.session.get(Organisation, details.organisation_id)
    if organisation is None:
        raise errors.DomainError("Select your organisation from the list.")
    if volunteer is None:
        volunteer = Volunteer(email_normalised=normalise_email(details.email), created_at=now)
    # The latest registration's answers are the volunteer's current details.
    _apply_details(volunteer, details, organisation, config=config, now=now)
    db.session.add(volunteer)

    booking = lifecycle.create(training_session, volunteer, by=by, now=now)

    for key, value in (("confidence", details.baseline_confidence), ("knowledge", details.baseline_knowledge)):
        if value is None:
            continue
        db.session.add(
            EvaluationAnswer(
                booking=booking,
                survey=Survey.BASELINE,
                question_key=key,
                value=str(value),
                answered_at=now,
                instrument_version=instrument.CURRENT.version,
            )
        )

    token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)  # a new booking has no link to replace
    if booking.status is BookingStatus.BOOKED:
        emails.queue_booking_confirmation(booking, token)
        return RegistrationResult(Outcome.BOOKED, booking, token)
    position = waiting_position(booking)
    emails.queue_waiting_list_confirmation(booking, token, position)
    return RegistrationResult(Outcome.WAITING, booking, token, waiting_position=position)


def _handle_existing_booking(existing: Booking, requested: TrainingSession, *, now: datetime) -> RegistrationResult:
    """Same session: say so and send the link again. Another session: email an offer to move.

    At most one such email every couple of minutes, so resubmitting the form with someone's address
    cannot flood their inbox or keep ending their link."""
    outcome = Outcome.ALREADY_BOOKED if existing.training_session_id == requested.id else Outcome.MOVE_OFFERED
    if _emailed_recently(existing, ("your_link", "move_offer"), now=now):
        log.info("booking %s: link email skipped, one was sent moments ago", existing.id)
        return RegistrationResult(outcome, existing, email_sent=False)
    token = issue_link(existing, LinkPurpose.MANAGE, now=now)
    if outcome is Outcome.ALREADY_BOOKED:
        emails.queue_your_link([(existing, token)], already_booked=True)
    else:
        emails.queue_move_offer(existing, requested, token)
    return RegistrationResult(outcome, existing)


def _emailed_recently(booking: Booking, templates: tuple[str, ...], *, now: datetime) -> bool:
    return (
        db.session.scalar(
            sa.select(OutgoingEmail.id).where(
                OutgoingEmail.booking_id == booking.id,
                OutgoingEmail.template.in_(templates),
                OutgoingEmail.created_at > min(now, utcnow()) - LINK_REQUEST_INTERVAL,
            )
        )
        is not None
    )


def _apply_details(
    volunteer: Volunteer, details: RegistrationDetails, organisation: Organisation, *, config: dict, now: datetime
) -> None:
    volunteer.name = details.name
    volunteer.email = details.email.strip()
    volunteer.phone = details.phone
    volunteer.organisation = organisation
    volunteer.organisation_other = details.organisation_other if organisation.is_other else None
    volunteer.role = details.role
    volunteer.district_id = details.district_id
    volunteer.age_band = details.age_band
    volunteer.gender = details.gender
    volunteer.ethnic_group = details.ethnic_group
    volunteer.disability = details.disability
    volunteer.privacy_notice_version = settings.current().privacy_notice_version
    volunteer.privacy_acknowledged_at = now
    if details.followup_consent:
        volunteer.followup_consent = True
        volunteer.followup_consent_version = config["FOLLOWUP_CONSENT_VERSION"]
        volunteer.followup_consent_at = now
    elif volunteer.followup_consent:
        # Registering again without ticking the box withdraws consent.
        volunteer.followup_consent = False
        volunteer.followup_consent_version = None
        volunteer.followup_consent_at = None


def active_booking(volunteer: Volunteer, kind) -> Booking | None:
    return db.session.scalar(
        sa.select(Booking).where(
            Booking.volunteer_id == volunteer.id,
            Booking.session_kind == kind,
            Booking.status.in_(ACTIVE_STATUSES),
        )
    )


# --- Cancelling, moving and the e-learning, by the volunteer's own link ------------------------------------


def cancel_booking(booking: Booking, *, now: datetime | None = None) -> Booking:
    """Cancel a booking or a waiting-list place; a freed place goes to the first person waiting."""
    lifecycle.cancel(booking, by=audit.VOLUNTEER, now=now)
    return booking


def move_booking(booking: Booking, target: TrainingSession, *, now: datetime | None = None) -> Booking:
    """Move an active booking to another session of the same kind that has a place now."""
    return lifecycle.move(booking, target, by=audit.VOLUNTEER, now=now)


def confirm_elearning(booking: Booking, completed_on: date, *, now: datetime | None = None) -> Booking:
    """The volunteer says they completed the national e-learning."""
    return lifecycle.record_elearning(booking, completed_on, by=audit.VOLUNTEER, now=now)


# --- Links ----------------------------------------------------------------------------------------


# "Lost your link?" asked from one client address (any emails): room for a shared office, a brake on mail-bombing.
LINK_REQUESTS_PER_ADDRESS = limits.Limit("lost-link-address", max_hits=10, window=timedelta(minutes=15))


class TooManyLinkRequests(errors.DomainError):
    message = "You have asked for a new link too many times. Wait 15 minutes, then try again."


def request_link(email: str, *, remote_addr: str | None = None, now: datetime | None = None) -> None:
    """ "Lost your link?": email fresh links for the address's active bookings. Says nothing either way.

    At most LINK_REQUESTS_PER_ADDRESS from one client address (TooManyLinkRequests, known email or not), and
    one email per LINK_REQUEST_INTERVAL to one volunteer however many requests arrive at once: they queue on
    a lock for the email before looking for a recent one."""
    now = now or utcnow()
    if remote_addr is not None and not limits.hit(LINK_REQUESTS_PER_ADDRESS, remote_addr, now=now):
        raise TooManyLinkRequests()
    email = normalise_email(email)
    limits.lock("lost-link-email", limits.key_hash(email))
    volunteer = db.session.scalar(sa.select(Volunteer).where(Volunteer.email_normalised == email))
    if volunteer is None:
        return
    recent = db.session.scalar(
        sa.select(OutgoingEmail.id).where(
            OutgoingEmail.template == "your_link",
            OutgoingEmail.to_address == volunteer.email,
            OutgoingEmail.created_at > now - LINK_REQUEST_INTERVAL,
        )
    )
    if recent is not None:
        log.info("link request for volunteer %s ignored: one was sent moments ago", volunteer.id)
        return
    bookings = db.session.scalars(
        sa.select(Booking)
        .join(Booking.training_session)
        .where(Booking.volunteer_id == volunteer.id, Booking.status.in_(ACTIVE_STATUSES))
        .where(TrainingSession.ends_at > now)
        .order_by(TrainingSession.starts_at)
    ).all()
    if bookings:
        emails.queue_your_link([(booking, issue_link(booking, LinkPurpose.MANAGE, now=now)) for booking in bookings])
