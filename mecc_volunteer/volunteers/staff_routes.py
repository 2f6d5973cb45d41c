"""Subject access requests, under /manage/: a coordinator finds a volunteer by their email address (someone who
asked by phone or email), sees and downloads what we hold about them, and deletes it for them. Each look, download
and deletion is in the audit trail with the coordinator's name. Parse, check the role, call one service, commit,
respond; the email address travels in a POST body only, never in a URL (so never in an access log)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.htmx import hx_location, is_htmx, render
from mecc_volunteer.models import StaffRole, Volunteer
from mecc_volunteer.transactions import attempt
from mecc_volunteer.validation import CleanText, EmailAddress, Length, Required, normalise_text
from mecc_volunteer.volunteers import privacy
from mecc_volunteer.volunteers.data_routes import json_download, record_download

bp = Blueprint("volunteers_staff", __name__, template_folder="templates", url_prefix="/manage")


class FindVolunteerForm(FlaskForm):
    """The one field of this page (kept beside its view: the volunteers' forms module holds the public forms)."""

    email = StringField(
        filters=[normalise_text],
        validators=[
            Required("Enter the volunteer's email address"),
            CleanText("Email address"),
            Length("Email address", 254),
            EmailAddress(),
        ],
    )


@bp.route("/volunteer-data", methods=["GET", "POST"])
@roles_required(StaffRole.COORDINATOR)
def find():
    form = FindVolunteerForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            volunteer = privacy.find_by_email(form.email.data or "")
        except privacy.VolunteerNotFound as error:
            add_error(form.email, error.message)
        else:
            url = url_for("volunteers_staff.data", volunteer_id=volunteer.id)
            return hx_location(url) if is_htmx() else redirect(url, 303)
    return render("volunteers/volunteer_data_find.html", block="find_volunteer", form=form)


@bp.get("/volunteer-data/<int:volunteer_id>")
@roles_required(StaffRole.COORDINATOR)
def data(volunteer_id: int):
    volunteer = db.get_or_404(Volunteer, volunteer_id)
    found = privacy.data_about(volunteer)
    record_download(volunteer, by=current_user, what="page, for a request")
    return render_template("volunteers/volunteer_data.html", data=found, volunteer_id=volunteer_id)


@bp.get("/volunteer-data/<int:volunteer_id>/data.json")
@roles_required(StaffRole.COORDINATOR)
def data_json(volunteer_id: int):
    volunteer = db.get_or_404(Volunteer, volunteer_id)
    response = json_download(volunteer)
    record_download(volunteer, by=current_user, what="file, for a request")
    return response


@bp.route("/volunteer-data/<int:volunteer_id>/delete", methods=["GET", "POST"])
@roles_required(StaffRole.COORDINATOR)
def delete(volunteer_id: int):
    """GET asks to confirm (and changes nothing); POST deletes the volunteer's data on their behalf."""
    volunteer = db.get_or_404(Volunteer, volunteer_id)
    back = url_for("volunteers_staff.data", volunteer_id=volunteer_id)
    if volunteer.identity_removed_at is not None:
        flash(privacy.IdentityAlreadyRemoved.message, "error")
        return redirect(back, 303)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: privacy.delete_data(volunteer, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            cancelled = len(done.result.cancelled)
            flash(
                "Their personal data is deleted"
                + (f" and {cancelled} {'booking' if cancelled == 1 else 'bookings'} cancelled." if cancelled else "."),
                "success",
            )
        return hx_location(back) if is_htmx() else redirect(back, 303)
    return render_template(
        "volunteers/volunteer_data_delete.html",
        form=form,
        volunteer=volunteer,
        to_cancel=privacy.bookings_to_cancel(volunteer),
    )
