"""The page behind a staff member's invitation or password reset link: choose a password, then sign in.

Public (the link is the key). GET only shows the form: mail scanners open links, so nothing changes until the
person posts their new password."""

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField

from mecc_volunteer.auth import bp, services, staff_links
from mecc_volunteer.forms import add_error
from mecc_volunteer.models import StaffLinkPurpose
from mecc_volunteer.transactions import attempt
from mecc_volunteer.validation import Length, Required

MAX_PASSWORD_LENGTH = 200  # the sign-in form takes no longer


class SetPasswordForm(FlaskForm):
    password = PasswordField(validators=[Required("Enter a password"), Length("Your password", MAX_PASSWORD_LENGTH)])
    confirm_password = PasswordField(
        validators=[Required("Enter your password again"), Length("Your password", MAX_PASSWORD_LENGTH)]
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        password = self.password.data or ""
        if not self.password.errors and len(password) < services.MIN_PASSWORD_LENGTH:
            add_error(self.password, f"Your password must be at least {services.MIN_PASSWORD_LENGTH} characters")
        elif not self.password.errors and not self.confirm_password.errors and self.confirm_password.data != password:
            add_error(self.confirm_password, "The passwords do not match: enter the same password twice")
        return valid and not self.password.errors and not self.confirm_password.errors


@bp.route("/set-password/<secret:token>", methods=["GET", "POST"])
def set_password(token: str):
    link = staff_links.find_staff_link(token)
    if link is None:
        return render_template("auth/set_password.html", link=None, form=None), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        password = form.password.data or ""
        done = attempt(lambda: staff_links.set_password_with_link(token, password))
        if isinstance(done.error, staff_links.StaffLinkNotValid):
            return render_template("auth/set_password.html", link=None, form=None), 404
        if done.error:
            add_error(form.password, done.error.message)
        else:
            flash("Your password is set. Sign in with your email address and new password.", "success")
            return redirect(url_for("auth.sign_in"), 303)
    return render_template(
        "auth/set_password.html",
        link=link,
        form=form,
        invitation=link.purpose is StaffLinkPurpose.INVITATION,
        email=link.staff_user.email,
    )
