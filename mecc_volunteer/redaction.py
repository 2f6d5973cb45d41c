"""Personal-link secrets never reach a log.

Every route that carries a volunteer's secret names it with the `secret` converter (`/my-booking/<secret:token>`).
The patterns that find those secrets in a path are built from the URL map, so a new personal-link route is
redacted as soon as it exists, in the gunicorn access log (gunicorn.conf.py) and in the app's own log (every
log record is redacted as it is made: message, arguments and traceback).
"""

import functools
import logging
import re
import threading
import traceback

from flask import Flask
from werkzeug.routing import BaseConverter, Map

REDACTED = "[link]"
# What a path segment can be inside a log line: it ends at a slash, a query, a fragment, a space or a quote.
_SEGMENT = r"[^/?#\s\"']+"
# werkzeug's rule syntax: <name>, <converter:name> or <converter(arguments):name>.
_PLACEHOLDER = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


class SecretConverter(BaseConverter):
    """A path segment that is a personal-link secret: it matches as the default converter does, and is
    redacted wherever the path is logged."""


def secret_rules(url_map: Map) -> list[str]:
    """The rules (as written) that carry a personal-link secret."""
    return [rule.rule for rule in url_map.iter_rules() if _secret_names(url_map, rule.rule)]


def _secret_names(url_map: Map, rule: str) -> set[str]:
    names = set()
    for match in _PLACEHOLDER.finditer(rule):
        converter = url_map.converters.get(match["converter"] or "default")
        if isinstance(converter, type) and issubclass(converter, SecretConverter):
            names.add(match["name"])
    return names


def patterns_for(url_map: Map) -> list[re.Pattern]:
    """One pattern per rule with a secret, up to its last secret: literal text as written, any other argument
    as a segment, and each secret as a group (the part replaced by REDACTED)."""
    sources = set()
    for rule in url_map.iter_rules():
        secrets = _secret_names(url_map, rule.rule)
        if not secrets:
            continue
        parts, position, last_end = [], 0, 0
        for match in _PLACEHOLDER.finditer(rule.rule):
            parts.append(_literal(rule.rule[position : match.start()]))
            parts.append(f"({_SEGMENT})" if match["name"] in secrets else _SEGMENT)
            position = match.end()
            if match["name"] in secrets:
                last_end = len(parts)
        sources.add("".join(parts[:last_end]))
    return [re.compile(source) for source in sorted(sources)]


def _literal(text: str) -> str:
    """The rule's text as it can appear in a raw request line: each character as itself or percent-encoded
    (the server decodes /my%2Dbooking/... into the same route)."""
    out = []
    for char in text:
        encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        either_case = re.sub(r"[A-F]", lambda m: f"[{m[0]}{m[0].lower()}]", re.escape(encoded))
        out.append(f"(?:{re.escape(char)}|{either_case})")
    return "".join(out)


def redact_with(patterns: list[re.Pattern], text: str) -> str:
    for pattern in patterns:
        text = pattern.sub(_replace_groups, text)
    return text


def _replace_groups(match: re.Match) -> str:
    text, offset, out, position = match.group(0), match.start(), [], 0
    for group in range(1, (match.re.groups or 0) + 1):
        start, end = match.span(group)
        out.append(text[position : start - offset])
        out.append(REDACTED)
        position = end - offset
    out.append(text[position:])
    return "".join(out)


# --- The process's log -------------------------------------------------------------------------------
# Log records carry no app, so the patterns of every app made in this process are kept together (in production
# there is one app per worker; tests make many, all with the same routes).

_lock = threading.Lock()
_patterns: dict[str, re.Pattern] = {}


def redact(text: str) -> str:
    """Every personal-link secret in the text replaced by REDACTED, for the routes of the apps made so far."""
    return redact_with(list(_patterns.values()), text)


def has_patterns() -> bool:
    return bool(_patterns)


def register_converter(app: Flask) -> None:
    """Before the blueprints: their rules use <secret:...>."""
    app.url_map.converters["secret"] = SecretConverter


def init_app(app: Flask) -> None:
    """After the blueprints: learn the app's personal-link routes, and redact every log record made from now on."""
    with _lock:
        for pattern in patterns_for(app.url_map):
            _patterns.setdefault(pattern.pattern, pattern)
        _install_factory()


@functools.cache
def _install_factory() -> None:
    """Redact every log record made from now on: once per process, however many apps init_app sees."""
    logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))


def _redacting_factory(make_record):
    """A record factory rather than a logging.Filter: a filter on the "mecc_volunteer" logger never sees the
    records of "mecc_volunteer.errors" and the rest (logger filters do not apply to records that propagate
    from child loggers), nor those of werkzeug, gunicorn or any library that logs a path."""

    def make(*args, **kwargs):
        record = make_record(*args, **kwargs)
        try:
            redact_record(record)
        except Exception:  # a log call must never fail because of redaction
            record.msg, record.args = "[log message withheld: it could not be checked for personal links]", ()
        return record

    return make


def redact_record(record: logging.LogRecord) -> None:
    """Redact the formatted message (whatever the arguments' types) and any traceback, in place."""
    if not _patterns:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to the handler to report, but redacted
        message = f"{record.msg!r} % {record.args!r}"
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
