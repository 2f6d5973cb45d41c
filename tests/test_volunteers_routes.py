"""The volunteer pages over HTTP: each page in full and as its htmx fragment, validation, and safety."""

import re
import unicodedata

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    EvaluationAnswer,
    OutgoingEmail,
    SessionKind,
    Volunteer,
    utcnow,
)
from tests.helpers import assert_fragment, my_booking_path, register_through_the_form, without_csrf_tokens

# --- Start page ---------------------------------------------------------------------------------------


def test_start_page_explains_mecc_and_lists_each_status(client, make_training_session, make_booking, app):
    make_training_session(days_ahead=20, capacity=10)
    few = make_training_session(days_ahead=25, capacity=10)
    for _ in range(8):
        make_booking(few.id)
    full = make_training_session(days_ahead=30, capacity=1)
    make_booking(full.id)
    make_training_session(days_ahead=3, capacity=10)
    make_training_session(days_ahead=12, capacity=10, cancelled_at=utcnow())

    response = client.get("/")

    assert response.status_code == 200
    assert "Making Every Contact Count" in response.text
    assert "90 minutes" in response.text
    assert "E-learning" in response.text
    for tag in ["Open", "Few places left", "Now full – join the waiting list", "Registration closed", "Cancelled"]:
        assert f">{tag}</strong>" in response.text
    assert "2 places left" in response.text
    assert "10:30am to 12pm" in response.text


def test_start_page_filters_by_kind_as_a_page_and_as_a_fragment(client, make_training_session, htmx_headers):
    make_training_session(days_ahead=20)
    make_training_session(days_ahead=22, kind=SessionKind.TRAIN_THE_TRAINER)

    page = client.get("/?kind=train_the_trainer")
    fragment = client.get("/?kind=train_the_trainer", headers=htmx_headers)

    assert page.text.count("app-session-card") == 1
    assert "<html" in page.text
    assert_fragment(fragment)
    assert fragment.text.count("app-session-card") == 1
    assert "Train the trainer" in fragment.text
    assert client.get("/?kind=nonsense").status_code == 200


def test_finished_sessions_are_not_offered(client, make_training_session):
    make_training_session(days_ahead=-3)
    assert "app-session-card" not in client.get("/").text


# --- Registration -------------------------------------------------------------------------------------


def test_a_volunteer_registers_checks_answers_and_is_booked(client, app, make_training_session, registration_form):
    training_session = make_training_session(capacity=5)
    form = registration_form(phone="+44 7700 900 123", followup_consent="y")

    page = client.get(f"/sessions/{training_session.id}/register")
    assert page.status_code == 200
    assert "Full name" in page.text

    client.post(f"/sessions/{training_session.id}/register", data=form)
    check = client.get(f"/sessions/{training_session.id}/register/check")
    assert "Check your answers" in check.text
    assert "Priya Patel" in check.text
    assert "07700 900123" in check.text
    assert f'/sessions/{training_session.id}/register#email"' in check.text  # a Change link

    done = client.post(f"/sessions/{training_session.id}/register/check", follow_redirects=True)
    assert "Registration complete" in done.text
    assert "priya@example.org" in done.text

    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.status is BookingStatus.BOOKED
        assert booking.training_session.places_taken == 1
        volunteer = booking.volunteer
        assert volunteer.phone == "07700 900123"
        assert volunteer.followup_consent
        assert volunteer.followup_consent_version
        assert volunteer.followup_consent_at
        assert volunteer.privacy_notice_version
        answers = {a.question_key: a.value for a in db.session.scalars(sa.select(EvaluationAnswer))}
        assert answers == {"confidence": "4", "knowledge": "3"}
        assert db.session.scalar(sa.select(OutgoingEmail.template)) == "booking_confirmation"

    booking_page = client.get(my_booking_path(done))
    assert booking_page.status_code == 200
    assert "Booked" in booking_page.text


def test_the_change_link_brings_back_the_answers(client, make_training_session, registration_form):
    training_session = make_training_session()
    client.post(f"/sessions/{training_session.id}/register", data=registration_form(role="Volunteer driver"))
    again = client.get(f"/sessions/{training_session.id}/register")
    assert 'value="Volunteer driver"' in again.text


def test_check_answers_without_answers_goes_back_to_the_form(client, make_training_session):
    training_session = make_training_session()
    response = client.get(f"/sessions/{training_session.id}/register/check")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/sessions/{training_session.id}/register")


def test_a_full_session_puts_the_volunteer_on_the_waiting_list(
    client, make_training_session, make_booking, registration_form
):
    training_session = make_training_session(capacity=1)
    make_booking(training_session.id)
    page = client.get(f"/sessions/{training_session.id}/register")
    assert "Join the waiting list" in page.text

    done = register_through_the_form(client, training_session.id, registration_form())

    assert "You are on the waiting list" in done.text
    assert "Your position: <strong>1</strong>" in done.text


def test_registering_again_for_the_same_session_says_already_booked(
    client, app, make_training_session, registration_form
):
    training_session = make_training_session()
    register_through_the_form(client, training_session.id, registration_form())
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None

    again = register_through_the_form(
        app.test_client(), training_session.id, registration_form(email="  PRIYA@Example.org ")
    )

    assert "You are already booked on this session" in again.text
    assert "/my-booking/" not in again.text  # the link goes by email only
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 1
        assert db.session.scalar(sa.select(OutgoingEmail.template).order_by(OutgoingEmail.id.desc())) == "your_link"


def test_registering_for_another_session_offers_a_move_by_email(client, app, make_training_session, registration_form):
    first = make_training_session(days_ahead=20)
    second = make_training_session(days_ahead=27)
    register_through_the_form(client, first.id, registration_form())

    offer = register_through_the_form(app.test_client(), second.id, registration_form())

    assert "You already have a booking for another session" in offer.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 1
        assert db.session.scalar(sa.select(OutgoingEmail.template).order_by(OutgoingEmail.id.desc())) == "move_offer"


def session_cookie(app, client) -> str:
    """The session cookie as anyone at the computer can read it (signed, not encrypted)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return ""
    return str(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def test_the_session_cookie_never_holds_the_answers_the_address_or_the_booking_secret(
    client, app, make_training_session, registration_form
):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    answers = registration_form(phone="07700 900123", age_band="35-44", gender="woman")

    client.post(path, data=answers)
    before = session_cookie(app, client)
    done = client.post(f"{path}/check", follow_redirects=True)
    token = my_booking_path(done).rsplit("/", 1)[1]
    after = session_cookie(app, client)

    for secret in ("Priya", "priya@example.org", "07700", "35-44", "woman", "Library assistant", token):
        assert secret not in before, f"{secret!r} is in the cookie"
        assert secret not in after, f"{secret!r} is in the cookie"


def test_the_confirmation_shows_once_so_the_next_person_at_a_shared_computer_sees_nothing(
    client, app, make_training_session, registration_form
):
    training_session = make_training_session()
    done = register_through_the_form(client, training_session.id, registration_form())
    assert "Registration complete" in done.text
    assert "/my-booking/" in done.text

    again = client.get(f"/sessions/{training_session.id}/register/done")
    form = client.get(f"/sessions/{training_session.id}/register")

    assert again.status_code == 303
    assert again.headers["Location"].endswith("/")
    assert "/my-booking/" not in client.get("/").text
    assert "Priya" not in form.text
    assert "priya@example.org" not in form.text


def test_unfinished_answers_are_forgotten_after_an_hour(client, app, make_training_session, registration_form, runner):
    from datetime import timedelta

    from mecc_volunteer.models import PendingRegistration
    from mecc_volunteer.volunteers.pending import prune_expired

    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    client.post(path, data=registration_form())
    assert "Priya Patel" in client.get(f"{path}/check").text

    with app.app_context():
        assert prune_expired(utcnow() + timedelta(minutes=59)) == 0
        assert prune_expired(utcnow() + timedelta(minutes=61)) == 1
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(PendingRegistration.id))) == 0
    assert client.get(f"{path}/check").status_code == 303  # back to an empty form
    assert "Priya Patel" not in client.get(path).text


def test_a_repeat_email_held_back_is_not_said_to_be_sent(client, app, make_training_session, registration_form):
    first = make_training_session(days_ahead=20)
    second = make_training_session(days_ahead=27)
    register_through_the_form(client, first.id, registration_form())

    told = register_through_the_form(app.test_client(), first.id, registration_form())  # sends a new link
    held = register_through_the_form(app.test_client(), first.id, registration_form())  # moments later: held back
    move_held = register_through_the_form(app.test_client(), second.id, registration_form())

    assert "We have sent a new link" in told.text
    assert "We have sent" not in held.text
    assert "we have not sent another one" in held.text
    assert "We have sent" not in move_held.text
    assert "we have not sent another email" in move_held.text
    with app.app_context():
        templates = db.session.scalars(sa.select(OutgoingEmail.template).order_by(OutgoingEmail.id)).all()
    assert templates == ["booking_confirmation", "your_link"]


def test_the_registration_form_answers_htmx_with_the_form_fragment(
    client, make_training_session, htmx_headers, registration_form
):
    training_session = make_training_session()

    invalid = client.post(f"/sessions/{training_session.id}/register", data={}, headers=htmx_headers)
    valid = client.post(f"/sessions/{training_session.id}/register", data=registration_form(), headers=htmx_headers)

    assert_fragment(invalid)
    assert "There is a problem" in invalid.text
    assert "<title>Error: Register for a training session" in invalid.text
    assert valid.status_code == 204
    assert valid.headers["HX-Location"].endswith(f"/sessions/{training_session.id}/register/check")


def test_an_empty_form_gets_an_error_summary_linked_to_each_field(client, make_training_session):
    training_session = make_training_session()
    response = client.post(f"/sessions/{training_session.id}/register", data={})
    assert response.status_code == 200
    assert "<title>Error: " in response.text
    assert "There is a problem" in response.text
    for field, message in [
        ("name", "Enter your full name"),
        ("email", "Enter your email address"),
        ("organisation", "Select your organisation"),
        ("role", "Enter your role"),
        ("district", "Select the area you work or volunteer in"),
        ("baseline_confidence", "Select how confident you feel, from 0 to 10"),
        ("privacy_acknowledged", "Confirm that you have read the privacy notice"),
    ]:
        assert f'<a href="#{field}">{message}</a>' in response.text
        assert f'id="{field}-error"' in response.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "A" * 101, "Full name must be 100 characters or fewer"),
        ("name", "Ann\x00e", "Full name must not contain a null character"),
        ("name", "Ann\x07e", "Full name must not contain a control character"),
        ("name", "Ann\u202eenO", "Full name must not contain a hidden text-direction character"),
        ("role", "Driver\u2066x", "Role must not contain a hidden text-direction character"),
        ("email", "not-an-email", "Enter an email address in the correct format"),
        ("email", "a@b", "Enter an email address in the correct format"),
        ("email", "x" * 250 + "@example.org", "Email address must be 254 characters or fewer"),
        ("phone", "12345", "Enter a UK phone number"),
        ("phone", "+1 212 555 0100", "Enter a UK phone number"),
        ("organisation", "9999", "Select your organisation from the list"),
        ("organisation", "ten", "Select your organisation from the list"),
        ("district", "<script>", "Select an area from the list"),
        ("baseline_confidence", "11", "Select a number from 0 to 10"),
        ("baseline_confidence", "-1", "Select a number from 0 to 10"),
        ("baseline_knowledge", "5.5", "Select a number from 0 to 10"),
        ("age_band", "teenager", "Select an age group"),
        ("privacy_acknowledged", None, "Confirm that you have read the privacy notice"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client, app, make_training_session, registration_form, field, value, message
):
    training_session = make_training_session()
    form = registration_form(**{field: value})
    if value is None:
        form.pop(field, None)

    response = client.post(f"/sessions/{training_session.id}/register", data=form)

    assert response.status_code == 200
    assert message in response.text
    assert f'href="#{field}"' in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Volunteer.id))) == 0


def test_other_organisation_needs_a_name(client, app, make_training_session, registration_form):
    training_session = make_training_session()
    with app.app_context():
        from mecc_volunteer.models import Organisation

        other = db.session.scalar(sa.select(Organisation).where(Organisation.is_other))
    response = client.post(
        f"/sessions/{training_session.id}/register", data=registration_form(organisation=str(other.id))
    )
    assert '<a href="#organisation_other">Enter the name of your organisation</a>' in response.text


@pytest.mark.parametrize(
    "name",
    ["Zoë O'Brien-Smith", "محمد الأحمد", "שרה כהן", "Nguyễn Thị Hồng", "Sam 🌈 Jones", "Łukasz Żółć"],
)
def test_names_in_any_script_with_apostrophes_hyphens_and_emoji_are_welcome(
    client, app, make_training_session, registration_form, name
):
    training_session = make_training_session()
    done = register_through_the_form(client, training_session.id, registration_form(name=name))
    assert "Registration complete" in done.text
    with app.app_context():
        assert db.session.scalar(sa.select(Volunteer.name)) == unicodedata.normalize("NFC", name)


def test_text_is_nfc_normalised_and_trimmed(client, app, make_training_session, registration_form):
    training_session = make_training_session()
    decomposed = "  Zoe\u0308 Ade\u0301  "  # e + combining diaeresis, e + combining acute
    register_through_the_form(client, training_session.id, registration_form(name=decomposed))
    with app.app_context():
        assert db.session.scalar(sa.select(Volunteer.name)) == "Zo\u00eb Ad\u00e9"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("07700 900123", "07700 900123"),
        ("+44 (0)7700-900-123", "07700 900123"),
        ("0044 7700 900123", "07700 900123"),
        ("01865 123456", "01865 123456"),
        ("020 7946 0000", "020 7946 0000"),
    ],
)
def test_uk_phone_numbers_are_normalised(client, app, make_training_session, registration_form, typed, stored):
    training_session = make_training_session()
    register_through_the_form(client, training_session.id, registration_form(phone=typed))
    with app.app_context():
        assert db.session.scalar(sa.select(Volunteer.phone)) == stored


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"days_ahead": 3}, "Registration for this session has closed"),
        ({"days_ahead": 20, "cancelled_at": "now"}, "This session has been cancelled"),
        ({"days_ahead": -2}, "This session has already taken place"),
    ],
)
def test_a_session_that_cannot_be_booked_answers_with_a_clear_page(
    client, make_training_session, registration_form, setup, expected
):
    if setup.get("cancelled_at") == "now":
        setup["cancelled_at"] = utcnow()
    training_session = make_training_session(**setup)
    for response in (
        client.get(f"/sessions/{training_session.id}/register"),
        client.post(f"/sessions/{training_session.id}/register", data=registration_form()),
    ):
        assert response.status_code == 200
        assert expected in response.text


def test_an_unknown_session_is_a_friendly_404(client):
    response = client.get("/sessions/999999/register")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert client.get("/sessions/not-a-number/register").status_code == 404


def test_a_request_body_over_the_cap_is_refused_politely(client, make_training_session, registration_form):
    training_session = make_training_session()
    response = client.post(f"/sessions/{training_session.id}/register", data=registration_form(role="x" * 200_000))
    assert response.status_code == 413
    assert "too large" in response.text


# --- My booking ---------------------------------------------------------------------------------------


def test_my_booking_shows_the_booking_and_its_calendar_file(
    client, make_training_session, registration_form, htmx_headers
):
    training_session = make_training_session()
    path = my_booking_path(register_through_the_form(client, training_session.id, registration_form()))

    page = client.get(path)
    fragment = client.get(path, headers=htmx_headers)
    ics = client.get(path + "/calendar.ics")

    assert "Booked" in page.text
    assert "Add to calendar" in page.text
    assert "e-learning" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert_fragment(fragment)
    assert ics.status_code == 200
    assert ics.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in ics.text
    assert "DTSTART" in ics.text


@pytest.mark.parametrize("token", ["x" * 43, "short", "A" * 44, "%00" * 5, "é" * 43])
def test_an_unknown_or_tampered_link_gets_a_friendly_404(client, token):
    response = client.get(f"/my-booking/{token}")
    assert response.status_code == 404
    assert "Lost your link?" in response.text or "new link" in response.text


def test_a_volunteer_cancels_with_a_confirmation_page_and_nothing_changes_on_get(
    client, app, make_training_session, registration_form
):
    training_session = make_training_session()
    path = my_booking_path(register_through_the_form(client, training_session.id, registration_form()))

    confirm = client.get(path + "/cancel")
    assert "Are you sure you want to cancel your booking?" in confirm.text
    with app.app_context():
        assert db.session.scalar(sa.select(Booking.status)) is BookingStatus.BOOKED

    done = client.post(path + "/cancel", follow_redirects=True)
    assert "Your booking is cancelled." in done.text
    with app.app_context():
        assert db.session.scalar(sa.select(Booking.status)) is BookingStatus.CANCELLED


def test_cancelling_with_htmx_returns_the_booking_fragment(
    client, make_training_session, registration_form, htmx_headers
):
    training_session = make_training_session()
    path = my_booking_path(register_through_the_form(client, training_session.id, registration_form()))
    response = client.post(path + "/cancel", headers=htmx_headers)
    assert_fragment(response)
    assert "Cancelled" in response.text
    assert "Your booking is cancelled." in response.text
    # The message goes into the page's existing live region, not a second one.
    assert response.text.count('id="flash"') == 1
    assert 'hx-swap-oob="innerHTML"' in response.text


def test_a_volunteer_moves_to_another_session(client, app, make_training_session, registration_form):
    first = make_training_session(days_ahead=20)
    second = make_training_session(days_ahead=27)
    path = my_booking_path(register_through_the_form(client, first.id, registration_form()))

    page = client.get(path + f"/move?to={second.id}")
    assert "Move your booking" in page.text
    assert "checked" in page.text
    moved = client.post(path + "/move", data={"training_session": str(second.id)}, follow_redirects=True)

    assert "Your booking has moved" in moved.text
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.training_session_id == second.id
        assert [
            s.places_taken for s in (db.session.get(type(booking.training_session), first.id), booking.training_session)
        ] == [0, 1]


@pytest.mark.parametrize("value", ["", "abc", "999999"])
def test_moving_needs_a_session_from_the_list(client, make_training_session, registration_form, value):
    first = make_training_session(days_ahead=20)
    make_training_session(days_ahead=27)
    path = my_booking_path(register_through_the_form(client, first.id, registration_form()))
    response = client.post(path + "/move", data={"training_session": value})
    assert response.status_code == 200
    assert "There is a problem" in response.text


# --- Lost your link? -----------------------------------------------------------------------------------


def test_lost_link_answers_the_same_for_known_and_unknown_addresses(
    client, app, make_training_session, registration_form, htmx_headers
):
    training_session = make_training_session()
    register_through_the_form(client, training_session.id, registration_form())

    known = client.post("/lost-link", data={"email": "priya@example.org"})
    unknown = client.post("/lost-link", data={"email": "nobody@example.org"})
    fragment = client.post("/lost-link", data={"email": "someone@example.org"}, headers=htmx_headers)

    assert known.status_code == unknown.status_code == 200
    # What the visitor reads: the page without its CSRF tokens, which are stamped to the second.
    assert without_csrf_tokens(known.text.replace("priya@example.org", "X")) == without_csrf_tokens(
        unknown.text.replace("nobody@example.org", "X")
    )
    assert_fragment(fragment)
    assert "Check your email" in fragment.text
    assert client.post("/lost-link", data={"email": "nope"}).text.count("There is a problem") == 1


def test_the_lost_link_fragment_brings_its_new_title_and_the_error_prefix(client, htmx_headers):
    invalid = client.post("/lost-link", data={"email": "nope"}, headers=htmx_headers)
    sent = client.post("/lost-link", data={"email": "someone@example.org"}, headers=htmx_headers)

    assert_fragment(invalid)
    assert "<title>Error: Get a new link to your booking" in invalid.text
    assert "<title>Check your email" in sent.text


# --- Safety --------------------------------------------------------------------------------------------


def test_every_response_has_strict_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_request_nothing_from_another_host(client, make_training_session):
    training_session = make_training_session()
    for path in ["/", f"/sessions/{training_session.id}/register", "/lost-link", "/privacy"]:
        html = client.get(path).text
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html), path


def test_without_javascript_the_registration_form_and_its_change_links_carry_their_own_csrf_field(
    client, make_training_session, registration_form
):
    training_session = make_training_session()
    path = f"/sessions/{training_session.id}/register"
    form_token = re.compile(rf'<form method="post" action="{re.escape(path)}"[^>]*>\s*<input[^>]+name="csrf_token"')

    assert form_token.search(client.get(path).text), "the new form has no CSRF field"
    client.post(path, data=registration_form(), csrf=False)  # refused: the answers never reach the server
    assert client.post(path, data=registration_form()).status_code == 303
    changed = client.get(path)  # "Change" on Check your answers: the form again, with the answers
    assert form_token.search(changed.text), "the form shown again from Check your answers has no CSRF field"
    assert 'value="Priya Patel"' in changed.text
    assert client.post(path, data=registration_form(name="Priya K Patel")).status_code == 303
    assert "Priya K Patel" in client.get(f"{path}/check").text


@pytest.fixture
def csrf_client(app):
    return app.test_client()


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    app, csrf_client, make_training_session, registration_form
):
    training_session = make_training_session()
    response = csrf_client.post(f"/sessions/{training_session.id}/register", data=registration_form(), csrf=False)
    assert response.status_code == 400
    assert "Your form expired" in response.text
    assert csrf_client.post("/lost-link", data={"email": "a@example.org"}, csrf=False).status_code == 400


def test_htmx_posts_carry_the_csrf_token_in_a_header(csrf_client, make_training_session, registration_form):
    training_session = make_training_session()
    page = csrf_client.get(f"/sessions/{training_session.id}/register")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    response = csrf_client.post(
        f"/sessions/{training_session.id}/register",
        data=registration_form(),
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 204


def test_pages_and_static_files_are_sent_compressed_and_static_files_cached(client):
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    css_url = re.search(r'href="(/static/css/app\.min\.css\?v=[0-9a-f]{12})"', client.get("/").text).group(1)
    css = client.get(css_url, headers={"Accept-Encoding": "gzip"})
    assert css.headers["Content-Encoding"] == "gzip"
    assert "max-age=31536000" in css.headers["Cache-Control"]
    with client.get(css_url, headers={"Accept-Encoding": "identity"}) as plain:  # a client that asks for none
        assert "Content-Encoding" not in plain.headers
        assert b"nhsuk" in plain.data


def test_a_booking_cannot_be_cancelled_once_the_session_has_started(client, app, make_training_session, make_booking):
    from mecc_volunteer.models import LinkPurpose
    from mecc_volunteer.tokens import issue_link

    started = make_training_session(starts_at=utcnow() - __import__("datetime").timedelta(minutes=10))
    booking_id = make_booking(started.id)
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
        db.session.commit()

    page = client.get(f"/my-booking/{token}")
    response = client.post(f"/my-booking/{token}/cancel", follow_redirects=True)

    assert "Change your booking" not in page.text
    assert "can no longer be cancelled" in response.text
    with app.app_context():
        assert db.session.get(Booking, booking_id).status is BookingStatus.BOOKED
