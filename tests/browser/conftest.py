"""Browser fixtures: the app as production runs it (gunicorn, `gunicorn.conf.py`, `wsgi:app`), Debian's
Chromium driven by Playwright, a real SMTP server, and axe-core.

- `live_server` is one gunicorn server per run, started as `make run` starts it (`gunicorn --config
  gunicorn.conf.py wsgi:app`, 2 sync workers, the app's own middleware and after-request work), on 127.0.0.1
  and a free port. It is configured only the way production is, through the environment: FLASK_SECRET_KEY
  (the test app's), DATABASE_URL (the run's test database, SQLite file or PostgreSQL), FLASK_BASE_URL,
  FLASK_MAIL_SERVER/FLASK_MAIL_PORT (the run's aiosmtpd server) and MECC_INSTANCE_PATH (an instance folder of
  its own, so it never reads instance/config.py). Its access log and error log go to files in the run's
  temporary folder.
- The in-process `app` fixture works on the same database: it seeds and empties it around each test, and
  tests use it for factories and assertions. `app_config` makes its links and mail agree with the server.
- `live_url` marks the logs at the start of a test. At the end it waits for the server to answer every
  request the browser made (and for the access log to go quiet), then for every email due to go out; the
  test fails if the server answered any 5xx, logged a traceback, or restarted a worker.
- `mailbox` is the run's SMTP server, emptied at the start of each test; `mailbox.wait_for(to=...)` polls
  it, since mail goes out after the response.
- `page` is a phone (390 x 844) with JavaScript; `nojs_page` the same phone with JavaScript off. Each test
  gets new contexts from one browser per run.
- Every request to a host other than 127.0.0.1 is aborted and fails the test, as does any 5xx answer, any
  static asset that is missing (4xx), or uncaught script error.
- `assert_accessible(page)` runs axe-core on a phone page at its own width and at 360 px.
- Without /usr/bin/chromium the tests are skipped, except in CI (CI set), where that fails the run.
"""

import functools
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.helpers import app_settings
from tests.mail_servers import ALLOWED_SMTP_PORTS, SMTPServer, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING_CHROMIUM = "Debian's chromium is not installed (apt-get install chromium)"
LOCAL_HOST = "127.0.0.1"
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}
ROOT = Path(__file__).resolve().parents[2]
# Opt in to screenshots of key pages: MECC_SCREENSHOT_DIR=/tmp/shots pytest tests/browser
SCREENSHOT_DIR = os.environ.get("MECC_SCREENSHOT_DIR")


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def skip_or_fail(reason: str):
    """In CI a browser test that cannot run is a failure, never a quiet skip."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    browser_dir = Path(__file__).parent
    for item in items:
        if browser_dir in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Belt and braces: in CI, any skipped browser test (whatever skipped it) is reported as failed."""
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("browser"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"browser test skipped in CI: {reason}"
    return report


# --- Mail ----------------------------------------------------------------------------------------------


class Mailbox:
    """The run's SMTP server, as one test sees it: emptied when the test starts."""

    def __init__(self, server):
        self.server = server
        self.port = server.port

    def clear(self) -> None:
        with self.server.handler.lock:
            self.server.handler.messages.clear()

    @property
    def messages(self) -> list:
        with self.server.handler.lock:
            return list(self.server.handler.messages)

    def wait_for(self, *, to: str, subject: str | None = None, timeout: float = 10.0):
        """The first message to `to` (whose subject contains `subject`), polling until it arrives."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if message["To"] == to and (subject is None or subject in str(message["Subject"])):
                    return message
            if time.monotonic() > deadline:
                seen = [f"{m['To']}: {m['Subject']}" for m in self.messages]
                raise AssertionError(f"no email to {to} ({subject=}) within {timeout}s; received: {seen}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def smtp_run_server():
    """One aiosmtpd server on loopback for the whole run (tests.mail_servers.SMTPServer)."""
    server = SMTPServer()
    server.start()
    ALLOWED_SMTP_PORTS.add(server.port)
    yield server
    ALLOWED_SMTP_PORTS.discard(server.port)
    server.stop()


# --- The live server -----------------------------------------------------------------------------------

# gunicorn's default access log format: `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`.
ACCESS_LINE = re.compile(r'"(?P<request>[A-Z]+ \S* HTTP/[\d.]+)" (?P<status>\d{3}) ')
# A traceback, a worker that timed out or died, or a worker booted after the start: all fail the test.
SERVER_TROUBLE = re.compile(r"Traceback \(most recent call last\)|\[CRITICAL\]|Booting worker|Worker exiting")
# After a test, the access log must be quiet this long (requests the browser dropped still finish).
QUIET_SECONDS = 0.1
SETTLE_TIMEOUT = 15.0


class LiveServer:
    """gunicorn as `make run` starts it, in a subprocess, with the production configuration."""

    def __init__(self, *, folder: Path, database_url: str, secret_key: str, smtp_port: int, port: int):
        self.port = port
        self.host = f"{LOCAL_HOST}:{port}"
        self.url = f"http://{self.host}"
        self.smtp_port = smtp_port
        self.access_log = folder / "access.log"
        self.error_log = folder / "error.log"
        self.instance = folder / "instance"
        self.instance.mkdir()
        self.env = {
            # Nothing from the developer's shell may configure the server.
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("FLASK_", "GUNICORN_", "MECC_")) and k != "DATABASE_URL"
            },
            "FLASK_SECRET_KEY": secret_key,
            "DATABASE_URL": database_url,
            "FLASK_BASE_URL": self.url,
            "FLASK_MAIL_SERVER": LOCAL_HOST,
            "FLASK_MAIL_PORT": str(smtp_port),
            "MECC_INSTANCE_PATH": str(self.instance),
        }
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            self.host,
            "--access-logfile",
            str(self.access_log),
            "wsgi:app",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.access_log.touch()
        with open(self.error_log, "wb") as errors:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=errors,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.error_log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not answer /healthz in {timeout}s:\n{self.error_log.read_text()}")
            time.sleep(0.1)
        # Both workers booted (only the master and the first worker may have logged it so far).
        while self.error_log.read_text().count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def mark(self) -> tuple[int, int]:
        return self.access_log.stat().st_size, self.error_log.stat().st_size

    def access_since(self, offset: int) -> list[str]:
        with open(self.access_log, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
        # Only whole lines: the last one may still be being written.
        return data[: data.rfind(b"\n") + 1].decode(errors="replace").splitlines()

    def errors_since(self, offset: int) -> str:
        with open(self.error_log, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def settle(self, offset: int, answered: int) -> list[str]:
        """Wait until the access log holds at least `answered` lines since `offset` and has been quiet."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        seen, quiet_since = -1, time.monotonic()
        while True:
            lines = self.access_since(offset)
            now = time.monotonic()
            if len(lines) != seen:
                seen, quiet_since = len(lines), now
            if seen >= answered and now - quiet_since >= QUIET_SECONDS:
                return lines
            if now > deadline:
                raise AssertionError(
                    f"the server logged {seen} request(s) but the browser had {answered} answers, "
                    f"{SETTLE_TIMEOUT}s after the test"
                )
            time.sleep(0.02)


@pytest.fixture(scope="session")
def live_server(database_url, smtp_run_server, tmp_path_factory):
    server = LiveServer(
        folder=tmp_path_factory.mktemp("gunicorn"),
        database_url=database_url,
        secret_key=app_settings(database_url)["SECRET_KEY"],
        smtp_port=smtp_run_server.port,
        port=free_port(),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(live_server):
    """Links built outside a request (emails, calendar files) and inside one agree on host and port, and
    mail sent in-process goes to the same SMTP server as the live server's."""
    return {
        "SERVER_NAME": live_server.host,
        "BASE_URL": live_server.url,
        "MAIL_SERVER": LOCAL_HOST,
        "MAIL_PORT": live_server.smtp_port,
    }


def _mail_in_flight(app) -> int:
    """Emails the server still has to send: being sent, or queued and due."""
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import EmailStatus, OutgoingEmail, utcnow

    with app.app_context():
        try:
            return db.session.scalar(
                sa.select(sa.func.count(OutgoingEmail.id)).where(
                    (OutgoingEmail.status == EmailStatus.SENDING)
                    | ((OutgoingEmail.status == EmailStatus.QUEUED) & (OutgoingEmail.next_attempt_at <= utcnow()))
                )
            )
        finally:
            db.session.remove()


def _wait_for_mail(app, timeout: float = SETTLE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while (left := _mail_in_flight(app)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"{left} email(s) still queued or being sent {timeout}s after the test"


@pytest.fixture
def mailbox(smtp_run_server):
    """The run's SMTP server, empty at the start of the test (see Mailbox.wait_for)."""
    return Mailbox(smtp_run_server)


@pytest.fixture
def live_url(live_server, app, browser_guard, mailbox):
    """The base URL of the running server. After the test: wait for its requests and mail, then fail the
    test if it answered any 5xx or logged a traceback."""
    mailbox.clear()
    access_offset, error_offset = live_server.mark()
    yield live_server.url
    lines = live_server.settle(access_offset, browser_guard.answered)
    _wait_for_mail(app)
    lines = live_server.access_since(access_offset)
    unreadable = [line for line in lines if not ACCESS_LINE.search(line)]
    assert not unreadable, "access log lines in an unexpected format:\n" + "\n".join(unreadable)
    failed = [line for line in lines if ACCESS_LINE.search(line)["status"].startswith("5")]
    assert not failed, "the server answered with a 5xx:\n" + "\n".join(failed)
    errors = live_server.errors_since(error_offset)
    assert not SERVER_TROUBLE.search(errors), f"the server logged trouble during the test:\n{errors}"


# --- The browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(MISSING_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - requirements-dev.txt installs it
        skip_or_fail(f"Playwright is not installed ({error}): make setup")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class BrowserGuard:
    """Blocks and records requests to any host but 127.0.0.1; counts the live server's answers; records
    uncaught page errors, 5xx answers and static assets that fail to load (a stylesheet's missing icon)."""

    ASSET_TYPES = ("stylesheet", "script", "image", "font", "media")

    def __init__(self):
        self.blocked: list[str] = []
        self.page_errors: list[str] = []
        self.bad_answers: list[str] = []
        self.answered = 0

    def route(self, route):
        url = route.request.url
        if urlsplit(url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def response(self, response):
        if urlsplit(response.url).hostname != LOCAL_HOST:
            return
        self.answered += 1
        request = response.request
        asset = request.resource_type in self.ASSET_TYPES or urlsplit(response.url).path.startswith("/static/")
        if response.status >= 500 or (asset and response.status >= 400):
            self.bad_answers.append(f"{response.status} {request.method} {response.url} ({request.resource_type})")

    def watch(self, context):
        # Routing every request also turns off the browser's cache, so each request reaches the server.
        context.route("**/*", self.route)
        context.on("response", self.response)

    def check(self):
        assert not self.blocked, "no page makes a request to another host, but these were made:\n" + "\n".join(
            self.blocked
        )
        assert not self.bad_answers, "answers that break a page (5xx, or a static asset missing):\n" + "\n".join(
            self.bad_answers
        )
        assert not self.page_errors, "uncaught script errors:\n" + "\n".join(self.page_errors)


@pytest.fixture
def browser_guard():
    return BrowserGuard()


def _new_page(browser, guard, base_url, **options):
    context = browser.new_context(viewport=PHONE, base_url=base_url, locale="en-GB", **options)
    context.set_default_timeout(5_000)
    context.set_default_navigation_timeout(10_000)
    guard.watch(context)
    page = context.new_page()
    page.on("pageerror", lambda error: guard.page_errors.append(str(error)))
    return context, page


@pytest.fixture
def new_page(browser, live_url, browser_guard):
    """new_page(**context options) -> (context, page): another phone-sized page with JavaScript, on a context
    of its own, watched by the same guards as `page` (the caller closes the context)."""
    return functools.partial(_new_page, browser, browser_guard, live_url)


@pytest.fixture
def page(browser, live_url, browser_guard):
    """A phone-sized page with JavaScript, on a fresh context."""
    context, page = _new_page(browser, browser_guard, live_url)
    yield page
    context.close()
    browser_guard.check()


@pytest.fixture
def nojs_page(browser, live_url, browser_guard):
    """The same phone with JavaScript turned off."""
    context, page = _new_page(browser, browser_guard, live_url, java_script_enabled=False)
    auditor = _NoJsAuditor(browser)
    _NO_JS_AUDITORS[id(context)] = auditor
    yield page
    del _NO_JS_AUDITORS[id(context)]
    auditor.close()
    context.close()
    browser_guard.check()


# --- Accessibility ---------------------------------------------------------------------------------------


class _NoJsAuditor:
    """axe-core needs JavaScript (its promises never settle without it). A page without JavaScript is
    checked on a copy of its DOM, served at the same URL to a page with JavaScript whose own scripts are
    blocked, so nothing changes the copy."""

    def __init__(self, browser):
        self.snapshot: tuple[str, str] | None = None
        self.context = browser.new_context(viewport=PHONE, locale="en-GB")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def copy_of(self, page):
        self.page.set_viewport_size(page.viewport_size)
        self.snapshot = (page.url.split("#", 1)[0], page.content())
        self.page.goto(self.snapshot[0], wait_until="load")
        return self.page

    def _route(self, route):
        request = route.request
        if request.resource_type == "document" and self.snapshot and request.url == self.snapshot[0]:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=self.snapshot[1])
        elif request.resource_type == "script" or urlsplit(request.url).hostname != LOCAL_HOST:
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def close(self):
        self.context.close()


_NO_JS_AUDITORS: dict[int, _NoJsAuditor] = {}


_AXE_SCRIPT: list[str] = []


def _axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is now (axe is injected once per document)."""
    if not _AXE_SCRIPT:
        from axe_playwright_python.sync_playwright import Axe

        _AXE_SCRIPT.append(Axe().axe_script)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_AXE_SCRIPT[0])
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    lines = []
    for violation in results["violations"]:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {', '.join(map(str, node['target']))}")
    return lines


def check_accessible(page) -> None:
    """axe-core finds no violations on the page as it is now; the message lists rule ids and targets.
    A phone-sized page is checked at its own width and again at 360 px (then put back)."""
    size = dict(page.viewport_size)
    widths = [size]
    if size["width"] <= PHONE["width"] and size["width"] != NARROW["width"]:
        widths.append(NARROW)
    auditor = _NO_JS_AUDITORS.get(id(page.context))
    target = auditor.copy_of(page) if auditor else page
    failures = []
    try:
        for viewport in widths:
            target.set_viewport_size(viewport)
            if found := _axe_violations(target):
                failures.append(f"at {viewport['width']} px:")
                failures.extend(found)
    finally:
        target.set_viewport_size(size)
    if failures:
        pytest.fail(
            f"accessibility violations on {page.url} ({page.title()!r}):\n" + "\n".join(failures), pytrace=False
        )


@pytest.fixture
def assert_accessible():
    """assert_accessible(page): axe-core finds no violations (works with JavaScript on or off)."""
    return check_accessible


@pytest.fixture
def screenshot():
    """screenshot(page, name): a full-page PNG in $MECC_SCREENSHOT_DIR, when that is set."""

    def take(page, name: str) -> None:
        if SCREENSHOT_DIR:
            os.makedirs(SCREENSHOT_DIR, exist_ok=True)
            page.screenshot(path=os.path.join(SCREENSHOT_DIR, f"{name}.png"), full_page=True)

    return take
