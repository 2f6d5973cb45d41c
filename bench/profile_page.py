"""Where a page's time goes: cProfile over many requests made straight into the WSGI app (no server, no network).

Run by hand:  .venv/bin/python bench/profile_page.py [PATH] [--requests 2000] [--top 30] [--cookie]
PATH is `/` by default; `register` stands for the registration form of an open session and `booking` for a
My booking page (a personal link). The app is built as production builds it (create_app from the environment's
settings, CSRF, compression and security headers on) on a throwaway SQLite database migrated and loaded with the
demo data. Prints the mean wall time per request, unprofiled, then the profile's top functions by own time and by
cumulative time.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from throughput import prepare_database  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--cookie", action="store_true", help="send the cookie the first response set")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="mecc-profile-")
    url, open_id = prepare_database(folder)
    os.environ.update(
        FLASK_SECRET_KEY="profile", DATABASE_URL=url, MECC_INSTANCE_PATH=folder, FLASK_BASE_URL="http://127.0.0.1"
    )
    from mecc_volunteer import create_app

    app = create_app()
    path = {"register": f"/sessions/{open_id}/register", "booking": None}.get(args.path, args.path)
    if path is None:
        path = _a_booking_link(app)
    headers = {"Accept-Encoding": "gzip, deflate, br", "Host": "127.0.0.1"}
    cookie = None

    def one() -> bytes:
        environ = EnvironBuilder(path=path, headers=headers | ({"Cookie": cookie} if cookie else {})).get_environ()
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"], captured["headers"] = status, response_headers

        body = app.wsgi_app(environ, start_response)
        try:
            b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        if not captured["status"].startswith("200"):
            raise SystemExit(f"{path}: {captured['status']}")
        return captured["headers"]

    first = one()
    if args.cookie:
        cookies = [value.split(";", 1)[0] for name, value in first if name.lower() == "set-cookie"]
        cookie = "; ".join(cookies) or None
    for _ in range(200):
        one()
    started = time.perf_counter()
    for _ in range(args.requests):
        one()
    mean = (time.perf_counter() - started) / args.requests
    print(f"{path}: {mean * 1000:.3f} ms a request, unprofiled, mean of {args.requests}")
    print("response headers:", "; ".join(f"{n}: {v[:60]}" for n, v in first))

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        one()
    profile.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(out.getvalue())


def _a_booking_link(app) -> str:
    from page_weight import manage_link

    from mecc_volunteer.extensions import db

    with app.app_context():
        token = manage_link()
        db.session.commit()
    return f"/my-booking/{token}"


if __name__ == "__main__":
    main()
