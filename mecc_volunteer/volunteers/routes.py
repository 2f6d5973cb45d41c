"""Volunteer views: parse, load, call one service, commit, respond."""

from flask import abort, current_app, flash, make_response, redirect, render_template, request, session, url_for

from mecc_volunteer import errors, page_cache, settings
from mecc_volunteer.bookings import lifecycle
from mecc_volunteer.calendar import booking_ics
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.htmx import hx_location, is_htmx, render
from mecc_volunteer.models import LONDON, BookingStatus, LinkPurpose, SessionKind, TrainingSession, utcnow
from mecc_volunteer.tokens import booking_or_404
from mecc_volunteer.transactions import Attempt, attempt
from mecc_volunteer.urls import external_url
from mecc_volunteer.volunteers import bp, pending, services
from mecc_volunteer.volunteers.forms import (
    REGISTRATION_FIELDS,
    ElearningForm,
    LostLinkForm,
    MoveForm,
    RegistrationForm,
    label_for,
)

# The only thing the session cookie holds for a registration: a random key to its server-side row.
REGISTRATION_KEY = "registration_key"


@bp.get("/")
@page_cache.public_page
def index():
    kind = _kind_filter(request.args.get("kind"))
    now = utcnow()
    sessions = services.list_upcoming_sessions(kind=kind, now=now)
    page_cache.valid_until(services.next_status_change(sessions, now=now))
    return render("volunteers/index.html", block="session_list", sessions=sessions, kind=kind, kinds=SessionKind)


def _kind_filter(value: str | None) -> SessionKind | None:
    try:
        return SessionKind(value) if value else None
    except ValueError:
        return None


@bp.get("/privacy")
@page_cache.public_page
def privacy():
    return render_template("volunteers/privacy.html")


@bp.get("/accessibility")
@page_cache.public_page
def accessibility():
    return render_template("volunteers/accessibility.html")


# --- Registration ----------------------------------------------------------------------------------


def _open_session_or_explain(session_id: int):
    """The session, or a page that says why it cannot be booked."""
    try:
        return services.get_session_open_for_registration(session_id), None
    except errors.SessionNotFound:
        abort(404)
    except errors.DomainError as error:
        training_session = db.session.get(TrainingSession, session_id)
        if training_session is not None:
            page_cache.rendered_from(services.registration_page_content_of(training_session))
            if training_session.ends_at > utcnow():
                page_cache.valid_until(training_session.ends_at)  # closed, then finished
        page = render_template("volunteers/session_unavailable.html", training_session=training_session, error=error)
        return None, page


def _registration_form(saved_answers: dict | None = None, *, to_check: bool = False) -> RegistrationForm:
    """The form from the request; or filled in from saved answers, to show again (with its CSRF field, so
    it can be posted without JavaScript) or to check again before registering (no token to check then)."""
    choices = services.registration_choices()
    if saved_answers is None:
        return RegistrationForm(**choices)
    meta = {"csrf": False} if to_check else {}
    return RegistrationForm(formdata=None, data=saved_answers, meta=meta, **choices)


@bp.route("/sessions/<int:session_id>/register", methods=["GET", "POST"])
@page_cache.public_page(content=services.registration_page_content)
def register(session_id: int):
    training_session, unavailable = _open_session_or_explain(session_id)
    if unavailable:
        return unavailable
    if request.method == "GET":
        page_cache.rendered_from(services.registration_page_content_of(training_session))
        page_cache.valid_until(training_session.registration_closes_at)
        form = _registration_form(pending.load_answers(session.get(REGISTRATION_KEY), session_id) or {})
    else:
        form = _registration_form()
        if form.validate_on_submit():
            session[REGISTRATION_KEY] = pending.save_answers(session.get(REGISTRATION_KEY), session_id, _answers(form))
            db.session.commit()
            url = url_for("volunteers.check_answers", session_id=session_id)
            return hx_location(url) if is_htmx() else redirect(url, 303)
    return render(
        "volunteers/register.html",
        block="registration_form",
        form=form,
        training_session=training_session,
        status=training_session.status(),
        field_order=REGISTRATION_FIELDS,
    )


def _answers(form: RegistrationForm) -> dict:
    return {name: form[name].data for name in REGISTRATION_FIELDS}


def _pending_form(session_id: int) -> RegistrationForm | None:
    """The answers waiting on Check your answers, validated again (the list of organisations may change)."""
    answers = pending.load_answers(session.get(REGISTRATION_KEY), session_id)
    if answers is None:
        return None
    form = _registration_form(answers, to_check=True)
    return form if form.validate() else None


@bp.route("/sessions/<int:session_id>/register/check", methods=["GET", "POST"])
def check_answers(session_id: int):
    training_session, unavailable = _open_session_or_explain(session_id)
    if unavailable:
        return unavailable
    form = _pending_form(session_id)
    if form is None:
        return redirect(url_for("volunteers.register", session_id=session_id), 303)
    confirm_form = ConfirmForm()
    if request.method == "POST" and confirm_form.validate_on_submit():
        done = _register(training_session, form, session[REGISTRATION_KEY])
        if done.error:
            return render_template(
                "volunteers/session_unavailable.html", training_session=training_session, error=done.error
            )
        return redirect(url_for("volunteers.registration_done", session_id=session_id), 303)
    return render_template(
        "volunteers/check_answers.html",
        form=form,
        confirm_form=confirm_form,
        training_session=training_session,
        status=training_session.status(),
        organisation=label_for(form.organisation),
        district=label_for(form.district),
        label_for=label_for,
    )


def _register(training_session: TrainingSession, form: RegistrationForm, key: str) -> Attempt:
    """Register, and keep what happened for the confirmation page, in one transaction (run once more if a
    double submission collides with itself)."""
    details = form.details()

    def register_and_remember():
        result = services.register(training_session, details, config=current_app.config)
        pending.record_result(
            key,
            outcome=result.outcome.value,
            booking=result.booking,
            token=result.token,
            waiting_position=result.waiting_position,
            email_sent=result.email_sent,
        )
        return result

    return attempt(register_and_remember, retry_on_conflict=f"registration for session {training_session.id}")


@bp.get("/sessions/<int:session_id>/register/done")
def registration_done(session_id: int):
    """Shown once: the key leaves the cookie, so a reload, or the next person at a shared computer, sees
    nothing of it (the row goes with the next `flask jobs run`)."""
    result = pending.load_result(session.pop(REGISTRATION_KEY, None), session_id)
    training_session = db.session.get(TrainingSession, session_id)
    if result is None or training_session is None:
        return redirect(url_for("volunteers.index"), 303)
    manage_url = url_for("volunteers.my_booking", token=result.token) if result.token else None
    return render_template(
        "volunteers/registration_done.html",
        outcome=services.Outcome(result.outcome),
        Outcome=services.Outcome,
        training_session=training_session,
        position=result.waiting_position,
        email=result.booking.volunteer.email,
        email_sent=result.email_sent,
        manage_url=manage_url,
    )


# --- My booking -------------------------------------------------------------------------------------


def _my_booking_context(booking, token: str) -> dict:
    training_session = booking.training_session
    can_change = lifecycle.can_change(booking)
    return {
        "can_change": can_change,
        "booking": booking,
        "token": token,
        "training_session": booking.training_session,
        "session_status": booking.training_session.status(),
        "position": services.waiting_position(booking),
        "can_move": can_change and services.can_move_somewhere(booking),
        "elearning_url": settings.current().elearning_url,
        # Released only to a booked volunteer who has confirmed the e-learning (SPEC 3).
        "joining_link": training_session.joining_link if booking.ready_for_joining_link else None,
        "BookingStatus": BookingStatus,
    }


@bp.get("/my-booking/<secret:token>")
def my_booking(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    response = render("volunteers/my_booking.html", block="booking_details", **_my_booking_context(booking, token))
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/my-booking/<secret:token>/calendar.ics")
def calendar(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    if not booking.is_active:
        abort(404)
    ics = booking_ics(booking, manage_url=external_url("volunteers.my_booking", token=token), with_joining_link=True)
    response = make_response(ics)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="mecc-training.ics"'
    return response


@bp.route("/my-booking/<secret:token>/cancel", methods=["GET", "POST"])
def cancel(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        was_waiting = booking.status is BookingStatus.WAITING
        done = attempt(lambda: services.cancel_booking(booking))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash("You have left the waiting list." if was_waiting else "Your booking is cancelled.", "success")
        url = url_for("volunteers.my_booking", token=token)
        if is_htmx():
            return render("volunteers/my_booking.html", block="booking_details", **_my_booking_context(booking, token))
        return redirect(url, 303)
    if not booking.is_active:
        return redirect(url_for("volunteers.my_booking", token=token), 303)
    return render_template("volunteers/cancel.html", form=form, **_my_booking_context(booking, token))


@bp.route("/my-booking/<secret:token>/move", methods=["GET", "POST"])
def move(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    if not lifecycle.can_change(booking):
        flash("This booking can no longer be moved.", "error")
        return redirect(url_for("volunteers.my_booking", token=token), 303)
    sessions = services.list_sessions_to_move_to(booking)
    form = MoveForm(sessions=sessions)
    if request.method == "GET" and request.args.get("to", "").isdigit():
        form.training_session.data = request.args["to"]
    if request.method == "POST" and form.validate_on_submit():
        target = db.get_or_404(TrainingSession, int(form.training_session.data))
        done = attempt(lambda: services.move_booking(booking, target))
        if done.error:
            add_error(form.training_session, done.error.message)
            sessions = services.list_sessions_to_move_to(booking)
        else:
            flash("Your booking has moved. We have emailed you the new details.", "success")
            return redirect(url_for("volunteers.my_booking", token=token), 303)
    requested = request.args.get("to", "")
    requested_unavailable = requested.isdigit() and requested not in {str(s.training_session.id) for s in sessions}
    return render_template(
        "volunteers/move.html",
        form=form,
        sessions=sessions,
        requested_unavailable=requested_unavailable and request.method == "GET",
        **{k: v for k, v in _my_booking_context(booking, token).items() if k != "can_move"},
    )


@bp.route("/my-booking/<secret:token>/elearning", methods=["GET", "POST"])
def elearning(token: str):
    booking = booking_or_404(token, LinkPurpose.MANAGE)
    if not booking.is_active:
        return redirect(url_for("volunteers.my_booking", token=token), 303)
    form = ElearningForm(today=utcnow().astimezone(LONDON).date())
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: services.confirm_elearning(booking, form.completed_on))
        if done.error:
            add_error(form.completed_day, done.error.message)
        else:
            flash("Thank you: your e-learning is confirmed.", "success")
            return redirect(url_for("volunteers.my_booking", token=token), 303)
    return render_template("volunteers/elearning.html", form=form, **_my_booking_context(booking, token))


# --- Lost your link? -------------------------------------------------------------------------------


@bp.route("/lost-link", methods=["GET", "POST"])
def lost_link():
    form = LostLinkForm()
    sent_to = None
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: services.request_link(form.email.data, remote_addr=request.remote_addr))
        if done.error:
            # 429 for a browser; htmx swaps only a 200, so it gets the same words in the lost-link region.
            response = render(
                "errors/429.html",
                block="too_many",
                title="You have asked for too many links",
                message=done.error.message,
            )
            if not is_htmx():
                response.status_code = 429
            response.headers["Retry-After"] = str(int(services.LINK_REQUESTS_PER_ADDRESS.window.total_seconds()))
            return response
        sent_to = form.email.data
    return render("volunteers/lost_link.html", block="lost_link", form=form, sent_to=sent_to)
