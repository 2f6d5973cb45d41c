"""No personal-link secret in any log: the routes that carry one are found from app.url_map, so a new one
cannot be missed, and the access log (gunicorn) and the app's own log are both checked."""

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
from gunicorn.config import Config as GunicornConfig
from werkzeug.routing import IntegerConverter, PathConverter

from mecc_volunteer import redaction
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
    return logger.atoms(response, request, environ, dt.timedelta(seconds=0.01))


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
        while access_log.read_text().count("\n") < len(paths) + 1 and time.monotonic() < deadline:
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
