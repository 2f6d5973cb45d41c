"""gunicorn settings for `make run` and production: 2 sync workers, access log without secrets."""

import os

from gunicorn.glogging import Logger, SafeAtoms

workers = 2
worker_class = "sync"
# Seconds a worker may spend on one request before it is killed and restarted: long enough for the largest
# download (a CSV or the evaluator pack of a whole pilot); GUNICORN_TIMEOUT changes it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = "-"
# One line a request: time, the request id the app sent back (X-Request-ID, also on each of the app's log lines
# of that request), request line, status, bytes, duration, Referer and browser. Never the client's address
# (personal data): the request id leads from an access line to the app's log instead.
access_log_format = '%(t)s %({x-request-id}o)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
# Which proxies to believe is the app's TRUSTED_PROXY_HOPS (Werkzeug's ProxyFix), for the scheme as for the
# client's address and host. gunicorn's own default believes X-Forwarded-Proto from 127.0.0.1, so a local proxy
# made requests https while the host stayed the proxy's upstream, and CSRF's referrer check refused every form.
secure_scheme_headers: dict[str, str] = {}
# No runtime control socket (gunicorn 25+): nothing here manages workers through it, and every server on a machine
# would share its default path (~/.gunicorn/gunicorn.ctl), the last to start taking it from the others.
control_socket_disable = True


def _redact(text: str, *, load_app: bool = True) -> str:
    """Personal-link secrets out of a logged path: the patterns come from the app's URL map (every route with
    a <secret:...> argument), learnt when the worker loaded the app. Email addresses and searches too."""
    from mecc_volunteer import logs, redaction

    if load_app and not redaction.has_patterns():
        import wsgi  # noqa: F401 - a worker has loaded it before its first request; this is a safety net

    return logs.scrub(redaction.redact(text))


class RedactedAtoms(SafeAtoms):
    """The access log's atoms, each one that comes from the request redacted, then its quotes escaped as
    gunicorn's SafeAtoms does, when the log format reads it. Any atom can hold the path (the request line, URL,
    Referer, headers, the raw environ copies); a request has some fifty and the format reads eight, and
    redacting all of them was 6% of a worker's time serving registrations (a profile of the worker)."""

    # Made by gunicorn from the clock and the response's status and length, never from what the client sent.
    MADE_BY_THE_SERVER = frozenset({"t", "s", "b", "B", "T", "D", "M", "L", "p"})

    def __init__(self, atoms):
        dict.__init__(self, atoms)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if not isinstance(value, str) or key in self.MADE_BY_THE_SERVER:
            return value
        return _redact(value).replace('"', '\\"')


class RedactingLogger(Logger):
    atoms_wrapper_class = RedactedAtoms

    # gunicorn's own messages can name the request too ("Error handling request /my-booking/...").
    def critical(self, msg, *args, **kwargs):
        super().critical(*_redacted(msg, args), **kwargs)

    def error(self, msg, *args, **kwargs):
        super().error(*_redacted(msg, args), **kwargs)

    def warning(self, msg, *args, **kwargs):
        super().warning(*_redacted(msg, args), **kwargs)

    def info(self, msg, *args, **kwargs):
        super().info(*_redacted(msg, args), **kwargs)

    def debug(self, msg, *args, **kwargs):
        super().debug(*_redacted(msg, args), **kwargs)

    def exception(self, msg, *args, **kwargs):
        super().exception(*_redacted(msg, args), **kwargs)


def _redacted(msg, args) -> tuple:
    """The message formatted, then redacted (the master, which never loads the app, logs as it is)."""
    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        return (msg, *args)
    return (_redact(text, load_app=False),)


logger_class = RedactingLogger


def post_worker_init(worker) -> None:
    """Load scipy (the pilot review's statistics and disclosure audit) as the worker starts, not during an
    evaluator's first request: it takes seconds to import. The app imports it lazily, so the jobs command and
    other command-line runs never pay for it."""
    import scipy.optimize
    import scipy.stats  # noqa: F401
