"""Plain helpers the browser journeys share (fixtures live in conftest.py)."""

import re
import time
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect

from mecc_volunteer.instrument import CONFIDENCE, KNOWLEDGE
from tests.helpers import STAFF_PASSWORD, STAFF_TOTP_SECRET, text_of

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
    """Both steps, for an account made by `auth.create` (enrolled with STAFF_TOTP_SECRET)."""
    page.goto("/manage/sign-in")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    enter_authenticator_code(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage the pilot")


def enter_authenticator_code(page: Page) -> None:
    """On the code page: the code the app shows now. A code already used (the account signed in a moment ago)
    is refused, so then wait for the app's next one."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code from your authenticator app")
    totp = pyotp.TOTP(STAFF_TOTP_SECRET)
    for attempt in range(2):
        page.get_by_label("Code", exact=True).fill(totp.now())
        page.get_by_role("button", name="Sign in").click()
        if attempt or "has been used already" not in page.locator("main").inner_text():
            return
        time.sleep(totp.interval - time.time() % totp.interval + 0.1)


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
