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
    # Anything set here wins over what the factory fills in (engine_options below).
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {}
    # PostgreSQL's connection pool, per process (each gunicorn worker, and `flask jobs run`). A sync worker
    # uses one connection at a time for its request and its mail courier thread another, so 2 kept open plus
    # 2 more in a burst. Keep servers x workers x (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW), plus the jobs
    # runner's few, below PostgreSQL's max_connections (100 by default, 3 of them kept for superusers): the
    # defaults, 2 servers of 2 workers, need at most 16 + 2 for the jobs. Every connection is pinged before
    # use, so one that a database restart or failover closed is replaced instead of failing a request.
    # Ignored on SQLite, which has no server to run out of connections.
    DATABASE_POOL_SIZE = 2
    DATABASE_MAX_OVERFLOW = 2

    # Behind a reverse proxy (nginx, a cloud load balancer): how many proxies in front of the app add
    # X-Forwarded-For, -Proto, -Host, -Port and -Prefix. With 1, the right-most value of each is the client's
    # address, scheme and host as the proxy saw them, so sign-in and link limits count each person apart,
    # cookies and HSTS follow https, and CSRF's referrer check compares the public host. 0 (the default): those
    # headers are ignored, as anyone can send them; set it only when every request comes through the proxies.
    TRUSTED_PROXY_HOPS = 0

    # Logs go to standard error, one line per event with time, level, logger and request id: "text", or
    # "json" (one JSON object a line, for a log collector). LOG_LEVEL is the app's own level (mecc_volunteer.*).
    LOG_FORMAT = "text"
    LOG_LEVEL = "INFO"

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


MAX_PROXY_HOPS = 5
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_deployment_settings(config: dict) -> None:
    """Refuse to start on a deployment setting that cannot be right (a typo in FLASK_TRUSTED_PROXY_HOPS
    would otherwise trust no proxy, or every client, without a word). Whole numbers may come as text
    (instance/config.py, or an environment value); they are stored as int."""
    config["TRUSTED_PROXY_HOPS"] = whole_number(config, "TRUSTED_PROXY_HOPS", 0, MAX_PROXY_HOPS)
    config["DATABASE_POOL_SIZE"] = whole_number(config, "DATABASE_POOL_SIZE", 1, 100)
    config["DATABASE_MAX_OVERFLOW"] = whole_number(config, "DATABASE_MAX_OVERFLOW", 0, 100)
    log_format = str(config.get("LOG_FORMAT") or "").lower()
    if log_format not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {config.get('LOG_FORMAT')!r}")
    config["LOG_FORMAT"] = log_format
    level = str(config.get("LOG_LEVEL") or "").upper()
    if level not in LOG_LEVELS:
        raise RuntimeError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {config.get('LOG_LEVEL')!r}")
    config["LOG_LEVEL"] = level


def whole_number(config: dict, name: str, minimum: int, maximum: int) -> int:
    value = config.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RuntimeError(
            f"{name} (FLASK_{name}) must be a whole number from {minimum} to {maximum}, not {config.get(name)!r}"
        )
    return value


def engine_options(config: dict) -> dict[str, Any]:
    """SQLAlchemy's engine options: SQL parameters (names, email addresses) never in an error's text or a
    log; on a database server, a pinged pool of the configured size. SQLALCHEMY_ENGINE_OPTIONS wins."""
    options: dict[str, Any] = {"hide_parameters": True}
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        options.update(
            pool_pre_ping=True,
            pool_size=config["DATABASE_POOL_SIZE"],
            max_overflow=config["DATABASE_MAX_OVERFLOW"],
        )
    return {**options, **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}


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
