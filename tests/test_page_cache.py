"""Public pages are kept rendered per process and served again, yet never stale: each kind of write to what they
show, through the app, the jobs, the command line or another server, is seen by the very next visitor; so is the
clock passing a registration's close or a session's end. A visitor with something of their own in their session
always gets a page rendered for them, and every visitor gets their own CSRF token."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from mecc_volunteer import page_cache
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    PUBLIC_DATA,
    PUBLIC_TABLES,
    REFERENCE_DATA,
    REFERENCE_TABLES,
    Booking,
    BookingStatus,
    DataVersion,
    District,
    Organisation,
    OrganisationType,
    Programme,
    TrainingSession,
    utcnow,
)
from tests.helpers import my_booking_path, register_through_the_form, session_form, without_csrf_tokens


def version(app, row: int = PUBLIC_DATA) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(DataVersion.version).where(DataVersion.id == row))


def kept(app, path: str):
    (page,) = [page for key, page in app.extensions["page_cache"]._pages.items() if key[0] == path]
    return page


def card(page: str, training_session: TrainingSession) -> str:
    """The session's card on the start page, with its whitespace squeezed."""
    cards = re.findall(r'<li class="nhsuk-card app-session-card">.*?</li>', page, re.S)
    (found,) = [c for c in cards if f"/sessions/{training_session.id}/register" in c or _date(training_session) in c]
    return " ".join(found.split())


def _date(training_session: TrainingSession) -> str:
    from mecc_volunteer.templating import format_date

    return format_date(training_session.starts_at)


def kept_pages(app) -> int:
    return len(app.extensions["page_cache"]._pages)


# --- What is kept, and for whom -------------------------------------------------------------------------------


def test_the_start_page_is_rendered_once_and_served_again_without_a_session_cookie(app, make_training_session):
    make_training_session(capacity=10)
    visitor = app.test_client()
    first = visitor.get("/")
    assert first.status_code == 200
    assert "Set-Cookie" not in first.headers  # no session for a visitor with nothing to post
    assert first.headers["Content-Encoding"] == "gzip"
    assert kept_pages(app) == 1

    again = app.test_client().get("/")
    assert again.text == first.text
    assert again.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in again.headers["Vary"]
    assert again.headers["Cache-Control"] == "no-store"  # kept by the app, never by a browser or proxy
    assert again.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert kept_pages(app) == 1


def test_a_kept_page_goes_uncompressed_to_a_client_that_takes_no_gzip(app, make_training_session):
    make_training_session()
    compressed = app.test_client().get("/")
    plain = app.test_client().get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data() == compressed.get_data()  # the test client decoded the first


def test_each_visitor_gets_their_own_csrf_token_on_a_kept_registration_form(app, make_training_session):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    first, second = app.test_client(), app.test_client()
    page_one, page_two = first.get(path), second.get(path)
    assert page_one.status_code == page_two.status_code == 200
    assert kept_pages(app) == 1
    tokens = [visitor.page.forms[0]["csrf"] for visitor in (first, second)]
    assert tokens[0]
    assert tokens[1]
    assert tokens[0] != tokens[1]
    assert "Set-Cookie" in page_one.headers
    assert "Set-Cookie" in page_two.headers
    for page in (page_one, page_two):  # the test client decoded the gzip body: it is well formed
        assert page.headers["Content-Encoding"] == "gzip"
        assert "csrf-" not in page.text  # no placeholder left


def test_a_token_from_a_kept_form_registers_and_a_token_from_another_visitor_does_not(
    app, make_training_session, registration_form
):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    alice, mallory = app.test_client(), app.test_client()
    alice.get(path)
    mallory.get(path)
    done = register_through_the_form(alice, training_session.id, registration_form())
    assert "Registration complete" in done.text

    stolen = mallory.page.forms[0]["csrf"] if mallory.page else None
    assert stolen
    fresh = app.test_client()
    refused = fresh.post(path, data={**registration_form(email="m@example.org"), "csrf_token": stolen})
    assert refused.status_code == 400


def test_a_visitor_with_answers_saved_gets_their_own_form_not_the_kept_one(
    app, make_training_session, registration_form
):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    app.test_client().get(path)  # kept, empty
    visitor = app.test_client()
    visitor.post(path, data=registration_form(name="Ama Mensah"))
    back = visitor.get(path)  # "Change" on Check your answers
    assert 'value="Ama Mensah"' in back.text
    assert 'value="Ama Mensah"' not in app.test_client().get(path).text


def test_a_signed_in_coordinator_sees_the_staff_bar_on_a_kept_page(app, client, auth, make_training_session):
    make_training_session()
    app.test_client().get("/")
    auth.login("coordinator")
    page = client.get("/").text
    assert "Manage the pilot" in page
    assert "Sign out" in page
    assert "Manage the pilot" not in app.test_client().get("/").text


def test_an_htmx_request_gets_the_fragment_kept_apart_from_the_page(app, make_training_session, htmx_headers):
    make_training_session()
    visitor = app.test_client()
    page = visitor.get("/")
    fragment = visitor.get("/?kind=volunteer_training", headers=htmx_headers)
    assert "<html" in page.text
    assert "<html" not in fragment.text
    assert "<html" not in app.test_client().get("/?kind=volunteer_training", headers=htmx_headers).text
    assert "<html" in app.test_client().get("/?kind=volunteer_training").text


# --- Never stale after a write ----------------------------------------------------------------------------------


def test_a_registration_is_seen_at_once_in_places_left_and_the_status(app, make_training_session, registration_form):
    training_session = make_training_session(capacity=2)
    visitor = app.test_client()
    assert "2 places left" in card(visitor.get("/").text, training_session)
    form_page = visitor.get(f"/sessions/{training_session.id}/register").text

    register_through_the_form(app.test_client(), training_session.id, registration_form())
    assert "1 place left" in card(visitor.get("/").text, training_session)

    register_through_the_form(app.test_client(), training_session.id, registration_form(email="b@example.org"))
    full = card(visitor.get("/").text, training_session)
    assert "Now full" in full
    assert "Join the waiting list" in full
    assert "Join the waiting list</h1>" in visitor.get(f"/sessions/{training_session.id}/register").text
    assert "Join the waiting list</h1>" not in form_page


def test_a_cancellation_frees_the_place_on_the_start_page(app, make_training_session, registration_form):
    training_session = make_training_session(capacity=1)
    volunteer = app.test_client()
    booking_path = my_booking_path(register_through_the_form(volunteer, training_session.id, registration_form()))
    visitor = app.test_client()
    assert "Now full" in card(visitor.get("/").text, training_session)

    volunteer.get(booking_path + "/cancel")
    volunteer.post(booking_path + "/cancel")
    assert "1 place left" in card(visitor.get("/").text, training_session)


def test_a_move_is_seen_on_both_sessions(app, make_training_session, registration_form):
    first = make_training_session(days_ahead=20, capacity=3)
    second = make_training_session(days_ahead=27, capacity=3)
    volunteer = app.test_client()
    booking_path = my_booking_path(register_through_the_form(volunteer, first.id, registration_form()))
    visitor = app.test_client()
    page = visitor.get("/").text
    assert "2 places left" in card(page, first)
    assert "3 places left" in card(page, second)

    volunteer.get(booking_path + f"/move?to={second.id}")
    assert volunteer.post(booking_path + "/move", data={"training_session": str(second.id)}).status_code == 303
    page = visitor.get("/").text
    assert "3 places left" in card(page, first)
    assert "2 places left" in card(page, second)


def test_a_coordinator_changing_a_session_is_seen_at_once(app, client, auth, make_training_session):
    training_session = make_training_session(capacity=10)
    visitor = app.test_client()
    assert "10 places left" in card(visitor.get("/").text, training_session)
    register_page = visitor.get(f"/sessions/{training_session.id}/register").text

    auth.login("coordinator")
    day = training_session.starts_at.astimezone(training_session.starts_at.tzinfo).date()
    from mecc_volunteer.models import LONDON

    day = training_session.starts_at.astimezone(LONDON).date()
    form = session_form(day=str(day.day), month=str(day.month), year=str(day.year), capacity="4", start_time="14:00",
                        end_time="15:30")  # fmt: skip
    client.get(f"/manage/sessions/{training_session.id}/edit")
    assert client.post(f"/manage/sessions/{training_session.id}/edit", data=form).status_code == 303

    changed = card(visitor.get("/").text, training_session)
    assert "4 places left" in changed
    assert "2pm to 3:30pm" in changed
    assert visitor.get(f"/sessions/{training_session.id}/register").text != register_page


def test_a_new_session_and_a_cancelled_one_are_seen_at_once(app, client, auth, make_training_session):
    training_session = make_training_session(days_ahead=20)
    visitor = app.test_client()
    before = visitor.get("/").text
    auth.login("coordinator")
    client.get("/manage/sessions/new")
    assert client.post("/manage/sessions/new", data=session_form(capacity="7")).status_code == 303
    after = visitor.get("/").text
    assert after != before
    assert "7 places left" in after

    client.get(f"/manage/sessions/{training_session.id}/cancel")
    client.post(f"/manage/sessions/{training_session.id}/cancel", data={"confirm": "y", "reason": "Trainer ill"})
    with app.app_context():
        assert db.session.get(TrainingSession, training_session.id).cancelled_at is not None
    assert "Cancelled" in card(visitor.get("/").text, training_session)


def test_programme_settings_and_the_privacy_notice_are_seen_at_once(app, client, auth):
    visitor = app.test_client()
    assert "Registration closes one week before" in visitor.get("/").text
    privacy = visitor.get("/privacy").text
    accessibility = visitor.get("/accessibility").text

    with app.app_context():  # as an admin's change, or another server's, commits
        programme = db.session.scalar(sa.select(Programme))
        programme.cutoff_days = 14
        programme.service_name = "Healthy Conversations"
        programme.privacy_notice_text = "We keep your answers for one year."
        programme.privacy_notice_version = "2"
        db.session.commit()

    assert "Registration closes two weeks before" in visitor.get("/").text
    assert visitor.get("/privacy").text != privacy
    assert "We keep your answers for one year." in visitor.get("/privacy").text
    assert "Healthy Conversations" in visitor.get("/accessibility").text
    assert visitor.get("/accessibility").text != accessibility


def test_the_registration_form_offers_a_new_organisation_and_district_at_once(app, make_training_session):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    visitor = app.test_client()
    assert "Banbury Men's Shed" not in visitor.get(path).text
    with app.app_context():
        organisation = db.session.scalar(sa.select(Organisation).order_by(Organisation.id))
        db.session.add(Organisation(name="Banbury Men's Shed", organisation_type_id=organisation.organisation_type_id))
        db.session.commit()
    assert "Banbury Men&#39;s Shed" in visitor.get(path).text
    with app.app_context():
        district = db.session.scalar(sa.select(District).order_by(District.id))
        district.name = "Cherwell (north)"
        db.session.commit()
    assert "Cherwell (north)" in visitor.get(path).text


def test_a_bulk_update_and_another_server_s_raw_write_are_seen_at_once(app, make_training_session, make_booking):
    training_session = make_training_session(capacity=5)
    visitor = app.test_client()
    assert "5 places left" in card(visitor.get("/").text, training_session)

    with app.app_context():  # a bulk UPDATE, as the jobs runner makes, no ORM object loaded
        db.session.execute(
            sa.update(TrainingSession).where(TrainingSession.id == training_session.id).values(places_taken=3)
        )
        db.session.commit()
    assert "2 places left" in card(visitor.get("/").text, training_session)

    other_server = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other_server.begin() as connection:
            connection.execute(sa.text("UPDATE training_sessions SET capacity = 8 WHERE id = :id"),
                               {"id": training_session.id})  # fmt: skip
    finally:
        other_server.dispose()
    assert "5 places left" in card(visitor.get("/").text, training_session)


def test_a_write_that_is_rolled_back_leaves_the_kept_page_served(app, make_training_session):
    make_training_session()
    visitor = app.test_client()
    visitor.get("/")
    before = version(app)
    with app.app_context():
        db.session.execute(sa.update(TrainingSession).values(capacity=99))
        db.session.rollback()
    assert version(app) == before
    assert "99 places" not in visitor.get("/").text


def test_the_registration_form_is_kept_through_bookings_that_leave_it_as_it_was(
    app, make_training_session, make_booking
):
    training_session = make_training_session(capacity=10)
    other = make_training_session(days_ahead=40)
    path = f"/sessions/{training_session.id}/register"
    visitor = app.test_client()
    first = visitor.get(path).text
    rendered = kept(app, path)

    make_booking(other.id)  # someone else's booking elsewhere
    make_booking(training_session.id)  # and one here: 9 places left, still open
    assert version(app) > rendered.version
    assert without_csrf_tokens(visitor.get(path).text) == without_csrf_tokens(first)
    again = kept(app, path)
    assert again.rendered_at == rendered.rendered_at  # served from what was kept, not rendered again
    assert again.version == version(app)  # and takes the new version, so the next visitor checks only that
    assert "Register for a training session</h1>" in visitor.get(path).text


def test_the_registration_form_is_rendered_again_when_its_session_fills_up_or_changes(
    app, make_training_session, make_booking
):
    training_session = make_training_session(capacity=5)
    path = f"/sessions/{training_session.id}/register"
    visitor = app.test_client()
    visitor.get(path)
    first = kept(app, path)
    for _ in range(4):  # one place left of five: few places
        make_booking(training_session.id)
    assert "Few places left" in visitor.get(path).text
    few = kept(app, path)
    assert few.rendered_at != first.rendered_at

    with app.app_context():
        db.session.get(TrainingSession, training_session.id).location = "Banbury Library"
        db.session.commit()
    assert "Banbury Library" in visitor.get(path).text


# --- Never stale as the clock passes ----------------------------------------------------------------------------


def test_registration_closing_and_a_session_ending_are_seen_without_any_write(app, make_training_session):
    training_session = make_training_session(days_ahead=10)  # registration closes in 3 days
    closes, ends = training_session.starts_at - timedelta(days=7), training_session.ends_at
    visitor = app.test_client()
    path = f"/sessions/{training_session.id}/register"
    with time_machine.travel(closes - timedelta(minutes=1), tick=False):
        assert "Register" in card(visitor.get("/").text, training_session)
        assert "Register for a training session</h1>" in visitor.get(path).text
    with time_machine.travel(closes + timedelta(minutes=1), tick=False):
        assert "Registration closed" in card(visitor.get("/").text, training_session)
        assert "Registration for this session has closed" in visitor.get(path).text
    with time_machine.travel(ends + timedelta(minutes=1), tick=False):
        assert "/sessions/" not in visitor.get("/").text
        assert "This session has already taken place" in visitor.get(path).text


def test_a_clock_set_back_never_sees_a_page_from_its_future(app, make_training_session):
    training_session = make_training_session(days_ahead=10)
    later = training_session.ends_at + timedelta(hours=1)
    visitor = app.test_client()
    with time_machine.travel(later, tick=False):
        assert "/sessions/" not in visitor.get("/").text
    assert f"/sessions/{training_session.id}/register" in visitor.get("/").text


# --- The data version -----------------------------------------------------------------------------------------


def test_every_write_to_a_public_table_moves_the_version_on_in_its_own_transaction(
    app, make_training_session, make_booking
):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)
    with app.app_context():  # a row in each table to change
        db.session.add(OrganisationType(name="Pharmacy"))
        db.session.commit()
    statements = {
        "training_sessions": "UPDATE training_sessions SET capacity = capacity",
        "bookings": "UPDATE bookings SET status = status",
        "programmes": "UPDATE programmes SET cutoff_days = cutoff_days",
        "organisations": "UPDATE organisations SET name = name",
        "organisation_types": "UPDATE organisation_types SET name = name",
        "districts": "UPDATE districts SET name = name",
    }
    assert set(statements) == set(PUBLIC_TABLES)
    for table, statement in statements.items():
        before, reference_before = version(app), version(app, REFERENCE_DATA)
        with app.app_context():
            db.session.execute(sa.text(statement))
            now = db.session.scalar(sa.select(DataVersion.version).where(DataVersion.id == PUBLIC_DATA))
            assert now > before, table  # in the same transaction
            db.session.commit()
        assert version(app) > before, table
        # The reference data's version moves only with the programme and the form's choices.
        assert (version(app, REFERENCE_DATA) > reference_before) is (table in REFERENCE_TABLES), table

    before = version(app)
    with app.app_context():
        db.session.execute(sa.delete(Booking).where(Booking.id == booking_id))
        db.session.commit()
    assert version(app) > before
    before = version(app)
    with app.app_context():
        db.session.add(Booking(training_session_id=training_session.id, volunteer_id=_a_volunteer(app),
                               session_kind=training_session.kind, status=BookingStatus.WAITING,
                               created_at=utcnow(), waitlisted_at=utcnow()))  # fmt: skip
        db.session.commit()
    assert version(app) > before


def _a_volunteer(app) -> int:
    from mecc_volunteer.models import Volunteer

    with app.app_context():
        return db.session.scalar(sa.select(Volunteer.id).limit(1))


def test_a_write_elsewhere_leaves_the_version_alone(app, make_training_session):
    make_training_session()
    before = version(app)
    with app.app_context():
        db.session.execute(sa.text("UPDATE rate_limit_hits SET id = id"))
        db.session.commit()
    assert version(app) == before


def test_without_the_version_row_pages_are_rendered_for_each_visitor(app, make_training_session):
    make_training_session()
    with app.app_context():
        rows = [(row.id, row.version) for row in db.session.scalars(sa.select(DataVersion))]
        db.session.execute(sa.delete(DataVersion))
        db.session.commit()
    try:
        assert app.test_client().get("/").status_code == 200
        assert kept_pages(app) == 0
    finally:
        with app.app_context():
            db.session.add_all(DataVersion(id=id, version=version) for id, version in rows)
            db.session.commit()


def test_without_the_reference_row_a_registration_form_is_not_kept_past_a_change(app, make_training_session):
    training_session = make_training_session(days_ahead=30)
    path = f"/sessions/{training_session.id}/register"
    with app.app_context():
        reference = db.session.get(DataVersion, REFERENCE_DATA)
        kept = reference.version
        db.session.delete(reference)
        db.session.commit()
    try:
        assert "Register" in app.test_client().get(path).text
        with app.app_context():
            db.session.execute(sa.update(Programme).values(service_name="Wellbeing Conversations"))
            db.session.commit()
        assert "Wellbeing Conversations" in app.test_client().get(path).text
    finally:
        with app.app_context():
            db.session.add(DataVersion(id=REFERENCE_DATA, version=kept))
            db.session.commit()


@pytest.mark.parametrize("pages", [page_cache.MAX_PAGES])
def test_the_pages_kept_are_bounded(app, pages):
    for n in range(pages + 20):
        app.test_client().get(f"/?kind=x{n}")
    assert kept_pages(app) == pages


# --- Values kept while the reference data holds (settings, the registration form's choices) -------------------


def test_an_organisation_retired_after_the_choices_were_kept_is_refused_at_once(
    app, client, make_training_session, registration_form
):
    training_session = make_training_session()
    form = registration_form()
    path = f"/sessions/{training_session.id}/register"
    assert client.post(path, data=form).status_code == 303
    assert client.get(f"{path}/check").status_code == 200  # a GET that keeps the choices it read
    with app.app_context():  # an admin retires the organisation
        db.session.get(Organisation, int(form["organisation"])).retired_at = utcnow()
        db.session.commit()

    page = app.test_client().post(path, data=form)  # another visitor, with the same answers
    assert page.status_code == 200
    assert "There is a problem" in page.text
    assert "Select your organisation" in page.text


def test_a_value_read_by_a_write_that_is_rolled_back_is_never_kept(app):
    def service_name() -> str:
        return db.session.scalar(sa.select(Programme.service_name))

    with app.test_request_context("/", method="GET"):
        assert page_cache.kept_while_the_reference_holds("name", service_name) == "MECC Volunteer"
    with app.test_request_context("/manage/settings", method="POST"):
        db.session.execute(sa.update(Programme).values(service_name="Not saved"))
        # This transaction's own version has moved on: it reads its own change, and keeps nothing.
        assert page_cache.kept_while_the_reference_holds("name", service_name) == "Not saved"
        db.session.rollback()
    with app.test_request_context("/manage/settings", method="POST"):
        assert page_cache.kept_while_the_reference_holds("name", lambda: "read again") == "MECC Volunteer"
    with app.test_request_context("/", method="GET"):
        assert page_cache.kept_while_the_reference_holds("name", lambda: "read again") == "MECC Volunteer"
