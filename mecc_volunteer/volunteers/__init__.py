"""Public pages: find a session, register, and manage a booking by personal link."""

from flask import Blueprint

bp = Blueprint("volunteers", __name__, template_folder="templates")

from mecc_volunteer.volunteers import data_routes, routes  # noqa: E402,F401
