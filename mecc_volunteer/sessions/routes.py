"""Coordinator views for sessions: parse, load, check the role, call one service, commit, respond."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer import audit, settings
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.models import StaffRole, TrainingSession
from mecc_volunteer.sessions import bp, services, trainers
from mecc_volunteer.sessions.forms import SessionForm
from mecc_volunteer.transactions import attempt

COORDINATORS = (StaffRole.COORDINATOR,)


def _session_form(training_session: TrainingSession | None = None) -> SessionForm:
    keep = training_session.trainer_volunteer_id if training_session else None
    return SessionForm(
        allowed_hosts=settings.current().joining_link_hosts, trainers=trainers.trainer_choices(keep=keep)
    )


@bp.get("/")
@roles_required(*COORDINATORS)
def index():
    past = request.args.get("show") == "past"
    return render_template("sessions/index.html", rows=services.list_sessions(upcoming=not past), past=past)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def new():
    form = _session_form()
    if form.validate_on_submit():
        # The same session entered twice (or the button pressed twice) is more likely than two at once: say so,
        # and create nothing until the coordinator confirms.
        same_time = services.sessions_at_the_same_time(form.details)
        if same_time and not form.same_time_confirmed.data:
            return _session_form_page(form, None, same_time=same_time)
        done = attempt(lambda: services.create_session(form.details, by=current_user))
        if isinstance(done.error, trainers.NotATrainedTrainer):
            add_error(form.trainer_volunteer_id, done.error.message)
        elif done.error:
            add_error(form.day, done.error.message)
        else:
            training_session = done.result
            flash("Session created.", "success")
            return redirect(url_for("sessions.detail", session_id=training_session.id), 303)
    return _session_form_page(form, None)


def _session_form_page(form: SessionForm, training_session: TrainingSession | None, *, same_time=()):
    return render_template(
        "sessions/form.html",
        form=form,
        training_session=training_session,
        programme_cutoff_days=services.programme_cutoff_days(),
        same_time=same_time,
    )


@bp.get("/<int:session_id>")
@roles_required(*COORDINATORS)
def detail(session_id: int):
    row = services.get_session_row(db.get_or_404(TrainingSession, session_id))
    return render_template(
        "sessions/detail.html",
        row=row,
        training_session=row.training_session,
        trained_trainer=trainers.trainer_of(row.training_session),
        recent_actions=audit.recent_session_actions(session_id),
    )


@bp.route("/<int:session_id>/edit", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def edit(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    if training_session.cancelled_at is not None:
        flash("A cancelled session cannot be changed.", "error")
        return redirect(url_for("sessions.detail", session_id=session_id), 303)
    form = _session_form(training_session)
    if request.method == "GET":
        form.fill_from(services.SessionDetails.of(training_session))
    elif form.validate_on_submit():
        done = attempt(lambda: services.update_session(training_session, form.details, by=current_user))
        if isinstance(done.error, trainers.NotATrainedTrainer):
            add_error(form.trainer_volunteer_id, done.error.message)
        elif isinstance(done.error, services.CapacityBelowBooked):
            add_error(form.capacity, done.error.message)
        elif isinstance(done.error, services.SessionInThePast):
            add_error(form.day, done.error.message)
        elif done.error:
            add_error(form.kind, done.error.message)
        else:
            result = done.result
            flash(_update_message(result), "success")
            if result.link_changed and result.had_old_link:
                return redirect(url_for("sessions.resend_joining_links", session_id=session_id), 303)
            return redirect(url_for("sessions.detail", session_id=session_id), 303)
    return _session_form_page(form, training_session)


def _update_message(result: services.UpdateResult) -> str:
    parts = ["Session updated."]
    if result.promoted:
        n = len(result.promoted)
        parts.append(
            f"{n} {'person' if n == 1 else 'people'} from the waiting list"
            f" {'was' if n == 1 else 'were'} booked and emailed."
        )
    if result.times_changed and result.told_of_new_time:
        n = result.told_of_new_time
        parts.append(
            f"{n} {'person' if n == 1 else 'people'} booked or waiting {'has' if n == 1 else 'have'} been emailed"
            " the new date and time."
        )
    elif result.times_changed:
        parts.append("Nobody is booked or waiting, so nobody was emailed.")
    if result.link_changed and result.had_old_link:
        n = result.had_old_link
        parts.append(f"The joining link changed: {n} {'person has' if n == 1 else 'people have'} the old one.")
    return " ".join(parts)


@bp.route("/<int:session_id>/cancel", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def cancel(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: services.cancel_session(training_session, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            cancelled = done.result
            n = len(cancelled)
            if n:
                flash(
                    f"Session cancelled. {n} {'person' if n == 1 else 'people'} booked or waiting"
                    f" {'has' if n == 1 else 'have'} been emailed.",
                    "success",
                )
            else:
                flash("Session cancelled. Nobody was booked or waiting, so nobody was emailed.", "success")
        return redirect(url_for("sessions.detail", session_id=session_id), 303)
    row = services.get_session_row(training_session)
    return render_template("sessions/cancel.html", form=form, row=row, training_session=training_session)
