"""Staff sign-in: one answer for every failure, safe redirects, idle expiry, and deny by default."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from mecc_volunteer.extensions import db
from mecc_volunteer.models import StaffUser, utcnow
from tests.conftest import STAFF_PASSWORD


def without_csrf_tokens(html: str) -> str:
    """The page without its CSRF tokens (they carry the second they were made in)."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r"\1", html)


def test_a_coordinator_signs_in_and_out(client, auth):
    email = auth.create("coordinator")
    page = client.get("/manage/sign-in")
    assert page.status_code == 200 and "Sign in" in page.text

    response = client.post("/manage/sign-in", data={"email": email.upper(), "password": STAFF_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"].endswith("/manage/")
    assert client.get("/manage/").status_code == 200

    auth.logout()
    assert client.get("/manage/").status_code == 303


def test_passwords_are_stored_with_a_strong_hash(app, auth):
    auth.create("coordinator", email="c@example.org")
    with app.app_context():
        stored = db.session.scalar(sa.select(StaffUser.password_hash))
    assert stored.startswith(("scrypt:", "pbkdf2:")) and STAFF_PASSWORD not in stored


def test_unknown_email_wrong_password_and_disabled_account_get_the_same_answer(app, client, auth):
    known = auth.create("coordinator")
    disabled = auth.create("coordinator")
    with app.app_context():
        db.session.scalar(sa.select(StaffUser).where(StaffUser.email == disabled)).active = False
        db.session.commit()

    answers = [
        client.post("/manage/sign-in", data={"email": email, "password": password})
        for email, password in [
            ("nobody@example.org", STAFF_PASSWORD),
            (known, "wrong password!!"),
            (disabled, STAFF_PASSWORD),
        ]
    ]

    assert {a.status_code for a in answers} == {200}
    bodies = {
        without_csrf_tokens(a.text.replace(email, "EMAIL"))
        for a, email in zip(answers, ["nobody@example.org", known, disabled])
    }
    assert len(bodies) == 1
    assert "Enter a correct email address and password" in answers[0].text
    assert "<title>Error: " in answers[0].text
    assert STAFF_PASSWORD not in answers[0].text  # the password is never echoed back


def test_password_guessing_is_slowed_down(client, auth):
    email = auth.create("coordinator")
    for _ in range(5):
        client.post("/manage/sign-in", data={"email": email, "password": "wrong password!!"})
    blocked = client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert "Too many attempts to sign in" in blocked.text
    assert client.get("/manage/").status_code == 303

    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).status_code == 303


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/manage/", "/manage/"),
        ("/manage/?x=1", "/manage/?x=1"),
        ("https://evil.example/", "/manage/"),
        ("//evil.example/", "/manage/"),
        ("/\\evil.example/", "/manage/"),
        ("javascript:alert(1)", "/manage/"),
        ("/manage/\r\nSet-Cookie:x=1", "/manage/"),
    ],
)
def test_sign_in_returns_only_to_a_page_on_this_site(client, auth, target, lands_on):
    email = auth.create("coordinator")
    response = client.post("/manage/sign-in", query_string={"next": target}, data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] in (lands_on, "http://localhost" + lands_on)


def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(client, auth):
    response = client.get("/manage/")
    assert response.status_code == 303
    assert "/manage/sign-in?next=/manage/" in response.headers["Location"]


def test_a_staff_session_ends_after_30_minutes_idle(client, auth):
    auth.login("coordinator")
    assert client.get("/manage/").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=20)):
        assert client.get("/manage/").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=51), tick=False):
        assert client.get("/manage/").status_code == 303


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(make_app, auth):
    response = auth.login("coordinator")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    https_app = make_app(BASE_URL="https://mecc.example.org")
    assert https_app.config["SESSION_COOKIE_SECURE"] is True


def test_a_staff_page_that_names_no_roles_is_closed_to_everyone(make_app, auth):
    forgotten = make_app()
    forgotten.add_url_rule("/manage/forgotten", "forgotten", lambda: "secret")
    client = forgotten.test_client()
    email = auth.create("admin")
    client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    response = client.get("/manage/forgotten")
    assert response.status_code == 403
    assert "secret" not in response.text


def test_staff_create_asks_for_a_password_and_refuses_a_weak_one(app, runner):
    made = runner.invoke(args=["staff", "create", "Eve@Example.org", "--role", "evaluator"], input="a strong password\na strong password\n")
    weak = runner.invoke(args=["staff", "create", "weak@example.org", "--role", "evaluator"], input="short\nshort\n")
    again = runner.invoke(args=["staff", "create", "eve@example.org", "--role", "admin"], input="a strong password\na strong password\n")

    assert made.exit_code == 0 and "Created evaluator account" in made.output
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    assert again.exit_code != 0 and "already exists" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(StaffUser.email)) == "eve@example.org"
