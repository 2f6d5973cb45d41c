"""SPEC 7: each volunteer page is at most 30 KB on a first visit, counted as transferred with gzip: the page and
the CSS and JS it links. Staff pages have a stylesheet of their own (tables, the roster, the review, the printed
board report), and htmx comes only with a page that has an hx-* attribute. bench/page_weight.py prints the
figures for the demo data."""

import re
from datetime import timedelta

import pytest

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, BookingStatus, LinkPurpose, SessionKind, utcnow
from mecc_volunteer.tokens import issue_link

BUDGET = 30 * 1024
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"?]+)(?:\?[^"]*)?"')
HX_ATTRIBUTE = re.compile(r"\shx-[a-z-]+=")


def linked_assets(page) -> list[str]:
    return ASSET.findall(page.text.split("</head>", 1)[0])


def wire_size(response) -> int:
    # Flask-Compress compresses only 2xx answers: an error page goes as it is.
    return getattr(response, "wire_size", len(response.get_data()))


def first_visit(client, page) -> int:
    """Bytes on the wire for the page and every stylesheet and script it links, none of them cached yet."""
    return wire_size(page) + sum(wire_size(client.get(path)) for path in linked_assets(page))


def uses_htmx(page) -> bool:
    main = page.text.split('<main class="nhsuk-main-wrapper" id="maincontent">', 1)[1].split("</main>", 1)[0]
    return bool(HX_ATTRIBUTE.search(main))


@pytest.fixture
def volunteer_world(app, make_training_session, make_booking):
    """The start page with a session of each status (as the demo has), a booked place's My booking link, and an
    attendee's link to the after-session survey."""
    now = utcnow()
    make_training_session(days_ahead=3, capacity=16, places_taken=9, trainer_name="Sam Reid")
    make_training_session(days_ahead=12, capacity=16, cancelled_at=now - timedelta(days=2))
    open_session = make_training_session(days_ahead=20, capacity=20, trainer_name="Sam Reid")
    make_training_session(days_ahead=27, capacity=20, places_taken=17, trainer_name="Sam Reid")
    make_training_session(days_ahead=34, capacity=12, places_taken=12, trainer_name="Sam Reid")
    make_training_session(days_ahead=41, capacity=8, kind=SessionKind.TRAIN_THE_TRAINER, trainer_name="Jo Whitfield")
    held = make_training_session(days_ahead=-2, capacity=16, trainer_name="Sam Reid")
    booked = make_booking(open_session.id)
    attended = make_booking(held.id, BookingStatus.ATTENDED)
    with app.app_context():
        manage = issue_link(db.session.get_one(Booking, booked), LinkPurpose.MANAGE)
        evaluation = issue_link(db.session.get_one(Booking, attended), LinkPurpose.EVALUATION)
        db.session.commit()
    return {"open_id": open_session.id, "manage": manage, "evaluation": evaluation}


VOLUNTEER_PAGES = {
    "start page": "/",
    "registration": "/sessions/{open_id}/register",
    "lost your link": "/lost-link",
    "my booking": "/my-booking/{manage}",
    "e-learning": "/my-booking/{manage}/elearning",
    "move": "/my-booking/{manage}/move",
    "cancel": "/my-booking/{manage}/cancel",
    "your data": "/my-booking/{manage}/your-data",
    "delete your data": "/my-booking/{manage}/delete-your-data",
    "privacy notice": "/privacy",
    "accessibility statement": "/accessibility",
    "after-session survey": "/evaluation/{evaluation}",
    "certificate": "/evaluation/{evaluation}/certificate",
    "page not found": "/no-such-page",
}


@pytest.mark.parametrize("name", VOLUNTEER_PAGES)
def test_a_volunteer_page_is_at_most_30_kb_on_a_first_visit(client, volunteer_world, name):
    page = client.get(VOLUNTEER_PAGES[name].format(**volunteer_world))

    assert page.status_code == (404 if name == "page not found" else 200)
    assert first_visit(client, page) <= BUDGET


def test_the_registration_journey_stays_within_the_budget(client, volunteer_world, registration_form):
    """The pages a volunteer gets back from the form: with its errors, Check your answers, and done."""
    register = f"/sessions/{volunteer_world['open_id']}/register"
    client.get(register)

    errors = client.post(register, data={})
    assert "There is a problem" in errors.text
    assert first_visit(client, errors) <= BUDGET

    check = client.post(register, data=registration_form(), follow_redirects=True)
    assert "Check your answers" in check.text
    assert first_visit(client, check) <= BUDGET

    done = client.post(f"{register}/check", follow_redirects=True)
    assert done.request.path.endswith("/register/done")
    assert first_visit(client, done) <= BUDGET


@pytest.mark.parametrize("name", VOLUNTEER_PAGES)
def test_htmx_comes_only_with_a_volunteer_page_that_uses_it(client, volunteer_world, name):
    page = client.get(VOLUNTEER_PAGES[name].format(**volunteer_world))

    assets = linked_assets(page)
    assert ("/static/js/htmx.min.js" in assets) is uses_htmx(page)
    assert assets.count("/static/css/app.min.css") == 1


def test_the_pages_that_enhance_with_htmx_still_load_it(client, volunteer_world):
    for path in ["/", "/sessions/{open_id}/register", "/lost-link", "/my-booking/{manage}"]:
        assert "/static/js/htmx.min.js" in linked_assets(client.get(path.format(**volunteer_world))), path


def test_staff_pages_have_their_own_stylesheet_and_htmx_only_where_they_use_it(client, coordinator, volunteer_world):
    roster = client.get(f"/manage/sessions/{volunteer_world['open_id']}/roster")
    new_session = client.get("/manage/sessions/new")

    assert linked_assets(roster) == ["/static/css/staff.min.css", "/static/js/htmx.min.js"]
    assert linked_assets(new_session) == ["/static/css/staff.min.css"]
    # A volunteer page seen by a signed-in coordinator keeps the volunteers' stylesheet, with the staff bar.
    start = client.get("/")
    assert "app-staff-bar" in start.text
    assert "/static/css/app.min.css" in linked_assets(start)


def test_the_volunteers_stylesheet_leaves_out_the_staff_rules_and_keeps_its_own(client):
    volunteers = client.get("/static/css/app.min.css").text
    staff = client.get("/static/css/staff.min.css").text

    for selector in [".app-roster", ".app-chart", ".app-board-report", ".app-register", ".app-review-filters"]:
        assert selector not in volunteers, selector
        assert selector in staff, selector
    for selector in [".nhsuk-header", ".nhsuk-button", ".nhsuk-error-summary", ".nhsuk-radios", ".app-session-list"]:
        assert selector in volunteers, selector
        assert selector in staff, selector
