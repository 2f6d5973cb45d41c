"""An admin made at the command line runs the pilot from the browser, with JavaScript and without: sets up an
authenticator app at the first sign-in, invites a coordinator (who sets a password from the emailed link and
sets up their own app), adds an organisation with its type, and changes the registration cut-off, which the
start page then says. Every page is checked with axe-core."""

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import link_in
from tests.helpers import STAFF_PASSWORD

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin.journey@example.org"


def enrol_authenticator(page: Page, assert_accessible=None) -> pyotp.TOTP:
    """On the set-up page: read the key as someone who cannot scan would, enter its code, keep the codes."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    expect(page.get_by_role("img", name=re.compile("QR code", re.I))).to_be_visible()
    if assert_accessible:
        assert_accessible(page)
    totp = pyotp.TOTP(page.locator("#setup-key").inner_text().replace(" ", ""))
    page.get_by_label("Code from your authenticator app").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()  # a wrong code is refused, clearly
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    if assert_accessible:
        assert_accessible(page)
    page.get_by_role("link", name="Continue").click()
    return totp


def sign_in_with_password(page: Page, email: str, password: str) -> None:
    page.goto("/manage/sign-in")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_an_admin_from_the_command_line_sets_up_the_pilot_in_the_browser(
    request, javascript, app, runner, mailbox, assert_accessible, new_page, make_training_session
):
    page: Page = request.getfixturevalue("page" if javascript else "nojs_page")
    make_training_session(days_ahead=30)
    made = runner.invoke(
        args=["staff", "create", ADMIN_EMAIL, "--role", "admin", "--name", "Ada Admin"],
        input=f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output

    # 1. The first sign-in asks for a second factor.
    sign_in_with_password(page, ADMIN_EMAIL, STAFF_PASSWORD)
    enrol_authenticator(page, assert_accessible)
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage the pilot")

    # 2. Invite a coordinator.
    page.get_by_role("link", name="Admin", exact=True).click()
    assert_accessible(page)
    page.get_by_role("link", name="Staff accounts").click()
    page.get_by_role("link", name="Invite someone").click()
    page.get_by_role("button", name="Send invitation").click()
    expect(page).to_have_title(re.compile("^Error: "))
    assert_accessible(page)
    page.get_by_label("Full name").fill("Cora Coordinator")
    page.get_by_label("Email address").fill("cora@example.org")
    page.get_by_role("group", name="What will they do?").get_by_label("Coordinator").check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("body")).to_contain_text("cora@example.org")

    # 3. The coordinator sets a password from the emailed link and sets up their app, in their own browser.
    invitation = mailbox.wait_for(to="cora@example.org")
    link = link_in(invitation, "/manage/set-password/")
    # axe needs JavaScript: the coordinator's pages without it are the admin's kind, checked above and below.
    check = assert_accessible if javascript else None
    context, coordinator = new_page(java_script_enabled=javascript)
    try:
        coordinator.goto(link)
        if check:
            check(coordinator)
        coordinator.get_by_label("New password").fill("a long and new password")
        coordinator.get_by_label("Enter the password again").fill("a long and new password")
        coordinator.get_by_role("button", name="Set password").click()
        expect(coordinator).to_have_url(re.compile("/manage/sign-in"))
        sign_in_with_password(coordinator, "cora@example.org", "a long and new password")
        enrol_authenticator(coordinator, check)
        expect(coordinator.get_by_role("link", name="Training sessions")).to_be_visible()
        coordinator.goto(link)  # the link worked once
        expect(coordinator.locator("h1")).not_to_have_text("Set a password")
    finally:
        context.close()

    # 4. A type of organisation, then an organisation of that type, offered to volunteers as they register.
    page.goto("/manage/admin/")
    page.get_by_role("link", name="Organisation types", exact=True).click()
    page.get_by_role("link", name="Add an organisation type").click()
    page.get_by_label("Name").fill("Library")
    page.get_by_role("button", name="Add organisation type").click()
    page.goto("/manage/admin/")
    page.get_by_role("link", name="Organisations", exact=True).click()
    page.get_by_role("link", name="Add an organisation").click()
    page.get_by_label("Name").fill("Banbury Library")
    page.get_by_label("Type of organisation").select_option(label="Library")
    page.get_by_role("button", name="Add organisation").click()
    expect(page.locator("main")).to_contain_text("Banbury Library")
    assert_accessible(page)

    # 5. The registration cut-off changes, and the start page says so.
    page.goto("/manage/admin/")
    page.get_by_role("link", name="Programme settings").click()
    assert_accessible(page)
    page.get_by_label("Registration closes this many days before a session").fill("14")
    page.get_by_role("button", name="Save settings").click()
    page.goto("/")
    expect(page.locator("main")).to_contain_text("Registration closes two weeks before each session")
    page.get_by_role("link", name=re.compile("^Register")).first.click()
    expect(page.get_by_label("Organisation", exact=True).locator("option", has_text="Banbury Library")).to_have_count(1)
