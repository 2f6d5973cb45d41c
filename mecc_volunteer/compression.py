"""Compressed responses (Flask-Compress), and long-lived caching for versioned static files.

The page budget (SPEC 7: 30 KB per volunteer page, gzip) counts bytes on the wire, so the app compresses
itself rather than relying on a proxy that a small council or charity may not have. Flask-Compress picks
zstd, brotli, gzip or deflate from Accept-Encoding, adds `Vary: Accept-Encoding`, and compresses
streamed bodies (static files, send_file downloads, the streamed CSV) chunk by chunk as they go out,
without reading them into memory first.
"""

import gzip
import hashlib
import os
from functools import lru_cache

from flask import Flask, request
from flask_compress import Compress

ONE_YEAR = 365 * 24 * 3600

# Text the app sends: pages and fragments, CSS, JS, SVG, and the CSV and calendar downloads. (XLSX is
# already a zip archive: compressing it again only costs time.)
COMPRESS_MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/calendar",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
]


def _closing(stream, original):
    try:
        yield from stream
    finally:
        original.close()


@lru_cache(maxsize=64)
def _static_version(path: str, mtime: float) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


@lru_cache(maxsize=64)
def _gzipped_static(path: str, mtime: float) -> bytes:
    # Once per file and process, at the highest level: it costs nothing per request, and a first visit is lighter.
    with open(path, "rb") as handle:
        return gzip.compress(handle.read(), 9, mtime=0)


def _serve_static_precompressed(app: Flask) -> None:
    """Static files gzipped once, not chunk by chunk on every request. Flask's own view still answers first, so
    conditional requests (304), the year-long caching and 404s stay as they are; only a 200's body is swapped
    for the kept gzip when the browser accepts it."""

    def static(filename: str):
        response = app.send_static_file(filename)
        if response.status_code != 200 or response.mimetype not in COMPRESS_MIMETYPES:
            return response
        if request.accept_encodings["gzip"] <= 0:
            return response
        path = os.path.join(app.static_folder or "", filename)
        body = _gzipped_static(path, os.path.getmtime(path))
        response.close()  # the open file Flask would have streamed
        response.direct_passthrough = False
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"  # Flask-Compress leaves it alone then
        response.vary.add("Accept-Encoding")
        return response

    app.view_functions["static"] = static


def init_app(app: Flask) -> None:
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = ONE_YEAR
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESS_MIMETYPES)
    # gzip first when the browser takes several: at Flask-Compress's default levels (zstd 3, brotli 4)
    # our CSS and JS come out 5-15 % larger than with gzip 6, and SPEC 7's budget is counted in gzip.
    # Flask-Compress leaves gzip out for streamed bodies by default, and every static file and download is
    # streamed, so it goes back in there too (curl and some older clients take nothing else).
    app.config.setdefault("COMPRESS_ALGORITHM", ["gzip", "br", "zstd", "deflate"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["gzip", "br", "zstd", "deflate"])
    # Flask-Compress compresses a streamed body (a static file, a send_file download) through a generator
    # that stands in for it, so closing the response no longer closes the file underneath. These two hooks
    # close it once the compressed stream is sent, or when the response is closed before that. (After-request
    # functions run last registered first: the first hook here runs after Flask-Compress, the second before.)

    @app.after_request
    def close_the_original_body_when_sent(response):
        original = response.__dict__.pop("_original_body", None)
        if original is not None and response.response is not original:
            response.response = _closing(response.response, original)
        return response

    # One Compress per app: it keeps the app's settings on itself when it is initialised.
    app.extensions["compress"] = Compress(app)
    if app.has_static_folder:
        _serve_static_precompressed(app)

    @app.after_request
    def remember_the_original_body(response):
        if response.is_streamed and hasattr(response.response, "close"):
            response._original_body = response.response
            response.call_on_close(response.response.close)
        return response

    @app.url_defaults
    def version_static_urls(endpoint, values):
        # /static/css/app.min.css?v=<content hash>: cached for a year, refreshed when the file changes.
        if endpoint == "static" and app.static_folder and "filename" in values and "v" not in values:
            path = os.path.join(app.static_folder, values["filename"])
            if os.path.isfile(path):
                values["v"] = _static_version(path, os.path.getmtime(path))
