"""gunicorn settings for `make run` and production: 2 sync workers, access log without secrets."""

import re

from gunicorn.glogging import Logger

workers = 2
worker_class = "sync"
accesslog = "-"
# Personal links carry a secret in the path; the access log keeps only the route.
PERSONAL_LINK = re.compile(r"(/my-booking/)[^/?\s]+")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Every atom that can hold the path: the request line, URL, Referer and the raw environ copies.
        return {key: PERSONAL_LINK.sub(r"\1[link]", value) if isinstance(value, str) else value
                for key, value in atoms.items()}


logger_class = RedactingLogger
