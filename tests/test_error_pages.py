"""When something goes wrong, a person gets a page in the service's own style that says what to do, never a
stack trace, and the page keeps the security headers: a 500 for a fault in the app, a 503 with Retry-After when
the database cannot be reached (nothing was half-written)."""

import re

import pytest
from flask import Flask

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


def title_of(page) -> str:
    return re.search(r"<title>(.*?)</title>", page.text, re.S).group(1).strip()


def production(make_app, **config) -> Flask:
    """TESTING off, as production runs: an exception reaches the error pages instead of the test."""
    app = make_app(TESTING=False, **config)
    assert not app.config["PROPAGATE_EXCEPTIONS"]
    assert not app.debug
    return app


def assert_service_page(page, heading: str, app: Flask) -> None:
    """The whole page in the service's layout, titled and headed like every other page."""
    assert "<html" in page.text
    assert title_of(page) == f"{heading} – {'MECC Volunteer'}"
    assert f"<h1>{heading}</h1>" in page.text


def test_a_fault_in_the_app_shows_the_500_page_without_a_stack_trace(make_app, caplog):
    app = production(make_app)

    def broken_page():
        raise RuntimeError("a secret detail of what broke")

    app.add_url_rule("/broken", "broken", broken_page)

    page = app.test_client().get("/broken")

    assert page.status_code == 500
    assert_service_page(page, "Sorry, there is a problem with the service", app)
    assert "Try again later. Nothing you sent has been half-saved." in page.text
    assert "Traceback" not in page.text
    assert "a secret detail" not in page.text
    for header in SECURITY_HEADERS:
        assert header in page.headers
    assert page.headers["Cache-Control"] == "no-store"
    # The operator still finds out, in the log.
    assert "RuntimeError" in caplog.text


@pytest.mark.parametrize(
    "unreachable",
    ["sqlite:////nonexistent-folder/mecc.sqlite", "postgresql+psycopg://postgres@127.0.0.1:9/mecc"],
    ids=["sqlite file that cannot be opened", "postgresql server that is down"],
)
def test_a_database_that_cannot_be_reached_shows_the_503_page_with_retry_after(make_app, unreachable):
    app = production(make_app, SQLALCHEMY_DATABASE_URI=unreachable)

    page = app.test_client().get("/")

    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert_service_page(page, "Sorry, the service is busy", app)
    assert "Please try again in a few seconds." in page.text
    assert "Traceback" not in page.text
    assert "nonexistent-folder" not in page.text
    for header in SECURITY_HEADERS:
        assert header in page.headers
