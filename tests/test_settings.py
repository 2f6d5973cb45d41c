"""Programme settings live in the database: a change there shows on the pages, in the emails and in the rules
that use it, with no restart and no config file."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import settings
from mecc_volunteer.extensions import db
from mecc_volunteer.models import Programme, TrainingSession
from mecc_volunteer.templating import format_days_before
from tests.helpers import empty_all_tables, register_through_the_form, text_of


def change_programme(app, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(Programme).values(**values))
        db.session.commit()


def test_a_new_database_uses_the_models_defaults(app):
    with app.app_context():
        empty_all_tables()
        current = settings.current()
    assert current.cutoff_days == 7
    assert current.service_name == "MECC Volunteer"
    assert current.joining_link_hosts == ("teams.microsoft.com", "teams.live.com", "zoom.us")
    assert current.retention_months == 12


def test_settings_are_read_once_per_request_and_again_after_forget(app):
    with app.app_context():
        first = settings.current()
        db.session.execute(sa.update(Programme).values(cutoff_days=10))
        assert settings.current() is first  # the same request sees one set of settings
        settings.forget()
        assert settings.current().cutoff_days == 10


def test_the_start_page_says_the_cut_off_the_programme_has(app, client, make_training_session):
    make_training_session(days_ahead=30)
    assert "Registration closes one week before each session" in client.get("/").text

    change_programme(app, cutoff_days=14, service_name="Wellbeing Conversations")

    page = client.get("/").text
    assert "Registration closes two weeks before each session" in page
    assert "Wellbeing Conversations" in page


def test_a_longer_cut_off_closes_a_session_that_was_open(app, client, make_training_session):
    training_session = make_training_session(days_ahead=10)
    assert client.get(f"/sessions/{training_session.id}/register").status_code == 200

    change_programme(app, cutoff_days=14)

    page = client.get(f"/sessions/{training_session.id}/register")
    assert "Registration closes two weeks before each session" in page.text


def test_the_late_promotion_window_follows_the_setting(app, make_training_session):
    training_session = make_training_session(days_ahead=10, cutoff_days=7, allow_late_promotion=True)
    change_programme(app, late_promotion_hours=24)
    with app.app_context():
        reloaded = db.session.get(TrainingSession, training_session.id)
        assert reloaded.promotion_ends_at == reloaded.starts_at - timedelta(hours=24)


def test_joining_links_are_checked_against_the_hosts_the_admin_allows(app, client, coordinator, make_training_session):
    training_session = make_training_session(days_ahead=20)
    change_programme(app, joining_link_hosts="meet.example.org")
    form = client.get(f"/manage/sessions/{training_session.id}/edit")
    assert form.status_code == 200

    response = client.post(
        f"/manage/sessions/{training_session.id}/edit",
        data={"joining_link": "https://teams.microsoft.com/l/meetup-join/x"},
    )

    assert "The joining link must be a link to meet.example.org" in response.text


@pytest.mark.real_smtp
def test_the_confirmation_email_names_the_service_contact_and_e_learning_from_the_settings(
    app, client, smtp_server, make_training_session, registration_form
):
    change_programme(
        app,
        service_name="Wellbeing Conversations",
        contact_email="team@council.example.org",
        elearning_url="https://learning.example.org/mecc",
    )
    training_session = make_training_session(days_ahead=30)

    register_through_the_form(client, training_session.id, registration_form())

    [confirmation] = smtp_server.messages
    body = text_of(confirmation)
    assert "https://learning.example.org/mecc" in body
    assert "team@council.example.org" in body
    assert "Wellbeing Conversations" in body


def test_days_before_reads_as_people_say_it():
    assert format_days_before(7) == "one week before"
    assert format_days_before(14) == "two weeks before"
    assert format_days_before(10) == "ten days before"
    assert format_days_before(1) == "one day before"
    assert format_days_before(0) == "on the day of"


def test_pages_read_the_programme_again_after_it_changes_and_not_after_a_booking(
    app, make_training_session, make_booking
):
    training_session = make_training_session(days_ahead=30)
    with app.app_context():
        engine = db.engine
    reads = []

    def count_programme_reads(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM programmes" in statement:
            reads.append(statement)

    def programme_reads_for_a_page() -> int:
        reads.clear()
        # The start page, rendered again after any booking (the places it shows), so its view runs each time.
        assert app.test_client().get("/").status_code == 200
        return len(reads)

    sa.event.listen(engine, "before_cursor_execute", count_programme_reads)
    try:
        programme_reads_for_a_page()
        make_booking(training_session.id)  # someone else books: the programme is as it was
        assert programme_reads_for_a_page() == 0
        change_programme(app, cutoff_days=21)
        assert programme_reads_for_a_page() >= 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_programme_reads)
    page = app.test_client().get("/").text
    assert f"Registration closes {format_days_before(21)} each session" in page
