"""Page weight of the volunteer pages as transferred (HTML + CSS + JS, gzip), against SPEC 7's 30 KB budget.

Run by hand: .venv/bin/python bench/page_weight.py  (uses a throwaway SQLite database with the demo data)
"""

import re
import sys
import tempfile
from pathlib import Path

import flask_migrate
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mecc_volunteer import create_app
from mecc_volunteer.demo import load_demo
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, LinkPurpose, SessionStatus
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.volunteers.services import list_upcoming_sessions

BUDGET = 30 * 1024
GZIP = {"Accept-Encoding": "gzip"}


def manage_link() -> str:
    """A new My booking link (in an app context; the caller commits) for a booked place of the demo data."""
    booking = db.session.scalar(sa.select(Booking).where(Booking.status == BookingStatus.BOOKED).limit(1))
    return issue_link(booking, LinkPurpose.MANAGE)


def volunteer_pages(open_id: int, token: str) -> list[tuple[str, str]]:
    return [
        ("start page", "/"),
        ("registration", f"/sessions/{open_id}/register"),
        ("lost your link", "/lost-link"),
        ("my booking", f"/my-booking/{token}"),
        ("your data", f"/my-booking/{token}/your-data"),
        ("delete your data", f"/my-booking/{token}/delete-your-data"),
        ("privacy notice", "/privacy"),
        ("accessibility statement", "/accessibility"),
        ("e-learning", f"/my-booking/{token}/elearning"),
        ("move", f"/my-booking/{token}/move"),
        ("cancel", f"/my-booking/{token}/cancel"),
    ]


def page_weights(client, open_id: int, token: str) -> list[tuple[str, int, int, int]]:
    """(page, HTML, CSS, JS) bytes as transferred with gzip on a first visit, for each volunteer page."""
    weights = []
    for name, path in volunteer_pages(open_id, token):
        html = client.get(path, headers=GZIP).get_data(as_text=False)
        text = client.get(path).get_data(as_text=True)
        sizes = {"css": 0, "js": 0}
        for url, kind in re.findall(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"]+\.(css|js)[^"]*)"', text):
            sizes[kind] += len(client.get(url, headers=GZIP).get_data(as_text=False))
        weights.append((name, len(html), sizes["css"], sizes["js"]))
    return weights


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite"},
            instance_path=folder,
        )
        with app.app_context():
            flask_migrate.upgrade()
            load_demo()
            db.session.commit()
            open_id = next(s.training_session.id for s in list_upcoming_sessions() if s.status is SessionStatus.OPEN)
            token = manage_link()
            db.session.commit()
        weights = page_weights(app.test_client(), open_id, token)
        with app.app_context():
            db.engine.dispose()
    print(f"{'page':<28}{'HTML':>8}{'CSS':>8}{'JS':>8}{'total':>9}{'budget':>9}")
    for name, html, css, js in weights:
        total = html + css + js
        print(
            f"{name:<28}{html / 1024:>7.1f}K{css / 1024:>7.1f}K{js / 1024:>7.1f}K"
            f"{total / 1024:>8.1f}K{total / BUDGET:>8.0%}"
        )


if __name__ == "__main__":
    main()
