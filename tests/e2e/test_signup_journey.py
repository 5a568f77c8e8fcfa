"""A new person's first minutes, in a real browser against a real daphne: sign up, verify, log in, create an
organization, invite a teammate who accepts. Any console error (a CSP violation included) fails the test."""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unguessable passphrase 42"


def sign_up_and_verify(page: Page, live, email: str) -> None:
    page.goto(f"{live.url}/accounts/signup/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name=re.compile("Verify Your Email", re.I))).to_be_visible()
    page.goto(live.wait_for_link(r"/accounts/confirm-email/"))
    page.get_by_role("button", name="Confirm").click()


def log_in(page: Page, live, email: str) -> None:
    page.goto(f"{live.url}/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


def test_a_person_signs_up_creates_an_organization_and_invites_a_teammate(live, page, console_errors, artifacts):
    sign_up_and_verify(page, live, "pat@example.test")
    expect(page.get_by_role("heading", name="pat's workspace")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/|/$"))
    log_in(page, live, "pat@example.test")
    expect(page.get_by_role("heading", name="pat's workspace")).to_be_visible()

    page.get_by_text("Organization", exact=False).first.click()
    page.get_by_role("link", name="+ New organization").click()
    page.get_by_label("Name").fill("Rocket Labs")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="Rocket Labs", exact=True)).to_be_visible()
    checklist = page.locator(".checklist li")
    expect(checklist).to_have_count(4)
    expect(page.get_by_role("link", name="Connect a service")).to_be_visible()
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    page.get_by_label("E-mail address").fill("sam@example.test")
    page.get_by_label("Role").last.select_option("admin")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#members-section").get_by_role("cell", name="sam@example.test")).to_be_visible()
    invitation_link = live.wait_for_link(r"/invitations/sg_inv_")
    page.screenshot(path=str(artifacts / "members.png"), full_page=True)

    teammate = page.context.browser.new_context()
    other = teammate.new_page()
    other.on("console", lambda m: console_errors.append(f"teammate console: {m.text}") if m.type == "error" else None)
    other.goto(invitation_link)
    other.get_by_role("link", name=re.compile("sign up", re.I)).first.click()
    sign_up_and_verify(other, live, "sam@example.test")
    other.goto(invitation_link)
    other.get_by_role("button", name="Join Rocket Labs").click()
    expect(other.get_by_role("heading", name="Rocket Labs", exact=True)).to_be_visible()
    teammate.close()

    assert Membership.objects.get(organization__name="Rocket Labs", user__email="sam@example.test").role == "admin"
    page.reload()
    members = page.locator("#members-section")
    expect(members.get_by_role("cell", name="sam@example.test", exact=True)).to_have_count(1)
    expect(members.get_by_label("Role of sam@example.test")).to_have_value("admin")
    assert console_errors == []
