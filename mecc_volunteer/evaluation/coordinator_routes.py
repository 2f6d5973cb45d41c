"""The coordinator's "Send evaluation invitations" for a finished session: a GET page that says who would be
invited, and a POST to the same address that sends (registered on the sessions blueprint, under /manage/)."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer import errors
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.evaluation import emails
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm
from mecc_volunteer.models import StaffRole, TrainingSession
from mecc_volunteer.sessions import bp


@bp.route("/<int:session_id>/evaluation-invitations", methods=["GET", "POST"])
@roles_required(StaffRole.COORDINATOR)
def evaluation_invitations(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            sent = emails.send_evaluation_invitations(training_session, by=current_user)
        except errors.DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("sessions.evaluation_invitations", session_id=session_id), 303)
        db.session.commit()
        if not sent:
            flash("Everyone who attended has been invited or has answered. Nothing more was sent.", "success")
            return redirect(url_for("sessions.evaluation_invitations", session_id=session_id), 303)
        n = len(sent)
        flash(f"Evaluation invitation sent to {n} {'person' if n == 1 else 'people'}.", "success")
        return redirect(url_for("sessions.emails", session_id=session_id), 303)
    plan = emails.plan_invitations(training_session)
    return render_template("evaluation/invitations.html", form=form, plan=plan, training_session=training_session)
