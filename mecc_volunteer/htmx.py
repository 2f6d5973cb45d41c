"""HTMX helpers: one template per page, a named block per swappable region."""

import re

from flask import Flask, Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render(template: str, block: str | None = None, **context) -> Response:
    """The named block for an htmx request, the full page otherwise; always varies on HX-Request."""
    if block and is_htmx():
        response = make_response(render_block(template, block, **context))
    else:
        response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


_HX_ATTRIBUTE = re.compile(r"\shx-[a-z-]+[\s=>]")


def uses_htmx(html: str) -> bool:
    """Whether rendered markup has an hx-* attribute: the base layout loads htmx only on such a page."""
    return _HX_ATTRIBUTE.search(html) is not None


_HX_POST = re.compile(r"\shx-(?:post|put|patch|delete)[\s=>]")


def htmx_posts(html: str) -> bool:
    """Whether rendered markup sends a request that changes something through htmx (and so needs the CSRF header)."""
    return _HX_POST.search(html) is not None


def hx_location(url: str) -> Response:
    response = make_response("", 204)
    response.headers["HX-Location"] = url
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["is_htmx"] = is_htmx
    app.jinja_env.globals["uses_htmx"] = uses_htmx
    app.jinja_env.globals["htmx_posts"] = htmx_posts
