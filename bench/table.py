"""Issue 12's table in one run: every row measured side by side, in alternating rounds, against the bare "ok" route.

Run by hand:  .venv/bin/python bench/table.py [--rounds 3] [--quick] [--only ROW ...]
It needs wrk (Debian's: `apt-get install wrk`), sqlite3 (`apt-get install sqlite3`) and, for rows 4 and 5 on
PostgreSQL, a server at --postgres (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth) where it may
create a throwaway database (dropped at the end). The machine should be idle: check `cat /proc/loadavg` first
(the script prints the load before and after, and warns above 1.0).

Set-up, as `make run` serves: gunicorn started with `--config gunicorn.conf.py` (2 sync workers; the access log
goes to /dev/null) serving wsgi:app, configured only through the environment as production is (DATABASE_URL,
FLASK_SECRET_KEY, FLASK_BASE_URL, MECC_INSTANCE_PATH, no mail server so mail goes to .eml files), with
FLASK_TRUSTED_PROXY_HOPS=1 so that each virtual user's X-Forwarded-For address is its own, as behind nginx (the
app's per-address limits then count each person apart; no safeguard is switched off). Servers: bench/bare_app.py
(the bare baseline, on the same gunicorn set-up), the app on a throwaway SQLite database migrated and loaded with
the demo data (the registration session's capacity raised to a million, so that every registration books a
place), the same on a throwaway PostgreSQL database, and the app on a SQLite database filled with
bench/export_responses.py's responses for the CSV. The load generators run on the same (2-core) machine.

Rows, each round in turn (the ratios are taken within a round, so a busy moment hits both sides alike):
1-3  wrk -t2 -c32 (gzip accepted) on the bare route, the start page, the registration form and a My booking page
     (a personal link): requests/s against the bare route's.
4-5  32 virtual users (2 processes of 16 threads, like wrk's -t2 -c32), each registration a new browser with its
     own cookie session and its own X-Forwarded-For: GET the form (its CSRF token), POST the answers, GET Check
     your answers (a new token), POST it, GET the done page; completed = the done page says "Registration
     complete". Row 5 is completed registrations a second; row 4 the gunicorn workers' CPU time (utime + stime
     from /proc) over the same window divided by the completed registrations. On SQLite and on PostgreSQL.
6    GET /manage/exports/responses.csv of --export-rows responses, signed in as an evaluator (password and
     authenticator code; bench/long_downloads.py), to the last byte, against `sqlite3 -csv` of the same join
     (bookings, sessions, volunteers, organisations, areas and the answers pivoted by question) read the same
     way; and the serving worker's peak RSS before and after, to show memory stays flat.
7    one client, one request after another (a new connection each): the start page's p50 latency (the bare
     route's alongside).
8    bench/page_weight.py's first visit of each volunteer page (HTML + CSS + JS, gzip): the heaviest page.
"""

import argparse
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from long_downloads import download, prepare, sign_in, worker_peaks_mb  # noqa: E402
from mail_latency import register_once, registration_answers  # noqa: E402
from page_weight import BUDGET, manage_link, page_weights  # noqa: E402
from throughput import (  # noqa: E402
    HOST,
    free_port,
    load_worker,
    percentile,
    prepare_database,
    sleep_until,
    start_gunicorn,
    stop,
    wait_ready,
    worker_cpu,
    worker_signals,
)

from mecc_volunteer import create_app  # noqa: E402
from mecc_volunteer.extensions import db  # noqa: E402
from mecc_volunteer.models import (  # noqa: E402
    HOLDING_PLACE_STATUSES,
    Booking,
    District,
    EvaluationAnswer,
    Organisation,
    OrganisationType,
    TrainingSession,
    Volunteer,
    utcnow,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-table-secret-key"
CAPACITY = 1_000_000
PROCESSES, THREADS = 2, 16  # 32 virtual users, as wrk -t2 -c32
MEMORY_FLAT_MB = 20.0  # the worker's peak RSS may grow by less than this over the download
GZIP = {"Accept-Encoding": "gzip"}


@dataclass
class Timing:
    """Seconds of each kind of measurement, per round."""

    page: float = 10.0  # wrk, per page
    warmup: float = 2.0  # before round 1's pages, and before each registration run
    registration: float = 10.0  # measured, per database
    latency: float = 5.0  # unloaded, per page


QUICK = Timing(page=2.0, warmup=2.0, registration=6.0, latency=1.0)


@dataclass
class App:
    """One gunicorn server of the app, on its own database."""

    name: str
    url: str
    folder: Path
    open_id: int = 0
    token: str = ""
    port: int = 0
    server: subprocess.Popen | None = None
    answers: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    number: str
    what: str
    goal: str
    unit: str
    met: Callable[[float], bool]
    values: list[float] = field(default_factory=list)
    note: str = ""
    # What the goal is checked on: the median of the rounds, or for a high-water mark (a worker's peak memory
    # grows on the first download and never falls after it) the largest.
    summary: Callable[[list[float]], float] = statistics.median

    def shown(self, value: float) -> str:
        if self.unit == "x":
            return f"{value:.2f}x"
        if self.unit == "KB":
            return f"{value:.1f} KB"
        if self.unit == "/s":
            return f"{value:.1f}/s"
        return f"{value:.1f} {self.unit}"


# --- Servers and databases -------------------------------------------------------------------------------


def server_env(database_url: str, instance: Path, port: int, **extra: str) -> dict[str, str]:
    """Production's configuration, from the environment only (none of the caller's FLASK_ settings)."""
    instance.mkdir(parents=True, exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLASK_", "GUNICORN_", "MECC_")) and name != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url.replace("postgresql+psycopg://", "postgresql://"),
        FLASK_SECRET_KEY=SECRET_KEY,
        FLASK_BASE_URL=f"http://{HOST}:{port}",
        FLASK_TRUSTED_PROXY_HOPS="1",
        MECC_INSTANCE_PATH=str(instance),
        **extra,
    )
    return env


def serve(module: str, port: int, env: dict[str, str], log: Path, ready_path: str) -> subprocess.Popen:
    server = start_gunicorn(module, port, env, log)
    try:
        wait_ready(server, port, ready_path, log)
    except BaseException:
        stop(server)
        raise
    return server


def prepare_app(app: App) -> None:
    """Migrate and load the demo data; a million places at the session registered for; a My booking link."""
    app.url, app.open_id = prepare_database(str(app.folder), app.url)
    flask_app = create_app(
        {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": app.url}, instance_path=str(app.folder)
    )
    with flask_app.app_context():
        db.session.execute(
            sa.update(TrainingSession).where(TrainingSession.id == app.open_id).values(capacity=CAPACITY)
        )
        app.token = manage_link()
        db.session.commit()
        app.answers = registration_answers(db.engine)
        db.engine.dispose()


def create_postgres_database(admin_url: str) -> tuple[sa.Engine, str]:
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    name = f"mecc_bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return admin, admin.url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin: sa.Engine, url: str) -> None:
    name = sa.make_url(url).database
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- Rows 1-3: pages under load (wrk) --------------------------------------------------------------------


def wrk(port: int, path: str, seconds: float) -> dict:
    command = ["wrk", "-t2", "-c32", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    command += ["-H", "Accept-Encoding: gzip", f"http://{HOST}:{port}{path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    socket_errors = re.search(r"Socket errors: (.*)", done.stdout)
    return {
        "rps": float(found.group(1)),
        "requests": int(re.search(r"(\d+) requests in", done.stdout).group(1)),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def measure_page(arbiter: int, port: int, path: str, seconds: float) -> dict:
    before = worker_cpu(arbiter)
    result = wrk(port, path, seconds)
    after = worker_cpu(arbiter)
    cpu = sum(after[pid] - before[pid] for pid in after.keys() & before.keys())
    result["cpu_ms"] = cpu / result["requests"] * 1000 if result["requests"] else float("nan")
    return result


# --- Rows 4-5: whole registrations by 32 virtual users ---------------------------------------------------


def virtual_users(
    port: int, session_id: int, answers: dict, process: int, tag: str, measure_from: float, until: float
) -> dict:
    """THREADS virtual users registering one new person after another until `until`; the outcomes of the
    registrations that finished within [measure_from, until]."""
    tally = {"completed": 0, "other": 0, "errors": 0}
    first_error: list[str] = []
    lock = threading.Lock()

    def user(number: int) -> None:
        user_id = process * THREADS + number
        count = 0
        while time.monotonic() < until:
            count += 1
            person = f"{tag}-{user_id}-{count}"
            headers = {**GZIP, "X-Forwarded-For": f"10.{user_id}.{count // 250 % 250}.{count % 250 + 1}"}
            form = answers | {"name": f"Bench {person}", "email": f"bench-{person}@example.org"}
            try:
                _, page = register_once(port, session_id, form, headers)
                outcome = "completed" if "Registration complete" in page else "other"
            except (RuntimeError, OSError) as error:
                outcome = "errors"
                with lock:
                    first_error[:] = first_error or [f"{type(error).__name__}: {str(error)[:300]}"]
                time.sleep(0.01)
            if measure_from <= time.monotonic() <= until:
                with lock:
                    tally[outcome] += 1

    threads = [threading.Thread(target=user, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {**tally, "first_error": first_error[0] if first_error else ""}


def warm_up_registrations(app: App) -> None:
    """A few registrations one after another, discarded: each worker's first one loads what it needs."""
    for number in range(4):
        form = app.answers | {"name": f"Warm-up {number}", "email": f"warm-up-{number}@example.org"}
        register_once(app.port, app.open_id, form, {**GZIP, "X-Forwarded-For": f"10.255.0.{number + 1}"})


def measure_registrations(app: App, timing: Timing) -> dict:
    tag = secrets.token_hex(3)
    measure_from = time.monotonic() + 0.5 + timing.warmup  # 0.5 s for the pool to pick the jobs up
    until = measure_from + timing.registration
    jobs = [(app.port, app.open_id, app.answers, process, tag, measure_from, until) for process in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES, initializer=worker_signals) as pool:
        pending = pool.starmap_async(virtual_users, jobs)
        sleep_until(measure_from)
        before = worker_cpu(app.server.pid)
        sleep_until(until)
        after = worker_cpu(app.server.pid)
        results = pending.get()
    cpu = sum(after[pid] - before[pid] for pid in after.keys() & before.keys())
    completed = sum(result["completed"] for result in results)
    return {
        "rate": completed / timing.registration,
        "cpu_ms": cpu / completed * 1000 if completed else float("inf"),  # none completed: no cost is low enough
        "completed": completed,
        "other": sum(result["other"] for result in results),
        "errors": sum(result["errors"] for result in results),
        "first_error": next((result["first_error"] for result in results if result["first_error"]), ""),
    }


# --- Row 6: the responses CSV against sqlite3 -csv -------------------------------------------------------


def export_join_sql(url: str, folder: Path) -> str:
    """The export's join as one SQL statement for the sqlite3 shell: the same bookings (holding a place at a
    session that has ended, not cancelled), their session, organisation, its type, area and equality answers,
    and one column per (survey, question) of the evaluation answers."""
    flask_app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url}, instance_path=str(folder))
    with flask_app.app_context():
        pairs = db.session.execute(
            sa.select(EvaluationAnswer.survey, EvaluationAnswer.question_key).distinct().order_by(sa.text("1, 2"))
        ).all()
        answer = EvaluationAnswer
        query = (
            sa.select(
                Booking.id,
                TrainingSession.starts_at,
                TrainingSession.kind,
                Organisation.name,
                OrganisationType.name,
                District.name,
                Volunteer.age_band,
                Volunteer.gender,
                Volunteer.ethnic_group,
                Booking.status,
                Booking.elearning_confirmed_at.is_not(None),
                Volunteer.followup_consent,
                *(
                    sa.func.max(sa.case((sa.and_(answer.survey == survey, answer.question_key == key), answer.value)))
                    for survey, key in pairs
                ),
                sa.func.max(answer.instrument_version),
            )
            .select_from(Booking)
            .join(TrainingSession, Booking.training_session_id == TrainingSession.id)
            .join(Volunteer, Booking.volunteer_id == Volunteer.id)
            .join(Organisation, Volunteer.organisation_id == Organisation.id)
            .outerjoin(OrganisationType, Organisation.organisation_type_id == OrganisationType.id)
            .outerjoin(District, Volunteer.district_id == District.id)
            .outerjoin(answer, answer.booking_id == Booking.id)
            .where(
                Booking.status.in_(HOLDING_PLACE_STATUSES),
                TrainingSession.ends_at <= utcnow(),
                TrainingSession.cancelled_at.is_(None),
            )
            .group_by(Booking.id)
            .order_by(Booking.id)
        )
        sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        db.engine.dispose()
    return sql


def sqlite3_csv(path: Path, sql: str) -> tuple[float, int]:
    """Seconds for `sqlite3 -csv` to write the join (read through a pipe, as the download through a socket),
    and its lines."""
    started = time.perf_counter()
    done = subprocess.run(["sqlite3", "-csv", "-header", str(path), sql], capture_output=True, check=True, timeout=600)
    return time.perf_counter() - started, done.stdout.count(b"\n")


def measure_export(app: App, user, sql: str, rows: int) -> dict:
    peaks_before = worker_peaks_mb(app.server.pid)
    status, first, total, size = download(app.port, user, "/manage/exports/responses.csv")
    if status != 200:
        raise RuntimeError(f"the CSV download answered {status}")
    peaks_after = worker_peaks_mb(app.server.pid)
    # The worker that served it grew the most (a worker's peak never falls): its growth, before and after.
    grown = max(peaks_after, key=lambda pid: peaks_after[pid] - peaks_before.get(pid, 0.0))
    peak_before, peak_after = peaks_before.get(grown, 0.0), peaks_after[grown]
    sqlite_seconds, lines = sqlite3_csv(Path(sa.make_url(app.url).database), sql)
    if lines != rows + 1:
        raise RuntimeError(f"sqlite3 wrote {lines} lines for {rows} responses")
    return {
        "ratio": total / sqlite_seconds,
        "seconds": total,
        "first_byte": first,
        "sqlite_seconds": sqlite_seconds,
        "megabytes": size / 1e6,
        "peak_before": peak_before,
        "peak_after": peak_after,
    }


# --- The table --------------------------------------------------------------------------------------------


def make_rows(export_rows: int) -> dict[str, Row]:
    at_least, at_most = (lambda goal: lambda v: v >= goal), (lambda goal: lambda v: v <= goal)
    rows = [
        Row("1", "start page, requests/s vs bare", ">= 0.5x", "x", at_least(0.5)),
        Row("2", "registration page, requests/s vs bare", ">= 0.5x", "x", at_least(0.5)),
        Row("3", "My booking page, requests/s vs bare", ">= 0.3x", "x", at_least(0.3)),
        Row("4s", "a whole registration, server CPU, SQLite", "<= 15 ms", "ms", at_most(15)),
        Row("4p", "a whole registration, server CPU, PostgreSQL", "<= 15 ms", "ms", at_most(15)),
        Row("5s", "registrations/s at 32 users, SQLite", ">= 80/s", "/s", at_least(80)),
        Row("5p", "registrations/s at 32 users, PostgreSQL", ">= 80/s", "/s", at_least(80)),
        Row("6", f"CSV of {export_rows:,} responses vs sqlite3 -csv", "<= 2x", "x", at_most(2)),
        Row(
            "6m",
            "  the worker's peak RSS growth meanwhile (largest)",
            f"< {MEMORY_FLAT_MB:g} MB",
            "MB",
            at_most(MEMORY_FLAT_MB),
            summary=max,
        ),
        Row("7", "unloaded start page p50", "<= 1.5 ms", "ms", at_most(1.5)),
        Row("8", "first visit, gzip, heaviest volunteer page", "<= 30 KB", "KB", at_most(BUDGET / 1024)),
    ]
    return {row.number: row for row in rows}


def print_table(rows: dict[str, Row]) -> None:
    print(f"{'row':<4}{'what':<52}{'measured: median (range)':<30}{'goal':<11}met")
    for row in rows.values():
        if not row.values:
            measured, met = f"not run{': ' + row.note if row.note else ''}", "-"
        else:
            median = row.summary(row.values)
            measured = row.shown(median)
            if len(row.values) > 1:
                measured += f" ({row.shown(min(row.values))}-{row.shown(max(row.values))})"
            met = "yes" if row.met(median) else "no"
        print(f"{row.number:<4}{row.what:<52}{measured:<30}{row.goal:<11}{met}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt  # so that `finally` stops the servers and drops the databases


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="one short round of each row: a smoke run")
    parser.add_argument("--only", type=int, action="append", choices=range(1, 9), metavar="ROW",
                        help="measure only this row of the issue's table (1-8; may be given again)")  # fmt: skip
    parser.add_argument("--export-rows", type=int, help="responses in the CSV (default 100,000; 2,000 with --quick)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help=f"PostgreSQL server (default {DEFAULT_POSTGRES})")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    args.export_rows = args.export_rows or (2_000 if args.quick else 100_000)
    if not (1 <= args.rounds <= 20 and 1 <= args.export_rows <= 10_000_000):
        parser.error("--rounds must be in [1, 20] and --export-rows in [1, 10,000,000]")
    args.only = set(args.only or range(1, 9))
    needed = {"wrk": {1, 2, 3, 7}, "sqlite3": {6}}
    missing = [tool for tool, rows in needed.items() if args.only & rows and shutil.which(tool) is None]
    if missing:
        parser.error(f"{' and '.join(missing)} not found: install Debian's (apt-get install {' '.join(missing)})")
    return args


def main() -> None:
    args = parse_args()
    timing = QUICK if args.quick else Timing()
    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.monotonic()
    load_before = load_average()
    if float(load_before.split()[0]) > 1.0:
        print(f"warning: the load average is {load_before}: the machine is busy, the figures will be too")
    rows = make_rows(args.export_rows)
    wanted = {number for number in rows if int(number[0]) in args.only}
    folder = Path(tempfile.mkdtemp(prefix="mecc-bench-table-"))
    sqlite_app = App("SQLite", "", folder / "sqlite")
    postgres_app: App | None = None
    export_app = App("export", f"sqlite:///{folder}/export/export.sqlite", folder / "export")
    admin: sa.Engine | None = None
    bare_server = None
    bare_port = free_port()
    on_pages = bool(wanted & {"1", "2", "3", "7"})  # the bare server and the app on SQLite
    apps = [sqlite_app] if on_pages or wanted & {"4s", "5s"} else []
    try:
        # --- Databases ---
        print("preparing the databases ...", file=sys.stderr, flush=True)
        sqlite_app.folder.mkdir()
        if apps or "8" in wanted:
            prepare_app(sqlite_app)
        if "8" in wanted:
            flask_app = create_app(
                {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": sqlite_app.url},
                instance_path=str(sqlite_app.folder),
            )
            weights = page_weights(flask_app.test_client(), sqlite_app.open_id, sqlite_app.token)
            with flask_app.app_context():
                db.engine.dispose()
            rows["8"].values = [max(html + css + js for _, html, css, js in weights) / 1024]
            lightest = min(weights, key=lambda weight: sum(weight[1:]))
            rows["8"].note = f"lightest: {lightest[0]}, {sum(lightest[1:]) / 1024:.1f} KB"
        if wanted & {"4p", "5p"}:
            try:
                admin, url = create_postgres_database(args.postgres)
            except sa.exc.OperationalError as error:
                rows["4p"].note = rows["5p"].note = "no PostgreSQL"
                print(f"PostgreSQL at {args.postgres} not reachable, its rows not run: {error}", file=sys.stderr)
            else:
                postgres_app = App("PostgreSQL", url.replace("postgresql://", "postgresql+psycopg://"), folder / "pg")
                postgres_app.folder.mkdir()
                prepare_app(postgres_app)
                apps.append(postgres_app)
        if "6" in wanted:
            export_app.folder.mkdir()
            prepare(export_app.url, args.export_rows, str(export_app.folder))
            export_sql = export_join_sql(export_app.url, export_app.folder)
            apps.append(export_app)

        # --- Servers ---
        print("starting the servers ...", file=sys.stderr, flush=True)
        if on_pages:
            bare_env = server_env(sqlite_app.url, folder / "bare", bare_port)
            bare_server = serve("bare_app:app", bare_port, bare_env, folder / "bare.log", "/")
        for app in apps:
            app.port = free_port()
            # The export server's timeout is raised so that a slow download is measured, not cut off.
            extra = {"GUNICORN_TIMEOUT": "900"} if app is export_app else {}
            env = server_env(app.url, app.folder / "instance", app.port, **extra)
            app.server = serve("wsgi:app", app.port, env, app.folder / "gunicorn.log", "/healthz")
        evaluator = None
        if "6" in wanted:
            time.sleep(1)  # both workers have loaded scipy (post_worker_init)
            evaluator = sign_in(export_app.port)

        pages = [
            ("bare", bare_server, bare_port, "/"),
            ("start page", sqlite_app.server, sqlite_app.port, "/"),
            ("registration page", sqlite_app.server, sqlite_app.port, f"/sessions/{sqlite_app.open_id}/register"),
            ("My booking page", sqlite_app.server, sqlite_app.port, f"/my-booking/{sqlite_app.token}"),
        ]
        page_rows = [number for number in ("1", "2", "3") if number in wanted]
        if on_pages:
            for _name, _server, port, path in pages:
                wrk(port, path, timing.warmup)  # discarded: first requests compile templates, fill caches
        registering = [
            (app, suffix)
            for app, suffix in ((sqlite_app, "s"), (postgres_app, "p"))
            if app is not None and wanted & {"4" + suffix, "5" + suffix}
        ]
        for app, _suffix in registering:
            warm_up_registrations(app)
        details: list[str] = []
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds} ...", file=sys.stderr, flush=True)
            if page_rows:
                measured = [measure_page(server.pid, port, path, timing.page) for _, server, port, path in pages]
                for row_number, result in zip(("1", "2", "3"), measured[1:], strict=True):
                    if row_number in wanted:
                        rows[row_number].values.append(result["rps"] / measured[0]["rps"])
                details.append(
                    f"round {number + 1} pages: "
                    + "; ".join(
                        f"{name} {result['rps']:.0f} req/s, {result['cpu_ms']:.2f} ms CPU/req"
                        + (f", {result['non2xx']} non-2xx" if result["non2xx"] else "")
                        + (f", socket errors {result['socket_errors']}" if result["socket_errors"] else "")
                        for (name, *_), result in zip(pages, measured, strict=True)
                    )
                )
            if "7" in wanted:
                p50 = {}
                for name, _server, port, path in pages[:2]:
                    begin = time.monotonic()
                    _ok, errors, latencies, _ = load_worker(port, path, begin, begin + timing.latency)
                    p50[name] = percentile(latencies, 0.5) * 1000
                    if errors:
                        details.append(f"round {number + 1} unloaded {name}: {errors} errors")
                rows["7"].values.append(p50["start page"])
                details.append(
                    f"round {number + 1} unloaded p50: start page {p50['start page']:.2f} ms, bare {p50['bare']:.2f} ms"
                )
            for app, suffix in registering:
                result = measure_registrations(app, timing)
                rows["4" + suffix].values.append(result["cpu_ms"])
                rows["5" + suffix].values.append(result["rate"])
                details.append(
                    f"round {number + 1} registrations on {app.name}: {result['completed']} completed in "
                    f"{timing.registration:g} s, {result['other']} other outcomes, {result['errors']} errors"
                    + (f" (first: {result['first_error']})" if result["first_error"] else "")
                )
            if "6" in wanted:
                result = measure_export(export_app, evaluator, export_sql, args.export_rows)
                rows["6"].values.append(result["ratio"])
                rows["6m"].values.append(result["peak_after"] - result["peak_before"])
                details.append(
                    f"round {number + 1} CSV: {result['seconds']:.2f} s ({result['first_byte']:.2f} s to the first "
                    f"byte, {result['megabytes']:.1f} MB) vs sqlite3 -csv {result['sqlite_seconds']:.2f} s; worker "
                    f"peak RSS {result['peak_before']:.0f} -> {result['peak_after']:.0f} MB"
                )
        for number in list(rows):
            if number not in wanted:
                del rows[number]

        print(
            f"bench/table.py: gunicorn --config gunicorn.conf.py (2 sync workers), wrk -t2 -c32, {args.rounds} "
            f"alternating round(s){' (--quick)' if args.quick else ''}, demo data, load generators on this machine "
            f"({os.cpu_count()} cores); load average {load_before} before, {load_average()} after; "
            f"{time.monotonic() - started:.0f} s"
        )
        print_table(rows)
        for line in details + ([f"row 8 {rows['8'].note}"] if "8" in rows and rows["8"].note else []):
            print("  " + line)
    finally:
        # A second Ctrl-C must not leave a server, database or folder behind: the clean-up takes a few seconds.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping the servers, dropping the throwaway databases ...", file=sys.stderr, flush=True)
        servers = [bare_server] + [app.server for app in (sqlite_app, postgres_app, export_app) if app is not None]
        for server in servers:
            if server is not None and server.poll() is None:
                server.terminate()  # all at once; stop() then waits for each
        for server in servers:
            stop(server)
        if admin is not None and postgres_app is not None:
            drop_postgres_database(admin, postgres_app.url)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, throwaway databases dropped")
