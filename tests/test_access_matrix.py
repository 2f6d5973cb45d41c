"""Every route against every kind of visitor: anonymous, a volunteer with a personal link, coordinator,
evaluator and admin. Built from app.url_map, so a new route that is not in the matrix fails this test."""

import re

import pytest
import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import Booking, LinkPurpose, OutgoingEmail
from mecc_volunteer.tokens import issue_link

PUBLIC = "public"  # anyone
LINK = "personal link"  # anyone holding the volunteer's secret link; otherwise a friendly 404
# A survey's own secret link (evaluation or follow-up purpose): the world's My booking link must not open it,
# so every visitor gets a 404 here; the survey links themselves are tested in test_evaluation_survey.py.
SURVEY_LINK = "survey link"
COORDINATOR = "coordinator"  # coordinators and admins
STAFF = "staff"  # any signed-in staff user
EVALUATOR = "evaluator"  # evaluators and admins
ADMIN = "admin"  # admins only
SIGN_IN = "sign in"  # the sign-in page and sign-out action
# A staff member's invitation or password reset link: the world's token is a volunteer's, so every visitor gets
# the friendly 404; the staff links themselves are tested in test_admin_staff.py.
STAFF_LINK = "staff link"

# endpoint -> who may use it
MATRIX = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "volunteers.index": PUBLIC,
    "volunteers.privacy": PUBLIC,
    "volunteers.accessibility": PUBLIC,
    "volunteers.register": PUBLIC,
    "volunteers.check_answers": PUBLIC,
    "volunteers.registration_done": PUBLIC,
    "volunteers.lost_link": PUBLIC,
    "volunteers.my_booking": LINK,
    "volunteers.calendar": LINK,
    "volunteers.cancel": LINK,
    "volunteers.move": LINK,
    "volunteers.elearning": LINK,
    "volunteers.your_data": LINK,
    "volunteers.your_data_json": LINK,
    "volunteers.delete_data": LINK,
    "volunteers.acknowledge_privacy": LINK,
    "volunteers.data_deleted": PUBLIC,
    "volunteers_staff.find": COORDINATOR,
    "volunteers_staff.data": COORDINATOR,
    "volunteers_staff.data_json": COORDINATOR,
    "volunteers_staff.delete": COORDINATOR,
    "admin.retention": ADMIN,
    "admin.index": ADMIN,
    "admin.staff": ADMIN,
    "admin.invite_staff": ADMIN,
    "admin.staff_member": ADMIN,
    "admin.change_role": ADMIN,
    "admin.deactivate": ADMIN,
    "admin.reactivate": ADMIN,
    "admin.reset_second_factor": ADMIN,
    "admin.sign_out_everywhere": ADMIN,
    "admin.send_password_link": ADMIN,
    "admin.organisations": ADMIN,
    "admin.add_organisation": ADMIN,
    "admin.edit_organisation": ADMIN,
    "admin.move_organisation": ADMIN,
    "admin.retire_organisation": ADMIN,
    "admin.restore_organisation": ADMIN,
    "admin.organisation_types": ADMIN,
    "admin.add_organisation_type": ADMIN,
    "admin.edit_organisation_type": ADMIN,
    "admin.move_organisation_type": ADMIN,
    "admin.retire_organisation_type": ADMIN,
    "admin.restore_organisation_type": ADMIN,
    "admin.areas": ADMIN,
    "admin.add_area": ADMIN,
    "admin.edit_area": ADMIN,
    "admin.move_area": ADMIN,
    "admin.retire_area": ADMIN,
    "admin.restore_area": ADMIN,
    "admin.settings": ADMIN,
    "admin.activity": ADMIN,
    "auth.set_password": STAFF_LINK,
    "auth.sign_in": SIGN_IN,
    "auth.sign_out": SIGN_IN,
    "auth.enrol_second_factor": SIGN_IN,
    "auth.second_factor": SIGN_IN,
    "auth.regenerate_recovery_codes": STAFF,
    "auth.home": STAFF,
    "sessions.index": COORDINATOR,
    "sessions.new": COORDINATOR,
    "sessions.detail": COORDINATOR,
    "sessions.edit": COORDINATOR,
    "sessions.cancel": COORDINATOR,
    "sessions.roster": COORDINATOR,
    "sessions.roster_csv": COORDINATOR,
    "sessions.roster_emails": COORDINATOR,
    "sessions.attendance_register": COORDINATOR,
    "sessions.add_volunteer": COORDINATOR,
    "sessions.cancel_booking": COORDINATOR,
    "sessions.promote_booking": COORDINATOR,
    "sessions.move_booking": COORDINATOR,
    "sessions.record_elearning": COORDINATOR,
    "sessions.attendance": COORDINATOR,
    "sessions.record_attendance": COORDINATOR,
    "sessions.mark_all_attended": COORDINATOR,
    "sessions.joining_links": COORDINATOR,
    "sessions.resend_joining_links": COORDINATOR,
    "sessions.elearning_reminders": COORDINATOR,
    "sessions.emails": COORDINATOR,
    "sessions.retry_email": COORDINATOR,
    "evaluation_staff.invitations": COORDINATOR,
    "evaluation.after_session": SURVEY_LINK,
    "evaluation.followup": SURVEY_LINK,
    "evaluation.certificate": SURVEY_LINK,
    "evaluation_staff.review_page": EVALUATOR,
    "evaluation_staff.board_report": EVALUATOR,
    "exports.index": EVALUATOR,
    "exports.responses_csv": EVALUATOR,
    "exports.responses_xlsx": EVALUATOR,
    "exports.dictionary_csv": EVALUATOR,
    "exports.evaluator_pack": EVALUATOR,
    "exports.prepare": EVALUATOR,
    "exports.prepared_download": EVALUATOR,
}

VISITORS = ["anonymous", "volunteer", "coordinator", "evaluator", "admin"]


def allowed(rule: str, visitor: str) -> bool:
    return {
        PUBLIC: True,
        SIGN_IN: True,
        LINK: True,  # checked separately: the link itself is the key
        SURVEY_LINK: True,  # likewise
        STAFF_LINK: True,  # likewise
        STAFF: visitor in ("coordinator", "evaluator", "admin"),
        COORDINATOR: visitor in ("coordinator", "admin"),
        EVALUATOR: visitor in ("evaluator", "admin"),
        ADMIN: visitor == "admin",
    }[rule]


@pytest.fixture
def world(app, make_training_session, make_booking):
    """One of everything a URL can name: a session, a booking with a live link, an email."""
    training_session = make_training_session(capacity=5, joining_link="https://teams.microsoft.com/l/x")
    booking_id = make_booking(training_session.id)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        token = issue_link(booking, LinkPurpose.MANAGE)
        email = OutgoingEmail(
            template="test",
            to_address="x@example.org",
            subject="x",
            body_text="x",
            booking_id=booking_id,
            training_session_id=training_session.id,
        )
        db.session.add(email)
        admin_world = _admin_world()
        db.session.commit()
        return {
            "session_id": training_session.id,
            "booking_id": booking_id,
            "token": token,
            "email_id": email.id,
            "volunteer_id": booking.volunteer_id,
            "filename": "css/app.min.css",
            "download_id": 1,  # none prepared: the evaluator's answer is a 404, anyone else's a refusal
            **admin_world,
        }


def _admin_world() -> dict:
    """A staff account for the admin's account pages (not the visitor's own), and a row of each admin list."""
    from mecc_volunteer.auth.services import create_staff
    from mecc_volunteer.models import District, Organisation, OrganisationType, StaffRole

    staff = create_staff("matrix-staff@example.org", name="Matrix Staff", role=StaffRole.COORDINATOR, password="x" * 12)
    organisation_type = OrganisationType(name="Matrix type")
    db.session.add(organisation_type)
    db.session.flush()
    return {
        "staff_id": staff.id,
        "type_id": organisation_type.id,
        "organisation_id": db.session.scalar(sa.select(Organisation.id).order_by(Organisation.id)),
        "area_id": db.session.scalar(sa.select(District.id).order_by(District.id)),
    }


def urls(app, world):
    """(endpoint, method, url) for every rule, with its arguments filled from `world`."""
    for rule in app.url_map.iter_rules():
        values = {arg: world[arg] for arg in rule.arguments}
        path = rule.rule
        for arg, value in values.items():
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(value), path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def test_every_route_is_in_the_matrix(app, world):
    missing = sorted({endpoint for endpoint, _, _ in urls(app, world)} - MATRIX.keys())
    assert not missing, f"routes missing from the access matrix: {missing}"


@pytest.mark.parametrize("visitor", VISITORS)
def test_each_visitor_reaches_only_what_their_role_allows(app, client, auth, world, visitor):
    if visitor in ("coordinator", "evaluator", "admin"):
        auth.login(visitor)
    elif visitor == "volunteer":
        assert client.get(f"/my-booking/{world['token']}").status_code == 200
    problems = []
    for endpoint, method, url in urls(app, world):
        rule = MATRIX.get(endpoint)
        if rule is None or endpoint == "auth.sign_out":
            continue
        response = client.open(url, method=method)
        code = response.status_code
        response.close()
        if rule in (COORDINATOR, STAFF, EVALUATOR, ADMIN):
            if allowed(rule, visitor):
                ok = code not in (401, 403) and not (
                    code in (302, 303) and "/manage/sign-in" in response.headers.get("Location", "")
                )
            elif visitor in ("anonymous", "volunteer"):
                ok = code == 303 and "/manage/sign-in" in response.headers["Location"]
            else:
                ok = code == 403
        elif rule in (SURVEY_LINK, STAFF_LINK):
            ok = code == 404  # a link for another purpose opens nothing
        else:
            ok = code < 500 and code not in (401, 403)
        if not ok:
            problems.append(f"{visitor} {method} {url} ({endpoint}) -> {code}")
        assert code < 500, f"{method} {url} answered {code}"
    assert not problems, "\n".join(problems)


def test_a_personal_link_opens_only_its_own_booking(app, client, world, make_booking):
    other = make_booking(world["session_id"])
    with app.app_context():
        other_token = issue_link(db.session.get(Booking, other), LinkPurpose.MANAGE)
        db.session.commit()
    for endpoint, method, url in urls(app, world):
        if MATRIX.get(endpoint) not in (LINK, SURVEY_LINK):
            continue
        wrong = url.replace(world["token"], "x" * 43)
        response = client.open(wrong, method=method)
        assert response.status_code == 404, f"{method} {wrong}"
    mine = client.get(f"/my-booking/{world['token']}").text
    theirs = client.get(f"/my-booking/{other_token}").text
    assert mine != theirs
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 2
