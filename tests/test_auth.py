"""Staff sign-in: one answer for every failure, safe redirects, idle expiry, and deny by default."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from werkzeug.security import check_password_hash

from mecc_volunteer.extensions import db
from mecc_volunteer.models import StaffUser, utcnow
from tests.helpers import STAFF_PASSWORD, without_csrf_tokens


def test_a_coordinator_signs_in_and_out(client, auth):
    email = auth.create("coordinator")
    page = client.get("/manage/sign-in")
    assert page.status_code == 200
    assert "Sign in" in page.text

    response = client.post("/manage/sign-in", data={"email": email.upper(), "password": STAFF_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/manage/sign-in/code")  # the password alone opens nothing
    assert client.get("/manage/").status_code == 303
    response = client.post("/manage/sign-in/code", data={"code": auth.code(email)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/manage/")
    assert client.get("/manage/").status_code == 200

    auth.logout()
    assert client.get("/manage/").status_code == 303


def hash_cost_is_strong(stored: str) -> bool:
    """scrypt at werkzeug's default cost (2**15) or more, or PBKDF2 at 600,000 rounds or more."""
    method, *params = stored.split("$", 1)[0].split(":")
    if method == "scrypt":
        return int(params[0]) >= 2**15
    return method == "pbkdf2" and int(params[1]) >= 600_000


def test_passwords_are_stored_with_a_strong_hash(app):
    """The app's own hashing (the `auth` fixture's accounts share one cheaper hash: tests.helpers)."""
    from mecc_volunteer.auth.services import change_password, create_staff
    from mecc_volunteer.models import StaffRole

    with app.app_context():
        staff = create_staff("c@example.org", name="C", role=StaffRole.COORDINATOR, password=STAFF_PASSWORD)
        created = staff.password_hash
        change_password(staff, "another long password")
        changed = staff.password_hash
        db.session.rollback()
    for stored, password in [(created, STAFF_PASSWORD), (changed, "another long password")]:
        assert hash_cost_is_strong(stored), stored.split("$", 1)[0]
        assert password not in stored
        assert check_password_hash(stored, password)


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
        for a, email in zip(answers, ["nobody@example.org", known, disabled], strict=True)
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
    response = auth.login("coordinator", next=target)  # where the code step sends the person, at the end
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
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie

    https_app = make_app(BASE_URL="https://mecc.example.org")
    assert https_app.config["SESSION_COOKIE_SECURE"] is True


def test_a_staff_page_that_names_no_roles_is_closed_to_everyone(make_app, auth):
    forgotten = make_app()
    forgotten.add_url_rule("/manage/forgotten", "forgotten", lambda: "secret")
    client = forgotten.test_client()
    auth.login("admin", client=client)
    response = client.get("/manage/forgotten")
    assert response.status_code == 403
    assert "secret" not in response.text


def test_staff_create_asks_for_a_password_and_refuses_a_weak_one(app, runner):
    made = runner.invoke(
        args=["staff", "create", "Eve@Example.org", "--role", "evaluator"],
        input="a strong password\na strong password\n",
    )
    weak = runner.invoke(args=["staff", "create", "weak@example.org", "--role", "evaluator"], input="short\nshort\n")
    again = runner.invoke(
        args=["staff", "create", "eve@example.org", "--role", "admin"], input="a strong password\na strong password\n"
    )

    assert made.exit_code == 0
    assert "Created evaluator account" in made.output
    assert weak.exit_code != 0
    assert "at least 12 characters" in weak.output
    assert again.exit_code != 0
    assert "already exists" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(StaffUser.email)) == "eve@example.org"


# --- Ending sessions (sign-out, password change, deactivation) ------------------------------------------


def session_cookie(client) -> str:
    return client.get_cookie("mecc_session").value


def replay(app, cookie: str):
    """A new browser that sends a copied session cookie."""
    browser = app.test_client()
    browser.set_cookie("mecc_session", cookie)
    return browser


def assert_sent_to_sign_in(response) -> None:
    assert response.status_code == 303, response.status_code
    assert "/manage/sign-in" in response.headers["Location"]


def test_a_session_cookie_copied_before_sign_out_opens_nothing_after_it(app, client, auth):
    auth.login("coordinator")
    copied = session_cookie(client)
    assert replay(app, copied).get("/manage/").status_code == 200

    auth.logout()

    assert_sent_to_sign_in(replay(app, copied).get("/manage/"))
    assert_sent_to_sign_in(replay(app, copied).get("/manage/sessions/"))


def test_signing_out_ends_the_accounts_sessions_in_every_browser(app, client, auth):
    email = auth.create("coordinator")
    auth.login(email=email)
    laptop = app.test_client()
    auth.login(email=email, client=laptop)
    assert laptop.get("/manage/").status_code == 200

    auth.logout()

    assert_sent_to_sign_in(laptop.get("/manage/"))


@pytest.mark.parametrize("end", ["change_password", "deactivate_staff"])
def test_a_password_change_or_deactivation_ends_every_session(app, client, auth, end):
    from mecc_volunteer.auth import services

    email = auth.create("coordinator")
    auth.login(email=email)
    copied = session_cookie(client)
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        if end == "change_password":
            services.change_password(staff, "a brand new password")
        else:
            services.deactivate_staff(staff)
        db.session.commit()

    assert_sent_to_sign_in(client.get("/manage/"))
    assert_sent_to_sign_in(replay(app, copied).get("/manage/"))


def test_a_reactivated_account_signs_in_afresh_and_its_old_sessions_stay_ended(app, client, auth):
    from mecc_volunteer.auth import services

    email = auth.create("coordinator")
    auth.login(email=email)
    copied = session_cookie(client)
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        services.deactivate_staff(staff)
        db.session.commit()
    refused = app.test_client().post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert "Enter a correct email address and password" in refused.text
    with app.app_context():
        services.reactivate_staff(db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email)))
        db.session.commit()

    assert_sent_to_sign_in(replay(app, copied).get("/manage/"))
    fresh = app.test_client()
    auth.login(email=email, client=fresh)
    assert fresh.get("/manage/").status_code == 200


def test_a_new_password_must_be_long_enough_and_replaces_the_old_one(app, client, auth):
    from mecc_volunteer.auth import services

    email = auth.create("coordinator")
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        with pytest.raises(services.WeakPassword):
            services.change_password(staff, "short")
        db.session.rollback()
        services.change_password(db.session.get(StaffUser, staff.id), "a brand new password")
        db.session.commit()

    old = client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert "Enter a correct email address and password" in old.text
    assert client.post("/manage/sign-in", data={"email": email, "password": "a brand new password"}).status_code == 303


# --- Guessing is throttled without locking the real person out --------------------------------------------


def test_wrong_passwords_from_elsewhere_never_lock_the_real_person_out(app, client, auth):
    email = auth.create("coordinator")
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    answers = [
        attacker.post("/manage/sign-in", data={"email": email, "password": "wrong password!!"}) for _ in range(8)
    ]
    assert "Too many attempts to sign in" in answers[-1].text
    # Even the right password from the guessing address waits its turn...
    assert (
        "Too many attempts" in attacker.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).text
    )

    # ...but the person herself, at her own desk, signs in.
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    auth.login(email=email)
    assert client.get("/manage/").status_code == 200


def test_one_address_guessing_across_many_accounts_meets_a_ceiling(app, client, auth):
    from mecc_volunteer.auth.services import MAX_ATTEMPTS_PER_ADDRESS, MAX_ATTEMPTS_PER_PAIR

    email = auth.create("coordinator")
    client.environ_base["REMOTE_ADDR"] = "203.0.113.10"
    assert MAX_ATTEMPTS_PER_PAIR > 1  # so only the ceiling can stop the last attempt below
    for i in range(MAX_ATTEMPTS_PER_ADDRESS):
        answer = client.post("/manage/sign-in", data={"email": f"guess{i}@example.org", "password": "wrong password!!"})
        assert "Enter a correct email address and password" in answer.text
    blocked = client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert "Too many attempts to sign in" in blocked.text

    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert elsewhere.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).status_code == 303


def test_the_throttle_answers_alike_for_known_and_unknown_emails(app, client, auth):
    known = auth.create("coordinator")
    client.environ_base["REMOTE_ADDR"] = "203.0.113.11"
    blocked = {}
    for email in (known, "nobody@example.org"):
        for _ in range(6):
            answer = client.post("/manage/sign-in", data={"email": email, "password": "wrong password!!"})
        blocked[email] = without_csrf_tokens(answer.text.replace(email, "EMAIL"))
    assert "Too many attempts to sign in" in blocked[known]
    assert blocked[known] == blocked["nobody@example.org"]


def test_signing_in_clears_the_wrong_passwords_before_it(app, client, auth):
    email = auth.create("coordinator")
    for _ in range(4):
        client.post("/manage/sign-in", data={"email": email, "password": "wrong password!!"})
    assert client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).status_code == 303
    auth.logout()
    for _ in range(4):
        answer = client.post("/manage/sign-in", data={"email": email, "password": "wrong password!!"})
        assert "Enter a correct email address and password" in answer.text
    assert client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}).status_code == 303


# --- One email rule for staff accounts and sign-in ---------------------------------------------------------

ADDRESSES = [
    "eve@example.org",
    "  Eve.Smith@Example.ORG  ",
    "eve@exa\u0301mple.org",  # á written as a + combining accent: sign-in reads it in NFC
    "zoë@example.org",  # letters outside a-z before the @ cannot be sent to
    "not-an-email",
    "eve@example",
    "eve@@example.org",
    "eve @example.org",
    "eve@example.org\x07",
    "\u202eeve@example.org",
    "a" * 64 + "@" + ("b" * 60 + ".") * 4 + "org",  # over 254 characters
]
REFUSED_BY_SIGN_IN = {
    "zoë@example.org",
    "not-an-email",
    "eve@example",
    "eve@@example.org",
    "eve @example.org",
    "eve@example.org\x07",
    "\u202eeve@example.org",
    ADDRESSES[-1],
}


@pytest.mark.parametrize("address", ADDRESSES)
def test_staff_create_accepts_exactly_the_addresses_sign_in_accepts(app, runner, client, address):
    made = runner.invoke(
        args=["staff", "create", address, "--role", "coordinator", "--name", "Eve"],
        input="a strong password\na strong password\n",
    )
    answer = client.post("/manage/sign-in", data={"email": address, "password": "a strong password"})

    if address in REFUSED_BY_SIGN_IN:
        assert made.exit_code != 0, made.output
        assert "Enter an email address" in made.output or "must" in made.output
        assert answer.status_code == 200
        assert "Enter a correct email address and password" not in answer.text
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count(StaffUser.id))) == 0
    else:
        assert made.exit_code == 0, made.output
        assert answer.status_code == 303, answer.text


# --- Routing redirects on staff pages ------------------------------------------------------------------


def staff_pages_with_a_trailing_slash(app) -> list[tuple[str, str]]:
    """(path without the slash, path with it) for every GET staff rule that ends in a slash."""
    adapter = app.url_map.bind("localhost")
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/manage") and rule.rule.endswith("/") and "GET" in rule.methods:
            path = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1))
            pages.append((path.rstrip("/"), path))
    return pages


def test_a_staff_page_asked_for_without_its_slash_redirects_to_it(app, client, auth):
    pages = staff_pages_with_a_trailing_slash(app)
    assert ("/manage/review", "/manage/review/") in pages
    assert ("/manage", "/manage/") in pages
    auth.login("admin")
    for without, with_slash in pages:
        response = client.get(without)
        assert response.status_code in (301, 308), (without, response.status_code)
        assert response.headers["Location"].endswith(with_slash)
        assert client.get(with_slash).status_code == 200, with_slash


def test_a_signed_out_visitor_asking_for_a_staff_page_without_its_slash_goes_to_sign_in(client):
    for without, _ in staff_pages_with_a_trailing_slash(client.application):
        assert_sent_to_sign_in(client.get(without))


def test_an_invited_account_without_a_password_cannot_sign_in(app, client, auth):
    email = auth.create("coordinator")
    with app.app_context():
        db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email)).password_hash = None
        db.session.commit()
    answer = client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert answer.status_code == 200
    assert "Enter a correct email address and password" in answer.text
