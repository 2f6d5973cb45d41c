"""A coordinator's roster: see who is booked and waiting, search and filter (with and without JavaScript),
cancel, book from the waiting list, move, record the e-learning, add someone by hand, and download the
trainer's CSV."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    EvaluationAnswer,
    LinkPurpose,
    Organisation,
    OutgoingEmail,
    PersonalLink,
    SessionKind,
    StaffUser,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.sessions import roster, roster_actions
from mecc_volunteer.tokens import find_booking, issue_link
from tests.helpers import assert_fragment, booking, read_csv


def emails(app, template=None):
    with app.app_context():
        query = sa.select(OutgoingEmail.template).order_by(OutgoingEmail.id)
        if template:
            query = query.where(OutgoingEmail.template == template)
        return list(db.session.scalars(query))


def places_taken(app, session_id) -> int:
    with app.app_context():
        return db.session.get(TrainingSession, session_id).places_taken


def organisation_id(app, name) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Organisation.id).where(Organisation.name == name))


@pytest.fixture
def full_session(make_training_session, make_booking, make_volunteer):
    """Capacity 2: Asha and Ben booked, then Cara and Dev waiting (in that order)."""
    training_session = make_training_session(capacity=2)
    ids = {}
    for name in ["Asha Khan", "Ben Jones"]:
        ids[name] = make_booking(training_session.id, volunteer_id=make_volunteer(name=name))
    for hours, name in [(2, "Cara Lewis"), (1, "Dev Patel")]:
        ids[name] = make_booking(
            training_session.id,
            BookingStatus.WAITING,
            volunteer_id=make_volunteer(name=name),
            at=utcnow() - timedelta(hours=hours),
        )
    return training_session, ids


# --- The roster -----------------------------------------------------------------------------------------


def test_a_coordinator_sees_everyone_on_the_roster_with_their_progress(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session(capacity=2)
    other = organisation_id(app, "Other")
    confirmed = make_booking(
        training_session.id,
        volunteer_id=make_volunteer(name="Asha Khan", organisation_id=other, organisation_other="Banbury Foodbank"),
    )
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Ben Jones"))
    first = make_booking(
        training_session.id,
        BookingStatus.WAITING,
        volunteer_id=make_volunteer(name="Cara Lewis"),
        at=utcnow() - timedelta(hours=2),
    )
    second = make_booking(
        training_session.id,
        BookingStatus.WAITING,
        volunteer_id=make_volunteer(name="Dev Patel"),
        at=utcnow() - timedelta(hours=1),
    )
    make_booking(training_session.id, BookingStatus.CANCELLED, volunteer_id=make_volunteer(name="Eve Adams"))
    completed_on = utcnow().astimezone(LONDON).date() - timedelta(days=3)
    with app.app_context():
        row = db.session.get(Booking, confirmed)
        row.elearning_completed_on, row.elearning_confirmed_at = completed_on, utcnow()
        row.joining_link_sent_at = utcnow()
        db.session.commit()

    page = client.get(f"/manage/sessions/{training_session.id}/roster")

    assert page.status_code == 200
    assert "<html" in page.text
    text = page.text
    for name in ["Asha Khan", "Ben Jones", "Cara Lewis", "Dev Patel", "Eve Adams"]:
        assert name in text
    assert "Banbury Foodbank" in text
    assert "Oxfordshire Library Service" in text
    assert f"{completed_on:%A} {completed_on.day} {completed_on:%B %Y}" in text
    assert "Not yet" in text
    assert text.count(">Booked</strong>") == 2
    assert ">Cancelled</strong>" in text
    assert "2 of 2 places taken, 2 waiting, 1 cancelled." in text
    # Places first, then the queue in order with positions, then cancellations.
    assert text.index("Asha Khan") < text.index("Cara Lewis") < text.index("Dev Patel") < text.index("Eve Adams")
    assert re.search(rf'id="booking-{first}".*?Position 1', text, re.S)
    assert re.search(rf'id="booking-{second}".*?Position 2', text, re.S)
    assert "Book now" in text
    assert "Cancel booking" in text
    assert "Record e-learning" in text


def test_the_session_page_links_to_the_roster_csv_and_attendance(client, coordinator, make_training_session):
    training_session = make_training_session()
    page = client.get(f"/manage/sessions/{training_session.id}")
    for path, label in [("roster", "Roster"), ("roster.csv", "Download roster (CSV)"), ("attendance", "Attendance")]:
        assert f'<a href="/manage/sessions/{training_session.id}/{path}">{label}</a>' in page.text


def test_search_finds_name_email_or_organisation_ignoring_case_with_and_without_js(
    app, client, coordinator, make_training_session, make_booking, make_volunteer, htmx_headers
):
    training_session = make_training_session()
    restore = organisation_id(app, "Restore")
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan", email="asha@library.example"))
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Ben Jones", organisation_id=restore))
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Cara Lewis", email="CARA@Fire.example"))
    path = f"/manage/sessions/{training_session.id}/roster"

    by_name = client.get(path, query_string={"q": "KHAN"})
    by_organisation = client.get(path, query_string={"q": "restore"}, headers=htmx_headers)
    by_email = client.get(path, query_string={"q": "fire.EXAMPLE"}, headers=htmx_headers)
    nobody = client.get(path, query_string={"q": "zebra"}, headers=htmx_headers)

    assert "<html" in by_name.text
    assert 'value="KHAN"' in by_name.text
    assert "Asha Khan" in by_name.text
    assert "Ben Jones" not in by_name.text
    assert "Showing 1 of 3 people." in by_name.text
    for fragment in (by_organisation, by_email, nobody):
        assert_fragment(fragment)
        assert fragment.text.lstrip().startswith('<div id="roster-results">')
    assert "Ben Jones" in by_organisation.text
    assert "Asha Khan" not in by_organisation.text
    assert "Cara Lewis" in by_email.text
    assert "Ben Jones" not in by_email.text
    assert "No one on this session matches your search" in nobody.text
    # Row actions keep the search, so the coordinator comes back to the same view.
    assert "/cancel?q=restore" in by_organisation.text


def test_search_text_is_matched_literally_not_as_a_pattern(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    for name in ["100% Sure", "Ann_Lee", "Annie Lee", "Back\\slash Bo", "Plain Person"]:
        make_booking(training_session.id, volunteer_id=make_volunteer(name=name))
    path = f"/manage/sessions/{training_session.id}/roster"

    def names(q):
        with app.app_context():
            rows = roster.list_roster(db.session.get(TrainingSession, training_session.id), search=q).rows
            return sorted(r.booking.volunteer.name for r in rows)

    assert names("%") == ["100% Sure"]
    assert names("n_l") == ["Ann_Lee"]
    assert names("\\") == ["Back\\slash Bo"]
    assert names("Lee") == ["Ann_Lee", "Annie Lee"]
    for q in ["%", "_", "\\", "'", '"', "%%", "[a-z]", "' OR 1=1 --"]:
        assert client.get(path, query_string={"q": q}).status_code == 200


def test_the_status_filter_works_as_a_page_and_as_a_fragment(client, coordinator, full_session, htmx_headers):
    training_session, ids = full_session
    path = f"/manage/sessions/{training_session.id}/roster"

    waiting = client.get(path, query_string={"status": "waiting"})
    booked = client.get(path, query_string={"status": "booked"}, headers=htmx_headers)
    everyone = client.get(path, query_string={"status": "all"}, headers=htmx_headers)

    assert "<html" in waiting.text
    assert '<option value="waiting" selected>' in waiting.text
    assert "Cara Lewis" in waiting.text
    assert "Dev Patel" in waiting.text
    assert "Asha Khan" not in waiting.text
    assert_fragment(booked)
    assert "Asha Khan" in booked.text
    assert "Cara Lewis" not in booked.text
    assert_fragment(everyone)
    assert all(name in everyone.text for name in ids)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "vip"}, "Select a status from the list"),
        ({"q": "x" * 101}, "Search must be 100 characters or fewer"),
        ({"q": "bad\x00byte"}, "Search must not contain a null character"),
        ({"status": ["booked", "waiting"], "q": ["a", "b"]}, None),
    ],
)
def test_bad_search_values_are_explained_and_ignored_never_a_500(
    client, coordinator, full_session, htmx_headers, query, message
):
    training_session, ids = full_session
    path = f"/manage/sessions/{training_session.id}/roster"
    page = client.get(path, query_string=query)
    fragment = client.get(path, query_string=query, headers=htmx_headers)
    assert page.status_code == 200
    assert_fragment(fragment)
    if message:
        assert message in page.text
        assert "There is a problem" in page.text
        assert message in fragment.text
        assert all(name in page.text for name in ids)


def test_the_roster_loads_in_a_fixed_number_of_queries_however_many_are_booked(
    app, client, coordinator, make_training_session, make_booking
):
    small = make_training_session(capacity=30)
    large = make_training_session(capacity=30, days_ahead=31)
    make_booking(small.id)
    for _ in range(12):
        make_booking(large.id)
    make_booking(large.id, BookingStatus.WAITING)

    def statements(session_id):
        count = 0

        def counter(*_args):
            nonlocal count
            count += 1

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            assert client.get(f"/manage/sessions/{session_id}/roster").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)
        return count

    # The first page a process serves reads the programme's settings, which later pages take from the process.
    statements(small.id)
    assert statements(large.id) == statements(small.id)


# --- Cancelling -----------------------------------------------------------------------------------------


def test_cancelling_a_booking_asks_first_then_books_the_first_person_waiting(app, client, coordinator, full_session):
    training_session, ids = full_session
    path = f"/manage/sessions/{training_session.id}/roster/{ids['Asha Khan']}/cancel"

    confirm = client.get(path)
    assert "Are you sure you want to cancel Asha Khan's booking?" in confirm.text
    assert booking(app, ids["Asha Khan"]).status is BookingStatus.BOOKED

    done = client.post(path)
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/manage/sessions/{training_session.id}/roster")
    page = client.get(done.headers["Location"])

    assert "Asha Khan&#39;s booking is cancelled. The place went to Cara Lewis from the waiting list" in page.text
    # People with a place are listed by name, however they got it (on every database).
    assert page.text.index("volunteer2@") < page.text.index("volunteer3@") < page.text.index("volunteer4@")
    assert booking(app, ids["Asha Khan"]).status is BookingStatus.CANCELLED
    assert booking(app, ids["Cara Lewis"]).status is BookingStatus.BOOKED
    assert booking(app, ids["Dev Patel"]).status is BookingStatus.WAITING
    assert places_taken(app, training_session.id) == 2
    # The person cancelled is told; the first person waiting is offered the place.
    assert sorted(emails(app)) == ["booking_cancelled", "place_offered"]


def test_cancelling_twice_says_it_is_already_cancelled(app, client, coordinator, full_session):
    training_session, ids = full_session
    path = f"/manage/sessions/{training_session.id}/roster/{ids['Dev Patel']}/cancel"

    client.post(path)
    again = client.post(path, follow_redirects=True)
    confirm_again = client.get(path, follow_redirects=True)

    assert "Dev Patel&#39;s booking is already cancelled." in again.text
    assert "already cancelled" in confirm_again.text
    assert "Are you sure" not in confirm_again.text
    # A waiting-list place frees nothing; the one cancellation is told once.
    assert places_taken(app, training_session.id) == 2
    assert emails(app) == ["booking_cancelled"]


def test_cancelling_with_htmx_returns_the_refreshed_roster_and_the_message(
    app, client, coordinator, full_session, htmx_headers
):
    training_session, ids = full_session
    response = client.post(
        f"/manage/sessions/{training_session.id}/roster/{ids['Ben Jones']}/cancel?status=booked", headers=htmx_headers
    )
    assert_fragment(response)
    assert 'hx-swap-oob="innerHTML"' in response.text
    assert response.text.count('id="flash"') == 1
    assert "Ben Jones&#39;s booking is cancelled." in response.text
    # Still filtered to people booked: Cara, promoted from the queue, now shows; Ben does not.
    assert 'id="booking-{}"'.format(ids["Cara Lewis"]) in response.text
    assert 'id="booking-{}"'.format(ids["Ben Jones"]) not in response.text


def test_a_booking_cannot_be_cancelled_once_the_session_has_started(
    app, client, coordinator, make_training_session, make_booking
):
    training_session = make_training_session(starts_at=utcnow() - timedelta(minutes=5))
    booking_id = make_booking(training_session.id)
    page = client.post(f"/manage/sessions/{training_session.id}/roster/{booking_id}/cancel", follow_redirects=True)
    assert "already started" in page.text
    assert booking(app, booking_id).status is BookingStatus.BOOKED


# --- Booking from the waiting list ----------------------------------------------------------------------


def test_a_coordinator_books_a_named_person_from_the_waiting_list(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session(capacity=2)
    make_booking(training_session.id)
    first = make_booking(training_session.id, BookingStatus.WAITING, at=utcnow() - timedelta(hours=2))
    chosen = make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Dev Patel"))
    with app.app_context():
        old_token = issue_link(db.session.get(Booking, chosen), LinkPurpose.MANAGE)
        db.session.commit()

    response = client.post(f"/manage/sessions/{training_session.id}/roster/{chosen}/promote", follow_redirects=True)

    assert "Dev Patel is booked from the waiting list and has been emailed." in response.text
    promoted = booking(app, chosen)
    assert promoted.status is BookingStatus.BOOKED
    assert promoted.promoted_at is not None
    assert booking(app, first).status is BookingStatus.WAITING
    assert places_taken(app, training_session.id) == 2
    assert emails(app) == ["place_offered"]
    with app.app_context():
        # The email carries a new link, and the one the volunteer already has keeps working.
        assert find_booking(old_token, LinkPurpose.MANAGE).id == chosen
        assert (
            db.session.scalar(sa.select(sa.func.count(PersonalLink.id)).where(PersonalLink.booking_id == chosen)) == 2
        )


def test_booking_from_the_waiting_list_is_refused_when_the_session_is_full(
    app, client, coordinator, full_session, htmx_headers
):
    training_session, ids = full_session
    path = f"/manage/sessions/{training_session.id}/roster/{ids['Dev Patel']}/promote"

    page = client.post(path, follow_redirects=True)
    fragment = client.post(path, headers=htmx_headers)

    assert "This session is full. Free a place first" in page.text
    assert_fragment(fragment)
    assert "This session is full" in fragment.text
    assert "nhsuk-error-summary" in fragment.text
    assert booking(app, ids["Dev Patel"]).status is BookingStatus.WAITING
    assert places_taken(app, training_session.id) == 2
    assert emails(app) == []


def test_capacity_is_never_exceeded_when_promoting_people_one_after_another(
    app, client, coordinator, make_training_session, make_booking
):
    training_session = make_training_session(capacity=2)
    make_booking(training_session.id)
    waiting = [make_booking(training_session.id, BookingStatus.WAITING) for _ in range(3)]

    for booking_id in waiting:
        client.post(f"/manage/sessions/{training_session.id}/roster/{booking_id}/promote")

    with app.app_context():
        statuses = [db.session.get(Booking, b).status for b in waiting]
    assert statuses == [BookingStatus.BOOKED, BookingStatus.WAITING, BookingStatus.WAITING]
    assert places_taken(app, training_session.id) == 2


def test_capacity_holds_when_coordinators_promote_people_at_the_same_moment(
    app, make_training_session, make_booking, auth
):
    """Twelve promotions race for three free places, each in its own thread, connection and transaction."""
    import threading

    from mecc_volunteer import errors

    training_session = make_training_session(capacity=5)
    for _ in range(2):
        make_booking(training_session.id)
    waiting = [make_booking(training_session.id, BookingStatus.WAITING) for _ in range(12)]
    email = auth.create("coordinator")
    start = threading.Barrier(len(waiting), timeout=60)
    outcomes, crashes = [], []

    def promote(booking_id):
        try:
            with app.app_context():
                staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
                target = db.session.get(Booking, booking_id)
                db.session.rollback()  # start the race with no transaction open
                start.wait()
                try:
                    roster_actions.promote_booking(target, by=staff)
                    db.session.commit()
                    outcomes.append("booked")
                except errors.SessionFull:
                    db.session.rollback()
                    outcomes.append("full")
        except BaseException as error:
            crashes.append(repr(error))

    threads = [threading.Thread(target=promote, args=(b,)) for b in waiting]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert crashes == []
    assert sorted(outcomes) == ["booked"] * 3 + ["full"] * 9
    with app.app_context():
        booked = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.training_session_id == training_session.id, Booking.status == BookingStatus.BOOKED
            )
        )
        assert booked == 5 == db.session.get(TrainingSession, training_session.id).places_taken
    assert emails(app, "place_offered") == ["place_offered"] * 3


def test_only_people_waiting_can_be_booked_from_the_waiting_list(app, client, coordinator, full_session):
    training_session, ids = full_session
    page = client.post(
        f"/manage/sessions/{training_session.id}/roster/{ids['Asha Khan']}/promote", follow_redirects=True
    )
    assert "Asha Khan is not on the waiting list." in page.text
    assert places_taken(app, training_session.id) == 2


def test_promote_booking_service_refuses_after_the_start(app, make_training_session, make_booking, auth):
    training_session = make_training_session(capacity=3)
    waiting = make_booking(training_session.id, BookingStatus.WAITING)
    email = auth.create("coordinator")
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        target = db.session.get(Booking, waiting)
        with pytest.raises(Exception, match="already started"):
            roster_actions.promote_booking(target, by=staff, now=training_session.starts_at)
        db.session.rollback()


# --- Moving ---------------------------------------------------------------------------------------------


def test_a_coordinator_moves_a_booking_to_another_session_of_the_same_kind(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    current = make_training_session(capacity=1, days_ahead=20)
    open_one = make_training_session(capacity=5, days_ahead=27)
    full_one = make_training_session(capacity=1, days_ahead=28)
    make_booking(full_one.id)
    other_kind = make_training_session(capacity=5, days_ahead=29, kind=SessionKind.TRAIN_THE_TRAINER)
    moving = make_booking(current.id, volunteer_id=make_volunteer(name="Asha Khan"))
    waiting = make_booking(current.id, BookingStatus.WAITING)
    path = f"/manage/sessions/{current.id}/roster/{moving}/move"

    page = client.get(path)
    assert "Move Asha Khan's booking" in page.text
    assert f'value="{open_one.id}"' in page.text
    assert "5 places left" in page.text
    assert f'value="{full_one.id}"' not in page.text
    assert f'value="{other_kind.id}"' not in page.text

    invalid = client.post(path, data={"training_session": str(full_one.id)})
    assert "Select a session from the list" in invalid.text
    assert "<title>Error: " in invalid.text

    done = client.post(path, data={"training_session": str(open_one.id)})
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/manage/sessions/{current.id}/roster")
    assert "Asha Khan has moved to the session on" in client.get(done.headers["Location"]).text
    assert booking(app, moving).training_session_id == open_one.id
    assert booking(app, waiting).status is BookingStatus.BOOKED  # the freed place went to the queue
    assert [places_taken(app, s.id) for s in (current, open_one)] == [1, 1]
    assert sorted(emails(app)) == ["booking_confirmation", "place_offered"]


# --- E-learning -----------------------------------------------------------------------------------------


def test_a_coordinator_records_the_e_learning_after_a_phone_call(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan"))
    path = f"/manage/sessions/{training_session.id}/roster/{booking_id}/elearning"
    today = utcnow().astimezone(LONDON).date()

    page = client.get(path)
    assert page.status_code == 200
    assert 'id="completed_day"' in page.text

    future = today + timedelta(days=2)
    refused = client.post(
        path,
        data={
            "completed_day": str(future.day),
            "completed_month": str(future.month),
            "completed_year": str(future.year),
            "declaration": "y",
        },
    )
    assert "must be today or in the past" in refused.text
    undeclared = client.post(
        path,
        data={"completed_day": str(today.day), "completed_month": str(today.month), "completed_year": str(today.year)},
    )
    assert "Confirm that the volunteer told you" in undeclared.text
    assert booking(app, booking_id).elearning_confirmed_at is None

    done = client.post(
        path,
        data={
            "completed_day": str(today.day),
            "completed_month": str(today.month),
            "completed_year": str(today.year),
            "declaration": "y",
        },
        follow_redirects=True,
    )

    assert "E-learning recorded for Asha Khan" in done.text
    recorded = booking(app, booking_id)
    assert recorded.elearning_completed_on == today
    with app.app_context():
        assert db.session.get(StaffUser, recorded.elearning_recorded_by_id).role.value == "coordinator"


# --- Adding someone by hand -----------------------------------------------------------------------------


@pytest.fixture
def add_form(app):
    def make(**overrides):
        with app.app_context():
            organisation = db.session.scalar(sa.select(Organisation).order_by(Organisation.id))
        form = {
            "name": "Priya Patel",
            "email": "Priya@Example.org ",
            "phone": "",
            "organisation": str(organisation.id),
            "organisation_other": "",
            "role": "Library assistant",
            "district": "outside",
            "privacy_acknowledged": "y",
        }
        form.update(overrides)
        return {k: v for k, v in form.items() if v is not None}

    return make


def test_a_coordinator_adds_someone_who_phoned_in(app, client, coordinator, make_training_session, add_form):
    training_session = make_training_session(capacity=3)
    path = f"/manage/sessions/{training_session.id}/roster/add"

    page = client.get(path)
    assert "I have told the volunteer how we use their information (privacy notice)" in page.text
    assert "baseline_confidence" not in page.text
    assert "age_band" not in page.text

    done = client.post(path, data=add_form())

    assert done.status_code == 303
    assert "Priya Patel is booked. We have emailed them" in client.get(done.headers["Location"]).text
    with app.app_context():
        added = db.session.scalar(sa.select(Booking))
        assert added.status is BookingStatus.BOOKED
        assert added.volunteer.email_normalised == "priya@example.org"
        assert db.session.scalar(sa.select(sa.func.count(EvaluationAnswer.id))) == 0
    assert places_taken(app, training_session.id) == 1
    assert emails(app) == ["booking_confirmation"]


def test_someone_added_to_a_full_session_joins_the_waiting_list(
    app, client, coordinator, make_training_session, make_booking, add_form
):
    training_session = make_training_session(capacity=1)
    make_booking(training_session.id)
    done = client.post(f"/manage/sessions/{training_session.id}/roster/add", data=add_form(), follow_redirects=True)
    assert "The session is full, so Priya Patel is on the waiting list (position 1)" in done.text
    assert places_taken(app, training_session.id) == 1
    assert emails(app) == ["waiting_list_confirmation"]


def test_a_coordinator_can_add_after_registration_has_closed(app, client, coordinator, make_training_session, add_form):
    training_session = make_training_session(days_ahead=3)
    page = client.get(f"/manage/sessions/{training_session.id}/roster/add")
    assert "Registration for this session has closed to the public" in page.text
    done = client.post(f"/manage/sessions/{training_session.id}/roster/add", data=add_form(), follow_redirects=True)
    assert "Priya Patel is booked." in done.text


@pytest.mark.parametrize("state", ["cancelled", "finished"])
def test_nobody_can_be_added_to_a_cancelled_or_finished_session(
    app, client, coordinator, make_training_session, add_form, state
):
    if state == "cancelled":
        training_session = make_training_session(cancelled_at=utcnow())
    else:
        training_session = make_training_session(starts_at=utcnow() - timedelta(hours=3))
    path = f"/manage/sessions/{training_session.id}/roster/add"

    page = client.get(path)
    posted = client.post(path, data=add_form())

    assert "You cannot add anyone to it." in page.text
    assert 'name="email"' not in page.text
    assert posted.status_code == 200
    assert "You cannot add anyone" in posted.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_adding_someone_already_booked_on_this_session_says_so(
    app, client, coordinator, make_training_session, make_booking, make_volunteer, add_form
):
    training_session = make_training_session()
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Priya Patel", email="priya@example.org"))

    response = client.post(
        f"/manage/sessions/{training_session.id}/roster/add", data=add_form(email="PRIYA@example.org")
    )

    assert response.status_code == 200
    assert "<title>Error: " in response.text
    assert '<a href="#email">Priya Patel is already booked on this session.</a>' in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 1
    assert emails(app) == []


def test_adding_someone_booked_on_another_session_points_to_that_session(
    app, client, coordinator, make_training_session, make_booking, make_volunteer, add_form
):
    elsewhere = make_training_session(days_ahead=20)
    training_session = make_training_session(days_ahead=27)
    make_booking(
        elsewhere.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Priya Patel", email="priya@example.org")
    )

    response = client.post(f"/manage/sessions/{training_session.id}/roster/add", data=add_form())

    assert "Priya Patel is already on the waiting list for the session on" in response.text
    assert "use Move on that session" in response.text
    assert emails(app) == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Enter your full name"),
        ({"email": "not-an-email"}, "email", "Enter an email address in the correct format"),
        ({"phone": "12345"}, "phone", "Enter a UK phone number"),
        ({"organisation": "999999"}, "organisation", "Select your organisation from the list"),
        ({"district": "atlantis"}, "district", "Select an area from the list"),
        (
            {"privacy_acknowledged": None},
            "privacy_acknowledged",
            "Confirm that you have told the volunteer how we use their information",
        ),
        ({"name": "A\u202eB"}, "name", "must not contain a hidden text-direction character"),
    ],
)
def test_adding_someone_uses_the_registration_rules(
    app, client, coordinator, make_training_session, add_form, overrides, field, message
):
    training_session = make_training_session()
    response = client.post(f"/manage/sessions/{training_session.id}/roster/add", data=add_form(**overrides))
    assert response.status_code == 200
    assert f'<a href="#{field}">' in response.text
    assert message in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Volunteer.id))) == 0


def test_an_other_organisation_needs_its_name(app, client, coordinator, make_training_session, add_form):
    training_session = make_training_session()
    other = organisation_id(app, "Other")
    response = client.post(f"/manage/sessions/{training_session.id}/roster/add", data=add_form(organisation=str(other)))
    assert '<a href="#organisation_other">Enter the name of your organisation</a>' in response.text


# --- The trainer's CSV ----------------------------------------------------------------------------------


def test_the_roster_csv_lists_people_with_a_place_by_name(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    other = organisation_id(app, "Other")
    make_booking(
        training_session.id,
        volunteer_id=make_volunteer(name="Ben Jones", organisation_id=other, organisation_other="Banbury Foodbank"),
    )
    make_booking(training_session.id, volunteer_id=make_volunteer(name="asha Khan"))
    make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Cara Lewis"))
    make_booking(training_session.id, BookingStatus.CANCELLED, volunteer_id=make_volunteer(name="Dev Patel"))

    response = client.get(f"/manage/sessions/{training_session.id}/roster.csv")
    everyone = client.get(f"/manage/sessions/{training_session.id}/roster.csv?status=all")

    day = training_session.starts_at.astimezone(LONDON).date().isoformat()
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f"attachment; filename=roster-{day}.csv"
    assert read_csv(response) == [
        ["Name", "Organisation", "Status"],
        ["asha Khan", "Oxfordshire Library Service", "Booked"],
        ["Ben Jones", "Banbury Foodbank", "Booked"],
    ]
    assert "@" not in response.data.decode("utf-8-sig")  # names and organisations only: no email addresses
    assert {row[0] for row in read_csv(everyone)[1:]} == {"asha Khan", "Ben Jones", "Cara Lewis", "Dev Patel"}


def test_the_roster_csv_cannot_carry_a_formula(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    other = organisation_id(app, "Other")
    for name in ['=HYPERLINK("https://evil.example","Click me")', "+44 7700 900982", "@SUM(A1:A3)"]:
        make_booking(
            training_session.id,
            volunteer_id=make_volunteer(name=name, organisation_id=other, organisation_other="-1+1"),
        )

    rows = read_csv(client.get(f"/manage/sessions/{training_session.id}/roster.csv"))[1:]

    assert sorted(row[0] for row in rows) == [
        "'+44 7700 900982",
        '\'=HYPERLINK("https://evil.example","Click me")',
        "'@SUM(A1:A3)",
    ]
    assert {row[1] for row in rows} == {"'-1+1"}


# --- Who may see it -------------------------------------------------------------------------------------


@pytest.fixture
def every_page(make_training_session, make_booking):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)
    base = f"/manage/sessions/{training_session.id}"
    return [
        ("get", f"{base}/roster"),
        ("get", f"{base}/roster.csv"),
        ("get", f"{base}/roster/add"),
        ("post", f"{base}/roster/add"),
        ("get", f"{base}/roster/{booking_id}/cancel"),
        ("post", f"{base}/roster/{booking_id}/cancel"),
        ("post", f"{base}/roster/{booking_id}/promote"),
        ("get", f"{base}/roster/{booking_id}/move"),
        ("post", f"{base}/roster/{booking_id}/move"),
        ("get", f"{base}/roster/{booking_id}/elearning"),
        ("post", f"{base}/roster/{booking_id}/elearning"),
        ("get", f"{base}/attendance"),
        ("post", f"{base}/attendance/{booking_id}"),
        ("post", f"{base}/attendance/mark-all"),
    ]


def test_evaluators_get_403_on_every_roster_and_attendance_page(app, client, auth, every_page):
    auth.login("evaluator")
    for method, path in every_page:
        response = getattr(client, method)(path)
        assert response.status_code == 403, (method, path)
    with app.app_context():
        assert db.session.scalar(sa.select(Booking.status)) is BookingStatus.BOOKED


def test_signed_out_visitors_are_sent_to_sign_in(client, every_page):
    for method, path in every_page:
        response = getattr(client, method)(path)
        assert response.status_code == 303, (method, path)
        assert "/manage/sign-in" in response.headers["Location"], (method, path)


def test_admins_can_see_the_roster(client, auth, make_training_session):
    auth.login("admin")
    assert client.get(f"/manage/sessions/{make_training_session().id}/roster").status_code == 200


def test_unknown_sessions_and_other_sessions_bookings_are_404(client, coordinator, make_training_session, make_booking):
    one = make_training_session()
    other = make_training_session(days_ahead=31)
    theirs = make_booking(other.id)
    assert client.get("/manage/sessions/999999/roster").status_code == 404
    assert client.get("/manage/sessions/999999/roster.csv").status_code == 404
    assert client.get(f"/manage/sessions/{one.id}/roster/999999/cancel").status_code == 404
    for method, action in [
        ("get", "cancel"),
        ("post", "cancel"),
        ("post", "promote"),
        ("get", "move"),
        ("get", "elearning"),
    ]:
        assert getattr(client, method)(f"/manage/sessions/{one.id}/roster/{theirs}/{action}").status_code == 404
    assert client.post(f"/manage/sessions/{one.id}/attendance/{theirs}", data={"attended": "yes"}).status_code == 404


def test_roster_actions_need_the_csrf_token_from_the_page_or_the_htmx_header(app, make_app, auth, full_session):
    training_session, ids = full_session
    client = make_app().test_client()
    auth.login("coordinator", client=client)  # both steps, each form's CSRF token read from its page
    base = f"/manage/sessions/{training_session.id}"

    forged = client.post(f"{base}/roster/{ids['Asha Khan']}/cancel", csrf=False)
    forged_attendance = client.post(f"{base}/attendance/mark-all", csrf=False)
    assert forged.status_code == forged_attendance.status_code == 400
    assert booking(app, ids["Asha Khan"]).status is BookingStatus.BOOKED

    page = client.get(f"{base}/roster")
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    form_token = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page.text).group(1)
    with_htmx = client.post(
        f"{base}/roster/{ids['Asha Khan']}/cancel", headers={"HX-Request": "true", "X-CSRFToken": header_token}
    )
    with_form = client.post(f"{base}/roster/{ids['Ben Jones']}/cancel", data={"csrf_token": form_token})
    assert_fragment(with_htmx)
    assert with_form.status_code == 303
    assert booking(app, ids["Asha Khan"]).status is booking(app, ids["Ben Jones"]).status is BookingStatus.CANCELLED


@pytest.mark.parametrize("part", ["completed_day", "completed_month"])
def test_a_day_or_month_of_many_digits_gets_a_clear_message_when_recording_the_e_learning(
    app, client, coordinator, make_training_session, make_booking, part
):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)
    path = f"/manage/sessions/{training_session.id}/roster/{booking_id}/elearning"
    today = utcnow().astimezone(LONDON).date()
    form = {
        "completed_day": str(today.day),
        "completed_month": str(today.month),
        "completed_year": str(today.year),
        "declaration": "y",
    }
    form[part] = "99999999999999999999999"
    client.get(path)
    response = client.post(path, data=form)
    assert response.status_code == 200
    assert 'id="completed_day-error"' in response.text
    assert '<a href="#completed_day">' in response.text
    assert booking(app, booking_id).elearning_confirmed_at is None
