"""Evaluation: the surveys volunteers answer (this blueprint) and, for staff, the pilot review and a session's
evaluation invitations (staff_routes.bp, evaluation_staff). The questions are mecc_volunteer/instrument.py."""

from flask import Blueprint

# The surveys volunteers answer from a personal link (public, no sign-in).
bp = Blueprint("evaluation", __name__, template_folder="templates")

from mecc_volunteer.evaluation import routes  # noqa: E402,F401
