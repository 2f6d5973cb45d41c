"""Plain helpers the browser journeys share (fixtures live in conftest.py)."""

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from mecc_volunteer.instrument import CONFIDENCE, KNOWLEDGE
from tests.helpers import STAFF_PASSWORD, text_of

_STICKING_OUT = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.parentElement && el.parentElement.closest(".app-table-wrapper")) continue;
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1) wide.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`);
  }
  return {extra: document.documentElement.scrollWidth - width, wide: wide.slice(0, 8)};
}"""


def sign_in(page: Page, email: str) -> None:
    page.goto("/manage/sign-in")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage the pilot")


def assert_no_sideways_scroll(page: Page) -> None:
    """On a phone the page never scrolls sideways; a wide table scrolls inside its own wrapper."""
    found = page.evaluate(_STICKING_OUT)
    assert found["extra"] <= 0, f"{page.url} scrolls sideways by {found['extra']}px: {found['wide']}"


def fill_registration(page: Page, *, name="Priya Patel", email="priya@example.org", role="Library assistant"):
    page.get_by_label("Full name", exact=True).fill(name)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Organisation", exact=True).select_option(label="Carers Oxfordshire")
    page.get_by_label("Your role", exact=True).fill(role)
    page.get_by_role("group", name="Which area do you mainly work or volunteer in?").get_by_label("Oxford City").check()
    page.get_by_role("group", name=CONFIDENCE).get_by_label("7", exact=True).check()
    page.get_by_role("group", name=KNOWLEDGE).get_by_label("0", exact=True).check()
    page.get_by_label("I have read the privacy notice").check()


def link_in(message, path: str) -> str:
    """The first link in the plain-text body whose path starts with `path`."""
    for url in re.findall(r"https?://[^\s<>\"]+", text_of(message)):
        if urlsplit(url).path.startswith(path):
            return url
    raise AssertionError(f"no {path} link in the email {message['Subject']!r}:\n{text_of(message)}")
