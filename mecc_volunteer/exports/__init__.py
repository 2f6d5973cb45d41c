"""Evaluator downloads: the evaluation responses (CSV, XLSX) and their data dictionary, pseudonymous."""

from flask import Blueprint

bp = Blueprint("exports", __name__, template_folder="templates", url_prefix="/manage/exports")

from mecc_volunteer.exports import routes  # noqa: E402,F401
