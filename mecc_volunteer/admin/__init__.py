"""Admins: staff accounts and roles, organisations and their types, areas, programme settings, and data
retention. Every view here is for the admin role only."""

from flask import Blueprint

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/manage/admin")

from mecc_volunteer.admin import activity_routes, retention_routes, routes  # noqa: E402,F401
