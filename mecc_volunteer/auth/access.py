"""Deny by default: a /manage/ view opens only to the roles it names with @roles_required."""

from functools import wraps

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.routing import RequestRedirect

from mecc_volunteer.auth.services import load_staff
from mecc_volunteer.extensions import login_manager
from mecc_volunteer.models import StaffRole, utcnow

PUBLIC_STAFF_ENDPOINTS = {
    "auth.sign_in",
    "auth.sign_out",
    "auth.enrol_second_factor",
    "auth.second_factor",
    "auth.set_password",
}


def roles_required(*roles: StaffRole):
    """Mark a staff view with the roles allowed to use it (admins are always allowed)."""

    def decorate(view):
        allowed = frozenset(roles) | {StaffRole.ADMIN}

        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = allowed  # type: ignore[attr-defined]  # read by guard_staff_pages, below
        return wrapped

    return decorate


def init_app(app: Flask) -> None:
    # Flask-Login asks the auth area who a session belongs to.
    login_manager.user_loader(load_staff)

    @app.before_request
    def guard_staff_pages():
        if not request.path.startswith("/manage/") and request.path != "/manage":
            return None
        if request.endpoint in PUBLIC_STAFF_ENDPOINTS:
            return None
        if not current_user.is_authenticated or _idle_too_long():
            logout_user()
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")), 303)
        if isinstance(request.routing_exception, RequestRedirect):
            # /manage/review -> /manage/review/: routing answers with the redirect before any view runs, and
            # the view it leads to is checked on the next request.
            return None
        view = app.view_functions.get(request.endpoint) if request.endpoint is not None else None
        if view is None or not getattr(view, "allowed_roles", None):
            abort(403)  # a staff view that forgot to say who may use it is closed to everyone
        session["seen_at"] = utcnow().timestamp()
        return None


def _idle_too_long() -> bool:
    seen_at = session.get("seen_at")
    # The idle limit is config's PERMANENT_SESSION_LIFETIME, which also ends the cookie.
    idle_limit = current_app.permanent_session_lifetime.total_seconds()
    return seen_at is None or utcnow().timestamp() - seen_at > idle_limit
