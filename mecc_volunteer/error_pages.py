"""The app's error pages: GOV.UK-style pages for HTTP errors, an expired form (CSRF), a busy or unreachable
database (503, nothing half-written) and anything unexpected (500)."""

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from mecc_volunteer import settings
from mecc_volunteer.extensions import db

log = logging.getLogger(__name__)


ERROR_PAGES = {
    400: ("Sorry, there is a problem with your request", "errors/400.html"),
    403: ("You do not have permission to see this page", "errors/403.html"),
    404: ("Page not found", "errors/404.html"),
    405: ("Sorry, there is a problem with your request", "errors/400.html"),
    413: ("Your request was too large", "errors/413.html"),
    429: ("Too many requests", "errors/429.html"),
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/csrf.html", title="Your form expired"), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        title, template = ERROR_PAGES.get(error.code or 500, (error.name, "errors/400.html"))
        return render_template(template, title=title, error=error), error.code

    @app.errorhandler(OperationalError)
    def database_busy(error):
        # Lock contention or a lost connection: nothing was half-written (the transaction rolls back).
        db.session.rollback()
        log.warning("database unavailable for %s %s: %s", request.method, request.path, type(error.orig).__name__)
        settings.current_or_defaults()
        response = render_template("errors/503.html", title="Sorry, the service is busy")
        return response, 503, {"Retry-After": "5"}

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        try:
            settings.current_or_defaults()
            return render_template("errors/500.html", title="Sorry, there is a problem with the service"), 500
        except Exception:  # the error page itself must not fail
            log.exception("error page failed to render")
            return "<!DOCTYPE html><title>Sorry</title><h1>Sorry, there is a problem with the service</h1>", 500
