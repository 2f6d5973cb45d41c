"""The pilot review on the demo data: how long building the dashboard (on screen) and the board report's
figures (for outputs, with every count of 1-4 hidden) takes, and where the disclosure audit's time goes.

Run by hand: .venv/bin/python bench/review.py [--rounds 20]
Uses a throwaway SQLite database with the demo loaded, or BENCH_DATABASE_URL.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import flask_migrate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mecc_volunteer import create_app
from mecc_volunteer.demo import load_demo
from mecc_volunteer.evaluation import disclosure, review
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="mecc-bench-review-")
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.db"
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}, instance_path=folder)
    with app.app_context():
        flask_migrate.upgrade()
        load_demo()
        db.session.commit()
        organisations = [i for i, _ in review.organisation_choices()]
        review.build_review(ReviewFilters())  # warm: imports scipy, fills caches

        protect_time = [0.0]
        original = disclosure.protect

        def timed_protect(*a, **k):
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                protect_time[0] += time.perf_counter() - started

        review.protect = timed_protect  # type: ignore[assignment]
        for mode in disclosure.Mode:
            for label, filters in [
                ("all", ReviewFilters()),
                ("one organisation", ReviewFilters(organisation_id=organisations[0])),
            ]:
                times, protect_share = [], []
                for _ in range(args.rounds):
                    protect_time[0] = 0.0
                    started = time.perf_counter()
                    review.build_review(filters, mode=mode)
                    elapsed = time.perf_counter() - started
                    times.append(elapsed)
                    protect_share.append(protect_time[0] / elapsed)
                    db.session.rollback()
                print(
                    f"{mode.value:6} {label:17} build_review median {statistics.median(times) * 1000:7.1f} ms "
                    f"(range {min(times) * 1000:.1f}-{max(times) * 1000:.1f}), disclosure control "
                    f"{statistics.median(protect_share) * 100:.0f}% of it"
                )


if __name__ == "__main__":
    main()
