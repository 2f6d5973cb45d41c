"""An admin reads the audit trail: everything recorded, newest first, by kind, a page at a time, with no
volunteer's name or address on it."""

import sqlalchemy as sa

from mecc_volunteer import audit
from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, Booking, StaffUser


def record(app, action: AuditAction, count: int = 1, **kw) -> None:
    with app.app_context():
        for _ in range(count):
            audit.record(action, by=audit.SYSTEM, **kw)
        db.session.commit()


def test_an_admin_sees_what_happened_newest_first_without_volunteers_names(
    app, client, auth, make_training_session, make_booking
):
    training_session = make_training_session()
    booking_id = make_booking(training_session.id)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        volunteer_name = booking.volunteer.name
        audit.record(AuditAction.BOOKED, by=audit.VOLUNTEER, booking=booking)
        audit.record(AuditAction.SETTINGS_CHANGED, by=audit.SYSTEM, detail="cutoff_days")
        db.session.commit()
    auth.login("admin")

    page = client.get("/manage/admin/activity")

    assert page.status_code == 200
    assert page.text.index("Programme settings changed") < page.text.index("Booked a place")
    assert "cutoff_days" in page.text
    assert f"Booking {booking_id}" in page.text
    assert volunteer_name not in page.text


def test_the_trail_shows_one_kind_of_action_at_a_time(app, client, auth):
    record(app, AuditAction.SETTINGS_CHANGED, detail="retention_months")
    record(app, AuditAction.RETENTION_RUN, detail="3 volunteers")
    auth.login("admin")

    settings_only = client.get("/manage/admin/activity?group=settings").text
    data_only = client.get("/manage/admin/activity?group=data").text
    anything = client.get("/manage/admin/activity?group=nonsense")

    assert "retention_months" in settings_only
    assert "3 volunteers" not in settings_only
    assert "3 volunteers" in data_only
    assert "retention_months" not in data_only
    assert anything.status_code == 200
    assert "3 volunteers" in anything.text


def test_the_staff_account_an_action_was_about_is_named(app, client, auth):
    email = auth.create("coordinator", name="Priya Shah")
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        audit.record(AuditAction.ROLE_CHANGED, by=audit.SYSTEM, target_staff_user=staff, detail="to evaluator")
        db.session.commit()
    auth.login("admin")

    page = client.get("/manage/admin/activity?group=staff").text

    assert "Role changed" in page
    assert "Priya Shah" in page
    assert "to evaluator" in page


def test_older_activity_comes_a_page_at_a_time(app, client, auth):
    record(app, AuditAction.AREA_ADDED, count=audit.ACTIVITY_PAGE_SIZE + 5, detail="an area")
    auth.login("admin")

    first = client.get("/manage/admin/activity?group=settings")
    assert first.text.count("Area added") == audit.ACTIVITY_PAGE_SIZE
    older = first.text.split('href="/manage/admin/activity?')[-1].split('"')[0].replace("&amp;", "&")

    second = client.get(f"/manage/admin/activity?{older}")

    assert second.text.count("Area added") == 5
    assert "Older activity" not in second.text
    assert client.get("/manage/admin/activity?before=not-a-number").status_code == 200


def test_only_admins_read_the_trail(client, auth):
    auth.login("coordinator")
    assert client.get("/manage/admin/activity").status_code == 403
