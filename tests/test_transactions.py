"""transactions.attempt, the one way a view commits: a broken rule rolls back and comes back as the page's
message; a collision in a unique index (a double-submitted form) is run once more, and the second run answers
as for someone already registered; a second collision is not swallowed."""

import logging

import pytest
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from mecc_volunteer.errors import DomainError
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, OutgoingEmail, TrainingSession, Volunteer
from mecc_volunteer.transactions import attempt
from mecc_volunteer.volunteers import services
from tests.helpers import registration_details


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_a_broken_rule_writes_nothing_and_comes_back_as_the_message(app, make_training_session):
    training_session = make_training_session()
    details = registration_details(app, 1)
    with app.app_context():

        def book_then_break_a_rule():
            services.register(db.session.get(TrainingSession, training_session.id), details, config=current_app.config)
            raise DomainError("That broke a rule.")

        done = attempt(book_then_break_a_rule)

        assert done.error is not None
        assert done.error.message == "That broke a rule."
        with pytest.raises(DomainError):
            _ = done.result
        assert count(Booking) == 0
        assert count(Volunteer) == 0


def test_a_registration_that_collides_with_another_for_the_same_email_is_run_once_more(
    app, make_training_session, caplog
):
    training_session = make_training_session()
    details = registration_details(app, 7)
    runs = []
    with app.app_context():

        def register():
            runs.append(1)
            result = services.register(
                db.session.get(TrainingSession, training_session.id), details, config=current_app.config
            )
            if len(runs) == 1:
                # The other submission of the same form got there first: a second volunteer with this email
                # meets the database's unique index, as it would when two requests race.
                db.session.add(Volunteer(**_same_person(result.booking.volunteer)))
                db.session.flush()
            return result

        with caplog.at_level(logging.INFO, logger="mecc_volunteer.transactions"):
            done = attempt(register, retry_on_conflict="a test registration")

        assert len(runs) == 2
        assert done.error is None
        assert done.result.outcome is services.Outcome.BOOKED
        assert count(Volunteer) == 1
        assert count(Booking) == 1
        assert "a test registration collided with a concurrent change; trying once more" in caplog.text


@pytest.mark.postgres_only(
    reason="SQLite's writers queue (BEGIN IMMEDIATE): the second registration waits, then finds the volunteer"
)
def test_two_first_registrations_with_one_email_at_once_end_as_one_booking_and_a_move_offer(
    app, make_training_session, app_logs
):
    """Someone registers in two tabs at once for two sessions. Each registration locks only its own session, so
    both look for the email, find nobody and add a volunteer; the other tab commits first, on its own connection,
    and this one's insert meets the unique index. Run once more, it finds the volunteer and booking the other
    committed and answers as it does for anyone already booked: an offer to move."""
    first_choice = make_training_session(days_ahead=30)
    other_tab = make_training_session(days_ahead=40)
    details = registration_details(app, 7)
    runs = []
    other_tab_done = []

    def the_other_tab_commits_first(session, flush_context, instances):
        # This run has looked for the email (nobody) and is about to insert its volunteer.
        if len(runs) == 1 and not other_tab_done and any(isinstance(o, Volunteer) for o in session.new):
            with app.app_context():  # a database session and connection of its own, as another request has
                services.register(db.session.get(TrainingSession, other_tab.id), details, config=current_app.config)
                db.session.commit()
            other_tab_done.append(True)

    with app.app_context():
        sa.event.listen(db.session(), "before_flush", the_other_tab_commits_first)

        def register():
            runs.append(1)
            return services.register(
                db.session.get(TrainingSession, first_choice.id), details, config=current_app.config
            )

        done = attempt(register, retry_on_conflict="a test registration")

        assert other_tab_done == [True]
        assert len(runs) == 2
        assert done.error is None
        assert done.result.outcome is services.Outcome.MOVE_OFFERED
        assert done.result.booking.training_session_id == other_tab.id
        assert count(Volunteer) == 1
        assert count(Booking) == 1
        templates = db.session.scalars(sa.select(OutgoingEmail.template).order_by(OutgoingEmail.id)).all()
        assert templates == ["booking_confirmation", "move_offer"]
    assert "a test registration collided with a concurrent change; trying once more" in app_logs.text


def test_a_second_collision_is_raised_not_swallowed(app, make_training_session):
    training_session = make_training_session()
    details = registration_details(app, 8)
    with app.app_context():

        def always_collides():
            result = services.register(
                db.session.get(TrainingSession, training_session.id), details, config=current_app.config
            )
            db.session.add(Volunteer(**_same_person(result.booking.volunteer)))
            db.session.flush()

        with pytest.raises(IntegrityError):
            attempt(always_collides, retry_on_conflict="a test registration")
        db.session.rollback()
        assert count(Booking) == 0


def test_without_retry_a_collision_is_raised_at_once(app, make_training_session):
    training_session = make_training_session()
    details = registration_details(app, 9)
    runs = []
    with app.app_context():

        def collides():
            runs.append(1)
            result = services.register(
                db.session.get(TrainingSession, training_session.id), details, config=current_app.config
            )
            db.session.add(Volunteer(**_same_person(result.booking.volunteer)))
            db.session.flush()

        with pytest.raises(IntegrityError):
            attempt(collides)
        db.session.rollback()
        assert runs == [1]


def _same_person(volunteer: Volunteer) -> dict:
    return {
        "name": volunteer.name,
        "email": volunteer.email,
        "email_normalised": volunteer.email_normalised,
        "organisation_id": volunteer.organisation_id,
        "role": volunteer.role,
        "privacy_notice_version": volunteer.privacy_notice_version,
        "privacy_acknowledged_at": volunteer.privacy_acknowledged_at,
        "created_at": volunteer.created_at,
    }
