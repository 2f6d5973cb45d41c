"""The process's log, for an operator: one line per event on standard error, with its time, level, logger and
the request's id (LOG_FORMAT "text", or "json": one JSON object a line), and never a personal detail.

- Request ids: a request keeps an incoming X-Request-ID when it is a safe token (a proxy's, say nginx's
  $request_id), or gets a new one. Every log line of the request carries it, the response sends it back in
  X-Request-ID, and gunicorn's access log (gunicorn.conf.py) writes it from there, so the access line and the
  app's lines of one request are found together.
- No personal data: personal-link secrets are redacted from every record (redaction.py); email addresses are
  replaced here too (scrub), SQL parameters never reach an error's text (config.engine_options), and no line
  names the client's address.

A stdlib Formatter rather than a library: the record has five fields, and json.dumps writes them.
"""

import datetime as dt
import functools
import json
import logging
import re
import secrets
import sys

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

from mecc_volunteer import redaction

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it cannot break a log line or smuggle anything into it.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
NO_REQUEST = "-"

# An address's local part may hold an apostrophe (o'brien@...), but not start with one: that is a quote around it.
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&*+/=?^_`{|}~-][A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]*(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
EMAIL_REDACTED = "[email]"
# Free-text searches in a query string (the roster's search box takes a name or an email address).
SEARCH = re.compile(r"([?&](?:q|email|name)=)[^&#\s\"']*")
SEARCH_REDACTED = r"\1[search]"


def init_app(app: Flask) -> None:
    """Request ids for this app, and the process's one log handler (set up once, whatever the number of apps
    made: the last app's LOG_FORMAT is the one used)."""
    _install_record_factory()
    handler = _handler()
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    # Flask's own stderr handler on the app's logger would write each line a second time, unformatted.
    app.logger.removeHandler(default_handler)
    logging.getLogger("mecc_volunteer").setLevel(app.config["LOG_LEVEL"])

    @app.before_request
    def take_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)

    @app.after_request
    def send_request_id(response):
        if "request_id" not in g:  # a response made before take_request_id ran (another hook's abort)
            g.request_id = secrets.token_hex(16)
        response.headers[REQUEST_ID_HEADER] = g.request_id
        return response


def current_request_id() -> str:
    """The request's id, or "-" outside a request (the jobs, the mail courier's thread)."""
    if not has_request_context():
        return NO_REQUEST
    return g.get("request_id", NO_REQUEST)


def scrub(text: str) -> str:
    """Email addresses and free-text searches out of a line."""
    return SEARCH.sub(SEARCH_REDACTED, EMAIL.sub(EMAIL_REDACTED, text))


# --- One handler, on the root logger ----------------------------------------------------------------------


class _StandardError(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (as logging's last resort does), so a test runner that
    swaps it, or a closed earlier one, never breaks a log call."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _handler() -> logging.Handler:
    """The process's handler, added to the root logger once. The root logger, so that every library's warnings
    (werkzeug, SQLAlchemy, Alembic) come out in the same format; propagating records still reach any handler
    a test (pytest's caplog) or an operator adds."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, _StandardError):
            return handler
    handler = _StandardError()
    root.addHandler(handler)
    return handler


# --- Every record: the request id, and no email address ----------------------------------------------------


@functools.cache
def _install_record_factory() -> None:
    """Once per process. A record factory rather than a handler's filter, so every handler sees the request id
    and the scrubbed text (caplog, an operator's own), as with redaction's."""
    make_record = logging.getLogRecordFactory()

    def make(*args, **kwargs):
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        try:
            _scrub_record(record)
        except Exception:  # a log call must never fail because of scrubbing
            record.msg, record.args = "[log message withheld: it could not be checked for personal data]", ()
        return record

    logging.setLogRecordFactory(make)


def _scrub_record(record: logging.LogRecord) -> None:
    message = record.getMessage()
    # Kept formatted: each later reader (redaction's factory, the handler) has the text without formatting it again
    # (gunicorn's access line reads and redacts its atoms each time it is formatted).
    record.msg, record.args = EMAIL.sub(EMAIL_REDACTED, message) if EMAIL.search(message) else message, ()
    if record.exc_info and not record.exc_text:
        # Formatted now, so personal-link secrets go with the email addresses (redaction's factory, which
        # may run after this one, leaves a traceback already formatted as it is).
        record.exc_text = redaction.redact(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        record.exc_text = EMAIL.sub(EMAIL_REDACTED, record.exc_text)
    if record.stack_info:
        record.stack_info = EMAIL.sub(EMAIL_REDACTED, record.stack_info)


# --- Formats -----------------------------------------------------------------------------------------------


def _time(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")


def _fields(record: logging.LogRecord) -> dict:
    fields = {
        "time": _time(record),
        "level": record.levelname,
        "logger": record.name,
        "request_id": getattr(record, "request_id", NO_REQUEST),
        "message": record.getMessage(),
    }
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        fields["exception"] = record.exc_text
    if record.stack_info:
        fields["stack"] = record.stack_info
    return fields


class JsonFormatter(logging.Formatter):
    """{"time": "2026-09-01T09:00:00.123+00:00", "level": "INFO", "logger": "mecc_volunteer.mail",
    "request_id": "...", "message": "..."} and "exception" with its traceback: one object a line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """2026-09-01T09:00:00.123+00:00 INFO mecc_volunteer.mail [request id] message | traceback: one line an
    event, whatever the message holds (a newline in a message could otherwise forge another line)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        line = f"{fields['time']} {fields['level']} {fields['logger']} [{fields['request_id']}] {fields['message']}"
        for extra in ("exception", "stack"):
            if extra in fields:
                line += f" | {fields[extra]}"
        return line.replace("\r", "\\r").replace("\n", "\\n")
