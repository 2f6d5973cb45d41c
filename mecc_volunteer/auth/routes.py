"""Staff sign-in and sign-out."""

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from mecc_volunteer.auth import bp, services
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.auth.forms import SignInForm
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.models import StaffRole, utcnow
from mecc_volunteer.transactions import attempt

SIGN_IN_FAILED = "Enter a correct email address and password"


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
        done = attempt(lambda: services.authenticate(email, password, remote_addr=request.remote_addr))
        if done.error:
            add_error(form.password, done.error.message)
        else:
            staff = done.result
            if staff is not None:
                session.clear()  # a fresh session on sign-in (no fixation)
                login_user(staff)
                session.permanent = True
                session["seen_at"] = utcnow().timestamp()
                return redirect(safe_next(request.args.get("next")) or url_for("auth.home"), 303)
            # The same answer for an unknown email, a wrong password and a disabled account.
            add_error(form.email, SIGN_IN_FAILED)
    return render_template("auth/sign_in.html", form=form)


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
