"""Behind a reverse proxy: TRUSTED_PROXY_HOPS says how many proxies' X-Forwarded-* headers to believe (Werkzeug's
ProxyFix), so the client's address reaches the rate limits, https reaches cookies, HSTS and CSRF's referrer
check, and the public host reaches the app. Without it (the default) those headers are anyone's, and ignored."""

import importlib.util
from pathlib import Path

import pytest
from flask import jsonify, request

from mecc_volunteer import create_app
from mecc_volunteer.auth.services import MAX_ATTEMPTS_PER_PAIR
from tests.helpers import STAFF_PASSWORD, app_settings

ROOT = Path(__file__).parent.parent
PROXY = "10.0.0.5"  # the socket's address: every request comes through the proxy
PUBLIC = "https://mecc.example.org"


def behind_proxy(client, client_address: str, **headers) -> None:
    """Requests from `client` come through the proxy, which says where they came from."""
    client.environ_base["REMOTE_ADDR"] = PROXY
    client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
    for name, value in headers.items():
        client.environ_base[f"HTTP_{name.upper()}"] = value


def add_probe(app) -> None:
    """A route that says what the app sees of the request (added before the app's first request)."""

    @app.get("/test-probe")
    def probe():
        return jsonify(
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            script_root=request.script_root,
            url=request.url,
        )


def sign_in(client, email: str, password: str, **kwargs):
    return client.post("/manage/sign-in", data={"email": email, "password": password}, **kwargs)


# --- One trusted proxy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_HOPS": 1}])
def test_behind_one_proxy_wrong_passwords_from_two_people_are_counted_apart(app, auth):
    email = auth.create("coordinator")
    guesser, person = app.test_client(), app.test_client()
    behind_proxy(guesser, "203.0.113.9")
    behind_proxy(person, "198.51.100.7")

    answers = [sign_in(guesser, email, "wrong password!!") for _ in range(MAX_ATTEMPTS_PER_PAIR + 1)]

    assert "Too many attempts to sign in" in answers[-1].text
    # The same proxy, another person: her own attempts, so she signs in.
    assert sign_in(person, email, STAFF_PASSWORD).status_code == 303


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_HOPS": 1, "BASE_URL": PUBLIC}])
def test_behind_one_proxy_https_forms_pass_csrf_and_get_hsts_and_secure_cookies(app, auth):
    email = auth.create("coordinator")
    client = app.test_client()
    behind_proxy(client, "203.0.113.9", X_Forwarded_Proto="https", X_Forwarded_Host="mecc.example.org")
    client.environ_base["HTTP_X_FORWARDED_PORT"] = "443"

    page = client.get("/manage/sign-in")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in page.headers["Set-Cookie"]
    # A browser sends the page it is on as the Referer: the public https address, not the app's own.
    answer = sign_in(client, email, STAFF_PASSWORD, headers={"Referer": f"{PUBLIC}/manage/sign-in"})

    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith("/manage/sign-in/code")
    assert "Your form expired" not in answer.text


@pytest.mark.parametrize("hops", [0, 1])
def test_an_https_request_with_the_proxys_upstream_host_passes_csrf_only_with_the_setting(app, make_app, auth, hops):
    """What "Your form expired" was: the request reached the app as https (gunicorn's default believed a local
    proxy's X-Forwarded-Proto) while its Host was the proxy's upstream address, so Flask-WTF's strict referrer
    check compared the browser's https://mecc.example.org/... with https://127.0.0.1:8000/ and refused."""
    email = auth.create("coordinator")
    client = make_app(TRUSTED_PROXY_HOPS=hops).test_client()
    headers = {"X-Forwarded-Host": "mecc.example.org", "X-Forwarded-Proto": "https"}
    client.get("/manage/sign-in", base_url="https://127.0.0.1:8000", headers=headers)

    answer = sign_in(
        client,
        email,
        STAFF_PASSWORD,
        base_url="https://127.0.0.1:8000",
        headers={**headers, "Referer": f"{PUBLIC}/manage/sign-in"},
    )

    assert ("Your form expired" in answer.text) is (hops == 0)
    assert answer.status_code == (400 if hops == 0 else 303)


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_HOPS": 1}])
def test_behind_one_proxy_csrf_still_refuses_a_post_from_another_site(app, auth):
    email = auth.create("coordinator")
    client = app.test_client()
    behind_proxy(client, "203.0.113.9", X_Forwarded_Proto="https", X_Forwarded_Host="mecc.example.org")
    client.get("/manage/sign-in")

    answer = sign_in(client, email, STAFF_PASSWORD, headers={"Referer": "https://evil.example/manage/sign-in"})

    assert answer.status_code == 400
    assert "Your form expired" in answer.text


def test_behind_one_proxy_the_app_sees_the_client_scheme_host_and_prefix(database_url, tmp_path):
    app = create_app(app_settings(database_url, TRUSTED_PROXY_HOPS=1), instance_path=str(tmp_path))
    add_probe(app)
    client = app.test_client()
    behind_proxy(
        client,
        "198.51.100.1, 203.0.113.9",  # the first is what the client itself claimed: the proxy appended the second
        X_Forwarded_Proto="https",
        X_Forwarded_Host="mecc.example.org",
        X_Forwarded_Port="443",
        X_Forwarded_Prefix="/volunteer",
    )

    seen = client.get("/test-probe").json

    assert seen == {
        "remote_addr": "203.0.113.9",
        "scheme": "https",
        "host": "mecc.example.org",
        "script_root": "/volunteer",
        "url": "https://mecc.example.org/volunteer/test-probe",
    }


# --- No trusted proxy (the default) ------------------------------------------------------------------------


def test_without_the_setting_forwarded_headers_are_ignored(database_url, tmp_path):
    app = create_app(app_settings(database_url), instance_path=str(tmp_path))
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    add_probe(app)
    client = app.test_client()
    behind_proxy(
        client,
        "203.0.113.9",
        X_Forwarded_Proto="https",
        X_Forwarded_Host="evil.example",
        X_Forwarded_Port="8443",
        X_Forwarded_Prefix="/elsewhere",
    )

    response = client.get("/test-probe")

    assert response.json == {
        "remote_addr": PROXY,
        "scheme": "http",
        "host": "localhost",
        "script_root": "",
        "url": "http://localhost/test-probe",
    }
    assert "Strict-Transport-Security" not in response.headers


def test_without_the_setting_a_forged_address_does_not_escape_the_sign_in_limit(app, auth):
    email = auth.create("coordinator")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.30"
    for attempt in range(MAX_ATTEMPTS_PER_PAIR):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{attempt}"
        sign_in(client, email, "wrong password!!")

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    assert "Too many attempts to sign in" in sign_in(client, email, STAFF_PASSWORD).text


# --- Two proxies (a load balancer, then nginx) -------------------------------------------------------------


def test_behind_two_proxies_only_the_right_most_two_values_count(database_url, tmp_path):
    app = create_app(app_settings(database_url, TRUSTED_PROXY_HOPS=2), instance_path=str(tmp_path))
    add_probe(app)
    client = app.test_client()
    # The client claimed 6.6.6.6 and evil.example; the load balancer saw 203.0.113.9 asking for
    # mecc.example.org over https; nginx saw the load balancer (10.0.0.1) over http.
    behind_proxy(
        client,
        "6.6.6.6, 203.0.113.9, 10.0.0.1",
        X_Forwarded_Proto="http, https, http",
        X_Forwarded_Host="evil.example, mecc.example.org, internal.lan",
    )

    seen = client.get("/test-probe").json

    assert (seen["remote_addr"], seen["scheme"], seen["host"]) == ("203.0.113.9", "https", "mecc.example.org")

    # A request that reached the app through fewer proxies than configured is not believed at all.
    behind_proxy(client, "203.0.113.9", X_Forwarded_Proto="https", X_Forwarded_Host="mecc.example.org")
    seen = client.get("/test-probe").json
    assert (seen["remote_addr"], seen["scheme"], seen["host"]) == (PROXY, "http", "localhost")


# --- The setting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["two", "-1", -1, True, 1.5, 6, "1; 2", None])
def test_a_setting_that_cannot_be_right_stops_the_app_at_start(database_url, tmp_path, value):
    with pytest.raises(RuntimeError, match=r"TRUSTED_PROXY_HOPS \(FLASK_TRUSTED_PROXY_HOPS\) must be a whole number"):
        create_app(app_settings(database_url, TRUSTED_PROXY_HOPS=value), instance_path=str(tmp_path))


def test_the_setting_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FLASK_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("FLASK_TRUSTED_PROXY_HOPS", "2")
    assert create_app(instance_path=str(tmp_path / "a")).config["TRUSTED_PROXY_HOPS"] == 2

    monkeypatch.setenv("FLASK_TRUSTED_PROXY_HOPS", "yes")
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_HOPS"):
        create_app(instance_path=str(tmp_path / "b"))


def test_gunicorn_leaves_the_scheme_to_the_app():
    """gunicorn's default believes X-Forwarded-Proto from 127.0.0.1: a local proxy made every request https
    while the host stayed the proxy's upstream, and CSRF's referrer check refused every form ("Your form
    expired"). The app's TRUSTED_PROXY_HOPS decides instead, for the scheme as for the address and host."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.secure_scheme_headers == {}
