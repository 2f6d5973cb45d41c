"""gunicorn settings for `make run` and production: 2 sync workers, access log without secrets."""

from gunicorn.glogging import Logger

workers = 2
worker_class = "sync"
accesslog = "-"


def _redact(text: str, *, load_app: bool = True) -> str:
    """Personal-link secrets out of a logged path: the patterns come from the app's URL map (every route with
    a <secret:...> argument), learnt when the worker loaded the app."""
    from mecc_volunteer import redaction

    if load_app and not redaction.has_patterns():
        import wsgi  # noqa: F401 - a worker has loaded it before its first request; this is a safety net

    return redaction.redact(text)


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Every atom that can hold the path: the request line, URL, Referer, headers and the raw environ copies.
        return {key: _redact(value) if isinstance(value, str) else value for key, value in atoms.items()}

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
