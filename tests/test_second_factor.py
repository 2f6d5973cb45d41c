"""The staff second factor, as a person meets it: a first sign-in sets up an authenticator app (QR code and setup
key, a wrong code refused, ten recovery codes shown once); then every sign-in is a password and a code. A code
works within a step of the clock and once only, guessing is throttled, a recovery code works once, an admin's
reset makes the next sign-in enrol again, and nothing under /manage/ opens between the two steps."""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from mecc_volunteer import audit
from mecc_volunteer.auth import second_factor, services
from mecc_volunteer.extensions import db
from mecc_volunteer.models import ActorKind, AuditAction, AuditEvent, RecoveryCode, StaffUser, utcnow
from mecc_volunteer.security import CONTENT_SECURITY_POLICY
from tests.helpers import STAFF_PASSWORD

ENROL = "/manage/sign-in/set-up-authenticator"
CODE = "/manage/sign-in/code"
RECOVERY_CODES = "/manage/account/recovery-codes"
RECOVERY_CODE_SHAPE = re.compile(r"\b[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}\b")
# A moment well inside a 30-second time step, for tests that freeze the clock.
FROZEN = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def account(app, email: str) -> StaffUser:
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(staff)
        return staff


def events(app, action: AuditAction) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return found


def password_step(client, email: str, **kwargs):
    return client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD}, **kwargs)


def code_at(secret: str, when: datetime, steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(when) + steps)


def wrong_code(secret: str) -> str:
    """A well-formed code that is not one the app shows now, or one step either side."""
    right = {code_at(secret, utcnow(), steps) for steps in (-2, -1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in right)


def assert_error(response, message: str) -> None:
    assert response.status_code == 200
    assert "<title>Error: " in response.text
    assert 'class="nhsuk-error-summary"' in response.text
    assert '<a href="#code">' in response.text  # the summary links to the field
    assert message in response.text


def assert_signed_in(client) -> None:
    assert client.get("/manage/").status_code == 200


def assert_not_signed_in(client) -> None:
    response = client.get("/manage/")
    assert response.status_code == 303
    assert "/manage/sign-in" in response.headers["Location"]


def enrol(client, app, email: str):
    """Password, then the enrolment page's code: the recovery codes page."""
    assert password_step(client, email).headers["Location"].endswith(ENROL)
    client.get(ENROL)
    secret = account(app, email).totp_secret
    return client.post(ENROL, data={"code": code_at(secret, utcnow())})


# --- Enrolment ---------------------------------------------------------------------------------------------------


def test_a_first_sign_in_sets_up_an_authenticator_app_and_shows_ten_recovery_codes_once(app, client, auth):
    email = auth.create("coordinator", enrolled=False)

    answer = password_step(client, email)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(ENROL)
    assert_not_signed_in(client)  # the password alone opens nothing

    page = client.get(ENROL)
    secret = account(app, email).totp_secret
    assert page.status_code == 200
    assert "<h1>Set up your authenticator app</h1>" in page.text
    # The QR code is drawn on the server as inline SVG, with a name for screen readers; the key is there as text.
    assert re.search(r'<svg role="img" aria-label="QR code to add [^"]+ to your authenticator app"', page.text)
    assert "<path" in page.text
    assert second_factor.grouped(secret) in page.text
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{4}", second_factor.grouped(secret))
    # Nothing the content security policy would block: no inline script or style, no data: or other images.
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert " style=" not in page.text
    assert "<img" not in page.text
    assert "<script>" not in page.text

    refused = client.post(ENROL, data={"code": wrong_code(secret)})
    assert_error(refused, "That code is not right")
    assert not account(app, email).has_second_factor

    spaced = code_at(secret, utcnow())
    accepted = client.post(ENROL, data={"code": f"{spaced[:3]} {spaced[3:]}"})  # spaces are fine
    assert accepted.status_code == 200
    assert "<h1>Your recovery codes</h1>" in accepted.text
    assert "only time they are shown" in accepted.text
    codes = RECOVERY_CODE_SHAPE.findall(accepted.text)
    assert len(set(codes)) == 10
    assert 'href="/manage/"' in accepted.text  # Continue
    assert_signed_in(client)
    staff = account(app, email)
    assert staff.has_second_factor
    assert staff.totp_secret == secret
    assert [e.target_staff_user_id for e in events(app, AuditAction.SECOND_FACTOR_ENROLLED)] == [staff.id]

    # Stored as SHA-256 only; the codes are never in the session cookie or shown again.
    with app.app_context():
        stored = set(
            db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.staff_user_id == staff.id))
        )
    assert stored == {hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes}
    assert not any(code in client.get_cookie("mecc_session").value for code in codes)
    assert not RECOVERY_CODE_SHAPE.search(client.get("/manage/").text)

    # Each of the ten signs in once.
    for code in codes:
        auth.logout()
        assert password_step(client, email).headers["Location"].endswith(CODE)
        assert client.post(CODE, data={"code": code.upper()}).status_code == 303
        assert_signed_in(client)
        auth.logout()
        password_step(client, email)
        assert_error(client.post(CODE, data={"code": code}), "That recovery code is not right, or it has been used")
        assert_not_signed_in(client)
    with app.app_context():
        unused = db.session.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.used_at.is_(None)))
    assert unused == 0


def test_the_enrolment_secret_waits_on_the_account_until_a_code_confirms_it(app, client, auth):
    email = auth.create("coordinator", enrolled=False)
    password_step(client, email)
    first = account(app, email).totp_secret
    assert first is not None
    assert account(app, email).totp_confirmed_at is None
    client.get(ENROL)

    # A second visit (the pending sign-in timed out, say) shows the same QR code: a scan already made still works.
    other = app.test_client()
    password_step(other, email)
    assert second_factor.grouped(first) in other.get(ENROL).text
    assert account(app, email).totp_secret == first


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the 6-digit code from your authenticator app"),
        ("12345", "using numbers only"),
        ("1234567", "using numbers only"),
        ("abcdef", "using numbers only"),
        ("\u0661\u0662\u0663\u0664\u0665\u0666", "using numbers only"),  # Arabic-Indic digits
        ("123\x00456", "must not contain a null character"),
        ("1" * 41, "40 characters or fewer"),
    ],
)
def test_the_enrolment_page_explains_a_code_in_the_wrong_shape(app, client, auth, typed, message):
    email = auth.create("coordinator", enrolled=False)
    password_step(client, email)
    client.get(ENROL)
    assert_error(client.post(ENROL, data={"code": typed}), message)
    assert not account(app, email).has_second_factor


def test_staff_create_records_the_account_and_the_first_admin_enrols_at_first_sign_in(app, runner, client):
    made = runner.invoke(
        args=["staff", "create", "first.admin@example.org", "--role", "admin"],
        input=f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output
    created = events(app, AuditAction.STAFF_CREATED)
    staff = account(app, "first.admin@example.org")
    assert [(e.actor_kind, e.target_staff_user_id) for e in created] == [(ActorKind.SYSTEM, staff.id)]
    assert not staff.has_second_factor

    assert password_step(client, "first.admin@example.org").headers["Location"].endswith(ENROL)
    assert enrol(client, app, "first.admin@example.org").status_code == 200
    assert_signed_in(client)


# --- Codes at sign-in --------------------------------------------------------------------------------------------


def test_a_signed_in_account_goes_from_password_to_code_to_the_page_it_asked_for(app, client, auth):
    email = auth.create("evaluator")
    asked = client.get("/manage/review/")
    assert asked.status_code == 303
    answer = client.post(asked.headers["Location"], data={"email": email, "password": STAFF_PASSWORD})
    assert answer.headers["Location"].endswith(CODE)
    page = client.get(CODE)
    assert page.status_code == 200
    assert "<h1>Enter the code from your authenticator app</h1>" in page.text
    assert 'autocomplete="one-time-code"' in page.text
    assert 'inputmode="numeric"' in page.text

    done = client.post(CODE, data={"code": auth.code(email)})
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/manage/review/")
    assert_signed_in(client)
    assert account(app, email).last_signed_in_at is not None


def test_a_code_is_never_accepted_twice(app, client, auth):
    email = auth.create("coordinator")
    code = auth.code(email)
    password_step(client, email)
    assert client.post(CODE, data={"code": code}).status_code == 303
    auth.logout()

    password_step(client, email)
    assert_error(client.post(CODE, data={"code": code}), "That code has been used already")
    assert_not_signed_in(client)


def test_two_requests_racing_with_one_code_cannot_both_pass(app, auth):
    """The second request read the account before the first stored its step: the conditional UPDATE still
    refuses it (a check of a value read earlier would not)."""
    email = auth.create("coordinator")
    stale = account(app, email)  # as the second request read it: no step used yet
    assert stale.totp_last_step is None
    code = auth.code(email)
    with app.app_context():
        first = second_factor.check_code(db.session.get(StaffUser, stale.id), code)
        db.session.commit()
    with app.app_context():
        second = second_factor.check_code(db.session.merge(stale, load=False), code)
        db.session.commit()
    assert first.accepted
    assert not second.accepted
    assert second.problem == second_factor.USED_CODE


@pytest.mark.parametrize(("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_a_code_one_step_early_or_late_works_and_two_steps_off_does_not(app, client, auth, steps, accepted):
    email = auth.create("coordinator")
    with time_machine.travel(FROZEN, tick=False):
        password_step(client, email)
        answer = client.post(CODE, data={"code": code_at(auth.TOTP_SECRET, FROZEN, steps)})
        if accepted:
            assert answer.status_code == 303
            assert_signed_in(client)
        else:
            assert_error(answer, "That code is not right")
            assert_not_signed_in(client)


def test_guessing_codes_is_throttled_even_for_the_right_code_then_recovers(app, client, auth):
    email = auth.create("coordinator")
    password_step(client, email)
    for _ in range(second_factor.CODE_LIMIT.max_hits):
        assert_error(client.post(CODE, data={"code": wrong_code(auth.TOTP_SECRET)}), "That code is not right")

    blocked = client.post(CODE, data={"code": auth.code(email)})
    assert_error(blocked, "Too many attempts")
    assert_not_signed_in(client)
    # The brake is on the account, not the browser: a fresh sign-in elsewhere waits too.
    elsewhere = app.test_client()
    password_step(elsewhere, email)
    assert_error(elsewhere.post(CODE, data={"code": auth.code(email)}), "Too many attempts")

    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        password_step(client, email)
        assert client.post(CODE, data={"code": auth.code(email)}).status_code == 303
        assert_signed_in(client)


def test_a_right_code_clears_the_wrong_ones_before_it(app, client, auth):
    email = auth.create("coordinator")
    for _ in range(2):
        password_step(client, email)
        for _ in range(second_factor.CODE_LIMIT.max_hits - 1):
            client.post(CODE, data={"code": wrong_code(auth.TOTP_SECRET)})
        assert client.post(CODE, data={"code": auth.code(email)}).status_code == 303
        auth.logout()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the 6-digit code from your authenticator app, or a recovery code"),
        ("12345", "or a recovery code like abcd-efgh-jkmn"),
        ("abcd-efgh-ijkl", "or a recovery code like abcd-efgh-jkmn"),  # i and l are never in a code
        ("<script>alert(1)</script>", "or a recovery code like"),
        ("123\u202e456", "must not contain a hidden text-direction character"),
    ],
)
def test_the_code_page_explains_a_code_in_the_wrong_shape_without_counting_it(app, client, auth, typed, message):
    email = auth.create("coordinator")
    password_step(client, email)
    for _ in range(second_factor.CODE_LIMIT.max_hits + 1):
        answer = client.post(CODE, data={"code": typed})
        assert_error(answer, message)
        assert "<script>alert" not in answer.text
    assert client.post(CODE, data={"code": auth.code(email)}).status_code == 303


# --- Recovery codes ------------------------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(app, client, auth):
    email = auth.create("coordinator")
    auth.login(email=email)
    codes = RECOVERY_CODE_SHAPE.findall(client.post(RECOVERY_CODES).text)
    auth.logout()

    password_step(client, email)
    page = client.get(f"{CODE}?use=recovery-code")
    assert "<h1>Enter a recovery code</h1>" in page.text
    assert 'inputmode="numeric"' not in page.text  # letters too
    done = client.post(f"{CODE}?use=recovery-code", data={"code": codes[3].replace("-", " ")})
    assert done.status_code == 303
    assert "9 left" in client.get(done.headers["Location"]).text
    used = events(app, AuditAction.RECOVERY_CODE_USED)
    assert [(e.staff_user_id, e.target_staff_user_id, e.detail) for e in used] == [
        (account(app, email).id, account(app, email).id, "9 left")
    ]

    auth.logout()
    password_step(client, email)
    refused = client.post(f"{CODE}?use=recovery-code", data={"code": codes[3]})
    assert_error(refused, "That recovery code is not right, or it has been used already")
    assert "<h1>Enter a recovery code</h1>" in refused.text
    assert_not_signed_in(client)


def test_making_new_recovery_codes_ends_the_old_ones(app, client, auth):
    email = auth.create("evaluator")
    auth.login(email=email)
    home = client.get("/manage/")
    assert f'href="{RECOVERY_CODES}"' in home.text
    explained = client.get(RECOVERY_CODES)
    assert explained.status_code == 200
    assert "You have 0 unused recovery codes" in explained.text
    assert not RECOVERY_CODE_SHAPE.search(explained.text)

    old = RECOVERY_CODE_SHAPE.findall(client.post(RECOVERY_CODES).text)
    assert "You have 10 unused recovery codes" in client.get(RECOVERY_CODES).text
    new = client.post(RECOVERY_CODES)
    assert new.status_code == 200
    assert "Your old recovery codes no longer work" in new.text
    fresh = RECOVERY_CODE_SHAPE.findall(new.text)
    assert len(set(fresh)) == len(set(old)) == 10
    assert not set(fresh) & set(old)
    assert len(events(app, AuditAction.RECOVERY_CODES_REGENERATED)) == 2

    auth.logout()
    password_step(client, email)
    assert_error(client.post(CODE, data={"code": old[0]}), "That recovery code is not right")
    assert client.post(CODE, data={"code": fresh[0]}).status_code == 303
    assert_signed_in(client)


# --- An admin's reset, and the time between the steps ---------------------------------------------------------------


def test_a_reset_ends_the_accounts_sessions_and_the_next_sign_in_enrols_again(app, client, auth):
    email = auth.create("coordinator")
    auth.login(email=email)
    client.post(RECOVERY_CODES)
    half_way = app.test_client()
    password_step(half_way, email)
    admin = account(app, auth.create("admin"))

    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        services.reset_second_factor(staff, by=db.session.get(StaffUser, admin.id))
        db.session.commit()

    assert_not_signed_in(client)
    assert half_way.post(CODE, data={"code": "123456"}).headers["Location"].endswith("/manage/sign-in")
    assert_not_signed_in(half_way)
    staff = account(app, email)
    assert (staff.totp_secret, staff.totp_confirmed_at, staff.totp_last_step) == (None, None, None)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RecoveryCode.id))) == 0
    reset = events(app, AuditAction.SECOND_FACTOR_RESET)
    assert [(e.staff_user_id, e.target_staff_user_id) for e in reset] == [(admin.id, staff.id)]

    assert password_step(client, email).headers["Location"].endswith(ENROL)
    assert account(app, email).totp_secret not in (None, auth.TOTP_SECRET)
    assert client.get(CODE).headers["Location"].endswith(ENROL)  # no code page without an app set up
    assert enrol(client, app, email).status_code == 200
    assert_signed_in(client)


def test_the_pending_sign_in_expires(app, client, auth):
    email = auth.create("coordinator")
    password_step(client, email)
    with time_machine.travel(utcnow() + timedelta(minutes=6)):
        answer = client.post(CODE, data={"code": auth.code(email)})
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("/manage/sign-in")
        assert "Your sign-in timed out" in client.get("/manage/sign-in").text
        assert_not_signed_in(client)
        assert client.get(CODE).headers["Location"].endswith("/manage/sign-in")


def test_staff_pages_refuse_a_half_signed_in_session(app, client, auth):
    email = auth.create("admin")
    assert client.get(CODE).headers["Location"].endswith("/manage/sign-in")
    assert client.get(ENROL).headers["Location"].endswith("/manage/sign-in")
    password_step(client, email)
    for path in ("/manage/", "/manage/sessions/", "/manage/review/", RECOVERY_CODES):
        response = client.get(path)
        assert response.status_code == 303, path
        assert "/manage/sign-in?next=" in response.headers["Location"], path
    response = client.post(RECOVERY_CODES)
    assert response.status_code == 303
    assert "/manage/sign-in" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RecoveryCode.id))) == 0
    # The person can still finish signing in, and the second-step pages then send them on.
    assert client.post(CODE, data={"code": auth.code(email)}).status_code == 303
    assert client.get(CODE).headers["Location"].endswith("/manage/")


def test_signing_in_again_starts_a_fresh_session(app, client, auth):
    email = auth.create("coordinator")
    password_step(client, email)
    pending_cookie = client.get_cookie("mecc_session").value
    auth.login(email=email)
    assert client.get_cookie("mecc_session").value != pending_cookie
    # The cookie from between the steps does not carry the sign-in.
    copied = app.test_client()
    copied.set_cookie("mecc_session", pending_cookie)
    assert_not_signed_in(copied)


def test_the_audit_names_the_person_for_their_own_second_factor_actions(app, auth):
    email = auth.create("coordinator", enrolled=False)
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        second_factor.prepare_enrolment(staff)
        codes = second_factor.confirm_enrolment(staff, code_at(staff.totp_secret, utcnow()))
        second_factor.regenerate_recovery_codes(staff, by=audit.SYSTEM)
        db.session.commit()
    assert codes is not None
    assert len(codes) == second_factor.RECOVERY_CODE_COUNT
    enrolled = events(app, AuditAction.SECOND_FACTOR_ENROLLED)
    assert [(e.actor_kind, e.staff_user_id) for e in enrolled] == [(ActorKind.STAFF, account(app, email).id)]
    assert events(app, AuditAction.RECOVERY_CODES_REGENERATED)[0].actor_kind is ActorKind.SYSTEM


def test_the_qr_code_holds_the_accounts_address_under_the_service_name(app, auth):
    email = auth.create("coordinator")
    staff = account(app, email)
    uri = second_factor.provisioning_uri(staff, issuer="MECC Volunteer")
    assert uri.startswith("otpauth://totp/MECC%20Volunteer:coordinator")
    assert f"secret={auth.TOTP_SECRET}" in uri
    assert "issuer=MECC%20Volunteer" in uri
    svg = second_factor.qr_code_svg(uri, label='Say "hi" <there>')
    assert svg.startswith('<svg role="img" aria-label="Say &#34;hi&#34; &lt;there&gt;"')
    assert uri not in svg  # path data only
