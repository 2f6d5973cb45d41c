"""Coordinator views for attendance: who holds a place, marked one by one or all at once once the session has
started. Without JavaScript each mark is a form and a redirect; with htmx the row (and the counts) swap in place."""

from flask import flash, redirect, url_for
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm
from mecc_volunteer.htmx import is_htmx, render
from mecc_volunteer.models import BookingStatus, StaffRole, TrainingSession, utcnow
from mecc_volunteer.sessions import attendance as attendance_service
from mecc_volunteer.sessions import bp, roster, services
from mecc_volunteer.sessions.roster_forms import AttendanceForm
from mecc_volunteer.transactions import attempt

COORDINATORS = (StaffRole.COORDINATOR,)


# --- Attendance -----------------------------------------------------------------------------------------


def _attendance_context(training_session: TrainingSession) -> dict:
    now = utcnow()
    return {
        "training_session": training_session,
        "row": services.get_session_row(training_session, now=now),
        "bookings": attendance_service.list_attendance(training_session),
        "is_open": attendance_service.attendance_is_open(training_session, now=now),
        "BookingStatus": BookingStatus,
    }


@bp.get("/<int:session_id>/attendance")
@roles_required(*COORDINATORS)
def attendance(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    return render("sessions/attendance.html", block="attendance_list", **_attendance_context(training_session))


@bp.post("/<int:session_id>/attendance/<int:booking_id>")
@roles_required(*COORDINATORS)
def record_attendance(session_id: int, booking_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    booking = roster.booking_or_404(training_session, booking_id)
    form = AttendanceForm()
    if form.validate_on_submit():
        name = booking.volunteer.display_name
        done = attempt(lambda: attendance_service.record_attendance(booking, form.was_there, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"{name}: {booking.status.label.lower()}.", "success")
    else:
        flash(form.attended.errors[0], "error")
    if is_htmx():
        return render(
            "sessions/attendance.html",
            block="attendance_row",
            booking=booking,
            is_open=attendance_service.attendance_is_open(training_session),
            single_row=True,
            row=services.get_session_row(training_session),  # the counts above the table, updated out of band
            training_session=training_session,
            BookingStatus=BookingStatus,
        )
    return redirect(url_for("sessions.attendance", session_id=session_id, _anchor=f"booking-{booking.id}"), 303)


@bp.post("/<int:session_id>/attendance/mark-all")
@roles_required(*COORDINATORS)
def mark_all_attended(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    if ConfirmForm().validate_on_submit():
        done = attempt(lambda: attendance_service.mark_all_attended(training_session, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            marked = done.result
            n = len(marked)
            flash(
                f"{n} {'person' if n == 1 else 'people'} marked as attended. Change anyone who did not attend below.",
                "success",
            )
    if is_htmx():
        return render("sessions/attendance.html", block="attendance_list", **_attendance_context(training_session))
    return redirect(url_for("sessions.attendance", session_id=session_id), 303)
