"""Registration and start-page latency while volunteers register, with a working mail server and with one that
has hung (it accepts the connection and never says a word).

SPEC 5 and issue 7: delivery never runs on a request's worker, so neither registering nor anyone else's page
may wait on the mail server. Each scenario starts gunicorn with the project's gunicorn.conf.py (2 sync
workers) serving the real app (bench/bench_wsgi.py) on a fresh throwaway SQLite database with the demo data,
pointed at a mail server run by this script: aiosmtpd on loopback ("normal"), or a socket that accepts and
never answers ("hung"). For --seconds, one client registers volunteers one after another, as a browser does
(GET the form, POST it, POST Check your answers, GET the confirmation page, each on a new connection), while
--concurrency clients load the start page. It prints, per scenario, the registrations done, the latency of a
whole registration and of its confirming POST (the request that queues the email), the start page's
requests/s and latency, and how many confirmation emails had been sent by the end (a few seconds later).

Run by hand:  .venv/bin/python bench/mail_latency.py [--seconds 10] [--concurrency 3]

The app sends mail with its MAIL_TIMEOUT_INLINE (2 s): with the hung server that is how long each attempt
waits, wherever it runs.
"""

import argparse
import gzip
import http.client
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import (
    HOST,
    REQUEST_TIMEOUT,
    free_port,
    load_worker,
    percentile,
    prepare_database,
    start_gunicorn,
    stop,
    wait_ready,
    worker_signals,
)

SETTLE = 5.0  # seconds after the load for the last emails to go out
TOKEN = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE = re.compile(r'value="([^"]*)"')


# --- Mail servers ---------------------------------------------------------------------------------------


class CountingHandler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
        self.count += 1
        return "250 Message accepted for delivery"


class NormalServer:
    name = "normal"

    def __init__(self):
        self.port = free_port()
        self.handler = CountingHandler()
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


class HungServer:
    """Accepts every connection and never answers, not even the SMTP greeting."""

    name = "hung (accepts, never answers)"

    def __init__(self):
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def stop(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


# --- A browser registering ---------------------------------------------------------------------------


class Browser:
    """Cookies and one request per new connection, as throughput.py's clients do; `headers` go on every request
    (bench/table.py sends Accept-Encoding: gzip, and X-Forwarded-For for a server that trusts one proxy)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.headers = {"User-Agent": "mecc-bench/1", **(headers or {})}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            text = body.decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            location = urlsplit(response.headers.get("Location") or "").path
            return response.status, location, text
        finally:
            connection.close()


def csrf_token(page: str) -> str:
    field = TOKEN.search(page)
    if field is None:
        raise RuntimeError("no CSRF field on the page")
    return VALUE.search(field.group(0)).group(1)


def register_once(port: int, session_id: int, form: dict, headers: dict | None = None) -> tuple[float, str]:
    """One whole registration by a new browser; returns the confirming POST's latency and the page it ends on."""
    browser = Browser(port, headers)
    path = f"/sessions/{session_id}/register"
    status, _, page = browser.request("GET", path)
    expect(status, 200, page)
    status, check, page = browser.request("POST", path, form | {"csrf_token": csrf_token(page)})
    expect(status, 303, page)
    status, _, page = browser.request("GET", check)
    expect(status, 200, page)
    started = time.monotonic()
    status, done, page = browser.request("POST", check, {"confirm": "yes", "csrf_token": csrf_token(page)})
    confirmed = time.monotonic() - started
    expect(status, 303, page)
    status, _, page = browser.request("GET", done)
    expect(status, 200, page)
    return confirmed, page


def expect(status: int, wanted: int, page: str) -> None:
    """Stop at the first wrong answer: timing errors would measure nothing."""
    if status != wanted:
        raise RuntimeError(f"answered {status}, not {wanted}: {page[:500]}")


def registrar(port: int, session_id: int, form: dict, measure_from: float, until: float) -> list[tuple[float, float]]:
    """Registrations one after another until `until`: (whole registration, confirming POST) for each one
    that started after `measure_from` and finished in time."""
    results = []
    number = 0
    while time.monotonic() < until:
        number += 1
        started = time.monotonic()
        confirmed, _ = register_once(
            port, session_id, form | {"email": f"bench{number}@example.org", "name": f"Bench {number}"}
        )
        finished = time.monotonic()
        if started >= measure_from and finished <= until:
            results.append((finished - started, confirmed))
    return results


def registration_answers(engine: sa.Engine) -> dict[str, str]:
    """The registration form's answers but name and email, as a volunteer fills it in (the first organisation
    and area of the database)."""
    with engine.connect() as connection:
        organisation = connection.execute(sa.text("SELECT id FROM organisations ORDER BY sort_order, id")).scalar()
        district = connection.execute(sa.text("SELECT id FROM districts ORDER BY sort_order, id")).scalar()
    return {
        "phone": "", "organisation": str(organisation), "organisation_other": "", "role": "Library assistant",
        "district": str(district), "baseline_confidence": "4", "baseline_knowledge": "3",
        "privacy_acknowledged": "y",
    }  # fmt: skip


# --- One scenario -------------------------------------------------------------------------------------


def run_scenario(server_class, args) -> dict:
    folder = tempfile.mkdtemp(prefix="mecc-bench-mail-")
    mail_server = server_class()
    app_server = None
    try:
        database_uri, open_id = prepare_database(folder)
        engine = sa.create_engine(database_uri)
        form = registration_answers(engine)
        env = {
            key: value for key, value in os.environ.items() if key != "DATABASE_URL" and not key.startswith("FLASK_")
        }
        env.update(
            MECC_BENCH_SECRET_KEY="bench-secret-key",
            MECC_BENCH_DATABASE_URI=database_uri,
            MECC_BENCH_INSTANCE_PATH=folder,
            MECC_BENCH_MAIL_SERVER=HOST,
            MECC_BENCH_MAIL_PORT=str(mail_server.port),
        )
        port = free_port()
        log = Path(folder, "gunicorn.log")
        app_server = start_gunicorn("bench_wsgi:app", port, env, log)
        wait_ready(app_server, port, "/healthz", log)

        measure_from = time.monotonic() + 1.0  # 1 s warm-up
        until = measure_from + args.seconds
        with multiprocessing.get_context("fork").Pool(args.concurrency + 1, initializer=worker_signals) as pool:
            registrations = pool.apply_async(registrar, (port, open_id, form, measure_from, until))
            pages = pool.starmap_async(load_worker, [(port, "/", measure_from, until)] * args.concurrency)
            registered = registrations.get()
            loaded = pages.get()
        time.sleep(SETTLE)
        with engine.connect() as connection:
            rows = dict(
                connection.execute(sa.text("SELECT status, count(*) FROM outgoing_emails GROUP BY status")).all()
            )
        engine.dispose()
        page_latencies = [latency for result in loaded for latency in result[2]]
        return {
            "name": mail_server.name,
            "registrations": len(registered),
            "reg_p50": percentile([r[0] for r in registered], 0.5) * 1000,
            "reg_p95": percentile([r[0] for r in registered], 0.95) * 1000,
            "confirm_p50": percentile([r[1] for r in registered], 0.5) * 1000,
            "page_rps": sum(result[0] for result in loaded) / args.seconds,
            "page_p50": percentile(page_latencies, 0.5) * 1000,
            "page_p95": percentile(page_latencies, 0.95) * 1000,
            "page_errors": sum(result[1] for result in loaded),
            "emails": {str(status).lower(): count for status, count in rows.items()},
        }
    finally:
        stop(app_server)
        mail_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (default 10)")
    parser.add_argument("--concurrency", type=int, default=3, help="start-page client processes (default 3)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 1 <= args.concurrency <= 64):
        parser.error("--seconds must be in (0, 600] and --concurrency in [1, 64]")
    signal.signal(signal.SIGTERM, on_sigterm)

    results = [run_scenario(server, args) for server in (NormalServer, HungServer)]
    print(
        f"gunicorn.conf.py (2 sync workers); 1 client registering one volunteer after another, {args.concurrency} "
        f"clients on the start page; {args.seconds:g} s per scenario"
    )
    print(
        f"{'mail server':<31}{'regs':>6}{'reg p50':>9}{'reg p95':>9}{'confirm':>9}"
        f"{'page/s':>8}{'page p50':>10}{'page p95':>10}  emails at the end"
    )
    for result in results:
        emails = ", ".join(f"{count} {status}" for status, count in sorted(result["emails"].items()))
        print(
            f"{result['name']:<31}{result['registrations']:>6}{result['reg_p50']:>7.0f}ms{result['reg_p95']:>7.0f}ms"
            f"{result['confirm_p50']:>7.0f}ms{result['page_rps']:>8.1f}{result['page_p50']:>8.1f}ms"
            f"{result['page_p95']:>8.1f}ms  {emails}"
        )
    print(
        "reg: a whole registration (4 requests); confirm: its confirming POST (median). Queued emails with the\n"
        "hung server have failed once and wait for their retry (`flask jobs run`)."
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped")
