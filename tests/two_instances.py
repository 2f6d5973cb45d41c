"""Two app servers on one PostgreSQL database, behind a small reverse proxy, as a county-wide roll-out runs.

    .venv/bin/python -m tests.two_instances [--server postgresql://postgres@127.0.0.1:5432/postgres]

It creates a database of its own on the server (dropped at the end), runs `flask db upgrade`, loads a small
pilot, starts an aiosmtpd server on loopback, two gunicorn servers as production starts them (`gunicorn
--config gunicorn.conf.py wsgi:app`, the same SECRET_KEY and DATABASE_URL, FLASK_TRUSTED_PROXY_HOPS=1) and a
round-robin reverse proxy in this process that adds X-Forwarded-For (each virtual user's own client address,
appended to whatever the client sent, as nginx's $proxy_add_x_forwarded_for does) and X-Forwarded-Proto: https.
Then, through the proxy:

(a) the race for places: virtual users (threads, each with its own cookies and CSRF token) register for a
    session of K places through the real form and "Check your answers", the last POSTs all released at once:
    exactly K booked, the rest on the waiting list, never more than K;
(b) the outbox: while the servers serve the race, `flask jobs run` runs on two processes at once, a few
    times (they also queue the evaluation invitations of a session that has ended): every email reaches the
    SMTP server exactly once;
(c) the link limits: "Lost your link?" from one client address, its requests spread over both servers (and
    each with a different spoofed X-Forwarded-For), is limited as one, since the limit lives in the database.

Where the app has TRUSTED_PROXY_HOPS it also checks the proxy's headers are believed: the scheme (HSTS through
the proxy, not directly; a POST under https passes CSRF's referrer check) and the client address (another
address is not limited). The exit status is 0 when every check holds. tests/test_two_instances.py runs it in
the PostgreSQL suite.
"""

import argparse
import contextlib
import http.client
import itertools
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # .venv/bin when run as .venv/bin/python -m tests.two_instances
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL = "127.0.0.1"

RACERS = 30
PLACES = 8
ATTENDEES = 30  # of a session that ended yesterday: the jobs queue their evaluation invitations
JOB_ROUNDS = 2  # each round: `flask jobs run` on two processes at once
LIMITED_REQUESTS = 14  # "Lost your link?" from one address, a few more than the limit allows
START_TIMEOUT = 40.0
SETTLE_TIMEOUT = 20.0

# Headers a proxy never forwards (RFC 9110 7.6.1), and the one the virtual users use to say who they are.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
CLIENT_HEADER = "X-Virtual-Client"


def say(text: str) -> None:
    """The script's report, a line at a time (it runs for a minute: show each figure as it comes)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def proxy_hops_supported() -> bool:
    """Whether this version of the app reads TRUSTED_PROXY_HOPS (before it did, the setting is ignored)."""
    package = ROOT / "mecc_volunteer"
    return any("TRUSTED_PROXY_HOPS" in path.read_text() for path in package.rglob("*.py"))


# --- The reverse proxy ---------------------------------------------------------------------------------


class Proxy(ThreadingHTTPServer):
    """Round-robin over the app servers, as nginx with `proxy_set_header X-Forwarded-For
    $proxy_add_x_forwarded_for` and `X-Forwarded-Proto https` would (TLS itself is left out)."""

    daemon_threads = True
    request_queue_size = 256  # every virtual user connects at once

    def __init__(self):
        super().__init__((LOCAL, 0), ProxyHandler)
        self.port = self.server_address[1]
        self.backends: list[int] = []
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.served: Counter[int] = Counter()

    def next_backend(self) -> int:
        with self._lock:
            index = next(self._turn) % len(self.backends)
            self.served[index] += 1
            return index


class ProxyHandler(BaseHTTPRequestHandler):
    server: Proxy

    def do_GET(self):
        self._forward()

    do_POST = do_HEAD = do_GET  # noqa: N815

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        client = self.headers.get(CLIENT_HEADER) or self.client_address[0]
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in {CLIENT_HEADER.lower(), "x-forwarded-proto"}
        }
        forwarded = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
        headers["X-Forwarded-Proto"] = "https"
        index = self.server.next_backend()
        upstream = http.client.HTTPConnection(LOCAL, self.server.backends[index], timeout=60)
        try:
            upstream.request(self.command, self.path, body, headers)
            response = upstream.getresponse()
            data = response.read()
            answer_headers = response.getheaders()
            status, reason = response.status, response.reason
        finally:
            upstream.close()
        self.send_response_only(status, reason)
        for name, value in answer_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("X-Served-By", str(index))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):
        pass


# --- Virtual users ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str
    served_by: int | None

    def csrf_token(self) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.text)
        assert found, f"no CSRF field on the page (status {self.status})"
        return found.group(1)


@dataclass
class VirtualUser:
    """One person's browser: its own cookies, its own client address (which the proxy forwards), and a
    Referer on every POST as a browser sends (CSRF checks it under https)."""

    port: int
    address: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://{LOCAL}:{self.port}"

    def request(self, method: str, path: str, data: dict | None = None, *, spoof: str | None = None) -> Answer:
        headers = {CLIENT_HEADER: self.address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if spoof:
            headers["X-Forwarded-For"] = spoof
        body = None
        if method == "POST":
            body = urlencode(data or {})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.origin + path
        connection = http.client.HTTPConnection(LOCAL, self.port, timeout=60)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        served_by = response.headers.get("X-Served-By")
        return Answer(response.status, response.headers, text, int(served_by) if served_by else None)

    def get(self, path: str, *, follow: bool = True) -> Answer:
        answer = self.request("GET", path)
        while follow and answer.status in (301, 302, 303, 307, 308):
            answer = self.request("GET", urlsplit(answer.headers["Location"]).path)
        return answer

    def post(self, path: str, data: dict, **kwargs) -> Answer:
        return self.request("POST", path, data, **kwargs)


# --- The servers -----------------------------------------------------------------------------------------


class AppServer:
    """gunicorn as production starts it: `gunicorn --config gunicorn.conf.py --bind ... wsgi:app`."""

    def __init__(self, name: str, env: dict[str, str], folder: Path):
        self.name = name
        self.port = free_port()
        self.env = env
        self.log = folder / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"{LOCAL}:{self.port}", "wsgi:app"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_until_up(self, deadline: float) -> None:
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection(LOCAL, self.port, timeout=2)
                try:
                    connection.request("GET", "/healthz")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer /healthz in time:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def trouble(self) -> list[str]:
        """Tracebacks, timed-out workers and 5xx answers in the server's log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        lines = text.splitlines()
        bad = [line for line in lines if "Traceback" in line or "[CRITICAL]" in line or "WORKER TIMEOUT" in line]
        bad += [line for line in lines if re.search(r'" 5\d\d ', line)]
        return bad


def free_port() -> int:
    from tests.mail_servers import free_port as pick

    return pick()


def app_env(database_url: str, secret_key: str, smtp_port: int, base_url: str, instance: Path) -> dict[str, str]:
    """Configured only as production is, through the environment (nothing from the caller's FLASK_ settings)."""
    instance.mkdir(parents=True, exist_ok=True)
    return {
        **{
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("FLASK_", "GUNICORN_", "MECC_")) and name != "DATABASE_URL"
        },
        "DATABASE_URL": database_url,
        "FLASK_SECRET_KEY": secret_key,
        "FLASK_BASE_URL": base_url,
        "FLASK_MAIL_SERVER": LOCAL,
        "FLASK_MAIL_PORT": str(smtp_port),
        "FLASK_TRUSTED_PROXY_HOPS": "1",
        "MECC_INSTANCE_PATH": str(instance),
    }


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- The data --------------------------------------------------------------------------------------------


@dataclass
class Pilot:
    race_session_id: int
    attendees: list[str]


def load_pilot(app) -> Pilot:
    """The reference data, a session of PLACES places a month ahead, and one that ended yesterday with
    ATTENDEES attendees (their evaluation invitations are due)."""
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import Booking, BookingStatus, Programme, SessionKind, TrainingSession, utcnow
    from tests.helpers import add_volunteer, seed_reference_data

    with app.app_context():
        seed_reference_data()
        db.session.flush()
        programme = db.session.scalars(sa.select(Programme)).one()
        now = utcnow()
        race = TrainingSession(
            programme_id=programme.id,
            starts_at=now + timedelta(days=30),
            ends_at=now + timedelta(days=30, minutes=90),
            capacity=PLACES,
            kind=SessionKind.VOLUNTEER_TRAINING,
        )
        held = TrainingSession(
            programme_id=programme.id,
            starts_at=now - timedelta(days=1, minutes=90),
            ends_at=now - timedelta(days=1),
            capacity=ATTENDEES,
            places_taken=ATTENDEES,
            kind=SessionKind.VOLUNTEER_TRAINING,
        )
        db.session.add_all([race, held])
        db.session.flush()
        attendees = []
        for n in range(ATTENDEES):
            email = f"attendee{n}@example.org"
            volunteer = add_volunteer(n, email=email)
            db.session.add(
                Booking(
                    training_session_id=held.id,
                    volunteer_id=volunteer.id,
                    session_kind=held.kind,
                    status=BookingStatus.ATTENDED,
                    created_at=now - timedelta(days=20),
                    booked_at=now - timedelta(days=20),
                )
            )
            attendees.append(email)
        db.session.commit()
        return Pilot(race_session_id=race.id, attendees=attendees)


def registration_answers(app, i: int) -> dict[str, str]:
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import District, Organisation

    with app.app_context():
        organisation = db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id))
        district = db.session.scalar(sa.select(District.id).order_by(District.id))
    return {
        "name": f"Racer {i}",
        "email": f"racer{i}@example.org",
        "phone": "",
        "organisation": str(organisation),
        "organisation_other": "",
        "role": "Library assistant",
        "district": str(district),
        "baseline_confidence": "5",
        "baseline_knowledge": "5",
        "privacy_acknowledged": "y",
    }


# --- The checks ------------------------------------------------------------------------------------------


class Checks:
    def __init__(self):
        self.failed: list[str] = []

    def check(self, holds: bool, what: str) -> bool:
        say(f"  {'ok  ' if holds else 'FAIL'} {what}")
        if not holds:
            self.failed.append(what)
        return holds


def race_for_places(port: int, app, session_id: int, checks: Checks) -> list[str]:
    """(a): every racer fills in the form and checks their answers; the confirming POSTs go at once."""
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import Booking, BookingStatus, TrainingSession

    path = f"/sessions/{session_id}/register"
    answers = [registration_answers(app, i) for i in range(RACERS)]
    ready = threading.Barrier(RACERS, timeout=60)
    outcomes: list[str] = [""] * RACERS
    errors: list[str] = []

    def racer(i: int) -> None:
        user = VirtualUser(port, f"203.0.113.{i + 1}")
        try:
            form = user.get(path)
            sent = user.post(path, {**answers[i], "csrf_token": form.csrf_token()})
            assert sent.status == 303, f"the form answered {sent.status}"
            check = user.get(f"{path}/check")
            token = check.csrf_token()
            ready.wait()
            done = user.post(f"{path}/check", {"csrf_token": token})
            assert done.status == 303, f"checking the answers answered {done.status}"
            page = user.get(urlsplit(done.headers["Location"]).path)
            if "Registration complete" in page.text:
                outcomes[i] = "booked"
            elif "You are on the waiting list" in page.text:
                outcomes[i] = "waiting"
            elif "full" in page.text.lower():
                outcomes[i] = "full"
            else:
                outcomes[i] = f"other ({page.status})"
        except BaseException as error:
            errors.append(f"racer {i}: {type(error).__name__}: {error}")
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.abort()

    started = time.monotonic()
    threads = [threading.Thread(target=racer, args=(i,), name=f"racer-{i}") for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    said = Counter(outcomes)
    say(f"  {RACERS} virtual users for {PLACES} places in {time.monotonic() - started:.1f} s: {dict(said)}")
    with app.app_context():
        statuses = Counter(
            db.session.scalars(sa.select(Booking.status).where(Booking.training_session_id == session_id)).all()
        )
        places_taken = db.session.scalar(
            sa.select(TrainingSession.places_taken).where(TrainingSession.id == session_id)
        )
        db.session.remove()
    booked, waiting = statuses[BookingStatus.BOOKED], statuses[BookingStatus.WAITING]
    checks.check(not errors, "every virtual user went through the form" + (f": {errors[:3]}" if errors else ""))
    checks.check(booked <= PLACES, f"never more than {PLACES} booked (the database holds {booked})")
    checks.check(booked == PLACES and places_taken == PLACES, f"exactly {PLACES} booked, places_taken {places_taken}")
    checks.check(
        waiting + booked == RACERS and said["booked"] == booked and said["waiting"] + said["full"] == RACERS - booked,
        f"the rest on the waiting list ({waiting}) and each person told what they got",
    )
    return [answer["email"] for answer in answers]


def run_jobs_rounds(env_a: dict, env_b: dict, reports: list[str]) -> None:
    """(b): `flask jobs run` on two processes at once, JOB_ROUNDS times, while the servers serve."""
    for _ in range(JOB_ROUNDS):
        results: list[subprocess.CompletedProcess] = []
        started = time.monotonic()

        def run(env, results=results):
            results.append(flask(env, "jobs", "run"))

        pair = [threading.Thread(target=run, args=(env,)) for env in (env_a, env_b)]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
        took = time.monotonic() - started
        for result in results:
            report = result.stdout.strip() if result.returncode == 0 else f"FAILED: {result.stderr[-500:]}"
            reports.append(f"({took:.1f} s) {report}")


def wait_for_outbox(app) -> Counter:
    """Until no email is queued and due, or being sent; the outbox's statuses then."""
    from mecc_volunteer.extensions import db
    from mecc_volunteer.models import EmailStatus, OutgoingEmail, utcnow

    deadline = time.monotonic() + SETTLE_TIMEOUT
    with app.app_context():
        while True:
            busy = db.session.scalar(
                sa.select(sa.func.count(OutgoingEmail.id)).where(
                    (OutgoingEmail.status == EmailStatus.SENDING)
                    | ((OutgoingEmail.status == EmailStatus.QUEUED) & (OutgoingEmail.next_attempt_at <= utcnow()))
                )
            )
            db.session.rollback()
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        statuses = Counter(db.session.scalars(sa.select(OutgoingEmail.status)).all())
        db.session.remove()
    return statuses


def check_outbox(app, smtp, expected: list[str], job_reports: list[str], checks: Checks) -> None:
    statuses = wait_for_outbox(app)
    time.sleep(0.3)  # the last message accepted by SMTP is in the handler's list
    with smtp.handler.lock:
        messages = list(smtp.handler.messages)
    by_recipient = Counter(str(message["To"]) for message in messages)
    by_message_id = Counter(str(message["Message-ID"]) for message in messages)
    by_pair = Counter((str(message["To"]), str(message["Subject"])) for message in messages)
    for report in job_reports:
        say(f"  flask jobs run: {report}")
    say(f"  outbox: { {status.value: n for status, n in statuses.items()} }; SMTP server received {len(messages)}")
    checks.check(not any("FAILED:" in r for r in job_reports), "every `flask jobs run` exited 0")
    missing = [address for address in expected if by_recipient[address] == 0]
    twice = {pair: n for pair, n in by_pair.items() if n > 1}
    unexpected = set(by_recipient) - set(expected)
    checks.check(
        not missing,
        f"every one of {len(expected)} expected emails arrived" + (f": missing {missing[:5]}" if missing else ""),
    )
    checks.check(
        not twice and all(n == 1 for n in by_message_id.values()),
        "none arrived twice (by recipient and subject, and by Message-ID)" + (f": {twice}" if twice else ""),
    )
    checks.check(not unexpected, "no email to anyone else" + (f": {sorted(unexpected)[:5]}" if unexpected else ""))
    checks.check(
        {status.value for status in statuses} == {"sent"} and len(messages) == sum(statuses.values()),
        "every outbox row is sent, one message each",
    )


def link_limits(port: int, hops: bool, checks: Checks) -> None:
    """(c): "Lost your link?" from one client address, alternately on both servers."""
    from mecc_volunteer.volunteers.services import LINK_REQUESTS_PER_ADDRESS

    allowed = LINK_REQUESTS_PER_ADDRESS.max_hits
    user = VirtualUser(port, "198.51.100.7")
    token = user.get("/lost-link").csrf_token()
    answers = [
        user.post("/lost-link", {"email": "nobody@example.org", "csrf_token": token}, spoof=f"192.0.2.{i + 1}")
        for i in range(LIMITED_REQUESTS)
    ]
    statuses = [answer.status for answer in answers]
    servers = Counter(answer.served_by for answer in answers)
    say(f"  {LIMITED_REQUESTS} requests from one address, by server {dict(servers)}: {statuses}")
    checks.check(len(servers) == 2, "the requests were spread over both servers")
    checks.check(
        statuses == [200] * allowed + [429] * (LIMITED_REQUESTS - allowed),
        f"limited as one: {allowed} answered, then 429 on either server, whatever X-Forwarded-For the client sent",
    )
    if not hops:
        say("  (this version of the app has no TRUSTED_PROXY_HOPS: everyone shares the proxy's address)")
        return
    other = VirtualUser(port, "198.51.100.8")
    token = other.get("/lost-link").csrf_token()
    answer = other.post("/lost-link", {"email": "nobody@example.org", "csrf_token": token})
    checks.check(answer.status == 200, f"another client address is not limited (answered {answer.status})")


def proxy_headers(port: int, backend_port: int, checks: Checks) -> None:
    """With TRUSTED_PROXY_HOPS=1 the scheme the proxy forwards is believed; without the header it is http."""
    through = VirtualUser(port, "198.51.100.9").get("/")
    direct = http.client.HTTPConnection(LOCAL, backend_port, timeout=10)
    try:
        direct.request("GET", "/")
        response = direct.getresponse()
        response.read()
        direct_hsts = response.headers.get("Strict-Transport-Security")
    finally:
        direct.close()
    checks.check(
        bool(through.headers.get("Strict-Transport-Security")) and not direct_hsts,
        "through the proxy the request is https (HSTS sent; not straight to a server), and the registration "
        "POSTs passed CSRF's referrer check under https",
    )


# --- Putting it together ---------------------------------------------------------------------------------


def create_database(server_url: str) -> tuple[sa.Engine, str, str]:
    base = sa.engine.make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"mecc_two_instances_{os.getpid()}_{secrets.token_hex(4)}"
    server = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    return server, name, url.replace("postgresql+psycopg://", "postgresql://", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="a PostgreSQL server (any database on it)")
    args = parser.parse_args(argv)

    from mecc_volunteer import create_app
    from mecc_volunteer.extensions import db
    from tests.mail_servers import SMTPServer

    started = time.monotonic()
    checks = Checks()
    hops = proxy_hops_supported()
    secret_key = secrets.token_hex(32)
    server, name, database_url = create_database(args.server)
    say(f"Two instances on PostgreSQL database {name} (TRUSTED_PROXY_HOPS {'read' if hops else 'not in this version'})")
    smtp = SMTPServer()
    proxy = Proxy()
    servers: list[AppServer] = []
    serving: threading.Thread | None = None
    app = None
    with tempfile.TemporaryDirectory(prefix="mecc-two-") as folder_name:
        folder = Path(folder_name)
        try:
            smtp.start()
            base_url = f"https://{LOCAL}:{proxy.port}"
            env = {
                n: app_env(database_url, secret_key, smtp.port, base_url, folder / n)
                for n in ("one", "two", "jobs-a", "jobs-b")
            }
            upgraded = flask(env["jobs-a"], "db", "upgrade")
            if upgraded.returncode != 0:
                raise RuntimeError(f"flask db upgrade failed:\n{upgraded.stderr}")
            app = create_app(
                {
                    "SECRET_KEY": secret_key,
                    "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                    "MAIL_SERVER": None,
                },
                instance_path=str(folder / "checks"),
            )
            pilot = load_pilot(app)
            servers = [AppServer(n, env[n], folder) for n in ("one", "two")]
            for app_server in servers:
                app_server.start()
            deadline = time.monotonic() + START_TIMEOUT
            for app_server in servers:
                app_server.wait_until_up(deadline)
            proxy.backends = [app_server.port for app_server in servers]
            serving = threading.Thread(target=proxy.serve_forever, name="proxy", daemon=True)
            serving.start()
            say(f"  migrated, loaded and two servers up in {time.monotonic() - started:.1f} s")

            say("(a) The race for places, with (b) the jobs on two processes at once")
            job_reports: list[str] = []
            jobs = threading.Thread(target=run_jobs_rounds, args=(env["jobs-a"], env["jobs-b"], job_reports))
            jobs.start()
            racers = race_for_places(proxy.port, app, pilot.race_session_id, checks)
            jobs.join(120)
            say(f"  the race and {JOB_ROUNDS} rounds of jobs done at {time.monotonic() - started:.1f} s")
            say("(b) The outbox")
            check_outbox(app, smtp, racers + pilot.attendees, job_reports, checks)

            say("(c) The link limits")
            link_limits(proxy.port, hops, checks)
            if hops:
                say("The proxy's headers")
                proxy_headers(proxy.port, servers[0].port, checks)

            trouble = [f"{s.name}: {line}" for s in servers for line in s.trouble()]
            checks.check(
                not trouble,
                "no server logged a traceback, a timeout or a 5xx" + (f": {trouble[:5]}" if trouble else ""),
            )
            say(f"  the proxy sent {dict(proxy.served)} requests to servers 0 and 1")
        finally:
            if serving is not None:
                proxy.shutdown()
            proxy.server_close()
            for app_server in servers:
                app_server.stop()
            if app is not None:
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
            smtp.controller.stop()
            with server.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            server.dispose()
    elapsed = time.monotonic() - started
    if checks.failed:
        say(f"FAILED: {len(checks.failed)} check(s) in {elapsed:.1f} s")
        return 1
    say(f"Every check holds ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
