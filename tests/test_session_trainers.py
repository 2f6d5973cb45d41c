"""A session's trainer may be a volunteer trained as a MECC trainer in this pilot: the coordinator chooses them on
the session form, so the pilot review counts the cascade from the app's own records."""

import re
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import audit
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    AuditAction,
    AuditEvent,
    BookingStatus,
    SessionKind,
    StaffUser,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.sessions import trainers
from mecc_volunteer.sessions.services import SessionDetails, create_session
from mecc_volunteer.volunteers.privacy import remove_identity
from tests.helpers import session_form

TTT = SessionKind.TRAIN_THE_TRAINER


def trainer_options(page: str) -> dict[str, str]:
    """The trained-trainer select's options on a page: {value: label}."""
    select = re.search(r'<select[^>]*name="trainer_volunteer_id".*?</select>', page, re.S)
    assert select, "the page has no trained-trainer select"
    return {value: label.strip() for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', select[0])}


def trainee(make_training_session, make_booking, make_volunteer, name: str, **kw) -> int:
    """A volunteer who attended a train-the-trainer session that ended 30 days ago."""
    training = make_training_session(days_ahead=-30, kind=TTT, **kw)
    volunteer_id = make_volunteer(name=name)
    make_booking(training.id, BookingStatus.ATTENDED, volunteer_id=volunteer_id)
    return volunteer_id


def stored(app, session_id: int) -> TrainingSession:
    with app.app_context():
        training_session = db.session.get(TrainingSession, session_id)
        db.session.expunge(training_session)
        return training_session


def test_only_attendees_of_train_the_trainer_sessions_that_took_place_are_listed(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Tess Trained")
    past_ttt = make_training_session(days_ahead=-20, kind=TTT)
    future_ttt = make_training_session(days_ahead=20, kind=TTT)
    cancelled_ttt = make_training_session(days_ahead=-10, kind=TTT, cancelled_at=utcnow() - timedelta(days=15))
    past_volunteer_training = make_training_session(days_ahead=-20)
    no_show = make_volunteer(name="Dee Noshow")
    make_booking(past_ttt.id, BookingStatus.DID_NOT_ATTEND, volunteer_id=no_show)
    booked = make_volunteer(name="Bea Booked")
    make_booking(future_ttt.id, BookingStatus.BOOKED, volunteer_id=booked)
    in_cancelled = make_volunteer(name="Cai Cancelled")
    make_booking(cancelled_ttt.id, BookingStatus.ATTENDED, volunteer_id=in_cancelled)
    volunteer_only = make_volunteer(name="Val Volunteer")
    make_booking(past_volunteer_training.id, BookingStatus.ATTENDED, volunteer_id=volunteer_only)
    removed = trainee(make_training_session, make_booking, make_volunteer, "Rae Removed")
    with app.app_context():
        remove_identity(db.session.get(Volunteer, removed), by=audit.SYSTEM)
        db.session.commit()
        assert [choice.volunteer_id for choice in trainers.trained_trainers()] == [trained]

    auth.login("coordinator")
    page = client.get("/manage/sessions/new").text
    assert trainer_options(page) == {"": "None of these", str(trained): "Tess Trained, Oxfordshire Library Service"}
    assert "Trainer trained in this pilot (optional)" in page


def test_a_coordinator_creates_a_session_with_a_trained_trainer_whose_name_fills_the_empty_trainer(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Tess Trained")
    auth.login("coordinator")
    client.get("/manage/sessions/new")
    response = client.post(
        "/manage/sessions/new", data=session_form(trainer_name="", trainer_volunteer_id=str(trained))
    )
    assert response.status_code == 303
    session_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    training_session = stored(app, session_id)
    assert training_session.trainer_volunteer_id == trained
    assert training_session.trainer_name == "Tess Trained"

    detail = client.get(response.headers["Location"]).text
    assert "Trainer trained in this pilot" in detail
    assert "Tess Trained, Oxfordshire Library Service" in detail


def test_a_name_entered_for_the_trainer_is_kept_beside_the_trained_trainer(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Teresa Trained")
    auth.login("coordinator")
    client.get("/manage/sessions/new")
    response = client.post(
        "/manage/sessions/new", data=session_form(trainer_name="Tess T", trainer_volunteer_id=str(trained))
    )
    assert response.status_code == 303
    training_session = stored(app, int(response.headers["Location"].rsplit("/", 1)[-1]))
    assert (training_session.trainer_name, training_session.trainer_volunteer_id) == ("Tess T", trained)


def edit_form(training_session: TrainingSession, **overrides) -> dict:
    """The edit form for a session as its page fills it in (times as the fixture makes them), with overrides."""
    start = training_session.starts_at.astimezone(LONDON)
    end = training_session.ends_at.astimezone(LONDON)
    fields = {
        "day": str(start.day),
        "month": str(start.month),
        "year": str(start.year),
        "start_time": f"{start:%H:%M}",
        "end_time": f"{end:%H:%M}",
        "capacity": str(training_session.capacity),
        "trainer_name": training_session.trainer_name or "",
        "joining_link": training_session.joining_link or "",
    }
    return session_form(**{**fields, **overrides})


def test_a_coordinator_sets_and_then_clears_the_trained_trainer_of_a_session_that_has_taken_place(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Tess Trained")
    held = make_training_session(days_ahead=-3)
    auth.login("coordinator")
    edit = f"/manage/sessions/{held.id}/edit"
    assert trainer_options(client.get(edit).text)[str(trained)] == "Tess Trained, Oxfordshire Library Service"

    response = client.post(edit, data=edit_form(held, trainer_volunteer_id=str(trained)))
    assert response.status_code == 303
    training_session = stored(app, held.id)
    assert (training_session.trainer_volunteer_id, training_session.trainer_name) == (trained, "Tess Trained")
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == AuditAction.SESSION_UPDATED, AuditEvent.training_session_id == held.id
            )
        )
        assert event.detail == "trainer, trained trainer"
    assert (
        f'<option value="{trained}" selected>Tess Trained, Oxfordshire Library Service</option>'
        in client.get(edit).text
    )

    response = client.post(edit, data=edit_form(training_session, trainer_volunteer_id=""))
    assert response.status_code == 303
    assert stored(app, held.id).trainer_volunteer_id is None
    assert stored(app, held.id).trainer_name == "Tess Trained"


@pytest.mark.parametrize("value", ["999999", "abc", "-1", "1" * 5000])
def test_a_made_up_trained_trainer_is_refused_next_to_the_field(app, client, auth, value):
    auth.login("coordinator")
    client.get("/manage/sessions/new")
    response = client.post("/manage/sessions/new", data=session_form(trainer_volunteer_id=value))
    assert response.status_code == 200
    assert "<title>Error:" in response.text
    assert 'href="#trainer_volunteer_id"' in response.text
    assert 'id="trainer_volunteer_id-error"' in response.text
    assert "Select a trainer from the list" in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 0


def test_a_volunteer_who_did_not_attend_a_train_the_trainer_session_is_refused(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    not_trained = make_volunteer(name="Nat Untrained")
    make_booking(make_training_session(days_ahead=-30).id, BookingStatus.ATTENDED, volunteer_id=not_trained)
    auth.login("coordinator")
    client.get("/manage/sessions/new")
    response = client.post("/manage/sessions/new", data=session_form(trainer_volunteer_id=str(not_trained)))
    assert response.status_code == 200
    assert 'id="trainer_volunteer_id-error"' in response.text


def test_a_trainer_whose_identity_went_between_the_page_and_the_save_is_refused(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Tess Trained")
    auth.login("coordinator")
    assert str(trained) in trainer_options(client.get("/manage/sessions/new").text)
    with app.app_context():
        remove_identity(db.session.get(Volunteer, trained), by=audit.SYSTEM)
        db.session.commit()
    response = client.post("/manage/sessions/new", data=session_form(trainer_volunteer_id=str(trained)))
    assert response.status_code == 200
    assert 'id="trainer_volunteer_id-error"' in response.text


def test_the_service_refuses_a_volunteer_who_is_not_a_trained_trainer(app, make_volunteer, staff_id):
    untrained = make_volunteer()
    with app.app_context():
        details = SessionDetails(
            day=(utcnow() + timedelta(days=30)).astimezone(LONDON).date(),
            start=time(10, 30),
            end=time(12, 0),
            kind=SessionKind.VOLUNTEER_TRAINING,
            capacity=10,
            trainer_volunteer_id=untrained,
        )
        with pytest.raises(trainers.NotATrainedTrainer):
            create_session(details, by=db.session.get(StaffUser, staff_id))
        db.session.rollback()


def test_removing_the_trainers_identity_keeps_the_link_and_editing_the_session_keeps_it_too(
    app, client, auth, make_training_session, make_booking, make_volunteer
):
    trained = trainee(make_training_session, make_booking, make_volunteer, "Tess Trained")
    held = make_training_session(days_ahead=-3, trainer_name="Tess Trained", trainer_volunteer_id=trained)
    with app.app_context():
        remove_identity(db.session.get(Volunteer, trained), by=audit.SYSTEM)
        db.session.commit()
    assert stored(app, held.id).trainer_volunteer_id == trained

    auth.login("coordinator")
    edit = f"/manage/sessions/{held.id}/edit"
    page = client.get(edit).text
    assert f'<option value="{trained}" selected>Personal data removed, Oxfordshire Library Service</option>' in page
    response = client.post(edit, data=edit_form(held, capacity="12", trainer_volunteer_id=str(trained)))
    assert response.status_code == 303
    assert (stored(app, held.id).capacity, stored(app, held.id).trainer_volunteer_id) == (12, trained)
    assert "Personal data removed, Oxfordshire Library Service" in client.get(f"/manage/sessions/{held.id}").text
