"""How long each evaluator download takes through gunicorn with a few hundred thousand responses (issue 11,
item 5): the responses CSV, the responses XLSX and the evaluator pack ZIP, each timed to its first byte and to
its last, with its size and the worker's peak memory.

Run by hand: .venv/bin/python bench/long_downloads.py [--rows 300000] [--server postgresql://...] [--keep]
It fills a PostgreSQL database of its own (bench/export_responses.py's data: one attended session, each booking
with baseline and after-session answers), starts one gunicorn server as production does (`gunicorn --config
gunicorn.conf.py`, GUNICORN_TIMEOUT raised so nothing is cut short), signs in as an evaluator (password, then an
authenticator code) and downloads each file (every one made while the browser waits, however large). `--prepared`
also times each file as `flask jobs run` prepares it (above DOWNLOAD_PREPARE_ABOVE_ROWS the app sends the
evaluator there). `--keep` leaves the database, and `--database NAME` measures an existing one again without
filling it. gunicorn's sync workers kill a request that takes more than `timeout` seconds (GUNICORN_TIMEOUT, 120
by default), streamed or not.
"""

import argparse
import http.client
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import flask_migrate
import pyotp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from export_responses import PASSWORD, fill  # noqa: E402

from mecc_volunteer import create_app  # noqa: E402
from mecc_volunteer.extensions import db  # noqa: E402
from mecc_volunteer.models import StaffUser, utcnow  # noqa: E402
from tests.mail_servers import free_port  # noqa: E402
from tests.two_instances import VirtualUser  # noqa: E402

EVALUATOR = "bench-evaluator@example.org"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
DOWNLOADS = ["/manage/exports/responses.csv", "/manage/exports/responses.xlsx", "/manage/exports/evaluator-pack.zip"]
LOCAL = "127.0.0.1"


def app_for(url: str, folder: str):
    return create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "MAIL_SERVER": None},
        instance_path=os.path.join(folder, "instance"),
    )


def prepare(url: str, rows: int, folder: str) -> None:
    app = app_for(url, folder)
    with app.app_context():
        flask_migrate.upgrade()
        started = time.perf_counter()
        fill(rows)
        staff = db.session.scalars(sa.select(StaffUser).where(StaffUser.email == EVALUATOR)).one()
        staff.totp_secret = TOTP_SECRET
        staff.totp_confirmed_at = utcnow()
        db.session.commit()
        # What autovacuum does soon after a bulk load: without statistics each page of the export is a slow plan.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))
        print(f"{rows:,} bookings with {rows * 9:,} answers inserted in {time.perf_counter() - started:.0f} s")
        db.engine.dispose()


def worker_peaks_mb(master: int) -> dict[int, float]:
    """The peak resident memory (VmHWM) of each of the gunicorn master's workers, by pid."""
    peaks = {}
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(child)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return peaks


def worker_peak_mb(master: int) -> float:
    """The largest peak resident memory (VmHWM) of the gunicorn master's workers."""
    return max(worker_peaks_mb(master).values(), default=0.0)


def sign_in(port: int) -> VirtualUser:
    user = VirtualUser(port, LOCAL)
    page = user.get("/manage/sign-in")
    sent = user.post("/manage/sign-in", {"email": EVALUATOR, "password": PASSWORD, "csrf_token": page.csrf_token()})
    if sent.status != 303:
        raise RuntimeError(f"sign-in answered {sent.status}")
    code_page = user.get(urlsplit(sent.headers["Location"]).path)
    code = pyotp.TOTP(TOTP_SECRET).now()
    done = user.post("/manage/sign-in/code", {"code": code, "csrf_token": code_page.csrf_token()})
    if done.status != 303:
        raise RuntimeError(f"the code answered {done.status}")
    return user


def download(port: int, user: VirtualUser, path: str) -> tuple[int, float, float, int]:
    """(status, seconds to the first byte, seconds to the last, bytes)."""
    connection = http.client.HTTPConnection(LOCAL, port, timeout=1800)
    cookies = "; ".join(f"{name}={value}" for name, value in user.cookies.items())
    started = time.perf_counter()
    connection.request("GET", path, headers={"Cookie": cookies})
    response = connection.getresponse()
    first = time.perf_counter() - started
    size = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
    total = time.perf_counter() - started
    connection.close()
    return response.status, first, total, size


def measure(url: str, folder: str) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "GUNICORN_", "MECC_"))},
        "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
        "FLASK_SECRET_KEY": "bench",
        "FLASK_BASE_URL": f"http://{LOCAL}:{port}",
        "MECC_INSTANCE_PATH": os.path.join(folder, "server"),
        "GUNICORN_TIMEOUT": "1800",
        # Every file made while the browser waits, however large, to time it (the app prepares large ones).
        "FLASK_DOWNLOAD_PREPARE_ABOVE_ROWS": os.environ.get("FLASK_DOWNLOAD_PREPARE_ABOVE_ROWS", "1000000000"),
    }
    log_path = Path(folder) / "gunicorn.log"
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py"]
    command += ["--bind", f"{LOCAL}:{port}", "wsgi:app"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection(LOCAL, port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.2)
        time.sleep(2)  # both workers have loaded scipy
        user = sign_in(port)
        print(f"idle worker peak RSS {worker_peak_mb(server.pid):.0f} MB")
        for path in DOWNLOADS:
            status, first, total, size = download(port, user, path)
            print(
                f"{path}: {status}, first byte {first:6.1f} s, last byte {total:6.1f} s, {size / 1e6:7.1f} MB; "
                f"worker peak RSS so far {worker_peak_mb(server.pid):.0f} MB",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_prepared(url: str, folder: str) -> None:
    """Each large file as `flask jobs run` prepares it (exports.prepared), one at a time, in this process."""
    from mecc_volunteer.evaluation.filters import ReviewFilters
    from mecc_volunteer.exports import prepared

    app = app_for(url, folder)
    with app.app_context():
        staff_id = db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == EVALUATOR))
        filters, _ = ReviewFilters.from_args({})
        for export_name in prepared.KINDS:
            prepared.request_download(staff_id, export_name, filters)
            db.session.commit()
            started = time.perf_counter()
            done = prepared.prepare_due(utcnow())
            took = time.perf_counter() - started
            size = db.session.scalar(
                sa.select(prepared.PreparedDownload.size).order_by(prepared.PreparedDownload.id.desc()).limit(1)
            )
            print(
                f"prepared {export_name}: {done}, {took:6.1f} s, {size / 1e6:6.1f} MB; this process's peak RSS "
                f"{peak_rss_mb():.0f} MB",
                flush=True,
            )
        db.engine.dispose()


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", help="measure this existing database again, without filling it")
    parser.add_argument("--prepared", action="store_true", help="time the jobs runner's prepared files too")
    parser.add_argument("--keep", action="store_true", help="keep the database made (its name is printed)")
    args = parser.parse_args()
    base = sa.engine.make_url(args.server.replace("postgresql://", "postgresql+psycopg://", 1))
    server = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = args.database or f"mecc_bench_downloads_{secrets.token_hex(4)}"
    url = base.set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as folder:
        try:
            if not args.database:
                with server.connect() as connection:
                    connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
                print(f"database {name}")
                prepare(url, args.rows, folder)
            measure(url, folder)
            if args.prepared:
                measure_prepared(url, folder)
        finally:
            if not args.database and not args.keep:
                with server.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            server.dispose()


if __name__ == "__main__":
    main()
