"""Browser fixtures: the test app served on loopback, Debian's Chromium driven by Playwright, and axe-core.

- `live_server` serves whichever app the current test built (same database as every other fixture) from
  one werkzeug server per run, on 127.0.0.1 and a free port. `app_config` points SERVER_NAME and BASE_URL
  at it, so links in pages and emails lead back to it.
- `page` is a phone (390 x 844) with JavaScript; `nojs_page` the same phone with JavaScript off. Each test
  gets new contexts from one browser per run.
- Every request to a host other than 127.0.0.1 is aborted and fails the test, as does any 5xx answer or
  uncaught script error.
- Without /usr/bin/chromium the tests are skipped, except in CI (CI set), where that fails the run.
"""

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

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


# --- The live server ---------------------------------------------------------------------------------


class _Handler(WSGIRequestHandler):
    """Quiet, and tells the live server when a request it dispatched is completely finished."""

    def log_request(self, *args, **kwargs):
        pass

    def handle(self):
        try:
            super().handle()
        finally:
            # After the response is closed (and Flask's call_on_close, such as mail delivery, has run),
            # or after the browser dropped the connection. One thread serves one connection.
            self.server.live_server.finished_in_this_thread()


class _CloseOnce:
    """A WSGI response body whose close() runs exactly once, whoever calls it first."""

    def __init__(self, body):
        self._body = body
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self):
        return iter(self._body)

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


class LiveServer:
    """One threaded werkzeug server per run, dispatching to the app of the current test."""

    def __init__(self):
        self.app = None
        self.server_errors: list[str] = []
        self._active = 0
        self._idle = threading.Condition()
        self._this_thread = threading.local()
        self._server = make_server(LOCAL_HOST, 0, self._dispatch, threaded=True, request_handler=_Handler)
        self._server.live_server = self
        self.port = self._server.server_port
        self.host = f"{LOCAL_HOST}:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve(self, app):
        self.app = app
        self.server_errors = []

    def release(self, timeout: float = 10):
        """Stop serving the test's app once in-flight requests (and their after-response mail) finish."""
        with self._idle:
            finished = self._idle.wait_for(lambda: self._active == 0, timeout=timeout)
        self.app = None
        assert finished, f"{self._active} request(s) still running {timeout}s after the test"

    def _dispatch(self, environ, start_response):
        app = self.app
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no test is running"]
        request_line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"

        def recording_start_response(status, headers, exc_info=None):
            if status.startswith("5"):
                self.server_errors.append(f"{request_line} -> {status}")
            return start_response(status, headers, exc_info)

        with self._idle:
            self._active += 1
        self._this_thread.counted = True
        try:
            body = _CloseOnce(app(environ, recording_start_response))
        except Exception as error:
            self.server_errors.append(f"{request_line} raised {error!r}")
            raise
        # If the browser drops the connection after a redirect, werkzeug's dev server can skip close(), and
        # with it Flask's call_on_close work (mail sent after the response); make sure it runs.
        self._this_thread.body = body
        return body

    def finished_in_this_thread(self):
        body = getattr(self._this_thread, "body", None)
        if body is not None:
            self._this_thread.body = None
            body.close()
        if getattr(self._this_thread, "counted", False):
            self._this_thread.counted = False
            with self._idle:
                self._active -= 1
                self._idle.notify_all()


@pytest.fixture(scope="session")
def live_server():
    server = LiveServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(live_server):
    """Links built outside a request (emails, calendar files) and inside one agree on host and port."""
    return {"SERVER_NAME": live_server.host, "BASE_URL": live_server.url}


@pytest.fixture
def live_url(live_server, app):
    """The base URL of the running app; fails the test if any request answered with a 5xx."""
    live_server.serve(app)
    yield live_server.url
    live_server.release()
    assert not live_server.server_errors, "server errors:\n" + "\n".join(live_server.server_errors)


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
    """Blocks and records requests to any host but 127.0.0.1; records uncaught page errors."""

    def __init__(self):
        self.blocked: list[str] = []
        self.page_errors: list[str] = []

    def route(self, route):
        url = route.request.url
        if urlsplit(url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def watch(self, context):
        context.route("**/*", self.route)

    def check(self):
        assert not self.blocked, "no page makes a request to another host, but these were made:\n" + "\n".join(
            self.blocked
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


def check_accessible(page) -> None:
    """axe-core finds no violations on the page as it is now; the message lists rule ids and targets."""
    from axe_playwright_python.sync_playwright import Axe

    auditor = _NO_JS_AUDITORS.get(id(page.context))
    results = Axe().run(auditor.copy_of(page) if auditor else page)
    violations = results.response["violations"]
    if violations:
        lines = [f"{len(violations)} accessibility violation(s) on {page.url} ({page.title()!r}):"]
        for violation in violations:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            for node in violation["nodes"]:
                lines.append(f"    {', '.join(map(str, node['target']))}")
        pytest.fail("\n".join(lines), pytrace=False)


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
