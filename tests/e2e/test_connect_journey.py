"""Connecting GitHub and Google in a real browser against a real daphne and the provider emulator: click
"Connect", consent at the provider, come back connected, allow an agent two tools on its page, and the agent's
MCP client then sees exactly those tools and acts at the provider. Any console error fails the test."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from connectors.models import Connection
from gateway.tests.helpers import Setup, connected, tool_names
from policies.services import agent_create, agent_key_issue
from tests.factories import DEFAULT_PASSWORD, make_org, make_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, live, email: str) -> None:
    page.goto(f"{live.url}/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()


def connect_in_browser(page: Page, live, org, provider: str, name: str, label: str) -> Connection:
    page.goto(f"{live.url}/o/{org.slug}/connections/")
    page.locator(f"#id_{provider}-name").fill(name)
    page.locator(f"#id_{provider}-access").select_option("write")
    page.get_by_role("button", name=f"Connect {label}").click()
    expect(page.get_by_role("heading", name=re.compile("authorize ScopeGate", re.I))).to_be_visible()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(re.compile(f"Connected {name} as "))).to_be_visible()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    return Connection.objects.get(organization=org, name=name)


def allow_on_agent_page(page: Page, live, org, agent, connection: Connection, tools: list[str]) -> None:
    page.goto(f"{live.url}/o/{org.slug}/agents/{agent.pk}/")
    for tool in tools:
        page.locator(f'input[name="tool"][value="{connection.pk}:{tool}"]').check()
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_text("Saved", exact=False).first).to_be_visible()


def run(coro) -> None:
    """Playwright's sync API keeps an event loop running in this thread: the MCP client runs in another."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def agent_endpoint(live, ctx, agent) -> Setup:
    _, secret = agent_key_issue(ctx=ctx, agent_id=agent.pk, name="test")
    return Setup(ctx=ctx, agent=agent, key=secret, endpoint=f"{live.url}/mcp/{agent.public_id}")


@pytest.fixture
def journey(live, page, emulator):
    emulator.allow_redirects_to(live.url)
    owner = make_user("pat@example.test")
    org = make_org("Rocket Labs", owner=owner)
    log_in(page, live, "pat@example.test")
    page.wait_for_url(f"**/o/{org.slug}/")
    from accounts.tenancy import resolve_org_context

    ctx = resolve_org_context(user=owner, token=None, slug=org.slug)
    return org, ctx, agent_create(ctx=ctx, name="release-bot")


def test_connect_github_allow_two_tools_and_the_agent_opens_an_issue(journey, live, page, emulator, console_errors):
    org, ctx, agent = journey
    github = connect_in_browser(page, live, org, "github", "gh", "GitHub")
    expect(page.locator("#account")).to_contain_text("octocat")
    allow_on_agent_page(page, live, org, agent, github, ["create_issue", "get_issue"])
    setup = agent_endpoint(live, ctx, agent)

    async def scenario():
        async with connected(setup) as client:
            assert await tool_names(client) == {"gh__create_issue", "gh__get_issue"}
            created = await client.call_tool("gh__create_issue", {"repository": "acme/web", "title": "From the agent"})
            assert created.is_error is False and created.structured_content["number"] == 3

    run(scenario())
    assert emulator.github.data["repos"]["acme/web"]["issues"][-1]["title"] == "From the agent"
    page.goto(f"{live.url}/o/{org.slug}/connections/{github.pk}/")
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#account")).to_contain_text("Disconnected and revoked at the provider")
    assert emulator.github.counts["revoked"] == 1
    assert console_errors == []


def test_connect_google_allow_drive_and_gmail_and_the_agent_reads_and_sends(
    journey, live, page, emulator, console_errors
):
    org, ctx, agent = journey
    google = connect_in_browser(page, live, org, "google", "work", "Google")
    expect(page.locator("#account")).to_contain_text("ana@example.test")
    allow_on_agent_page(page, live, org, agent, google, ["drive_read_file", "gmail_send"])
    setup = agent_endpoint(live, ctx, agent)

    async def scenario():
        async with connected(setup) as client:
            assert await tool_names(client) == {"work__drive_read_file", "work__gmail_send"}
            doc = await client.call_tool("work__drive_read_file", {"file_id": "doc1"})
            assert doc.structured_content["content"] == "Q1: ship the gateway."
            sent = await client.call_tool(
                "work__gmail_send", {"to": ["bo@acme.test"], "subject": "Roadmap", "body": "See the doc."}
            )
            assert sent.is_error is False

    run(scenario())
    assert emulator.google.data["sent"][-1]["subject"] == "Roadmap"
    assert console_errors == []


def test_a_denied_consent_comes_back_with_a_clear_message(journey, live, page, emulator, console_errors):
    org, _, _ = journey
    page.goto(f"{live.url}/o/{org.slug}/connections/")
    page.get_by_role("button", name="Connect GitHub").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("GitHub access was not granted. Nothing was saved.")).to_be_visible()
    assert not Connection.objects.filter(organization=org).exists()
    assert console_errors == []
