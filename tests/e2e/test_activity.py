"""The Activity page in a real browser against a real daphne: a call made with the `mcp` SDK client appears live
without a reload (and its outcome updates it), and a filtered CSV export holds exactly the filtered rows. Any
console error (a CSP violation included) fails the test."""

from __future__ import annotations

import asyncio
import csv
import re
import threading

import pytest
from playwright.sync_api import Page, expect

from accounts.tenancy import resolve_org_context
from audit.tests.helpers import make_event
from gateway.tests.helpers import agent_with, connect
from tests.factories import DEFAULT_PASSWORD, make_org, make_user
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def echo():
    with echo_server() as upstream:
        yield upstream


def log_in(page: Page, live, email: str) -> None:
    page.goto(f"{live.url}/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()


def off_the_loop(function):
    """Playwright's sync API owns this thread's event loop: code that runs a loop of its own (the SDK client, a
    connection's discovery) runs in another thread."""
    results: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(function())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and errors == [], errors
    return results[0]


def test_a_call_appears_on_the_activity_page_live(live, echo, page, console_errors, artifacts):
    owner = make_user("ally@example.test")
    org = make_org("Acme", owner=owner)
    ctx = resolve_org_context(user=owner, token=None, slug=org.slug)
    connection = off_the_loop(lambda: connect(ctx, "echo", echo.url))
    setup = agent_with(ctx, live.url, allow=[(connection, "")], name="release-bot")

    log_in(page, live, "ally@example.test")
    page.goto(f"{live.url}/o/{org.slug}/activity/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate("window.notReloaded = true")

    async def call() -> None:
        async with setup.client("2026-07-28") as client:
            result = await client.call_tool("echo__add", {"a": 2, "b": 40})
            assert result.structured_content == {"result": 42}

    off_the_loop(lambda: asyncio.run(call()))
    row = page.locator("#event-rows tr", has_text="echo__add")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("release-bot")
    expect(row).to_contain_text("Allowed")
    expect(row).to_contain_text("Succeeded")  # the outcome row re-rendered the call's row
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(artifacts / "activity-live.png"), full_page=True)

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile(r"MCP request #\d+"))).to_be_visible()
    expect(page.locator("pre.snippet")).to_contain_text('"a": 2')
    assert console_errors == []


def test_a_filtered_csv_export_holds_exactly_the_filtered_rows(live, page, console_errors, tmp_path):
    owner = make_user("bo@example.test")
    org = make_org("Acme", owner=owner)
    other = make_org("Elsewhere", owner=make_user("eve@example.test"))
    for n in range(3):
        make_event(org, agent_name="ci-bot", tool=f"github__list_repos_{n}", decision="deny", outcome="refused")
    make_event(org, agent_name="ci-bot", tool="github__merge", decision="allow")
    make_event(org, agent_name="release-bot", tool="github__delete_repo", decision="deny", outcome="refused")
    make_event(other, agent_name="ci-bot", tool="github__foreign", decision="deny", outcome="refused")

    log_in(page, live, "bo@example.test")
    page.goto(f"{live.url}/o/{org.slug}/activity/")
    page.get_by_label("Agent").fill("ci-bot")
    page.get_by_label("Decision").select_option("deny")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"agent=ci-bot"))
    expect(page.locator("#event-rows tr")).to_have_count(3)
    expect(page.locator("#live-status")).to_have_text("Live")  # the stream followed the new filters

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"scopegate-activity-acme-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    path = tmp_path / "export.csv"
    download.save_as(path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["tool"] for r in rows) == [f"github__list_repos_{n}" for n in range(3)]
    assert {(r["agent_name"], r["decision"], r["outcome"]) for r in rows} == {("ci-bot", "deny", "refused")}
    assert console_errors == []
