"""Rotating SECRET_KEY with the old key in SECRET_KEY_FALLBACKS signs nobody out and fails no open form; without
the fallback, a session signed with the old key is gone and an open form says it expired (400, never a 500).
Each "server" is an app of its own on the test database (as after a restart with the new config), with CSRF on."""

import json

import pytest

from mecc_volunteer import create_app
from tests.helpers import STAFF_PASSWORD

OLD = "test-secret-key"  # the key of conftest's app
NEW = "a new secret key, rotated in"


def moved_to(app, client):
    """A client of `app` holding what `client` holds: its cookies and the page it last loaded (its forms)."""
    other = app.test_client()
    for cookie in client._cookies.values():
        other.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    other.page = client.page
    return other


def signed_in(client) -> bool:
    response = client.get("/manage/")
    if response.status_code == 200:
        return True
    assert response.status_code in (302, 303), response.status_code
    assert "/manage/sign-in" in response.headers["Location"]
    return False


def test_a_staff_member_signed_in_under_the_old_key_stays_signed_in_and_can_post(app, client, auth, make_app):
    auth.login("coordinator")
    assert "Sign out" in client.get("/manage/").text  # the page with the sign-out form, loaded before rotation

    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD])
    after = moved_to(rotated, client)
    response = after.post("/manage/sign-out")  # the form of the page loaded under the old key
    assert response.status_code == 303, response.text
    assert response.headers["Location"].endswith("/manage/sign-in")
    assert "You have signed out." in after.get("/manage/sign-in").text


def test_the_session_is_signed_again_with_the_new_key_so_the_old_one_can_go(app, client, auth, make_app):
    auth.login("coordinator")
    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD])
    during = moved_to(rotated, client)
    assert signed_in(during)  # the response carries the session signed with the new key

    old_key_gone = make_app(SECRET_KEY=NEW)
    after = moved_to(old_key_gone, during)
    assert signed_in(after)
    assert "Sign out" in after.get("/manage/").text
    assert after.post("/manage/sign-out").status_code == 303  # a form rendered after the rotation


def test_a_sign_in_page_loaded_before_rotation_still_signs_in_after_it(app, client, auth, make_app):
    email = auth.create("coordinator")
    assert client.get("/manage/sign-in").status_code == 200
    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD])
    after = moved_to(rotated, client)
    response = after.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 303, response.text
    assert response.headers["Location"].endswith("/manage/sign-in/code")


def test_htmx_posts_from_a_page_loaded_before_rotation_still_carry_a_good_token(app, client, auth, make_app):
    auth.login("coordinator")
    client.get("/manage/")
    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD])
    after = moved_to(rotated, client)
    response = after.post("/manage/sign-out", headers={"HX-Request": "true"})  # the X-CSRFToken of hx-headers
    assert response.status_code == 303, response.text


def test_without_the_fallback_the_old_session_is_gone_and_an_open_form_says_it_expired(app, client, auth, make_app):
    email = auth.create("coordinator")
    signed_in_client = app.test_client()
    auth.login(email=email, client=signed_in_client)
    signed_in_client.get("/manage/")
    client.get("/manage/sign-in")

    replaced = make_app(SECRET_KEY=NEW)
    assert not signed_in(moved_to(replaced, signed_in_client))
    staff = moved_to(replaced, signed_in_client)  # with the sign-out form of the page loaded before
    for after, path, data in [
        (staff, "/manage/sign-out", {}),
        (moved_to(replaced, client), "/manage/sign-in", {"email": email, "password": STAFF_PASSWORD}),
    ]:
        response = after.post(path, data=data)
        assert response.status_code == 400, response.text
        assert "Your form expired" in response.text
        assert "reload the page and try again" in response.text


@pytest.mark.parametrize("fallbacks", ['["old key"]', '["older key", "old key"]'])
def test_fallbacks_come_from_the_environment_as_json(tmp_path, monkeypatch, fallbacks):
    monkeypatch.setenv("FLASK_SECRET_KEY", NEW)
    monkeypatch.setenv("FLASK_SECRET_KEY_FALLBACKS", fallbacks)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(instance_path=str(tmp_path / "instance"))
    assert app.config["SECRET_KEY_FALLBACKS"] == json.loads(fallbacks)
    # Flask-WTF signs CSRF tokens with the last key and accepts every one.
    assert app.config["WTF_CSRF_SECRET_KEY"] == [*json.loads(fallbacks), NEW]


def test_one_fallback_key_written_without_brackets_is_one_key(make_app):
    app = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=OLD)
    assert app.config["SECRET_KEY_FALLBACKS"] == [OLD]
    assert app.config["WTF_CSRF_SECRET_KEY"] == [OLD, NEW]


def test_with_no_fallbacks_csrf_signs_with_the_secret_key_alone(app):
    assert app.config["SECRET_KEY_FALLBACKS"] == []
    assert app.config.get("WTF_CSRF_SECRET_KEY") is None
