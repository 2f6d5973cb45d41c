"""The streamed responses CSV (GET /manage/exports/responses.csv) at 10,000 and 100,000 bookings: time end to
end through the Flask test client, and peak memory while streaming, to show memory is flat in the rows.

Run by hand: .venv/bin/python bench/export_responses.py [--rows 10000 100000]
Each size is filled, then exported in a fresh process (so its peak RSS is the export's own), on a
throwaway SQLite database, or on BENCH_DATABASE_URL (an empty database you do not mind filling).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask_migrate
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mecc_volunteer import create_app
from mecc_volunteer.auth.services import create_staff
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    Organisation,
    Programme,
    SessionKind,
    StaffRole,
    Survey,
    TrainingSession,
    Volunteer,
)

PASSWORD = "a long benchmark password"
BATCH = 20_000


def fill(rows: int) -> None:
    """`rows` attended bookings, each with baseline and after-session answers, inserted with Core executemany."""
    db.session.add(Programme(name="Bench programme"))
    db.session.add(Organisation(name="Bench organisation"))
    db.session.add(District(name="Bench district"))
    db.session.flush()
    programme_id = db.session.scalar(sa.select(Programme.id))
    organisation_id = db.session.scalar(sa.select(Organisation.id))
    district_id = db.session.scalar(sa.select(District.id))
    starts_at = datetime(2026, 9, 22, 9, 30, tzinfo=UTC)
    session_id = db.session.execute(
        sa.insert(TrainingSession)
        .values(programme_id=programme_id, starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), capacity=rows)
        .returning(TrainingSession.id)
    ).scalar_one()
    now = datetime.now(UTC)
    connection = db.session.connection()
    after = (
        ("confidence", lambda i: str(i % 11)),
        ("knowledge", lambda i: str((i * 7) % 11)),
        ("overall", lambda i: "good"),
        ("relevant", lambda i: "agree"),
        ("intention", lambda i: "strongly_agree"),
        ("online_format", lambda i: "well"),
        ("improve", lambda i: f"Comment number {i}, with a comma"),
    )
    for start in range(1, rows + 1, BATCH):
        ids = range(start, min(start + BATCH, rows + 1))
        connection.execute(
            sa.insert(Volunteer.__table__),
            [
                {
                    "id": i,
                    "name": f"Bench {i}",
                    "email": f"bench{i}@example.org",
                    "email_normalised": f"bench{i}@example.org",
                    "organisation_id": organisation_id,
                    "district_id": district_id,
                    "role": "Volunteer",
                    "privacy_notice_version": "bench",
                    "privacy_acknowledged_at": now,
                    "created_at": now,
                    "updated_at": now,
                    "followup_consent": False,
                }
                for i in ids
            ],
        )
        connection.execute(
            sa.insert(Booking.__table__),
            [
                {
                    "id": i,
                    "training_session_id": session_id,
                    "volunteer_id": i,
                    "status": BookingStatus.ATTENDED,
                    "session_kind": SessionKind.VOLUNTEER_TRAINING,
                    "created_at": now,
                    "booked_at": now,
                }
                for i in ids
            ],
        )
        answers = [
            {
                "booking_id": i,
                "survey": Survey.BASELINE,
                "question_key": key,
                "value": str(i % 11),
                "instrument_version": 1,
                "answered_at": now,
            }
            for i in ids
            for key in ("confidence", "knowledge")
        ] + [
            {
                "booking_id": i,
                "survey": Survey.AFTER_SESSION,
                "question_key": key,
                "value": value(i),
                "instrument_version": 1,
                "answered_at": now,
            }
            for i in ids
            for key, value in after
        ]
        connection.execute(sa.insert(EvaluationAnswer.__table__), answers)
    create_staff("bench-evaluator@example.org", name="Bench", role=StaffRole.EVALUATOR, password=PASSWORD)
    db.session.commit()


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM starts afresh at exec; ru_maxrss (the fallback)
    can carry the parent's high-water mark over."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def export(client, rows: int, traced: bool) -> tuple[float, int, int]:
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/manage/exports/responses.csv", buffered=False)
    if response.status_code != 200:
        raise RuntimeError(f"the export answered {response.status_code}")
    size = lines = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    response.close()
    elapsed = time.perf_counter() - started
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if lines != rows + 1:
        raise RuntimeError(f"the export has {lines} lines for {rows} rows")
    return elapsed, size, peak


def make_app(url: str, folder: str):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "localhost",
            "BASE_URL": "http://localhost",
            "MAIL_SERVER": None,
        },
        instance_path=os.path.join(folder, "instance"),
    )


def run_export(url: str, rows: int, folder: str) -> None:
    """In a fresh process, so the peak RSS measures the export and not the bulk insert."""
    app = make_app(url, folder)
    client = app.test_client()
    signed_in = client.post("/manage/sign-in", data={"email": "bench-evaluator@example.org", "password": PASSWORD})
    if signed_in.status_code != 303:
        raise RuntimeError(f"signing in answered {signed_in.status_code}")
    rss_before = peak_rss_mb()
    elapsed, size, _ = export(client, rows, traced=False)
    rss_after = peak_rss_mb()
    _, _, peak = export(client, rows, traced=True)
    print(
        f"{rows:>7,} rows: {elapsed:6.2f} s ({rows / elapsed:,.0f} rows/s, {size / 1e6:.1f} MB of CSV); "
        f"tracemalloc peak {peak / 1e6:.2f} MB; peak RSS {rss_before:.0f} -> {rss_after:.0f} MB "
        f"(+{rss_after - rss_before:.1f} MB)",
        flush=True,
    )
    with app.app_context():
        db.engine.dispose()


def run_one(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("BENCH_DATABASE_URL") or "sqlite:///" + os.path.join(folder, "bench.sqlite")
        app = make_app(url, folder)
        with app.app_context():
            flask_migrate.upgrade()
            started = time.perf_counter()
            fill(rows)
            print(
                f"{rows:>7,} bookings with {rows * 9:,} answers inserted in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            db.engine.dispose()
        subprocess.run([sys.executable, __file__, "--export", url, folder, "--rows", str(rows)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--export", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        run_export(args.export[0], args.rows[0], args.export[1])
        return
    print("Streamed responses CSV through the Flask test client (baseline + after-session answers per booking)")
    for rows in args.rows:
        run_one(rows)


if __name__ == "__main__":
    main()
