"""Touch targets of at least 44 px (SPEC 7; WCAG 2.5.5 Target Size (Enhanced)) on key pages at 360 px wide.

The rule measured here: every visible interactive element (links, buttons, text inputs, selects, text areas,
summaries, and radios and checkboxes, measured by their label: the drawn control and its text) has a bounding
box at least 44 CSS px high. Exempt, as WCAG 2.5.5 and 2.5.8 allow for "inline" targets: a link in a sentence,
that is a link displayed inline that shares a line with text outside it in the same paragraph, whose size is
set by the line-height of the text around it. A link alone in a list item, a table cell, a summary list's
actions, a footer or a paragraph of its own is not in a sentence, and is measured.
"""

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from mecc_volunteer.extensions import db
from mecc_volunteer.models import LONDON, Booking, LinkPurpose, Survey
from mecc_volunteer.tokens import issue_link
from tests.browser.helpers import fill_registration, sign_in

pytestmark = pytest.mark.browser

MIN_TARGET = 44
NARROW = {"width": 360, "height": 740}

_SMALL_TARGETS = """(minimum) => {
  const inline = (el) => getComputedStyle(el).display.startsWith("inline") && getComputedStyle(el).display !== "inline-block"
    && getComputedStyle(el).display !== "inline-flex";
  const visible = (rect) => rect.width > 1 && rect.height > 1;
  // A link in a sentence: displayed inline, sharing a line box with text of the same paragraph outside it.
  function inSentence(link) {
    if (link.tagName !== "A" || !inline(link)) return false;
    let block = link.parentElement;
    while (block && inline(block)) block = block.parentElement;
    const lines = [...link.getClientRects()];
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (link.contains(node) || !node.textContent.trim()) continue;
      let parent = node.parentElement, nested = false;
      for (; parent && parent !== block; parent = parent.parentElement) if (!inline(parent)) nested = true;
      if (nested) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const text of range.getClientRects()) {
        if (text.width < 2) continue;
        if (lines.some((line) => text.top < line.bottom - 1 && text.bottom > line.top + 1)) return true;
      }
    }
    return false;
  }
  // A radio or checkbox is seen, and aimed at, as its label (the drawn control and its text); the input
  // over the control is invisible.
  const box = (el) => (el.matches("input[type=radio], input[type=checkbox]") && el.labels.length
    ? el.labels[0] : el).getBoundingClientRect();
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || el.id || "").trim().replace(/\\s+/g, " ");
    return `${el.tagName.toLowerCase()}${el.type ? "[type=" + el.type + "]" : ""}.${[...el.classList].join(".")} "${text.slice(0, 40)}"`;
  };
  const small = [], measured = [];
  const targets = document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], label[for]");
  for (const el of targets) {
    if (el.matches("label")) continue;  // measured with its radio or checkbox
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    const own = el.getBoundingClientRect();
    if (!visible(own) && !el.matches("input[type=radio], input[type=checkbox]")) continue;  // visually hidden
    if (el.matches(".nhsuk-skip-link")) continue;  // shown only when focused
    if (inSentence(el)) continue;
    const rect = box(el);
    measured.push(describe(el));
    if (rect.height < minimum - 0.5) small.push(`${describe(el)}: ${Math.round(rect.height * 10) / 10} px high`);
  }
  return {small, measured: measured.length};
}"""


def assert_touch_targets(page: Page, assert_accessible=None) -> None:
    """Every interactive element on the page (except links in sentences) is at least 44 px high."""
    page.set_viewport_size(NARROW)
    # After a click (signing in), the heading can show before the stylesheet has loaded: measure styled boxes.
    page.wait_for_load_state("load")
    found = page.evaluate(_SMALL_TARGETS, MIN_TARGET)
    assert found["measured"], f"nothing interactive found on {page.url}"
    assert not found["small"], f"targets under {MIN_TARGET} px on {page.url}:\n" + "\n".join(found["small"])


@pytest.fixture
def narrow_page(page: Page) -> Page:
    page.set_viewport_size(NARROW)
    return page


def test_volunteer_pages_have_44px_targets_at_360px(
    narrow_page: Page, app, make_training_session, make_booking, make_volunteer
):
    page = narrow_page
    problems = []

    def check():
        try:
            assert_touch_targets(page)
        except AssertionError as error:
            problems.append(str(error))

    training_session = make_training_session(days_ahead=30)
    other = make_training_session(days_ahead=45)
    page.goto("/")
    check()
    page.goto(f"/sessions/{training_session.id}/register")
    check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    check()  # the error summary's links
    fill_registration(page)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before registering")
    check()  # the Change links
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".nhsuk-panel")).to_contain_text("Registration complete")
    check()

    booking_id = make_booking(other.id, volunteer_id=make_volunteer())
    with app.app_context():
        token = issue_link(db.session.get(Booking, booking_id), LinkPurpose.MANAGE)
        db.session.commit()
    for path in ("", "/elearning", "/move", "/cancel", "/your-data", "/delete-your-data"):
        page.goto(f"/my-booking/{token}{path}")
        check()  # Add to calendar, the date inputs, the session radios
    page.goto("/lost-link")
    check()
    assert not problems, "\n\n".join(problems)


def test_staff_pages_have_44px_targets_at_360px(
    narrow_page: Page, app, auth, make_training_session, make_booking, make_volunteer
):
    page = narrow_page
    problems = []

    def check():
        try:
            assert_touch_targets(page)
        except AssertionError as error:
            problems.append(str(error))

    from tests.helpers import store_answers as answer

    training_session = make_training_session(days_ahead=20)
    for name in ("Sam Okafor", "Alex Smith"):
        make_booking(training_session.id, volunteer_id=make_volunteer(name=name))
    started = make_training_session(starts_at=datetime.now(LONDON) - timedelta(minutes=10))
    make_booking(started.id)
    past = make_training_session(days_ahead=-5)
    for _ in range(5):
        answer(app, make_booking(past.id), Survey.BASELINE, confidence=3, knowledge=4)

    page.goto("/manage/sign-in")
    check()
    sign_in(page, auth.create("coordinator"))
    check()
    for path in (
        "/manage/sessions/",
        "/manage/sessions/new",
        f"/manage/sessions/{training_session.id}",
        f"/manage/sessions/{training_session.id}/roster",
        f"/manage/sessions/{started.id}/attendance",
        f"/manage/sessions/{training_session.id}/roster/emails",
        f"/manage/sessions/{training_session.id}/register",
        "/manage/volunteer-data",
        "/manage/account/recovery-codes",
    ):
        page.goto(path)
        check()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, auth.create("evaluator"))
    for path in ("/manage/review/", "/manage/exports/"):
        page.goto(path)
        check()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, auth.create("admin"))
    for path in (
        "/manage/admin/",
        "/manage/admin/staff/",
        "/manage/admin/staff/invite",
        "/manage/admin/organisations/",
        "/manage/admin/organisations/new",
        "/manage/admin/organisation-types/",
        "/manage/admin/areas/",
        "/manage/admin/settings",
        "/manage/admin/retention",
        "/manage/admin/activity",
    ):
        page.goto(path)
        check()
    assert not problems, "\n\n".join(problems)
