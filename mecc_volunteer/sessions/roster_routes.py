"""Coordinator views for a session's roster and its row actions: parse, load, check the role, call one service,
commit, respond. Without JavaScript every action is a form and a redirect; with htmx the same endpoints
answer with the changed fragment."""

from io import BytesIO
from typing import Any

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.csv_export import write_csv
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.htmx import is_htmx, render
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    LONDON,
    BookingStatus,
    StaffRole,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.sessions import bp, roster, roster_actions, services
from mecc_volunteer.sessions.roster_forms import (
    ALL_STATUSES,
    AddVolunteerForm,
    MoveBookingForm,
    RecordElearningForm,
    RosterSearchForm,
)
from mecc_volunteer.templating import format_date, format_session_time
from mecc_volunteer.transactions import attempt
from mecc_volunteer.volunteers.services import Outcome, registration_choices

COORDINATORS = (StaffRole.COORDINATOR,)


def _search_form() -> RosterSearchForm:
    """The roster's search and filter from the query string; bad values are reported and ignored."""
    form = RosterSearchForm(formdata=request.args)
    form.validate()
    return form


def _roster_url(training_session: TrainingSession) -> str:
    filters: dict[str, Any] = _search_form().filters  # Any: mypy checks **values against _external and the like
    return url_for("sessions.roster", session_id=training_session.id, **filters)


# --- The roster -----------------------------------------------------------------------------------------


def _roster_page(training_session: TrainingSession, search_form: RosterSearchForm):
    """The roster page, or only its results for htmx (a search, or the answer to a row action)."""
    now = utcnow()
    return render(
        "sessions/roster.html",
        block="roster_results",
        training_session=training_session,
        row=services.get_session_row(training_session, now=now),
        roster=roster.list_roster(
            training_session,
            search=search_form.search,
            status=search_form.booking_status,
            elearning_not_done=search_form.elearning_not_done,
            now=now,
        ),
        search_form=search_form,
        filters=search_form.filters,
        cannot_add=roster_actions.reason_cannot_add(training_session, now=now),
        BookingStatus=BookingStatus,
    )


def _after_roster_action(training_session: TrainingSession):
    """htmx: the refreshed results, with the message swapped into the flash region. No JS: back to the roster."""
    if is_htmx():
        return _roster_page(training_session, _search_form())
    return redirect(_roster_url(training_session), 303)


@bp.get("/<int:session_id>/roster", endpoint="roster")
@roles_required(*COORDINATORS)
def roster_page(session_id: int):
    return _roster_page(db.get_or_404(TrainingSession, session_id), _search_form())


@bp.get("/<int:session_id>/roster/emails", endpoint="roster_emails")
@roles_required(*COORDINATORS)
def roster_emails(session_id: int):
    """The addresses of the people the roster's search and filter show, to copy into the coordinator's own
    email program (read-only, selectable text: no JavaScript needed)."""
    training_session = db.get_or_404(TrainingSession, session_id)
    search_form = _search_form()
    return render_template(
        "sessions/roster_emails.html",
        training_session=training_session,
        emails=roster.email_addresses(
            training_session,
            search=search_form.search,
            status=search_form.booking_status,
            elearning_not_done=search_form.elearning_not_done,
        ),
        search_form=search_form,
        filters=search_form.filters,
    )


@bp.get("/<int:session_id>/register", endpoint="attendance_register")
@roles_required(*COORDINATORS)
def attendance_register(session_id: int):
    """The attendance register to print: everyone with a place, with a box to sign or tick."""
    training_session = db.get_or_404(TrainingSession, session_id)
    return render_template(
        "sessions/attendance_register.html",
        training_session=training_session,
        row=services.get_session_row(training_session),
        bookings=roster.register_bookings(training_session),
    )


@bp.get("/<int:session_id>/roster.csv")
@roles_required(*COORDINATORS)
def roster_csv(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    requested = request.args.get("status", "")
    if requested == ALL_STATUSES:
        statuses = tuple(BookingStatus)
    elif requested in {status.value for status in BookingStatus}:
        statuses = (BookingStatus(requested),)
    else:
        statuses = HOLDING_PLACE_STATUSES
    headers, rows = roster.roster_rows(training_session, statuses=statuses)
    return send_file(
        BytesIO(write_csv(headers, rows)),
        mimetype="text/csv",
        as_attachment=True,
        download_name=roster.roster_filename(training_session),
    )


# --- Row actions ----------------------------------------------------------------------------------------


@bp.route("/<int:session_id>/roster/<int:booking_id>/cancel", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def cancel_booking(session_id: int, booking_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    booking = roster.booking_or_404(training_session, booking_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        name = booking.volunteer.display_name
        done = attempt(lambda: roster_actions.cancel_from_roster(booking, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            result = done.result
            flash(_cancelled_message(name, result), "success")
        return _after_roster_action(training_session)
    if not booking.is_active:
        name = booking.volunteer.display_name
        if booking.status is BookingStatus.CANCELLED:
            flash(f"{name}'s booking is already cancelled.", "error")
        else:
            flash(
                f"{name} is marked {booking.status.label.lower()}, so the booking can no longer be cancelled.", "error"
            )
        return redirect(_roster_url(training_session), 303)
    return render_template(
        "sessions/booking_cancel.html",
        form=form,
        booking=booking,
        training_session=training_session,
        filters=_search_form().filters,
        BookingStatus=BookingStatus,
    )


def _cancelled_message(name: str, result: roster_actions.CancelResult) -> str:
    message = f"{name}'s booking is cancelled."
    if result.promoted:
        names = ", ".join(booking.volunteer.display_name for booking in result.promoted)
        message += f" The place went to {names} from the waiting list, who has been emailed."
    return message


@bp.post("/<int:session_id>/roster/<int:booking_id>/promote")
@roles_required(*COORDINATORS)
def promote_booking(session_id: int, booking_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    booking = roster.booking_or_404(training_session, booking_id)
    if ConfirmForm().validate_on_submit():
        name = booking.volunteer.display_name
        done = attempt(lambda: roster_actions.promote_booking(booking, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"{name} is booked from the waiting list and has been emailed.", "success")
    return _after_roster_action(training_session)


@bp.route("/<int:session_id>/roster/<int:booking_id>/move", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def move_booking(session_id: int, booking_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    booking = roster.booking_or_404(training_session, booking_id)
    if not booking.is_active:
        flash(
            f"{booking.volunteer.display_name}'s booking is {booking.status.label.lower()}, so it cannot be moved.",
            "error",
        )
        return redirect(_roster_url(training_session), 303)
    sessions = roster_actions.list_sessions_to_move_to(booking)
    form = MoveBookingForm(sessions=sessions)
    if request.method == "POST" and form.validate_on_submit():
        name = booking.volunteer.display_name
        target = db.get_or_404(TrainingSession, int(form.training_session.data))
        done = attempt(lambda: roster_actions.move_from_roster(booking, target, by=current_user))
        if done.error:
            sessions = roster_actions.list_sessions_to_move_to(booking)
            form.choose_from(sessions)
            add_error(form.training_session, done.error.message)
        else:
            flash(
                f"{name} has moved to the session on {format_session_time(target.starts_at, target.ends_at)}. "
                "We have emailed them the new details.",
                "success",
            )
            return redirect(_roster_url(training_session), 303)
    return render_template(
        "sessions/booking_move.html",
        form=form,
        sessions=sessions,
        booking=booking,
        training_session=training_session,
        filters=_search_form().filters,
        BookingStatus=BookingStatus,
    )


@bp.route("/<int:session_id>/roster/<int:booking_id>/elearning", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def record_elearning(session_id: int, booking_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    booking = roster.booking_or_404(training_session, booking_id)
    if not booking.is_active:
        flash(f"{booking.volunteer.display_name}'s booking is {booking.status.label.lower()}.", "error")
        return redirect(_roster_url(training_session), 303)
    form = RecordElearningForm(today=utcnow().astimezone(LONDON).date())
    if request.method == "POST" and form.validate_on_submit():
        name = booking.volunteer.display_name
        done = attempt(lambda: roster_actions.record_elearning(booking, form.completed_on, by=current_user))
        if done.error:
            add_error(form.completed_day, done.error.message)
        else:
            flash(f"E-learning recorded for {name}: completed on {format_date(form.completed_on)}.", "success")
            return redirect(_roster_url(training_session), 303)
    return render_template(
        "sessions/booking_elearning.html",
        form=form,
        booking=booking,
        training_session=training_session,
        filters=_search_form().filters,
    )


# --- Adding someone by hand -----------------------------------------------------------------------------


@bp.route("/<int:session_id>/roster/add", methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def add_volunteer(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = AddVolunteerForm(**registration_choices())
    cannot_add = roster_actions.reason_cannot_add(training_session)
    if request.method == "POST" and cannot_add is None and form.validate_on_submit():
        done = attempt(
            lambda: roster_actions.add_volunteer(
                training_session, form.details(), by=current_user, config=current_app.config
            ),
            # A double-submitted form: the second run finds the booking the first one made, and says so.
            retry_on_conflict=f"adding a volunteer to session {training_session.id}",
        )
        if isinstance(done.error, roster_actions.AlreadyOnThisSession | roster_actions.BookedOnAnotherSession):
            add_error(form.email, done.error.message)
        elif done.error:
            flash(done.error.message, "error")
            return redirect(url_for("sessions.roster", session_id=session_id), 303)
        else:
            flash(_added_message(done.result), "success")
            return redirect(url_for("sessions.roster", session_id=session_id), 303)
    return render_template(
        "sessions/add_volunteer.html",
        form=form,
        training_session=training_session,
        row=services.get_session_row(training_session),
        cannot_add=cannot_add,
    )


def _added_message(result) -> str:
    name = result.booking.volunteer.display_name
    if result.outcome is Outcome.WAITING:
        return (
            f"The session is full, so {name} is on the waiting list (position {result.waiting_position}). "
            "We have emailed them with their personal link."
        )
    return f"{name} is booked. We have emailed them the confirmation and their personal link."
