"""Where a page's time goes: cProfile over many requests made straight into the WSGI app (no server, no network).

Run by hand:  .venv/bin/python bench/profile_page.py [PATH] [--requests 2000] [--top 30] [--cookie] [--by-package]
PATH is `/` by default; `register` stands for the registration form of an open session, `booking` for a
My booking page (a personal link) and `registration` for a whole registration by a new visitor (the form, the
answers posted, Check your answers, the confirmation posted, the done page), each from an address of its own.
The app is built as production builds it (create_app from the environment's settings, CSRF, compression and
security headers on) on a throwaway SQLite database migrated and loaded with the demo data. Prints the mean
wall time per request, unprofiled, then the profile's top functions by own time and by cumulative time, or with
--by-package each package's share of the own time (sqlalchemy, jinja2, the app, ...).
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
    parser.add_argument("--by-package", action="store_true", help="own time summed by package")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="mecc-profile-")
    url, open_id = prepare_database(folder)
    os.environ.update(
        FLASK_SECRET_KEY="profile", DATABASE_URL=url, MECC_INSTANCE_PATH=folder, FLASK_BASE_URL="http://127.0.0.1"
    )
    from mecc_volunteer import create_app

    app = create_app()
    if args.path == "registration":
        profile_registrations(app, open_id, args)
        return
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
    _report(profile, args)


def profile_registrations(app, open_id: int, args) -> None:
    import itertools
    import re

    import sqlalchemy as sa
    from mail_latency import registration_answers
    from werkzeug.test import Client

    from mecc_volunteer.extensions import db

    with app.app_context():
        db.session.execute(sa.text("UPDATE training_sessions SET capacity = 1000000 WHERE id = :id"), {"id": open_id})
        db.session.commit()
        answers = registration_answers(db.engine)
    token = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
    numbers = itertools.count()
    path = f"/sessions/{open_id}/register"

    def one() -> None:
        n = next(numbers)
        browser = Client(app.wsgi_app, use_cookies=True)
        base = {"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}

        def send(method, url, data=None, status=200):
            response = browser.open(url, method=method, data=data, environ_base=base)
            body = response.get_data(as_text=True)
            if response.status_code != status:
                raise SystemExit(f"{method} {url}: {response.status_code}\n{body[:400]}")
            return response, body

        _, page = send("GET", path)
        form = answers | {"name": f"Volunteer {n}", "email": f"profile-{n}@example.net"}
        response, _ = send("POST", path, form | {"csrf_token": _token(token, page)}, 303)
        check = response.headers["Location"]
        _, page = send("GET", check)
        response, _ = send("POST", check, {"confirm": "yes", "csrf_token": _token(token, page)}, 303)
        _, page = send("GET", response.headers["Location"])
        if "Registration complete" not in page:
            raise SystemExit(f"no Registration complete: {page[:3000]}")

    for _ in range(20):
        one()
    started = time.perf_counter()
    for _ in range(args.requests):
        one()
    mean = (time.perf_counter() - started) / args.requests
    print(f"a whole registration: {mean * 1000:.2f} ms, unprofiled, mean of {args.requests}")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        one()
    profile.disable()
    _report(profile, args)


def _report(profile: cProfile.Profile, args) -> None:
    if args.by_package:
        _by_package(profile, args.requests)
        return
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(out.getvalue())


def _by_package(profile: cProfile.Profile, requests: int) -> None:
    """Own time by where the code lives: a site-packages package by name, the app by module, the rest by file."""
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in pstats.Stats(profile).stats.items():
        if "site-packages/" in filename:
            where = filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        elif "/mecc_volunteer/" in filename:
            where = "mecc_volunteer/" + filename.split("/mecc_volunteer/", 1)[1]
        elif filename == "~":
            where = "built-in: " + function.strip("{}<>")
        else:
            where = "python: " + Path(filename).name
        totals[where] = totals.get(where, 0.0) + own
    whole = sum(totals.values())
    print(f"profiled: {whole / requests * 1000:.2f} ms each (the profiler's own cost included)")
    for where, own in sorted(totals.items(), key=lambda item: -item[1])[:40]:
        print(f"  {own / requests * 1000:7.3f} ms  {own / whole:6.1%}  {where}")


def _token(pattern, page: str) -> str:
    match = pattern.search(page)
    if not match:
        raise SystemExit("no CSRF token on the page")
    return next(group for group in match.groups() if group)


def _a_booking_link(app) -> str:
    from page_weight import manage_link

    from mecc_volunteer.extensions import db

    with app.app_context():
        token = manage_link()
        db.session.commit()
    return f"/my-booking/{token}"


if __name__ == "__main__":
    main()
