"""A volunteer's own data, from My booking: read it, download it as JSON, delete it; and acknowledge a new privacy
notice. Views parse, load, call one service, commit, respond; a GET changes nothing but the audit trail's note of
a download (as the evaluators' downloads are noted)."""

from flask import flash, make_response, redirect, render_template, request, url_for

from mecc_volunteer import audit
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm
from mecc_volunteer.htmx import hx_location, is_htmx, render
from mecc_volunteer.models import LinkPurpose, Volunteer, utcnow
from mecc_volunteer.tokens import booking_or_404
from mecc_volunteer.transactions import attempt
from mecc_volunteer.volunteers import bp, privacy

# My booking asks whether the volunteer has read the privacy notice's current version (the banner).
bp.add_app_template_global(privacy.notice_changed, "privacy_notice_changed")


def record_download(volunteer: Volunteer, *, by: audit.By, what: str) -> None:
    """Note in the audit trail that the data was read (the page) or downloaded (the file): the reading
    transaction ends first, so the note is written in one of its own (as the evaluators' downloads are)."""
    volunteer_id = volunteer.id
    db.session.commit()
    attempt(lambda: privacy.note_download(volunteer_id, by=by, what=what))


def json_download(volunteer: Volunteer):
    """The JSON file of everything we hold about the volunteer, as an attachment."""
    response = make_response(privacy.as_json(privacy.data_about(volunteer)))
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    filename = f"mecc-your-data-{utcnow().date().isoformat()}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/my-booking/<secret:token>/your-data")
def your_data(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    volunteer = booking.volunteer
    data = privacy.data_about(volunteer)
    record_download(volunteer, by=audit.VOLUNTEER, what="page")
    response = make_response(render_template("volunteers/your_data.html", data=data, token=token))
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/my-booking/<secret:token>/your-data.json")
def your_data_json(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    response = json_download(booking.volunteer)
    record_download(booking.volunteer, by=audit.VOLUNTEER, what="file")
    return response


@bp.route("/my-booking/<secret:token>/delete-your-data", methods=["GET", "POST"])
def delete_data(token: str):
    """GET explains and asks to confirm (and changes nothing); POST deletes. Afterwards the link opens nothing."""
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: privacy.delete_data(booking.volunteer, by=audit.VOLUNTEER))
        if done.error:
            flash(done.error.message, "error")
            return redirect(url_for("volunteers.my_booking", token=token), 303)
        url = url_for("volunteers.data_deleted")
        return hx_location(url) if is_htmx() else redirect(url, 303)
    return render_template(
        "volunteers/delete_data.html", form=form, token=token, to_cancel=privacy.bookings_to_cancel(booking.volunteer)
    )


@bp.get("/your-data-deleted")
def data_deleted():
    return render_template("volunteers/data_deleted.html")


@bp.post("/my-booking/<secret:token>/privacy-notice")
def acknowledge_privacy(token: str):
    """ "I have read it": the volunteer has read the current privacy notice."""
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    form = ConfirmForm()
    if form.validate_on_submit():
        attempt(lambda: privacy.acknowledge_notice(booking.volunteer))
    if is_htmx():
        return render("volunteers/my_booking.html", block="privacy_notice", booking=booking, token=token, thanked=True)
    flash("Thank you for reading the updated privacy notice.", "success")
    return redirect(url_for("volunteers.my_booking", token=token), 303)
