"""Staff sign-in (a password, then a code from an authenticator app) and sign-out.

Between the two steps the session holds only a pending sign-in (the account, its session_version and when the
password was right), for PENDING_LIFETIME: the person is not signed in, and every /manage/ page but these
refuses them. A right code ends it: a fresh session, then login_user."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from mecc_volunteer import settings
from mecc_volunteer.auth import bp, second_factor, services
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.auth.forms import EnrolSecondFactorForm, SecondFactorForm, SignInForm
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.models import StaffRole, StaffUser, utcnow
from mecc_volunteer.transactions import attempt

SIGN_IN_FAILED = "Enter a correct email address and password"
PENDING_KEY = "pending_sign_in"
# From the right password to the code: long enough to find a phone, short enough that a walked-away screen
# is of no use. The enrolment secret waits on the account, so signing in again shows the same QR code.
PENDING_LIFETIME = timedelta(minutes=5)
SIGN_IN_TIMED_OUT = "Your sign-in timed out. Enter your email address and password again."


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"), 303)
    form = SignInForm()
    if form.validate_on_submit():
        email, password = form.credentials
        done = attempt(lambda: services.start_sign_in(email, password, remote_addr=request.remote_addr))
        if done.error:
            add_error(form.password, done.error.message)
        else:
            staff = done.result
            if staff is not None:
                _start_pending(staff, safe_next(request.args.get("next")))
                step = "auth.second_factor" if staff.has_second_factor else "auth.enrol_second_factor"
                return redirect(url_for(step), 303)
            # The same answer for an unknown email, a wrong password and a disabled account.
            add_error(form.email, SIGN_IN_FAILED)
    return render_template("auth/sign_in.html", form=form)


@bp.route("/sign-in/set-up-authenticator", methods=["GET", "POST"])
def enrol_second_factor():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"), 303)
    had_pending = PENDING_KEY in session
    staff = _pending_staff()
    if staff is None or staff.totp_secret is None:
        return _sign_in_again(had_pending)
    if staff.has_second_factor:
        return redirect(url_for("auth.second_factor"), 303)
    form = EnrolSecondFactorForm()
    if form.validate_on_submit():
        code = form.code.data or ""
        done = attempt(lambda: second_factor.confirm_enrolment(staff, code))
        if done.error:
            add_error(form.code, done.error.message)
        elif done.result is None:
            add_error(form.code, second_factor.WRONG_CODE)
        else:
            continue_to = _finish_sign_in(staff)
            # The codes are in this one response only: never in the session, never on a page that can be reloaded.
            return render_template(
                "auth/recovery_codes.html", codes=done.result, continue_to=continue_to, after_enrolment=True
            )
    issuer = settings.current().service_name
    uri = second_factor.provisioning_uri(staff, issuer=issuer)
    return render_template(
        "auth/enrol_second_factor.html",
        form=form,
        qr_code=second_factor.qr_code_svg(uri, label=f"QR code to add {issuer} to your authenticator app"),
        secret=second_factor.grouped(staff.totp_secret),
    )


@bp.route("/sign-in/code", methods=["GET", "POST"], endpoint="second_factor")
def enter_code():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"), 303)
    had_pending = PENDING_KEY in session
    staff = _pending_staff()
    if staff is None:
        return _sign_in_again(had_pending)
    if not staff.has_second_factor:
        return redirect(url_for("auth.enrol_second_factor"), 303)
    recovery = request.args.get("use") == "recovery-code"
    form = SecondFactorForm()
    if form.validate_on_submit():
        code = form.code.data or ""
        done = attempt(lambda: second_factor.check_code(staff, code))
        if done.error:
            add_error(form.code, done.error.message)
        elif not done.result.accepted:
            add_error(form.code, done.result.problem or second_factor.WRONG_CODE)
        else:
            continue_to = _finish_sign_in(staff)
            left = done.result.recovery_codes_left
            if left is not None:
                flash(
                    f"You signed in with a recovery code. It cannot be used again: you have {left} left. "
                    "Make new recovery codes from Manage the pilot if you are running low.",
                    "success",
                )
            return redirect(continue_to, 303)
    return render_template("auth/second_factor.html", form=form, recovery=recovery)


@bp.post("/sign-out")
def sign_out():
    form = ConfirmForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            services.end_sessions(current_user._get_current_object())  # a copied cookie dies too
            db.session.commit()
        logout_user()
        session.clear()
        flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"), 303)


@bp.get("/")
@roles_required(StaffRole.COORDINATOR, StaffRole.EVALUATOR)
def home():
    return render_template("auth/home.html")


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@roles_required(StaffRole.COORDINATOR, StaffRole.EVALUATOR)
def regenerate_recovery_codes():
    staff = current_user._get_current_object()
    form = ConfirmForm()
    if form.validate_on_submit():
        codes = attempt(lambda: second_factor.regenerate_recovery_codes(staff, by=staff)).result
        return render_template(
            "auth/recovery_codes.html", codes=codes, continue_to=url_for("auth.home"), after_enrolment=False
        )
    left = second_factor.recovery_codes_left(staff)
    return render_template("auth/regenerate_recovery_codes.html", form=form, left=left)


# --- Between the password and the code ------------------------------------------------------------------------


def _start_pending(staff: StaffUser, next_url: str | None) -> None:
    session.clear()  # a fresh session on sign-in (no fixation)
    session[PENDING_KEY] = {
        "staff_id": staff.id,
        "version": staff.session_version,
        "at": utcnow().timestamp(),
        "next": next_url,
    }


def _pending_staff() -> StaffUser | None:
    """The account whose password was right a moment ago, or None (none, timed out, or since signed out
    everywhere, reset or deactivated: its session_version moved on)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    age = utcnow().timestamp() - float(pending.get("at") or 0)
    staff = None
    if 0 <= age <= PENDING_LIFETIME.total_seconds():
        staff = db.session.get(StaffUser, int(pending.get("staff_id") or 0))
    if staff is None or not staff.active or staff.session_version != pending.get("version"):
        session.pop(PENDING_KEY, None)
        return None
    return staff


def _sign_in_again(had_pending: bool):
    """Back to the password: with a word of explanation if a sign-in was under way (or a form was sent)."""
    session.pop(PENDING_KEY, None)
    if had_pending or request.method == "POST":
        flash(SIGN_IN_TIMED_OUT, "error")
    return redirect(url_for("auth.sign_in"), 303)


def _finish_sign_in(staff: StaffUser) -> str:
    """Sign the person in on a fresh session; where to go next."""
    pending = session.get(PENDING_KEY) or {}
    continue_to = safe_next(pending.get("next")) or url_for("auth.home")
    session.clear()
    login_user(staff)
    session.permanent = True
    session["seen_at"] = utcnow().timestamp()
    return continue_to
