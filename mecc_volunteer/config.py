"""Safe defaults only; secrets come from instance/config.py or the environment."""

import os
from typing import Any, ClassVar


class Config:
    SECRET_KEY = None  # make run writes one into instance/config.py
    # The programme's names, contact, links, cut-off, evaluation timings, meeting hosts, retention and privacy
    # notice are settings an admin changes in the app (mecc_volunteer/settings.py), not config.
    PROGRAMME_TIMEZONE = "Europe/London"
    # The follow-up consent's wording lives in the registration form's code, so its version does too.
    FOLLOWUP_CONSENT_VERSION = "2026-09"
    # The public address for links in emails, e.g. https://mecc.example.org. Unset, it follows the address the
    # server binds to (FLASK_RUN_HOST and FLASK_RUN_PORT, which `make run HOST=... PORT=...` passes on).
    BASE_URL = None

    SQLALCHEMY_DATABASE_URI = None  # set in the factory
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {}

    # Request size caps: the largest form is a registration of a few KB.
    MAX_CONTENT_LENGTH = 64 * 1024
    MAX_FORM_MEMORY_SIZE = 64 * 1024
    MAX_FORM_PARTS = 200

    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the browser session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = None  # None: Secure when BASE_URL is https
    SESSION_COOKIE_NAME = "mecc_session"
    # Staff sessions end after 30 minutes idle: the cookie's lifetime, refreshed on each request, and the limit
    # auth.access checks on the server.
    PERMANENT_SESSION_LIFETIME = 30 * 60

    # Mail: with no MAIL_SERVER, delivery writes .eml files under instance/mail/.
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "MECC Volunteer <no-reply@example.org>"
    MAIL_TIMEOUT = 10  # seconds, for `flask mail deliver`
    MAIL_TIMEOUT_INLINE = 2  # seconds, for the courier thread that delivers a request's mail just after it
    MAIL_DELIVER_AFTER_REQUEST = True
    MAIL_MAX_ATTEMPTS = 8


def instance_path_from_env() -> str | None:
    """MECC_INSTANCE_PATH moves the instance folder (config.py, the SQLite file, .eml mail) elsewhere, as the
    browser tests' gunicorn server does; unset, Flask's default `instance/` beside the package is used."""
    return os.environ.get("MECC_INSTANCE_PATH") or None


def database_url(instance_path: str) -> str:
    """DATABASE_URL wins; otherwise SQLite in the instance folder."""
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return "sqlite:///" + os.path.join(instance_path, "mecc_volunteer.sqlite")


def default_base_url() -> str:
    """http://HOST:PORT of `make run` (127.0.0.1:5000 unless told otherwise); a bind-all host links to loopback."""
    host = os.environ.get("FLASK_RUN_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 - compared with, not bound to
        host = "127.0.0.1"
    port = os.environ.get("FLASK_RUN_PORT") or "5000"
    return f"http://{host}:{port}"
