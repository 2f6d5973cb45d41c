"""Staff sign-in and the access rules every /manage/ page goes through."""

from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates", url_prefix="/manage")

from mecc_volunteer.auth import password_routes, routes  # noqa: E402,F401
