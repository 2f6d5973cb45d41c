"""Coordinator views for emailing a session's volunteers: joining links, e-learning reminders, email status.

Each action is a GET page that previews and confirms, and a POST to the same address that sends (pretix's
GET-confirms, POST-acts). Parse, load, check the role, call one service, commit, respond.
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm
from mecc_volunteer.htmx import is_htmx, render
from mecc_volunteer.models import EmailStatus, OutgoingEmail, StaffRole, TrainingSession
from mecc_volunteer.sessions import bp
from mecc_volunteer.sessions.email_status import email_status
from mecc_volunteer.sessions.email_status import retry_email as send_failed_email_again
from mecc_volunteer.sessions.joining_links import plan_joining_links, send_joining_links
from mecc_volunteer.sessions.reminders import plan_elearning_reminders, send_elearning_reminders
from mecc_volunteer.transactions import attempt

COORDINATORS = (StaffRole.COORDINATOR,)


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


# --- Joining links ------------------------------------------------------------------------------------


@bp.route("/<int:session_id>/joining-links", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def joining_links(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _send_joining_links(training_session)
    plan = plan_joining_links(training_session)
    return render_template("sessions/joining_links.html", form=form, plan=plan, training_session=training_session)


@bp.route("/<int:session_id>/joining-links/resend", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def resend_joining_links(session_id: int):
    """After the link changed: "Re-send the new link to the N people who had the old one?"."""
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _send_joining_links(training_session)
    plan = plan_joining_links(training_session)
    return render_template("sessions/resend_prompt.html", form=form, plan=plan, training_session=training_session)


def _send_joining_links(training_session: TrainingSession):
    done = attempt(lambda: send_joining_links(training_session, by=current_user))
    if done.error:
        flash(done.error.message, "error")
        return redirect(url_for("sessions.joining_links", session_id=training_session.id), 303)
    sent = done.result
    if not sent:
        flash(
            "Everyone booked who has confirmed the e-learning already has the current joining link. "
            "Nothing more was sent.",
            "success",
        )
        return redirect(url_for("sessions.joining_links", session_id=training_session.id), 303)
    flash(f"Joining link sent to {_people(len(sent))}. You can follow each email below.", "success")
    return redirect(url_for("sessions.emails", session_id=training_session.id), 303)


# --- E-learning reminders -------------------------------------------------------------------------------


@bp.route("/<int:session_id>/elearning-reminders", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def elearning_reminders(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: send_elearning_reminders(training_session, by=current_user))
        if done.error:
            flash(done.error.message, "error")
            return redirect(url_for("sessions.elearning_reminders", session_id=session_id), 303)
        result = done.result
        if result.sent:
            n = len(result.sent)
            flash(f"E-learning reminder sent to {_people(n)}. You can follow each email below.", "success")
            return redirect(url_for("sessions.emails", session_id=session_id), 303)
        if result.already_reminded:
            one = result.already_reminded == 1
            flash(
                f"The {_people(result.already_reminded)} who {'has' if one else 'have'} not confirmed the e-learning "
                f"{'was' if one else 'were'} already reminded today. Nothing more was sent.",
                "success",
            )
        else:
            flash("Everyone booked has confirmed the e-learning, so there is no one to remind.", "success")
        return redirect(url_for("sessions.elearning_reminders", session_id=session_id), 303)
    plan = plan_elearning_reminders(training_session)
    return render_template("sessions/elearning_reminders.html", form=form, plan=plan, training_session=training_session)


# --- Email status ---------------------------------------------------------------------------------------


def _status_filter() -> EmailStatus | None:
    value = request.args.get("status", "")
    return next((status for status in EmailStatus if status.value == value), None)


@bp.get("/<int:session_id>/emails")
@roles_required(*COORDINATORS)
def emails(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    status = _status_filter()
    page = email_status(training_session, status=status)
    return render(
        "sessions/emails.html",
        block="email_list",
        page=page,
        status=status,
        form=ConfirmForm(),
        training_session=training_session,
        EmailStatus=EmailStatus,
    )


@bp.post("/<int:session_id>/emails/<int:email_id>/retry")
@roles_required(*COORDINATORS)
def retry_email(session_id: int, email_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    email = db.session.get(OutgoingEmail, email_id)
    if email is None or email.training_session_id != training_session.id:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        done = attempt(lambda: send_failed_email_again(email, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"Trying again to send the email to {email.to_address}.", "success")
    status = _status_filter()
    if is_htmx():
        page = email_status(training_session, status=status)
        return render(
            "sessions/emails.html",
            block="email_list",
            page=page,
            status=status,
            form=form,
            training_session=training_session,
            EmailStatus=EmailStatus,
        )
    return redirect(url_for("sessions.emails", session_id=session_id, status=status.value if status else None), 303)
