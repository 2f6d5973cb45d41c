"""Joining links: each must be https on an allowed meeting host (checked on the parsed host name), and "Send
joining links" emails the current one to every booked volunteer who has confirmed the e-learning."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from mecc_volunteer import audit, settings
from mecc_volunteer.bookings.emails import manage_url_for, queue_for_booking
from mecc_volunteer.bookings.lifecycle import lock_session
from mecc_volunteer.calendar import next_calendar_sequence
from mecc_volunteer.extensions import db
from mecc_volunteer.mail import dedupe_key_used
from mecc_volunteer.models import AuditAction, Booking, LinkPurpose, OutgoingEmail, StaffUser, TrainingSession, utcnow
from mecc_volunteer.sessions.messages import (
    PERSONAL_LINK_PLACEHOLDER,
    CannotSend,
    EmailPreview,
    booked_on,
    email_preview,
)
from mecc_volunteer.templating import format_date
from mecc_volunteer.tokens import issue_link


def joining_link_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why this link cannot be a joining link, or None if it can (allowed_hosts: the programme's setting)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "Enter the joining link as a full web address, starting with https://"
    if parts.scheme.lower() != "https":
        return "The joining link must start with https://"
    if parts.username or parts.password or not host or port not in (None, 443):
        return "Enter the joining link exactly as Teams or Zoom gives it"
    # Look-alikes: only plain ASCII names, and only the allowed hosts or their subdomains.
    if not host.isascii() or host.startswith("xn--") or ".xn--" in host or host.endswith("."):
        return "The joining link must be a Microsoft Teams or Zoom link"
    if not any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts):
        if set(allowed_hosts) <= TEAMS_AND_ZOOM:
            return "The joining link must be a Microsoft Teams or Zoom link"
        return f"The joining link must be a link to {_either(allowed_hosts)}"
    return None


# The hosts that "Teams or Zoom" describes; an admin may allow others (the programme's joining_link_hosts).
TEAMS_AND_ZOOM = {"teams.microsoft.com", "teams.live.com", "zoom.us"}


def _either(hosts: tuple[str, ...]) -> str:
    return hosts[0] if len(hosts) == 1 else ", ".join(hosts[:-1]) + " or " + hosts[-1]


@dataclass
class JoiningLinkPlan:
    """What "Send joining links" would do now."""

    training_session: TrainingSession
    to_send: list[Booking]  # booked, e-learning confirmed, and not yet sent the current link
    had_old_link: int  # of those, how many were sent an earlier link
    already_sent: int  # ready, and already have the current link
    not_ready: int  # booked, e-learning not confirmed yet
    problem: str | None  # why nothing can be sent (no link, cancelled, finished)
    preview: EmailPreview | None


def plan_joining_links(training_session: TrainingSession, *, now: datetime | None = None) -> JoiningLinkPlan:
    now = now or utcnow()
    link = training_session.joining_link
    booked = booked_on(training_session)
    ready = [b for b in booked if b.elearning_confirmed]
    to_send = [b for b in ready if b.joining_link_sent != link]
    preview = None
    if link:
        first = to_send[0] if to_send else None
        changed = first is not None and first.joining_link_sent is not None
        preview = email_preview(
            "joining_link",
            training_session,
            first,
            _joining_link_subject(training_session, changed=changed),
            joining_link=link,
            changed=changed,
            manage_url=PERSONAL_LINK_PLACEHOLDER,
        )
    return JoiningLinkPlan(
        training_session=training_session,
        to_send=to_send,
        had_old_link=sum(b.joining_link_sent is not None for b in to_send),
        already_sent=len(ready) - len(to_send),
        not_ready=len(booked) - len(ready),
        problem=_joining_link_problem(training_session, now=now),
        preview=preview,
    )


def send_joining_links(
    training_session: TrainingSession, *, by: StaffUser, now: datetime | None = None
) -> list[Booking]:
    """Email the current joining link (with an .ics carrying it) to every booked volunteer who has confirmed
    the e-learning and has not been sent this link. Returns the bookings emailed: empty when everyone has it."""
    now = now or utcnow()
    lock_session(training_session)
    db.session.refresh(training_session)
    problem = _joining_link_problem(training_session, now=now)
    if problem:
        raise CannotSend(problem)
    link = training_session.joining_link
    if not link:  # a session without one has a problem, above
        raise RuntimeError("no joining link to send")
    sent = []
    for booking in booked_on(training_session, Booking.elearning_confirmed_at.is_not(None)):
        if booking.joining_link_sent == link:
            continue
        changed = booking.joining_link_sent is not None
        # An extra live link to My booking: the one in their confirmation email keeps working.
        token = issue_link(booking, LinkPurpose.MANAGE, now=now, replace=False)
        next_calendar_sequence(booking)  # the calendar entry now carries the joining link
        queued = queue_for_booking(
            "joining_link",
            booking,
            _joining_link_subject(training_session, changed=changed),
            dedupe_key=_joining_link_key(booking, link),
            with_ics=True,
            now=now,
            joining_link=link,
            changed=changed,
            manage_url=manage_url_for(token),
        )
        booking.joining_link_sent = link
        booking.joining_link_sent_at = now
        if queued is not None:
            sent.append(booking)
    audit.record_messages(AuditAction.JOINING_LINK_SENT, training_session.id, sent, by=by, now=now)
    db.session.flush()
    return sent


def _joining_link_problem(training_session: TrainingSession, *, now: datetime) -> str | None:
    if training_session.cancelled_at is not None:
        return "This session is cancelled, so there is no joining link to send."
    if now >= training_session.ends_at:
        return "This session has already taken place, so there is no joining link to send."
    if not training_session.joining_link:
        return "This session has no joining link yet. Edit the session to add the Teams or Zoom link first."
    problem = joining_link_problem(training_session.joining_link, settings.current().joining_link_hosts)
    if problem:
        return f"{problem}. Edit the session to correct the joining link."
    return None


def _joining_link_subject(training_session: TrainingSession, *, changed: bool) -> str:
    day = format_date(training_session.starts_at)
    return f"{'New joining link' if changed else 'Your joining link'}: MECC training on {day}"


def _joining_link_key(booking: Booking, link: str) -> str:
    """joining-link:booking:<id>:<sha256(link)[:12]>: one email per person per link. A link changed and then
    changed back is sent again (numbered), since the person was sent another link in between."""
    key = f"joining-link:booking:{booking.id}:{hashlib.sha256(link.encode()).hexdigest()[:12]}"
    if not dedupe_key_used(key):
        return key
    copies = db.session.execute(
        sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.dedupe_key.startswith(key + ":"))
    ).scalar_one()
    return f"{key}:{copies + 2}"
