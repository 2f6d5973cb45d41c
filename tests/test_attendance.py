"""Attendance: from the start of the session the coordinator marks each person attended or not (one tap
with htmx, a form and a redirect without), or everyone booked at once, then corrects individual rows."""

from datetime import timedelta

import pytest

from mecc_volunteer import errors
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, StaffUser, TrainingSession, utcnow
from mecc_volunteer.sessions import attendance
from tests.helpers import assert_fragment


def status_of(app, booking_id) -> BookingStatus:
    with app.app_context():
        return db.session.get(Booking, booking_id).status


@pytest.fixture
def started(make_training_session, make_booking, make_volunteer):
    """A session that started 10 minutes ago: Asha and Ben booked, Cara waiting, Dev cancelled."""
    training_session = make_training_session(capacity=2, starts_at=utcnow() - timedelta(minutes=10))
    ids = {
        "Asha Khan": make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan")),
        "Ben Jones": make_booking(training_session.id, volunteer_id=make_volunteer(name="Ben Jones")),
        "Cara Lewis": make_booking(
            training_session.id, BookingStatus.WAITING, volunteer_id=make_volunteer(name="Cara Lewis")
        ),
        "Dev Patel": make_booking(
            training_session.id, BookingStatus.CANCELLED, volunteer_id=make_volunteer(name="Dev Patel")
        ),
    }
    return training_session, ids


def test_before_the_start_the_page_says_when_attendance_opens(
    app, client, coordinator, make_training_session, make_booking
):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)

    page = client.get(f"/manage/sessions/{training_session.id}/attendance")
    early = client.post(
        f"/manage/sessions/{training_session.id}/attendance/{booking_id}",
        data={"attended": "yes"},
        follow_redirects=True,
    )
    early_all = client.post(f"/manage/sessions/{training_session.id}/attendance/mark-all", follow_redirects=True)

    assert "You can record attendance once the session starts, at 10:30am on" in page.text
    assert "Mark everyone booked as attended" not in page.text
    assert 'name="attended"' not in page.text
    assert "You can record attendance once the session starts" in early.text
    assert "You can record attendance once the session starts" in early_all.text
    assert status_of(app, booking_id) is BookingStatus.BOOKED


def test_the_attendance_list_shows_only_people_with_a_place(client, coordinator, started):
    training_session, _ids = started
    page = client.get(f"/manage/sessions/{training_session.id}/attendance")
    assert page.status_code == 200
    assert "Asha Khan" in page.text
    assert "Ben Jones" in page.text
    assert "Cara Lewis" not in page.text
    assert "Dev Patel" not in page.text
    assert "Mark everyone booked as attended" in page.text
    assert page.text.count('name="attended" value="yes"') == 2
    assert "0 attended, 0 did not attend, 2 not recorded yet." in page.text


def test_marking_one_person_without_javascript_redirects_back_to_their_row(app, client, coordinator, started):
    training_session, ids = started
    asha = ids["Asha Khan"]

    response = client.post(f"/manage/sessions/{training_session.id}/attendance/{asha}", data={"attended": "yes"})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/manage/sessions/{training_session.id}/attendance#booking-{asha}")
    page = client.get(response.headers["Location"])
    assert "Asha Khan: attended." in page.text
    with app.app_context():
        booking = db.session.get(Booking, asha)
        assert booking.status is BookingStatus.ATTENDED
        assert booking.attendance_recorded_at is not None
        assert db.session.get(StaffUser, booking.attendance_recorded_by_id).role.value == "coordinator"
        # The place stays taken: attendance does not free it.
        assert db.session.get(TrainingSession, training_session.id).places_taken == 2


def test_one_tap_with_htmx_returns_the_updated_row(app, client, coordinator, started, htmx_headers):
    training_session, ids = started
    ben = ids["Ben Jones"]

    response = client.post(
        f"/manage/sessions/{training_session.id}/attendance/{ben}", data={"attended": "no"}, headers=htmx_headers
    )

    assert_fragment(response)
    assert response.text.lstrip().startswith(f'<tr id="booking-{ben}">')
    assert ">Did not attend</strong>" in response.text
    assert "Asha Khan" not in response.text
    assert f'id="absent-{ben}"' in response.text
    assert 'aria-pressed="true"' in response.text
    # The message goes to the page's live region, once.
    assert response.text.count('id="flash"') == 1
    assert "Ben Jones: did not attend." in response.text
    assert status_of(app, ben) is BookingStatus.DID_NOT_ATTEND


def test_a_mistake_can_be_corrected(app, client, coordinator, started):
    training_session, ids = started
    path = f"/manage/sessions/{training_session.id}/attendance/{ids['Asha Khan']}"
    client.post(path, data={"attended": "no"})
    client.post(path, data={"attended": "yes"})
    assert status_of(app, ids["Asha Khan"]) is BookingStatus.ATTENDED


def test_mark_everyone_booked_as_attended_leaves_recorded_rows_alone(
    app, client, coordinator, started, make_booking, htmx_headers
):
    training_session, ids = started
    client.post(f"/manage/sessions/{training_session.id}/attendance/{ids['Ben Jones']}", data={"attended": "no"})

    response = client.post(f"/manage/sessions/{training_session.id}/attendance/mark-all", follow_redirects=True)

    assert "1 person marked as attended." in response.text
    assert status_of(app, ids["Asha Khan"]) is BookingStatus.ATTENDED
    assert status_of(app, ids["Ben Jones"]) is BookingStatus.DID_NOT_ATTEND
    assert status_of(app, ids["Cara Lewis"]) is BookingStatus.WAITING
    assert status_of(app, ids["Dev Patel"]) is BookingStatus.CANCELLED
    assert "Mark everyone booked as attended" not in response.text  # nobody left unrecorded
    with app.app_context():
        assert db.session.get(TrainingSession, training_session.id).places_taken == 2

    again = client.post(f"/manage/sessions/{training_session.id}/attendance/mark-all", headers=htmx_headers)
    assert_fragment(again)
    assert again.text.lstrip().startswith('<div id="attendance">')
    assert "0 people marked as attended." in again.text
    assert again.text.count('id="flash"') == 1


@pytest.mark.parametrize("name", ["Cara Lewis", "Dev Patel"])
def test_people_without_a_place_cannot_be_marked(app, client, coordinator, started, name):
    training_session, ids = started
    before = status_of(app, ids[name])
    page = client.post(
        f"/manage/sessions/{training_session.id}/attendance/{ids[name]}",
        data={"attended": "yes"},
        follow_redirects=True,
    )
    assert f"Only people with a place can be marked: {name} is" in page.text
    assert status_of(app, ids[name]) is before


@pytest.mark.parametrize("data", [{}, {"attended": "maybe"}, {"attended": ""}, {"attended": "\x00"}])
def test_a_bad_attendance_value_changes_nothing_and_is_explained(app, client, coordinator, started, htmx_headers, data):
    training_session, ids = started
    path = f"/manage/sessions/{training_session.id}/attendance/{ids['Asha Khan']}"
    page = client.post(path, data=data, follow_redirects=True)
    fragment = client.post(path, data=data, headers=htmx_headers)
    assert page.status_code == 200
    assert "Choose attended or did not attend" in page.text
    assert_fragment(fragment)
    assert status_of(app, ids["Asha Khan"]) is BookingStatus.BOOKED


def test_a_cancelled_session_has_no_attendance(app, client, coordinator, make_training_session, make_booking):
    training_session = make_training_session(starts_at=utcnow() - timedelta(minutes=10))
    booking_id = make_booking(training_session.id)
    with app.app_context():
        db.session.get(TrainingSession, training_session.id).cancelled_at = utcnow()
        db.session.commit()
    page = client.get(f"/manage/sessions/{training_session.id}/attendance")
    posted = client.post(
        f"/manage/sessions/{training_session.id}/attendance/{booking_id}",
        data={"attended": "yes"},
        follow_redirects=True,
    )
    assert "This session was cancelled" in page.text
    assert "This session has been cancelled." in posted.text
    assert status_of(app, booking_id) is BookingStatus.BOOKED


def test_the_attendance_page_works_after_the_session_has_finished(
    app, client, coordinator, make_training_session, make_booking, htmx_headers
):
    training_session = make_training_session(starts_at=utcnow() - timedelta(days=2))
    booking_id = make_booking(training_session.id)
    page = client.get(f"/manage/sessions/{training_session.id}/attendance")
    fragment = client.get(f"/manage/sessions/{training_session.id}/attendance", headers=htmx_headers)
    assert "<html" in page.text
    assert f'id="attended-{booking_id}"' in page.text
    assert_fragment(fragment)
    client.post(f"/manage/sessions/{training_session.id}/attendance/{booking_id}", data={"attended": "yes"})
    assert status_of(app, booking_id) is BookingStatus.ATTENDED


# --- The services, with the clock as a parameter --------------------------------------------------------


def test_record_attendance_opens_exactly_at_the_start(app, make_training_session, make_booking, staff_id):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        by = db.session.get(StaffUser, staff_id)
        with pytest.raises(attendance.AttendanceNotOpen):
            attendance.record_attendance(
                booking, True, by=by, now=training_session.starts_at - timedelta(microseconds=1)
            )
        with pytest.raises(attendance.AttendanceNotOpen):
            attendance.mark_all_attended(
                booking.training_session, by=by, now=training_session.starts_at - timedelta(seconds=1)
            )
        attendance.record_attendance(booking, True, by=by, now=training_session.starts_at)
        assert booking.status is BookingStatus.ATTENDED
        assert booking.attendance_recorded_at == training_session.starts_at
        db.session.rollback()


def test_mark_all_attended_marks_only_people_still_booked(app, make_training_session, make_booking, staff_id):
    training_session = make_training_session(capacity=5)
    booked = [make_booking(training_session.id) for _ in range(3)]
    waiting = make_booking(training_session.id, BookingStatus.WAITING)
    later = training_session.starts_at + timedelta(minutes=5)
    with app.app_context():
        by = db.session.get(StaffUser, staff_id)
        ts = db.session.get(TrainingSession, training_session.id)
        attendance.record_attendance(db.session.get(Booking, booked[0]), False, by=by, now=later)
        marked = attendance.mark_all_attended(ts, by=by, now=later)
        db.session.commit()
        assert sorted(b.id for b in marked) == booked[1:]
        assert [db.session.get(Booking, b).status for b in booked] == [
            BookingStatus.DID_NOT_ATTEND,
            BookingStatus.ATTENDED,
            BookingStatus.ATTENDED,
        ]
        assert db.session.get(Booking, waiting).status is BookingStatus.WAITING
        assert ts.places_taken == 3
        with pytest.raises(errors.BookingNotActive):
            attendance.record_attendance(db.session.get(Booking, waiting), True, by=by, now=later)
        db.session.rollback()
