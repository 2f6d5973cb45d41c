"""Programme settings live in the database and an admin changes them in the app: names and contact, links, the
registration cut-off, the late places window, survey timings, meeting hosts, retention and the privacy notice.
Each change is checked, recorded (which settings, never their values) and used from the next page on."""

import pytest
import sqlalchemy as sa

from mecc_volunteer import settings
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, AuditEvent, Programme
from tests.helpers import session_form


def current_form(app) -> dict[str, str]:
    """The settings form as the page fills it in."""
    with app.app_context():
        current = settings.current()
        values = {}
        for name in settings.NAMES:
            value = getattr(current, name)
            if name == "joining_link_hosts":
                value = "\n".join(value)
            values[name] = "" if value is None else str(value)
        return values


def programme(app) -> Programme:
    with app.app_context():
        row = db.session.scalar(sa.select(Programme))
        db.session.expunge(row)
        return row


def settings_events(app) -> list[AuditEvent]:
    with app.app_context():
        events = list(
            db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.SETTINGS_CHANGED))
        )
        for event in events:
            db.session.expunge(event)
        return events


def save(client, app, **changes):
    client.get("/manage/admin/settings")
    return client.post("/manage/admin/settings", data={**current_form(app), **changes})


def test_changing_the_cut_off_closes_registration_earlier_on_the_start_page(app, client, auth, make_training_session):
    training_session = make_training_session(days_ahead=10)
    visitor = app.test_client()
    start = visitor.get("/").text
    assert "Registration closes one week before each session" in start
    assert f"/sessions/{training_session.id}/register" in start

    auth.login("admin")
    response = save(client, app, cutoff_days="14")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/manage/admin/settings")
    assert programme(app).cutoff_days == 14

    start = visitor.get("/").text
    assert "Registration closes two weeks before each session" in start
    assert f"/sessions/{training_session.id}/register" not in start
    assert "Registration closed" in start
    [event] = settings_events(app)
    assert event.detail == "cutoff_days"
    assert event.staff_user_id is not None


def test_changing_the_service_name_and_contact_shows_in_the_header_and_footer(app, client, auth):
    auth.login("admin")
    assert save(client, app, service_name="Healthy Conversations", contact_email="team@example.org").status_code == 303
    page = app.test_client().get("/").text
    assert "Healthy Conversations" in page
    assert "mailto:team@example.org" in page
    [event] = settings_events(app)
    assert event.detail == "service_name, contact_email"


def test_every_setting_is_saved_and_shown_again_on_the_settings_page(app, client, auth):
    auth.login("admin")
    changes = {
        "service_name": "MECC Oxon",
        "organisation_name": "Oxfordshire County Council",
        "contact_email": "mecc@oxfordshire.example",
        "elearning_url": "https://learning.example.org/mecc",
        "signpost_name": "Live Well",
        "signpost_url": "https://livewell.example.org/",
        "cutoff_days": "3",
        "late_promotion_hours": "24",
        "evaluation_open_days": "21",
        "evaluation_reminder_days": "10",
        "followup_after_weeks": "12",
        "joining_link_hosts": "Zoom.us\r\nmeet.example.org\r\nzoom.us",
        "retention_months": "24",
        "privacy_notice_text": "We keep your details for 24 months.\r\n\r\nThen we remove them.",
        "privacy_notice_version": "2027-01",
        "disclosure_threshold": "10",
    }
    response = save(client, app, **changes)
    assert response.status_code == 303
    row = programme(app)
    assert row.service_name == "MECC Oxon"
    assert row.cutoff_days == 3
    assert row.evaluation_reminder_days == 10
    assert row.joining_link_hosts == "zoom.us\nmeet.example.org"
    assert row.privacy_notice_text == "We keep your details for 24 months.\r\n\r\nThen we remove them."
    assert row.privacy_notice_version == "2027-01"
    assert row.disclosure_threshold == 10
    page = client.get(response.headers["Location"]).text
    assert 'value="MECC Oxon"' in page
    assert "zoom.us\nmeet.example.org" in page
    assert "shown the updated privacy notice on their next visit" in page
    [event] = settings_events(app)
    assert len(event.detail) <= 200
    assert event.detail.startswith("service_name, organisation_name, contact_email")
    assert event.detail.endswith("more")


def test_saving_without_a_change_records_nothing(app, client, auth):
    auth.login("admin")
    response = save(client, app)
    assert response.status_code == 303
    assert "Nothing changed." in client.get(response.headers["Location"]).text
    assert settings_events(app) == []


def test_a_new_privacy_notice_text_without_a_new_version_is_saved_and_explained(app, client, auth):
    auth.login("admin")
    response = save(client, app, privacy_notice_text="Our own notice.")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "but not its version" in page
    assert programme(app).privacy_notice_text == "Our own notice."
    # Emptied again: the standard notice.
    save(client, app, privacy_notice_text="   ")
    assert programme(app).privacy_notice_text is None


def test_the_meeting_hosts_decide_which_joining_links_a_session_takes(app, client, auth):
    auth.login("admin")
    assert save(client, app, joining_link_hosts="meet.example.org").status_code == 303
    client.get("/manage/sessions/new")
    refused = client.post("/manage/sessions/new", data=session_form(joining_link="https://teams.microsoft.com/l/x"))
    assert refused.status_code == 200
    assert "<title>Error:" in refused.text
    accepted = client.post("/manage/sessions/new", data=session_form(joining_link="https://meet.example.org/abc"))
    assert accepted.status_code == 303


def test_the_smallest_group_shown_in_the_review_is_5_until_an_admin_changes_it(app, client, auth):
    with app.app_context():
        assert settings.current().disclosure_threshold == 5
    auth.login("admin")
    page = client.get("/manage/admin/settings").text
    assert "Smallest group shown in the pilot review" in page
    assert "5 is the usual rule for health data" in page
    assert 'id="disclosure_threshold"' in page

    response = save(client, app, disclosure_threshold="10")
    assert response.status_code == 303
    assert programme(app).disclosure_threshold == 10
    with app.app_context():
        assert settings.current().disclosure_threshold == 10
    page = client.get(response.headers["Location"]).text
    assert "Settings saved (1 changed)." in page
    assert 'name="disclosure_threshold" type="text" value="10"' in page
    [event] = settings_events(app)
    assert event.detail == "disclosure_threshold"
    assert event.staff_user_id is not None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service_name", "", "Enter the service name"),
        ("service_name", "A" * 101, "100 characters or fewer"),
        ("contact_email", "not an address", "Enter an email address in the correct format"),
        ("elearning_url", "http://learning.example.org/", "must start with https://"),
        ("elearning_url", "javascript:alert(1)", "must start with https://"),
        ("signpost_url", "https://[::1/x", "Enter a full web address"),
        ("signpost_url", "https://livewell.example.org:99999/", "Enter a full web address"),
        ("cutoff_days", "61", "from 0 to 60"),
        ("cutoff_days", "-1", "from 0 to 60"),
        ("cutoff_days", "1.5", "from 0 to 60"),
        ("late_promotion_hours", "169", "from 0 to 168"),
        ("evaluation_open_days", "0", "from 1 to 90"),
        ("evaluation_open_days", "91", "from 1 to 90"),
        ("evaluation_reminder_days", "14", "smaller than 14"),
        ("evaluation_reminder_days", "0", "from 1 to 89"),
        ("followup_after_weeks", "53", "from 1 to 52"),
        ("retention_months", "0", "from 1 to 120"),
        ("retention_months", "121", "from 1 to 120"),
        ("joining_link_hosts", "", "Enter at least one meeting host"),
        ("joining_link_hosts", "zoom.us\nhttps://teams.microsoft.com/l", "is not a host name"),
        ("joining_link_hosts", "localhost", "is not a host name"),
        ("privacy_notice_version", "", "Enter the privacy notice"),
        ("privacy_notice_version", "v" * 21, "20 characters or fewer"),
        ("privacy_notice_text", "Ann\x00Smith", "must not contain a null character"),
        ("disclosure_threshold", "", "Enter the smallest group shown"),
        ("disclosure_threshold", "1", "must be a whole number from 3 to 20"),
        ("disclosure_threshold", "2", "must be a whole number from 3 to 20"),
        ("disclosure_threshold", "21", "must be a whole number from 3 to 20"),
        ("disclosure_threshold", "five", "must be a whole number from 3 to 20"),
    ],
)
def test_a_bad_setting_is_refused_next_to_its_field_and_nothing_is_saved(app, client, auth, field, value, message):
    auth.login("admin")
    before = current_form(app)
    response = save(client, app, **{field: value})
    assert response.status_code == 200
    assert "<title>Error:" in response.text
    assert f'href="#{field}"' in response.text
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert current_form(app) == before
    assert settings_events(app) == []
