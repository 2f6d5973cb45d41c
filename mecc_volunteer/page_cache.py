"""Public pages kept rendered and compressed, per process, and served again until the data under them changes.

Most visits to the volunteer pages are people with nothing of their own in their session yet (no answers saved, not
signed in, no message waiting): they all see the same start page, the same registration form but for its CSRF
token, the same privacy notice. Rendering those again for each of them is most of a page's cost (SPEC 7 asks for
throughput near a bare Flask endpoint), so each process keeps the last rendering and its gzip body.

Never stale: a kept page is served only while
- the public data's version (mecc_volunteer.models.data_version, moved on by database triggers in the same
  transaction as every write to sessions, bookings, the programme and the form's choices) is the one it was
  rendered at, read once per request before any of the page's data, so a page is no older than its version and
  a booking committed on any server is seen by the next request on every server; and
- the clock has not passed the moment the page would read differently (a session's registration closing, its end),
  which the view declares with `valid_until`.
Only GET and HEAD requests use it (they never write, so they never read uncommitted data), and only for a visitor
whose session holds nothing but a CSRF token. The token is the one part that differs between visitors: the page
is rendered with a placeholder and each response gets the visitor's own token.

It also keeps, per process, values made from the reference data alone (the programme's settings, the registration
form's choices) while the reference version holds: kept_while_the_reference_holds.
"""

import functools
import secrets
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from flask import Response, current_app, g, has_request_context, request, session
from flask_wtf.csrf import generate_csrf

from mecc_volunteer.extensions import db
from mecc_volunteer.models import PUBLIC_DATA, REFERENCE_DATA, DataVersion, utcnow

# Pages kept per process: a few per session on sale, the start page's filters and the static pages.
MAX_PAGES = 256
GZIP_LEVEL = 6  # as Flask-Compress's default, so a kept page weighs what a rendered one does

# Stands for the visitor's CSRF token while a page is rendered for everyone; random, so no input can forge it.
_PLACEHOLDER = "csrf-" + secrets.token_hex(16)
_VERSION_QUERY = "SELECT id, version FROM data_version"


def data_version() -> int | None:
    """The public data's version, read once per request (None if the row is missing: then nothing is kept).

    Straight from a pooled connection, outside the ORM session: it is one number, and the session's transaction
    machinery would cost more than the page served. Whatever the view then reads, through the session, it reads
    later, so it is at least as new as this version (what a kept page needs: never older than its version)."""
    if "data_version" not in g:
        versions = _read_versions()
        g.data_version, g.reference_version = versions.get(PUBLIC_DATA), versions.get(REFERENCE_DATA)
    return g.data_version


def reference_version() -> int | None:
    """The version of the programme and the registration form's choices alone, read with data_version()."""
    data_version()
    return g.reference_version


def _read_versions() -> dict[int, int]:
    dbapi = db.engine.dialect.loaded_dbapi
    try:
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(_VERSION_QUERY)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            connection.close()  # back to the pool, rolled back
    except dbapi.Error as error:
        # As SQLAlchemy would have raised it: the error pages answer a database that is down with a 503.
        raise sa.exc.DBAPIError.instance(_VERSION_QUERY, None, error, dbapi.Error) from error
    return dict(rows)


T = TypeVar("T")
_REFERENCE_VERSION_IN_THIS_TRANSACTION = sa.select(DataVersion.version).where(DataVersion.id == REFERENCE_DATA)


def kept_while_the_reference_holds(name: str, read: Callable[[], T]) -> T:
    """A value made from the programme and the registration form's choices alone (the settings, the organisations
    and areas offered), kept per process while the reference version is the one it was made at.

    A GET or HEAD, which never writes, compares the version read at the start of the request and keeps what it
    reads (committed data, at least as new as that version). Any other request compares the version as its own
    transaction sees it, which a write of its own to those tables has already moved on (the triggers run within
    it), and never keeps what it reads: the transaction may yet roll back."""
    if not has_request_context():
        return read()
    if request.method in ("GET", "HEAD"):
        version, keep = reference_version(), True
    else:
        version, keep = db.session.scalar(_REFERENCE_VERSION_IN_THIS_TRANSACTION), False
    values = current_app.extensions["reference_values"]
    kept = values.get(name)
    if version is not None and kept is not None and kept[0] == version:
        return kept[1]
    value = read()
    if keep and version is not None:
        values[name] = (version, value)
    return value


def rendered_from(content: Hashable) -> None:
    """Called by a view of a page kept with `content=`: what the page was rendered from, worked out from the very
    objects rendered (see public_page)."""
    g.page_content = content


def valid_until(moment: datetime | None) -> None:
    """Called by a view while it renders a page that will read differently from `moment` on, whatever the data."""
    if moment is not None and (g.get("page_valid_until") is None or moment < g.page_valid_until):
        g.page_valid_until = moment


@dataclass(frozen=True)
class KeptPage:
    version: int
    rendered_at: datetime
    valid_until: datetime | None
    status: int
    headers: tuple[tuple[str, str], ...]
    # The body split where the visitor's CSRF token goes: one part when the page has no form to post.
    parts: tuple[bytes, ...]
    # Each part compressed once, as deflate blocks that stand alone (see _gzip).
    deflated: tuple[bytes, ...]
    # What the view said the page was rendered from (rendered_from), for a view kept with `content=`.
    content: Hashable | None = None

    def in_time(self, now: datetime) -> bool:
        # A clock set back (a test travelling in time) must not see a page from its future.
        return self.rendered_at <= now and (self.valid_until is None or now < self.valid_until)

    def fresh(self, version: int, now: datetime) -> bool:
        return self.version == version and self.in_time(now)


class _Pages:
    """The last rendering of each page, least recently used first out. gunicorn's sync workers serve one request at
    a time, but a threaded server (tests, `flask run`) may not: the lock keeps the order consistent."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[tuple, KeptPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> KeptPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple, page: KeptPage) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


def _pages() -> _Pages:
    return current_app.extensions["page_cache"]


def public_page(view: Callable | None = None, *, content: Callable[..., Hashable] | None = None):
    """Serve the view's page from the process's kept copy when it is fresh, and keep each new rendering.

    A kept page is fresh while the public data's version is the one it was rendered at. With `content`, a function
    of the view's arguments that reads, afresh and cheaply, everything the page shows (the reference data's version
    and one session's own state, say), a page older than the version is still served when what it was rendered from
    (rendered_from, worked out by the view from the objects it rendered) equals what `content` reads now: another
    person's booking moves the version on but leaves the registration form of a session with places as it was.
    The page then takes the new version, so the next visitor needs only the version again."""
    if view is None:
        return functools.partial(public_page, content=content)

    @functools.wraps(view)
    def kept_or_rendered(**kwargs):
        if not _same_for_everyone():
            return view(**kwargs)
        version = data_version()  # first, before the view reads any of the page's data
        if version is None:
            return view(**kwargs)
        key = (request.path, request.query_string, request.headers.get("HX-Request") == "true")
        now = utcnow()
        page = _pages().get(key)
        if page is not None and not page.fresh(version, now):
            kept_content = page.content if content is not None and page.in_time(now) else None
            if content is not None and kept_content is not None and content(**kwargs) == kept_content:
                page = replace(page, version=version)
                _pages().put(key, page)
            else:
                page = None
        if page is None:
            page, response = _render_for_everyone(view, kwargs, version)
            if page is None:
                return response
            _pages().put(key, page)
        return _serve(page)

    return kept_or_rendered


def _same_for_everyone() -> bool:
    """A GET from a visitor with nothing of their own in their session (a CSRF token at most)."""
    if request.method not in ("GET", "HEAD") or request.headers.get("HX-History-Restore-Request") == "true":
        return False
    return _holds_nothing_personal()


# Flask-Login marks any session it sees without a signed-in user "_fresh": False (basic session protection), which
# says nothing about the visitor.
_NOT_PERSONAL = ("csrf_token", "_fresh")


def _holds_nothing_personal() -> bool:
    return all(name in _NOT_PERSONAL for name in session)


def _render_for_everyone(view: Callable, kwargs: dict, version: int) -> tuple[KeptPage | None, Response]:
    rendered_at = utcnow()
    g.page_valid_until = None
    g.page_content = None
    # Flask-WTF keeps the request's signed token on g and makes one only when g has none: with the placeholder
    # there, the page renders without touching the session, and the real token is made when it is served.
    g.csrf_token = _PLACEHOLDER
    token_before = session.get("csrf_token")
    try:
        response = current_app.make_response(view(**kwargs))
    finally:
        g.pop("csrf_token", None)
    personal = not _holds_nothing_personal() or session.get("csrf_token") != token_before
    if response.status_code != 200 or response.is_streamed or "Set-Cookie" in response.headers or personal:
        # Not a page every visitor sees alike (a redirect, an error, something of their own): not kept.
        return None, _with_the_token(response)
    body = response.get_data()
    parts = tuple(body.split(_PLACEHOLDER.encode()))
    headers = tuple(
        (name, value) for name, value in response.headers.items() if name not in ("Content-Length", "Set-Cookie")
    )
    deflated = tuple(_deflate(part, last=index == len(parts) - 1) for index, part in enumerate(parts))
    page = KeptPage(
        version, rendered_at, g.page_valid_until, response.status_code, headers, parts, deflated, g.page_content
    )
    return page, response


def _with_the_token(response: Response) -> Response:
    if response.is_streamed or not (response.mimetype or "").startswith("text/"):
        return response
    body = response.get_data()
    if _PLACEHOLDER.encode() in body:
        response.set_data(body.replace(_PLACEHOLDER.encode(), generate_csrf().encode()))
    return response


def _serve(page: KeptPage) -> Response:
    response = Response(status=page.status, headers=list(page.headers))
    token = generate_csrf().encode() if len(page.parts) > 1 else b""
    if request.accept_encodings["gzip"] > 0:
        response.set_data(_gzip(page, token))
        # Already compressed: Flask-Compress leaves a response with a Content-Encoding alone.
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(token.join(page.parts))  # Flask-Compress picks another encoding if one is accepted
    response.vary.add("Accept-Encoding")
    return response


# --- gzip without compressing the page again for each visitor ------------------------------------------------
# A deflate stream is a run of blocks, the last one marked final; a block may refer back only to what it can see.
# Each part of a kept page is compressed once by a compressor of its own (so it refers to nothing before it), ending
# on a byte boundary (a full flush) unless it is the last part. Between parts the visitor's token goes in as a
# stored (uncompressed) block. The gzip wrapper's CRC-32 and length are of the whole page, worked out per request:
# a CRC-32 costs microseconds, compressing the page again a third of a millisecond (RFC 1951 3.2.4, RFC 1952).

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown system


def _deflate(data: bytes, *, last: bool) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: no zlib wrapper
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)


def _stored_block(data: bytes) -> bytes:
    # Not final, stored: three header bits, then padding to the byte, then LEN and its complement, then the bytes.
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data


def _gzip(page: KeptPage, token: bytes) -> bytes:
    pieces = [_GZIP_HEADER]
    crc = 0
    size = 0
    for index, (part, deflated) in enumerate(zip(page.parts, page.deflated, strict=True)):
        if index:
            pieces.append(_stored_block(token))
            crc = zlib.crc32(token, crc)
            size += len(token)
        pieces.append(deflated)
        crc = zlib.crc32(part, crc)
        size += len(part)
    pieces.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(pieces)


def init_app(app) -> None:
    app.extensions["page_cache"] = _Pages(MAX_PAGES)
    app.extensions["reference_values"] = {}
