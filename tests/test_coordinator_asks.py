"""Coordinators' everyday asks (issue 9, section 5): the roster filtered to the people who have not done the
e-learning, a printable attendance register, the email addresses of the people the roster shows (to paste into
the coordinator's own email program), and a warning before adding a session that looks like one already on
the list."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import LONDON, BookingStatus, SessionKind, TrainingSession, utcnow
from mecc_volunteer.templating import format_session_time
from tests.helpers import assert_fragment, london, session_form


def session_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(TrainingSession.id)))


def textarea(page) -> str:
    found = re.search(r'<textarea[^>]*id="email-addresses"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found, "no email addresses box on the page"
    return found.group(1)


@pytest.fixture
def mixed_session(make_training_session, make_booking, make_ready, make_volunteer):
    """A session with Asha booked (no e-learning), Ben booked and ready, Cara waiting, Dev cancelled and Eve
    marked attended (no e-learning); and, on another session, Zed booked without the e-learning."""
    training_session = make_training_session(capacity=4, trainer_name="Sam Okafor")
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan", email="asha@library.example"))
    ben = make_ready(training_session.id)
    cara = make_volunteer(name="Cara Lewis", email="cara@fire.example")
    make_booking(training_session.id, BookingStatus.WAITING, volunteer_id=cara)
    dev = make_volunteer(name="Dev Patel", email="dev@carers.example")
    make_booking(training_session.id, BookingStatus.CANCELLED, volunteer_id=dev)
    eve = make_volunteer(name="Eve Adams", email="eve@restore.example")
    make_booking(training_session.id, BookingStatus.ATTENDED, volunteer_id=eve)
    other = make_training_session(days_ahead=40)
    make_booking(other.id, volunteer_id=make_volunteer(name="Zed Other", email="zed@elsewhere.example"))
    return training_session, ben


# --- The roster: "E-learning not done" --------------------------------------------------------------------


def test_the_roster_filter_shows_only_people_booked_without_the_e_learning_with_and_without_js(
    app, client, coordinator, mixed_session, htmx_headers
):
    training_session, _ = mixed_session
    path = f"/manage/sessions/{training_session.id}/roster"

    everyone = client.get(path)
    page = client.get(path, query_string={"status": "elearning_not_done"})
    fragment = client.get(path, query_string={"status": "elearning_not_done"}, headers=htmx_headers)

    # The option sits beside the statuses in the one filter, which htmx sends on change.
    assert '<option value="elearning_not_done">E-learning not done</option>' in everyone.text
    assert "<html" in page.text
    assert '<option value="elearning_not_done" selected>E-learning not done</option>' in page.text
    assert_fragment(fragment)
    for shown in (page, fragment):
        assert "Asha Khan" in shown.text
        for name in ["Volunteer 2", "Cara Lewis", "Dev Patel", "Eve Adams", "Zed Other"]:
            assert name not in shown.text
        assert "Showing 1 of 5 people." in shown.text
        # Row actions keep the filter, so recording someone's e-learning comes back to the same view.
        assert "/elearning?status=elearning_not_done" in shown.text


def test_the_e_learning_filter_works_with_the_search(
    client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    for name in ["Asha Khan", "Ben Khan", "Cara Lewis"]:
        make_booking(training_session.id, volunteer_id=make_volunteer(name=name))
    page = client.get(
        f"/manage/sessions/{training_session.id}/roster", query_string={"q": "khan", "status": "elearning_not_done"}
    )
    assert "Asha Khan" in page.text
    assert "Ben Khan" in page.text
    assert "Cara Lewis" not in page.text


def test_once_the_e_learning_is_recorded_the_person_leaves_the_filtered_roster(
    app, client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    asha = make_booking(training_session.id, volunteer_id=make_volunteer(name="Asha Khan"))
    make_booking(training_session.id, volunteer_id=make_volunteer(name="Ben Jones"))
    today = utcnow().astimezone(LONDON).date()

    done = client.post(
        f"/manage/sessions/{training_session.id}/roster/{asha}/elearning?status=elearning_not_done",
        data={
            "completed_day": today.day,
            "completed_month": today.month,
            "completed_year": today.year,
            "declaration": "y",
        },
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/roster?status=elearning_not_done")
    roster = client.get(done.headers["Location"])
    assert "E-learning recorded for Asha Khan" in roster.text
    assert "Ben Jones" in roster.text
    assert f'id="booking-{asha}"' not in roster.text


# --- The attendance register ------------------------------------------------------------------------------


def test_the_register_lists_the_people_booked_with_the_session_details_and_a_box_to_sign(
    app, client, coordinator, mixed_session
):
    training_session, _ = mixed_session

    page = client.get(f"/manage/sessions/{training_session.id}/register")

    assert page.status_code == 200
    assert "Attendance register</h1>" in page.text
    assert format_session_time(training_session.starts_at, training_session.ends_at) in page.text
    assert "Sam Okafor" in page.text
    rows = re.findall(r"<tr>\s*<td class=\"app-register__number\">(\d+)</td>(.*?)</tr>", page.text, re.S)
    people = {re.findall(r"<td>(.*?)</td>", cells)[0]: re.findall(r"<td>(.*?)</td>", cells)[1:] for _, cells in rows}
    # Everyone with a place, by name (Eve is already marked attended); nobody waiting or cancelled.
    assert list(people) == ["Asha Khan", "Eve Adams", "Volunteer 2"]
    assert people["Asha Khan"] == ["Oxfordshire Library Service", "No"]
    assert people["Volunteer 2"] == ["Oxfordshire Library Service", "Yes"]
    assert [number for number, _ in rows] == ["1", "2", "3"]
    assert page.text.count('<td class="app-register__sign"></td>') == 3
    for name in ["Cara Lewis", "Dev Patel", "Zed Other"]:
        assert name not in page.text
    # The register is for paper: no email addresses on it.
    assert "@" not in "".join(cells for _, cells in rows)


def test_an_empty_register_says_so(client, coordinator, make_training_session, make_booking):
    training_session = make_training_session()
    make_booking(training_session.id, BookingStatus.CANCELLED)
    page = client.get(f"/manage/sessions/{training_session.id}/register")
    assert "No one is booked on this session yet" in page.text
    assert "Trainer" in page.text
    assert "Not set" in page.text


def test_the_register_is_linked_from_the_session_page_and_the_roster(client, coordinator, make_training_session):
    training_session = make_training_session()
    link = f'href="/manage/sessions/{training_session.id}/register"'
    assert link in client.get(f"/manage/sessions/{training_session.id}").text
    assert link in client.get(f"/manage/sessions/{training_session.id}/roster").text


def test_the_printed_register_leaves_off_the_header_footer_navigation_and_buttons(client):
    # The register is a staff page: its print rules are in the staff stylesheet (tests/test_page_weight.py).
    css = client.get("/static/css/staff.min.css").get_data(as_text=True)
    hidden = {
        selector
        for selectors in re.findall(r"@media print\{([^{}]+)\{display:none ?!important\}", css)
        for selector in selectors.split(",")
    }
    for selector in [".nhsuk-header", ".nhsuk-footer", "nav", "button", ".nhsuk-button", ".app-staff-bar"]:
        assert selector in hidden, selector
    # On paper each row is tall enough to sign in and never split across two pages.
    register = re.search(r"@media print\{@page\{[^}]*\}(.*?)\}\}", css, re.S)
    assert register
    assert ".app-register tbody tr{height:" in register.group(1)
    assert "break-inside:avoid" in register.group(1)


# --- Copy email addresses ---------------------------------------------------------------------------------


def test_the_email_addresses_are_those_of_the_people_the_filter_shows_and_no_one_else(
    client, coordinator, mixed_session, htmx_headers
):
    training_session, _ = mixed_session
    roster_path = f"/manage/sessions/{training_session.id}/roster"

    filtered = client.get(roster_path, query_string={"status": "elearning_not_done"}, headers=htmx_headers)
    link = re.search(r'href="(/manage/sessions/\d+/roster/emails\?[^"]*)"', filtered.text)
    assert link, "the filtered roster links to its email addresses"
    page = client.get(link.group(1).replace("&amp;", "&"))

    assert page.status_code == 200
    assert textarea(page) == "asha@library.example"
    assert "1 email address." in page.text
    assert 'href="mailto:?bcc=asha@library.example"' in page.text
    for address in ["cara@", "dev@", "eve@", "zed@", "volunteer2@"]:
        assert address not in page.text
    assert "readonly" in re.search(r"<textarea[^>]*>", page.text).group(0)
    assert "<script" not in page.text.split("</head>", 1)[1]


def test_the_email_addresses_follow_the_search_and_status_and_are_separated_by_semicolons(
    client, coordinator, mixed_session
):
    training_session, _ = mixed_session
    path = f"/manage/sessions/{training_session.id}/roster/emails"

    waiting = client.get(path, query_string={"status": "waiting"})
    searched = client.get(path, query_string={"q": "example"})
    everyone = client.get(path)

    assert textarea(waiting) == "cara@fire.example"
    # The roster's order: people with a place (by name), then the waiting list, then cancellations.
    assert textarea(searched) == (
        "asha@library.example; eve@restore.example; volunteer2@example.org; cara@fire.example; dev@carers.example"
    )
    assert "5 email addresses." in searched.text
    assert 'href="mailto:?bcc=asha@library.example,eve@restore.example,' in searched.text
    assert textarea(everyone) == textarea(searched)
    assert "Everyone on the roster: booked, waiting and cancelled." in everyone.text
    assert "zed@elsewhere.example" not in everyone.text


def test_an_address_cannot_add_to_the_mailto_link(
    client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session()
    make_booking(training_session.id, volunteer_id=make_volunteer(email="amy+mecc&cc=evil@example.org"))
    page = client.get(f"/manage/sessions/{training_session.id}/roster/emails")
    assert 'href="mailto:?bcc=amy%2Bmecc%26cc%3Devil@example.org"' in page.text
    assert textarea(page) == "amy+mecc&amp;cc=evil@example.org"


def test_too_many_addresses_for_a_mailto_link_are_still_there_to_copy(
    client, coordinator, make_training_session, make_booking, make_volunteer
):
    training_session = make_training_session(capacity=40)
    for n in range(30):
        make_booking(training_session.id, volunteer_id=make_volunteer(email=f"{'a' * 60}{n}@example.org"))
    page = client.get(f"/manage/sessions/{training_session.id}/roster/emails")
    assert len(textarea(page).split("; ")) == 30
    assert "30 email addresses." in page.text
    assert "mailto:?" not in page.text
    assert "too many addresses to open in a new email" in page.text


def test_bad_filter_values_on_the_emails_page_are_explained_never_a_500(client, coordinator, mixed_session):
    training_session, _ = mixed_session
    page = client.get(f"/manage/sessions/{training_session.id}/roster/emails", query_string={"status": "vip"})
    assert page.status_code == 200
    assert "Select a status from the list" in page.text


def test_nobody_shown_means_no_addresses(client, coordinator, mixed_session):
    training_session, _ = mixed_session
    page = client.get(f"/manage/sessions/{training_session.id}/roster/emails", query_string={"q": "zebra"})
    assert "No one the roster shows has an email address to copy." in page.text
    assert "<textarea" not in page.text


# --- A session that looks like one already on the list ----------------------------------------------------


@pytest.fixture
def existing(make_training_session):
    """A volunteer training session on the day session_form() uses, 10:30 to 12pm."""
    day = (utcnow() + timedelta(days=30)).astimezone(LONDON).date()
    return make_training_session(starts_at=london(day, 10, 30), ends_at=london(day, 12, 0))


def test_a_session_overlapping_one_of_the_same_kind_is_added_only_once_the_coordinator_confirms(
    app, client, coordinator, existing
):
    overlapping = session_form(start_time="11:00", end_time="12:30")

    warned = client.post("/manage/sessions/new", data=overlapping)

    assert warned.status_code == 200
    assert "There is already a session at this time" in warned.text
    assert f'href="/manage/sessions/{existing.id}"' in warned.text
    assert 'value="11:00"' in warned.text  # what the coordinator typed is kept
    assert 'name="same_time_confirmed" value="yes">Add another session at this time</button>' in warned.text
    assert session_count(app) == 1

    again = client.post("/manage/sessions/new", data=overlapping)
    assert again.status_code == 200
    assert session_count(app) == 1

    confirmed = client.post("/manage/sessions/new", data={**overlapping, "same_time_confirmed": "yes"})
    assert confirmed.status_code == 303
    assert session_count(app) == 2
    assert "Session created." in client.get(confirmed.headers["Location"]).text


def test_the_same_start_is_warned_about_too(app, client, coordinator, existing):
    warned = client.post("/manage/sessions/new", data=session_form(start_time="10:30", end_time="11:00"))
    assert "There is already a session at this time" in warned.text
    assert session_count(app) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_time": "12:00", "end_time": "13:00"},  # starts as the other ends
        {"start_time": "9:00", "end_time": "10:30"},  # ends as the other starts
        {"kind": SessionKind.TRAIN_THE_TRAINER.value},
    ],
)
def test_a_session_at_another_time_or_of_another_kind_is_added_without_a_warning(
    app, client, coordinator, existing, overrides
):
    response = client.post("/manage/sessions/new", data=session_form(**overrides))
    assert response.status_code == 303
    assert session_count(app) == 2


def test_a_cancelled_session_at_the_same_time_is_no_reason_to_ask(app, client, coordinator, existing):
    with app.app_context():
        db.session.get(TrainingSession, existing.id).cancelled_at = utcnow()
        db.session.commit()
    response = client.post("/manage/sessions/new", data=session_form())
    assert response.status_code == 303
    assert session_count(app) == 2


def test_a_session_on_another_day_at_the_same_time_is_added_without_a_warning(app, client, coordinator, existing):
    day = (utcnow() + timedelta(days=31)).astimezone(LONDON).date()
    response = client.post(
        "/manage/sessions/new", data=session_form(day=str(day.day), month=str(day.month), year=str(day.year))
    )
    assert response.status_code == 303
    assert session_count(app) == 2
