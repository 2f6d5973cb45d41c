"""Evaluation: the instrument, the surveys volunteers answer, and the evaluators' pilot review."""

from flask import Blueprint

# The surveys volunteers answer from a personal link (public, no sign-in).
bp = Blueprint("evaluation", __name__, template_folder="templates")

from mecc_volunteer.evaluation import routes  # noqa: E402,F401
