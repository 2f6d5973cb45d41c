"""No personal-link secret in any log: the routes that carry one are found from app.url_map, so a new one
cannot be missed, and the access log (gunicorn) and the app's own log are both checked."""

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask.logging import default_handler
from gunicorn.config import Config as GunicornConfig
from werkzeug.routing import IntegerConverter, PathConverter

from mecc_volunteer import logs, redaction
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, LinkPurpose
from mecc_volunteer.tokens import issue_link
from tests.mail_servers import free_port

ROOT = Path(__file__).parent.parent
# The only arguments that are not secrets: ids, and the static file's name.
NOT_SECRET = (IntegerConverter,)
STATIC_FILES = ("static", "filename")


def a_secret() -> str:
    return secrets.token_urlsafe(32)


def example_path(rule, secret: str) -> str:
    """The rule with its secrets filled in with `secret`, and any other argument with 1."""
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: secret if m[1] == "secret" else "1", rule)


def load_gunicorn_conf():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


# --- Every personal-link route says so ------------------------------------------------------------------


def test_every_route_argument_is_an_id_or_a_secret(app):
    """A new route with a string argument (a token, a code, a key) must use <secret:...>, or its value would
    be written to the access log in full."""
    unmarked = []
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if isinstance(converter, NOT_SECRET) or (rule.endpoint, name) == STATIC_FILES:
                continue
            if not isinstance(converter, redaction.SecretConverter):
                unmarked.append(f"{rule.rule} ({name})")
    assert not unmarked, f"routes with an argument that is neither an id nor <secret:...>: {unmarked}"
    assert isinstance(app.url_map._rules_by_endpoint["static"][0]._converters["filename"], PathConverter)


def test_the_personal_link_routes_are_all_marked_secret(app):
    rules = redaction.secret_rules(app.url_map)
    for endpoint in [
        "volunteers.my_booking",
        "volunteers.cancel",
        "volunteers.move",
        "volunteers.elearning",
        "volunteers.calendar",
        "evaluation.after_session",
        "evaluation.followup",
        "evaluation.certificate",
    ]:
        assert any(rule.rule in rules for rule in app.url_map.iter_rules(endpoint=endpoint)), endpoint


def test_redaction_removes_the_secret_of_every_secret_route_wherever_it_appears(app):
    for rule in redaction.secret_rules(app.url_map):
        secret = a_secret()
        path = example_path(rule, secret)
        for text in [
            f"GET {path} HTTP/1.1",
            f"GET {path}?utm_source=email HTTP/1.1",
            f'"http://localhost{path}"',
            f"POST {path.replace('-', '%2D')} HTTP/1.1",  # as a raw request line can spell it
        ]:
            redacted = redaction.redact(text)
            assert secret not in redacted, (rule, text)
            assert redaction.REDACTED in redacted
        # The rest of the path stays, so the log still says which page was used.
        assert redaction.redact(path) == example_path(rule, redaction.REDACTED)


def test_a_new_route_with_a_secret_is_redacted_without_a_list_to_update(app):
    from flask import Flask

    other = Flask("other")
    redaction.register_converter(other)
    other.add_url_rule("/sessions/<int:session_id>/invite/<secret:code>/accept", "accept", lambda **kw: "")
    patterns = redaction.patterns_for(other.url_map)
    secret = a_secret()
    assert (
        redaction.redact_with(patterns, f"GET /sessions/7/invite/{secret}/accept")
        == "GET /sessions/7/invite/[link]/accept"
    )


# --- The access log ---------------------------------------------------------------------------------------


def access_atoms(logger, path: str, referer: str) -> dict:
    request = SimpleNamespace(
        headers=[("REFERER", referer)], method="GET", path=path, query="", uri=path, version=(1, 1)
    )
    response = SimpleNamespace(status="200 OK", headers=[("Location", path)], sent=10, response_length=10)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": referer,
    }
    # Every atom as the log format would read it (each is redacted when read).
    atoms = logger.atoms_wrapper_class(logger.atoms(response, request, environ, dt.timedelta(seconds=0.01)))
    return {key: atoms[key] for key in atoms}


@pytest.mark.parametrize(
    "route", ["/my-booking/{}/cancel", "/evaluation/{}", "/follow-up/{}", "/evaluation/{}/certificate"]
)
def test_the_gunicorn_access_log_holds_no_personal_link(app, route):
    logger = load_gunicorn_conf().RedactingLogger(GunicornConfig())
    secret = a_secret()
    atoms = access_atoms(logger, route.format(secret), f"http://localhost{route.format(secret)}")

    assert secret not in repr(atoms)
    assert route.format("[link]") in atoms["r"]
    assert atoms["f"] == f"http://localhost{route.format('[link]')}"


def test_gunicorn_serving_the_app_logs_no_personal_link(
    app, database_url, make_training_session, make_booking, tmp_path
):
    """gunicorn itself, as `make run` starts it (one worker here), with real personal links."""
    booking_id = make_booking(make_training_session().id)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        tokens = {
            purpose: issue_link(booking, purpose)
            for purpose in (LinkPurpose.MANAGE, LinkPurpose.EVALUATION, LinkPurpose.FOLLOWUP)
        }
        db.session.commit()
    port = free_port()
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLASK_", "GUNICORN_", "MECC_")) and k != "DATABASE_URL"
        },
        "FLASK_SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "FLASK_BASE_URL": f"http://127.0.0.1:{port}",
        "MECC_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "gunicorn.conf.py",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        "--error-logfile",
        str(error_log),
        "wsgi:app",
    ]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    paths = [
        f"/my-booking/{tokens[LinkPurpose.MANAGE]}",
        f"/my-booking/{tokens[LinkPurpose.MANAGE]}/cancel?from=email",
        f"/evaluation/{tokens[LinkPurpose.EVALUATION]}",
        f"/follow-up/{tokens[LinkPurpose.FOLLOWUP]}",
        f"/evaluation/{a_secret()}/certificate",
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, error_log.read_text() if error_log.exists() else "gunicorn exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        statuses = []
        for path in paths:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Referer": f"http://127.0.0.1:{port}{paths[0]}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        probe = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-42"})
        with urllib.request.urlopen(probe, timeout=10) as response:
            assert response.headers["X-Request-ID"] == "probe-42"
            response.read()
        # Stop only once the probe's line is written: a worker stopped mid-response logs it again as a 500.
        while " probe-42 " not in access_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        server.wait(timeout=15)

    assert statuses[0] == 200, statuses  # a real link, really served
    log = access_log.read_text() + error_log.read_text()
    for token in [*tokens.values(), paths[-1].split("/")[2]]:
        assert token not in log
    assert '"GET /my-booking/[link] HTTP/1.1" 200' in log
    assert '"GET /my-booking/[link]/cancel?from=email HTTP/1.1"' in log
    assert "GET /evaluation/[link] " in log
    assert "GET /follow-up/[link] " in log
    assert f'"http://127.0.0.1:{port}/my-booking/[link]"' in log  # the Referer too
    # Each access line has the request id the app sent back, and not the client's address.
    access = access_log.read_text().splitlines()
    assert ' probe-42 "GET /healthz HTTP/1.1" 200 ' in access[-1]
    assert all(re.match(r'\[[^]]+\] [0-9a-f]{32} "', line) for line in access[:-1]), access
    assert not any("127.0.0.1 -" in line for line in access)


# --- The app's own log -------------------------------------------------------------------------------------


def test_the_apps_log_records_hold_no_personal_link(app, caplog):
    secret = a_secret()
    caplog.set_level(logging.INFO)
    logging.getLogger("mecc_volunteer.errors").warning(
        "database unavailable for %s %s", "GET", f"/my-booking/{secret}/move"
    )
    logging.getLogger("mecc_volunteer").info("asked for %r", {"url": f"http://localhost/follow-up/{secret}"})
    logging.getLogger("werkzeug").info(
        '%s - - [%s] "%s" %s %s', "127.0.0.1", "now", f"GET /evaluation/{secret} HTTP/1.1", 200, "-"
    )
    try:
        raise ValueError(f"could not open /evaluation/{secret}/certificate")
    except ValueError:
        logging.getLogger("mecc_volunteer.evaluation").exception("certificate failed")

    assert secret not in caplog.text
    assert [record.getMessage() for record in caplog.records][:3] == [
        "database unavailable for GET /my-booking/[link]/move",
        "asked for {'url': 'http://localhost/follow-up/[link]'}",
        '127.0.0.1 - - [now] "GET /evaluation/[link] HTTP/1.1" 200 -',
    ]
    assert "could not open /evaluation/[link]/certificate" in caplog.text


def test_a_database_failure_on_a_personal_link_page_logs_the_route_not_the_secret(make_app, tmp_path, caplog):
    broken = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/no/such/folder/db.sqlite")
    secret = a_secret()
    caplog.set_level(logging.WARNING)

    response = broken.test_client().get(f"/my-booking/{secret}")

    assert response.status_code == 503
    assert "database unavailable for GET /my-booking/[link]" in caplog.text
    assert secret not in caplog.text


# --- The log an operator reads: one line per event, with the request's id ----------------------------------

REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def handler_lines(capsys) -> list[str]:
    """What the app's log handler wrote to standard error since the last call."""
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def json_lines(capsys) -> list[dict]:
    import json

    found = []
    for line in handler_lines(capsys):
        with contextlib.suppress(ValueError):
            found.append(json.loads(line))
    return found


def test_with_json_configured_each_event_is_one_json_line_with_the_request_id(make_app, tmp_path, capsys):
    broken = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/no/such/folder/db.sqlite", LOG_FORMAT="json")
    capsys.readouterr()

    response = broken.test_client().get("/")

    assert response.status_code == 503
    lines = [line for line in json_lines(capsys) if line["logger"] == "mecc_volunteer.error_pages"]
    assert len(lines) == 1
    (line,) = lines
    assert set(line) == {"time", "level", "logger", "request_id", "message"}
    assert line["level"] == "WARNING"
    assert line["message"] == "database unavailable for GET /: OperationalError"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(line["request_id"])
    assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None


def test_a_json_line_holds_the_traceback_and_text_lines_stay_one_line(make_app, capsys):
    make_app(LOG_FORMAT="json")
    capsys.readouterr()
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        logging.getLogger("mecc_volunteer.test").exception("it failed")
    (line,) = [line for line in json_lines(capsys) if line["logger"] == "mecc_volunteer.test"]
    assert line["request_id"] == "-"  # outside a request (the jobs, the mail courier)
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: first line\nsecond line" in line["exception"]

    make_app()  # the text format, the default
    capsys.readouterr()
    logging.getLogger("mecc_volunteer.test").warning("a message with\na forged second line")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("mecc_volunteer.test").exception("it failed")
    lines = [line for line in handler_lines(capsys) if " mecc_volunteer.test " in line]
    assert len(lines) == 2
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 WARNING mecc_volunteer\.test \[-\] "
        r"a message with\\na forged second line",
        lines[0],
    )
    assert lines[1].endswith("ValueError: boom")
    assert " ERROR mecc_volunteer.test [-] it failed | Traceback (most recent call last):\\n" in lines[1]


def test_making_many_apps_keeps_one_handler(make_app, capsys):
    for _ in range(3):
        make_app(LOG_FORMAT="json")
    assert sum(isinstance(handler, logs._StandardError) for handler in logging.getLogger().handlers) == 1
    assert not any(handler is default_handler for handler in logging.getLogger("mecc_volunteer").handlers)
    capsys.readouterr()
    logging.getLogger("mecc_volunteer.test").warning("once")
    assert [line["message"] for line in json_lines(capsys) if line["logger"] == "mecc_volunteer.test"] == ["once"]


def test_the_request_id_is_on_every_line_of_the_request_and_in_the_response(app, client, app_logs):
    @app.get("/test-log")
    def log_twice():
        logging.getLogger("mecc_volunteer.test").info("one")
        logging.getLogger("mecc_volunteer.test").warning("two")
        return "ok"

    first, second = client.get("/test-log"), client.get("/test-log")

    ids = [record.request_id for record in app_logs.records if record.name == "mecc_volunteer.test"]
    assert ids == [first.headers["X-Request-ID"]] * 2 + [second.headers["X-Request-ID"]] * 2
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    # Every response has one, error pages too.
    assert REQUEST_ID.fullmatch(client.get("/no-such-page").headers["X-Request-ID"])
    assert REQUEST_ID.fullmatch(client.post("/lost-link", csrf=False).headers["X-Request-ID"])


@pytest.mark.parametrize("incoming", ["nginx-7f3a.42_A", "a" * 64, "0"])
def test_a_proxys_safe_request_id_is_kept(client, incoming):
    assert client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming", ["a" * 65, "two words", "<script>", "id\\nforged", "caf\u00e9", "x;y", "", "%0a", "a/b"]
)
def test_an_unsafe_request_id_is_replaced(client, app_logs, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert REQUEST_ID.fullmatch(response.headers["X-Request-ID"])


def test_logging_a_configured_format_or_level_that_cannot_be_right_stops_the_app_at_start(make_app):
    with pytest.raises(RuntimeError, match="LOG_FORMAT must be one of text, json"):
        make_app(LOG_FORMAT="xml")
    with pytest.raises(RuntimeError, match="LOG_LEVEL must be one of"):
        make_app(LOG_LEVEL="chatty")
    assert make_app(LOG_FORMAT="JSON", LOG_LEVEL="warning").config["LOG_FORMAT"] == "json"
    assert logging.getLogger("mecc_volunteer").level == logging.WARNING


# --- No personal data in any log ------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_HOPS": 1, "LOG_FORMAT": "json"}])
def test_a_registration_journey_logs_no_name_email_address_link_or_client_address(
    app, client, make_training_session, registration_form, app_logs, capsys
):
    """Everything the app and its libraries log on the way, behind a proxy that names the client: SQL too, at
    INFO (statements, with their parameters hidden; DEBUG on sqlalchemy.engine would add the rows read)."""
    from tests.helpers import my_booking_path, register_through_the_form
    from tests.mail_servers import wait_for_mail

    app_logs.set_level(logging.INFO, logger="sqlalchemy.engine")
    client.environ_base.update(REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.77")
    training_session = make_training_session(capacity=1)
    form = registration_form(name="Priya Zanzibar-Patel", email="priya.zp@example.org", phone="07700 900123")
    capsys.readouterr()

    client.get(f"/sessions/{training_session.id}/register")
    done = register_through_the_form(client, training_session.id, form)
    link = my_booking_path(done)
    assert client.get(link).status_code == 200
    register_through_the_form(app.test_client(), training_session.id, form)  # again: already booked, link resent
    client.post("/lost-link", data={"email": form["email"]})
    client.get(f"/manage/sessions/{training_session.id}/roster", query_string={"q": form["email"]})
    wait_for_mail(app)
    handler_output = capsys.readouterr().err

    secret = link.rsplit("/", 1)[-1]
    everything = app_logs.text + "\n" + handler_output
    assert [record for record in app_logs.records if record.name.startswith("sqlalchemy.engine")]  # SQL was logged
    for personal in ["Priya", "Zanzibar", "priya.zp", "example.org", "07700", secret, "203.0.113.77", "192.0.2.10"]:
        assert personal not in everything, personal


def test_email_addresses_are_scrubbed_from_every_record(app, app_logs):
    logging.getLogger("mecc_volunteer.mail").warning("bounce from %s", "someone.else+tag@example.org")
    try:
        raise ValueError("cannot deliver to priya%40example.org")
    except ValueError:
        logging.getLogger("mecc_volunteer.mail").exception("failed")

    logging.getLogger("mecc_volunteer.mail").warning("row %r", ("Name", "o'brien@example.org"))

    assert "example.org" not in app_logs.text
    assert "bounce from [email]" in app_logs.text
    assert """row ('Name', "[email]")""" in app_logs.text
    assert "cannot deliver to [email]" in app_logs.text


def test_a_failed_statement_never_shows_its_parameters(app):
    import sqlalchemy as sa

    with app.app_context(), pytest.raises(sa.exc.DBAPIError) as raised:
        db.session.execute(sa.text("SELECT * FROM no_such_table WHERE email = :email"), {"email": "priya@example.org"})
    assert "priya@example.org" not in str(raised.value)
    assert "hidden" in str(raised.value)


def test_the_access_log_holds_no_email_address_or_search(app):
    logger = load_gunicorn_conf().RedactingLogger(GunicornConfig())
    path = "/manage/sessions/1/roster?q=Priya+Patel&status=booked"
    atoms = access_atoms(logger, path, "http://localhost/manage/volunteer-data?email=priya%40example.org")

    assert atoms["r"] == "GET /manage/sessions/1/roster?q=[search]&status=booked HTTP/1.1"
    assert "Priya" not in repr(atoms)
    assert "priya" not in repr(atoms)


def test_the_access_log_format_has_the_request_id_and_not_the_clients_address():
    conf = load_gunicorn_conf()
    assert "%({x-request-id}o)s" in conf.access_log_format
    assert "%(h)s" not in conf.access_log_format
    assert conf.timeout == int(os.environ.get("GUNICORN_TIMEOUT", "120"))
