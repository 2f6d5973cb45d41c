"""The test client, used the way a browser uses the app (CSRF tokens read from the page, gzip asked for and
decoded). A plain module: conftest.py sets it as every test app's client class, and a test that builds an app
of its own imports it from here."""

import contextlib
import gzip
import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.datastructures import Headers, MultiDict


class _PageForms(HTMLParser):
    """What a browser keeps of a page for posting: each form's action, method and hidden CSRF field, and the
    token in the body's hx-headers that htmx sends with its requests."""

    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.forms: list[dict] = []
        self.header_token: str | None = None
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body" and attrs.get("hx-headers"):
            with contextlib.suppress(ValueError):
                self.header_token = json.loads(attrs["hx-headers"]).get("X-CSRFToken")
        elif tag == "form":
            action = urlsplit(attrs.get("action") or self.url).path
            self._form = {"action": action, "method": (attrs.get("method") or "get").lower(), "csrf": None}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attrs.get("name") == "csrf_token":
            self._form["csrf"] = attrs.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def post_forms(self, path: str) -> list[dict]:
        return [form for form in self.forms if form["method"] == "post" and form["action"] == path]


class BrowserLikeClient(FlaskClient):
    """The test client, used the way a browser uses the app, so CSRF stays on in every test:

    - a plain POST carries the CSRF token from the hidden field of the form on the page that posts to that
      URL: the last page this client got, or else the page at that URL or the nearest page above it, as a
      person would open it first. A form that posts to the URL without a CSRF field fails the test.
    - an htmx POST (HX-Request: true) carries the token from the body's hx-headers, as htmx does, or, on a page
      without one (it posts only from forms), the form's hidden field, which htmx sends with the form.
    - every request asks for gzip, and the body is decompressed as a browser would (the headers still say
      Content-Encoding: gzip; `response.wire_size` is the compressed size).
    `post(..., csrf=False)` sends no token: for the tests of what happens without one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.page: _PageForms | None = None

    def open(self, *args, csrf: bool = True, **kwargs):
        builder_form = args and not isinstance(args[0], str)
        if not builder_form:
            headers = Headers(kwargs.get("headers") or {})
            headers.setdefault("Accept-Encoding", "gzip")
            kwargs["headers"] = headers
            if csrf and args and str(kwargs.get("method", "GET")).upper() == "POST":
                self._add_csrf_token(args[0], kwargs)
        response = super().open(*args, **kwargs)
        if response.headers.get("Content-Encoding") == "gzip" and not hasattr(response, "wire_size"):
            wire = response.get_data()
            response.set_data(gzip.decompress(wire))
            response.wire_size = len(wire)
        self._remember(response)
        return response

    def _remember(self, response) -> None:
        url = response.request.path if response.request is not None else "/"
        if 300 <= response.status_code < 400 or "HX-Location" in response.headers or "HX-Redirect" in response.headers:
            self.page = None  # the browser goes on to another page
        elif response.mimetype == "text/html":
            page = _PageForms(url)
            page.feed(response.get_data(as_text=True))
            if response.request is not None and response.request.headers.get("HX-Request") == "true":
                if self.page is not None:  # a fragment swapped into the page: its forms join the page's
                    swapped = {form["action"] for form in page.forms}
                    self.page.forms = [f for f in self.page.forms if f["action"] not in swapped] + page.forms
                return
            self.page = page

    def _add_csrf_token(self, url: str, kwargs: dict) -> None:
        data = kwargs.get("data")
        if isinstance(data, (str, bytes)) or "json" in kwargs:
            return
        headers = Headers(kwargs.get("headers") or {})
        fields = MultiDict(data or {})
        if "X-CSRFToken" in headers or "csrf_token" in fields:
            return
        path = urlsplit(url).path
        if headers.get("HX-Request") == "true":
            page = self.page if self.page is not None and self.page.header_token else self._open_page_for(path)
            if page is not None and page.header_token:
                headers["X-CSRFToken"] = page.header_token
                kwargs["headers"] = headers
                return
            # A page that posts only from forms has no token in hx-headers: htmx sends the form's hidden field.
        token = self._form_token(self.page, path)
        if token is None:
            page = self._open_page_for(path)
            token = self._form_token(page, path)
            if token is None and page is not None:
                # No page shows a form for this URL (a closed session, a stale tab): post as a stale page would.
                token = page.header_token or next((f["csrf"] for f in page.forms if f["csrf"]), None)
            if token is None:
                # A stale tab got its token when the form was still there; a page without a form sets no session
                # (nothing to post), so take this visitor's token from a page that always has a form.
                self.get("/lost-link")
                token = self._form_token(self.page, "/lost-link")
        if token is not None:
            fields["csrf_token"] = token
            kwargs["data"] = fields

    @staticmethod
    def _form_token(page: "_PageForms | None", path: str) -> str | None:
        if page is None:
            return None
        forms = page.post_forms(path)
        if not forms:
            return None
        missing = [form for form in forms if not form["csrf"]]
        assert not missing, f"the form on {page.url} that posts to {path} has no CSRF field"
        return forms[0]["csrf"]

    def _open_page_for(self, path: str) -> "_PageForms | None":
        """GET the URL, then each URL above it, until a page has a form that posts to `path`."""
        candidates = [path]
        parts = path.rstrip("/").split("/")
        while len(parts) > 1:
            parts = parts[:-1]
            candidates.append("/".join(parts) + "/" if len(parts) > 1 else "/")
        last = None
        for candidate in dict.fromkeys(candidates):
            self.get(candidate, follow_redirects=True)
            if self.page is not None:
                last = self.page
                if self.page.post_forms(path):
                    return self.page
        return last
