"""gzip for text responses, and long-lived caching for versioned static files.

The page budget (SPEC 7: 50 KB per volunteer page, gzip) counts bytes on the wire, so the app compresses
itself rather than relying on a proxy that a small council or charity may not have.
"""

import gzip
import hashlib
import os
from functools import lru_cache

from flask import Flask, request

COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_SIZE = 500
ONE_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=64)
def _static_gzip(path: str, mtime: float) -> bytes:
    """Static files are compressed once (best level) and kept, keyed by their modification time."""
    with open(path, "rb") as handle:
        return gzip.compress(handle.read(), compresslevel=9, mtime=0)


@lru_cache(maxsize=64)
def _static_version(path: str, mtime: float) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def init_app(app: Flask) -> None:
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = ONE_YEAR

    @app.url_defaults
    def version_static_urls(endpoint, values):
        # /static/css/app.min.css?v=<content hash>: cached for a year, refreshed when the file changes.
        if endpoint == "static" and "filename" in values and "v" not in values:
            path = os.path.join(app.static_folder, values["filename"])
            if os.path.isfile(path):
                values["v"] = _static_version(path, os.path.getmtime(path))

    @app.after_request
    def compress(response):
        response.vary.add("Accept-Encoding")
        if (
            "gzip" not in request.headers.get("Accept-Encoding", "")
            or response.status_code < 200
            or response.status_code in (204, 304)
            or response.is_streamed and not response.direct_passthrough
            or "Content-Encoding" in response.headers
            or not (response.mimetype or "").startswith(COMPRESSIBLE)
        ):
            return response
        if request.endpoint == "static" and response.direct_passthrough:
            path = os.path.join(app.static_folder, request.view_args["filename"])
            body = _static_gzip(path, os.path.getmtime(path))
            response.close()  # the open file behind the uncompressed body
            response.direct_passthrough = False
        else:
            data = response.get_data()
            if len(data) < MIN_SIZE:
                return response
            body = gzip.compress(data, compresslevel=6, mtime=0)
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Content-Length"] = str(len(body))
        if response.headers.get("ETag"):
            # A compressed body is a different representation: weaken the validator.
            etag, weak = response.get_etag()
            response.set_etag(etag + "-gzip", weak=True)
        return response
