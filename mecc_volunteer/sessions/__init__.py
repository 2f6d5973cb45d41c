"""Coordinators: sessions, rosters, e-learning, joining links, attendance and email status."""

from flask import Blueprint

bp = Blueprint("sessions", __name__, template_folder="templates", url_prefix="/manage/sessions")

from mecc_volunteer.sessions import attendance_routes, messaging_routes, roster_routes, routes  # noqa: E402,F401
