"""Admins manage staff accounts in the app: invite by email (the invitee chooses a password through a single-use
link that expires), change roles, deactivate and reactivate, reset an authenticator app, sign someone out
everywhere and send a password reset link. The pilot always keeps an admin, and every action is in the trail."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from mecc_volunteer.auth import staff_links
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    AuditAction,
    AuditEvent,
    StaffLink,
    StaffLinkPurpose,
    StaffRole,
    StaffUser,
    utcnow,
)
from tests.helpers import STAFF_PASSWORD, outbox, text_of

pytestmark = pytest.mark.real_smtp

SET_PASSWORD = re.compile(r"http://localhost(/manage/set-password/[A-Za-z0-9_-]{43})\b")
NEW_PASSWORD = "correct horse battery staple"


def staff_row(app, email: str) -> StaffUser:
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        assert staff is not None
        db.session.expunge(staff)
        return staff


def staff_id_of(app, email: str) -> int:
    return staff_row(app, email).id


def trail(app, action: AuditAction) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))
        for event in events:
            db.session.expunge(event)
        return events


def invite(client, *, name="Priya Patel", email="priya@example.org", role="coordinator"):
    response = client.post("/manage/admin/staff/invite", data={"name": name, "email": email, "role": role})
    response.close()  # as a browser moves on: the mail goes out once the response is done
    return response


def link_in(message) -> str:
    match = SET_PASSWORD.search(text_of(message))
    assert match, "no set-password link in the email"
    return match.group(1)


def sign_in_step_one(app, password: str, email: str):
    """The password step of a sign-in, on a fresh browser: 303 to the authenticator step if it was right."""
    return app.test_client().post("/manage/sign-in", data={"email": email, "password": password})


# --- Inviting, and the link -----------------------------------------------------------------------------------


def test_an_admin_invites_a_coordinator_who_sets_a_password_through_the_emailed_link_and_signs_in(
    app, client, auth, smtp_server
):
    auth.login("admin")
    page = client.get("/manage/admin/staff/invite")
    assert page.status_code == 200
    response = invite(client, name="Priya Patel", email="  Priya@Example.org ")
    assert response.status_code == 303
    person = staff_row(app, "priya@example.org")
    assert response.headers["Location"].endswith(f"/manage/admin/staff/{person.id}")
    assert person.password_hash is None
    assert person.role is StaffRole.COORDINATOR
    assert "has been invited" in client.get(response.headers["Location"]).text

    [queued] = outbox(app, "staff_invitation")  # delivered: outbox() waits for the courier
    assert queued.to_address == "priya@example.org"
    [message] = [m for m in smtp_server.messages if "priya@example.org" in m["To"]]
    assert "Priya Patel" in text_of(message)
    path = link_in(message)
    [event] = trail(app, AuditAction.STAFF_INVITED)
    assert event.target_staff_user_id == person.id
    assert "Priya" not in (event.detail or "")

    # Opening the link (as a mail scanner would) changes nothing.
    visitor = app.test_client()
    for _ in range(2):
        page = visitor.get(path)
        assert page.status_code == 200
        assert "Set up your account" in page.text
    with app.app_context():
        link = db.session.scalar(sa.select(StaffLink).where(StaffLink.staff_user_id == person.id))
        assert link.used_at is None
        assert link.purpose is StaffLinkPurpose.INVITATION
        assert timedelta(days=6, hours=23) < link.expires_at - link.created_at <= timedelta(days=7)
        assert len(link.token_hash) == 64
        assert path.rsplit("/", 1)[1] not in link.token_hash
    assert staff_row(app, "priya@example.org").password_hash is None

    response = visitor.post(path, data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/manage/sign-in")
    assert "Your password is set" in visitor.get(response.headers["Location"]).text
    assert check_password_hash(staff_row(app, "priya@example.org").password_hash, NEW_PASSWORD)
    [event] = trail(app, AuditAction.PASSWORD_SET)
    assert event.target_staff_user_id == person.id

    # Used up: the link now shows the friendly page, and posting again changes nothing.
    again = visitor.get(path)
    assert again.status_code == 404
    assert "Ask an admin" in again.text
    replay = visitor.post(path, data={"password": "another long password", "confirm_password": "another long password"})
    assert replay.status_code == 404
    assert check_password_hash(staff_row(app, "priya@example.org").password_hash, NEW_PASSWORD)

    # The new password works (the next step is setting up the authenticator app).
    signed_in = sign_in_step_one(app, NEW_PASSWORD, "priya@example.org")
    assert signed_in.status_code == 303
    assert "/manage/sign-in/" in signed_in.headers["Location"]


def test_an_invited_person_cannot_sign_in_before_choosing_a_password(app, client, auth):
    auth.login("admin")
    invite(client)
    response = sign_in_step_one(app, "", "priya@example.org")
    assert response.status_code == 200
    response = sign_in_step_one(app, "any password at all", "priya@example.org")
    assert response.status_code == 200
    assert "Enter a correct email address and password" in response.text


def test_the_set_password_form_refuses_short_and_mismatched_passwords_with_the_error_pattern(app, client, auth):
    auth.login("admin")
    invite(client)
    person = staff_row(app, "priya@example.org")
    with app.app_context():
        _, token = staff_links.issue_staff_link(db.session.get(StaffUser, person.id), StaffLinkPurpose.INVITATION)
        db.session.commit()
    visitor = app.test_client()
    path = f"/manage/set-password/{token}"
    visitor.get(path)
    short = visitor.post(path, data={"password": "too short", "confirm_password": "too short"})
    assert short.status_code == 200
    assert "<title>Error:" in short.text
    assert "at least 12 characters" in short.text
    mismatch = visitor.post(path, data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"})
    assert mismatch.status_code == 200
    assert "do not match" in mismatch.text
    assert 'href="#confirm_password"' in mismatch.text
    assert staff_row(app, "priya@example.org").password_hash is None


def test_an_expired_or_unknown_link_is_refused_with_a_page_that_says_to_ask_an_admin(app, client, auth):
    auth.login("admin")
    invite(client)
    person = staff_row(app, "priya@example.org")
    with app.app_context():
        long_ago = utcnow() - timedelta(days=8)
        _, token = staff_links.issue_staff_link(
            db.session.get(StaffUser, person.id), StaffLinkPurpose.INVITATION, now=long_ago
        )
        db.session.commit()
    visitor = app.test_client()
    for path in (f"/manage/set-password/{token}", "/manage/set-password/" + "x" * 43, "/manage/set-password/short"):
        page = visitor.get(path)
        assert page.status_code == 404, path
        assert "Ask an admin" in page.text
    posted = visitor.post(
        f"/manage/set-password/{token}", data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert posted.status_code == 404
    assert staff_row(app, "priya@example.org").password_hash is None


def test_a_new_link_ends_the_old_one_and_two_posts_of_one_link_set_the_password_once(app, client, auth):
    auth.login("admin")
    invite(client)
    person = staff_row(app, "priya@example.org")
    with app.app_context():
        staff = db.session.get(StaffUser, person.id)
        _, first = staff_links.issue_staff_link(staff, StaffLinkPurpose.INVITATION)
        _, second = staff_links.issue_staff_link(staff, StaffLinkPurpose.INVITATION)
        db.session.commit()
        assert staff_links.find_staff_link(first) is None
        assert staff_links.find_staff_link(second) is not None
        staff_links.set_password_with_link(second, NEW_PASSWORD)
        db.session.commit()
        with pytest.raises(staff_links.StaffLinkNotValid):
            staff_links.set_password_with_link(second, "a different long password")
        db.session.rollback()
    assert check_password_hash(staff_row(app, "priya@example.org").password_hash, NEW_PASSWORD)


def test_inviting_an_address_that_has_an_account_is_refused_next_to_the_email(app, client, auth):
    auth.login("admin")
    existing = auth.create("evaluator")
    response = invite(client, email=existing.upper())
    assert response.status_code == 200
    assert "already exists" in response.text
    assert "<title>Error:" in response.text
    assert outbox(app, "staff_invitation") == []


# --- Password reset ---------------------------------------------------------------------------------------------


def test_an_admin_sends_a_password_reset_link_that_sets_a_new_password_and_signs_them_out_everywhere(
    app, client, auth, smtp_server
):
    auth.login("admin")
    email = auth.create("coordinator")
    elsewhere = app.test_client()
    auth.login(email=email, client=elsewhere)
    assert elsewhere.get("/manage/").status_code == 200
    staff_id = staff_id_of(app, email)

    confirm = client.get(f"/manage/admin/staff/{staff_id}/password-link")
    assert confirm.status_code == 200
    assert "password reset link" in confirm.text
    sent = client.post(f"/manage/admin/staff/{staff_id}/password-link")
    sent.close()
    assert sent.status_code == 303
    [message] = [m for m in smtp_server.messages if email in m["To"]]
    path = link_in(message)
    with app.app_context():
        link = db.session.scalar(sa.select(StaffLink).where(StaffLink.staff_user_id == staff_id))
        assert link.purpose is StaffLinkPurpose.PASSWORD_RESET
        assert link.expires_at - link.created_at == timedelta(hours=24)
    [event] = trail(app, AuditAction.PASSWORD_RESET_SENT)
    assert event.target_staff_user_id == staff_id
    # Until the link is used, the old password still works and the session goes on.
    assert sign_in_step_one(app, STAFF_PASSWORD, email).status_code == 303
    assert elsewhere.get("/manage/").status_code == 200

    visitor = app.test_client()
    assert "Choose a new password" in visitor.get(path).text
    assert visitor.post(path, data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}).status_code == 303
    assert elsewhere.get("/manage/").status_code == 303  # signed out everywhere
    assert sign_in_step_one(app, STAFF_PASSWORD, email).status_code == 200
    assert sign_in_step_one(app, NEW_PASSWORD, email).status_code == 303


# --- Roles, deactivation, sign-out everywhere, authenticator reset ----------------------------------------------


def test_an_admin_changes_a_coordinators_role_to_evaluator_and_their_pages_change(app, client, auth):
    auth.login("admin")
    email = auth.create("coordinator")
    theirs = app.test_client()
    auth.login(email=email, client=theirs)
    assert theirs.get("/manage/sessions/").status_code == 200
    staff_id = staff_id_of(app, email)

    page = client.get(f"/manage/admin/staff/{staff_id}/role")
    assert page.status_code == 200
    response = client.post(f"/manage/admin/staff/{staff_id}/role", data={"role": "evaluator"})
    assert response.status_code == 303
    assert staff_row(app, email).role is StaffRole.EVALUATOR
    assert theirs.get("/manage/sessions/").status_code == 403
    assert theirs.get("/manage/review/").status_code == 200
    [event] = trail(app, AuditAction.ROLE_CHANGED)
    assert event.target_staff_user_id == staff_id
    assert event.detail == "coordinator to evaluator"

    refused = client.post(f"/manage/admin/staff/{staff_id}/role", data={"role": "superuser"})
    assert refused.status_code == 200
    assert "<title>Error:" in refused.text


def test_deactivating_ends_their_sessions_and_sign_in_and_reactivating_lets_them_back(app, client, auth):
    auth.login("admin")
    email = auth.create("coordinator")
    theirs = app.test_client()
    auth.login(email=email, client=theirs)
    staff_id = staff_id_of(app, email)

    confirm = client.get(f"/manage/admin/staff/{staff_id}/deactivate")
    assert confirm.status_code == 200
    assert "Deactivate" in confirm.text
    assert staff_row(app, email).active  # the confirmation page changes nothing
    assert client.post(f"/manage/admin/staff/{staff_id}/deactivate").status_code == 303
    assert not staff_row(app, email).active
    assert theirs.get("/manage/").status_code == 303
    assert sign_in_step_one(app, STAFF_PASSWORD, email).status_code == 200
    assert "Deactivated" in client.get("/manage/admin/staff/").text

    assert client.post(f"/manage/admin/staff/{staff_id}/reactivate").status_code == 303
    assert staff_row(app, email).active
    assert sign_in_step_one(app, STAFF_PASSWORD, email).status_code == 303
    assert theirs.get("/manage/").status_code == 303  # the old session stays ended
    for action in (AuditAction.STAFF_DEACTIVATED, AuditAction.STAFF_REACTIVATED):
        [event] = trail(app, action)
        assert event.target_staff_user_id == staff_id


def test_sign_out_everywhere_ends_every_session_of_the_account(app, client, auth, htmx_headers):
    auth.login("admin")
    email = auth.create("evaluator")
    laptop, phone = app.test_client(), app.test_client()
    auth.login(email=email, client=laptop)
    auth.login(email=email, client=phone)
    staff_id = staff_id_of(app, email)
    client.get(f"/manage/admin/staff/{staff_id}")
    # With htmx the link asks in place, then posts to the same address and moves to the account's page.
    response = client.post(f"/manage/admin/staff/{staff_id}/sign-out-everywhere", headers=htmx_headers)
    assert response.status_code == 204
    assert response.headers["HX-Location"].endswith(f"/manage/admin/staff/{staff_id}")
    assert laptop.get("/manage/").status_code == 303
    assert phone.get("/manage/").status_code == 303
    assert client.get("/manage/admin/").status_code == 200  # the admin's own session goes on
    [event] = trail(app, AuditAction.SIGNED_OUT_EVERYWHERE)
    assert event.target_staff_user_id == staff_id


def test_resetting_an_authenticator_app_sends_them_to_set_it_up_again(app, client, auth):
    auth.login("admin")
    email = auth.create("coordinator")
    staff_id = staff_id_of(app, email)
    assert "Reset authenticator app" in client.get(f"/manage/admin/staff/{staff_id}").text
    assert client.post(f"/manage/admin/staff/{staff_id}/reset-authenticator").status_code == 303
    person = staff_row(app, email)
    assert person.totp_secret is None
    assert not person.has_second_factor
    response = sign_in_step_one(app, STAFF_PASSWORD, email)
    assert response.headers["Location"].endswith("/manage/sign-in/set-up-authenticator")
    [event] = trail(app, AuditAction.SECOND_FACTOR_RESET)
    assert event.target_staff_user_id == staff_id
    # Someone who never set up an app has nothing to reset: said so, and nothing recorded.
    never = staff_id_of(app, auth.create("evaluator", enrolled=False))
    assert "Reset authenticator app" not in client.get(f"/manage/admin/staff/{never}").text
    again = client.post(f"/manage/admin/staff/{never}/reset-authenticator", follow_redirects=True)
    assert "nothing to reset" in again.text
    assert len(trail(app, AuditAction.SECOND_FACTOR_RESET)) == 1


# --- Nobody locks the pilot out ---------------------------------------------------------------------------------


def test_an_admin_cannot_deactivate_demote_or_reset_themselves(app, client, auth):
    email = auth.create("admin")
    auth.login(email=email)
    other_admin = auth.create("admin")  # another admin exists, and still it is refused
    me = staff_id_of(app, email)
    assert other_admin
    page = client.get(f"/manage/admin/staff/{me}").text
    assert "Deactivate account" not in page
    assert "Reset authenticator app" not in page

    client.post(f"/manage/admin/staff/{me}/deactivate")
    assert "cannot deactivate your own account" in client.get(f"/manage/admin/staff/{me}").text
    demoted = client.post(f"/manage/admin/staff/{me}/role", data={"role": "coordinator"})
    assert demoted.status_code == 200
    assert "cannot change your own role" in demoted.text
    client.post(f"/manage/admin/staff/{me}/reset-authenticator")
    assert "cannot reset your own authenticator app" in client.get(f"/manage/admin/staff/{me}").text
    person = staff_row(app, email)
    assert person.active
    assert person.role is StaffRole.ADMIN
    assert person.has_second_factor
    assert client.get("/manage/admin/").status_code == 200


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app, client, auth):
    """Seen from the services: a second admin, made only to act, is themselves deactivated first, so the
    account acted on is the last active admin."""
    from mecc_volunteer.admin import services

    auth.login("admin")
    last = staff_row(app, auth.create("admin"))
    with app.app_context():
        others = db.session.scalars(sa.select(StaffUser).where(StaffUser.id != last.id)).all()
        for other in others:
            other.active = False
        actor = others[0]
        target = db.session.get(StaffUser, last.id)
        with pytest.raises(services.LastAdmin):
            services.change_role(target, StaffRole.COORDINATOR, by=actor)
        with pytest.raises(services.LastAdmin):
            services.deactivate(target, by=actor)
        db.session.rollback()
    person = staff_row(app, last.email)
    assert person.role is StaffRole.ADMIN
    assert person.active


def test_an_admin_can_demote_another_admin_while_one_remains(app, client, auth):
    auth.login("admin")
    other = auth.create("admin")
    staff_id = staff_id_of(app, other)
    assert client.post(f"/manage/admin/staff/{staff_id}/role", data={"role": "coordinator"}).status_code == 303
    assert staff_row(app, other).role is StaffRole.COORDINATOR


def test_the_staff_list_shows_role_status_authenticator_and_last_sign_in(app, client, auth):
    auth.login("admin")
    auth.create("evaluator", name="Eve Evaluator", enrolled=False)
    invite(client, name="Ivy Invited", email="ivy@example.org")
    page = client.get("/manage/admin/staff/").text
    assert "Eve Evaluator" in page
    assert "Ivy Invited" in page
    assert "Invited" in page
    assert "Not set up" in page
    assert "Never" in page
    assert "Evaluator" in page
