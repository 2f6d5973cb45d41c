"""What every message a coordinator sends to a session's people shares: who is booked, the preview of an email as
they would get it, and the error when nothing can be sent.

Every send is safe to repeat. The session row is locked first, so two requests at once take turns; each
message has a dedupe key, so the outbox refuses a second copy; and a booking records the joining link it was
last sent, so a double click or a retry finds nobody left to send to. Services never commit.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import joinedload

from mecc_volunteer import errors
from mecc_volunteer.bookings.emails import email_context
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, TrainingSession

# Shown in a preview where a volunteer's own secret link would be (a preview never issues one).
PERSONAL_LINK_PLACEHOLDER = "[their personal link]"


class CannotSend(errors.DomainError):
    message = "These emails cannot be sent for this session."


@dataclass(frozen=True)
class EmailPreview:
    """One email as a volunteer would get it: for the first recipient, or a sample when there is none."""

    to: str | None
    subject: str
    text: str


def booked_on(training_session: TrainingSession, *conditions) -> list[Booking]:
    """Booked volunteers on the session, read afresh (another request may have changed them meanwhile)."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .options(joinedload(Booking.volunteer))
            .where(
                Booking.training_session_id == training_session.id,
                Booking.status == BookingStatus.BOOKED,
                *conditions,
            )
            .order_by(Booking.id)
            .execution_options(populate_existing=True)
        )
    )


@dataclass(frozen=True)
class _SampleVolunteer:
    name: str = "Sample Volunteer"


def email_preview(
    template: str, training_session: TrainingSession, booking: Booking | None, subject: str, **context
) -> EmailPreview:
    volunteer = booking.volunteer if booking is not None else _SampleVolunteer()
    text = render_template(f"email/{template}.txt", **email_context(training_session, volunteer, booking, **context))
    return EmailPreview(to=booking.volunteer.email if booking is not None else None, subject=subject, text=text)
