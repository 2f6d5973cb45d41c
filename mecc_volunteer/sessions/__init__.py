"""Coordinators: sessions, rosters, e-learning, joining links, attendance and email status."""

from flask import Blueprint

bp = Blueprint("sessions", __name__, template_folder="templates", url_prefix="/manage/sessions")

from mecc_volunteer.sessions import routes  # noqa: E402,F401
from mecc_volunteer.sessions import roster_routes  # noqa: E402,F401
from mecc_volunteer.sessions import attendance_routes  # noqa: E402,F401
from mecc_volunteer.sessions import messaging_routes  # noqa: E402,F401
from mecc_volunteer.evaluation import coordinator_routes  # noqa: E402,F401
