"""An "ask" call waits while its approval appears live on the Approvals page (and as a badge); an owner clicks
"Approve once" in a real browser and the waiting call completes, having heard progress while it waited."""

import asyncio
import threading

import pytest
from playwright.sync_api import expect

from accounts.tenancy import resolve_org_context
from audit.models import Event
from gateway.tests.helpers import agent_with, connect
from policies.models import ApprovalRequest
from policies.services import rule_create
from tests.factories import DEFAULT_PASSWORD, make_org, make_user
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def in_thread(work):
    """Runs ``work`` off this thread: Playwright's event loop runs here, and connecting uses async_to_sync."""
    from django.db import connection

    box: dict = {}

    def run() -> None:
        try:
            box["value"] = work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return box["value"]


def test_an_ask_call_completes_after_an_approval_clicked_in_the_browser(live, page, console_errors):
    owner = make_user("olga@example.test")
    org = make_org("Acme", owner=owner)
    ctx = resolve_org_context(user=owner, token=None, slug=org.slug)
    with echo_server() as upstream:

        def prepare():
            conn = connect(ctx, "echo", upstream.url)
            setup = agent_with(ctx, live.url, name="release-bot")
            rule = rule_create(
                ctx=ctx, agent_id=setup.agent.pk, effect="ask", connection_id=conn.pk, target="tool", name="echo"
            )
            return setup, rule

        setup, ask = in_thread(prepare)

        page.goto(f"{live.url}/accounts/login/")
        page.locator("#id_login").fill("olga@example.test")
        page.locator("#id_password").fill(DEFAULT_PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(f"**/o/{org.slug}/")
        page.goto(f"{live.url}/o/{org.slug}/approvals/")
        expect(page.get_by_text("No call is waiting for approval.")).to_be_visible()

        outcome: dict = {}

        async def call() -> None:
            progress: list[str] = []

            async def on_progress(value, total, message):
                progress.append(message)

            async with setup.client("legacy") as client:
                result = await client.call_tool("echo__echo", {"message": "ship it"}, progress_callback=on_progress)
                outcome.update(text=result.content[0].text, progress=progress)

        caller = threading.Thread(target=lambda: asyncio.run(call()))
        caller.start()
        row = page.locator("#approvals-section tbody tr").first
        expect(row).to_contain_text("release-bot", timeout=15_000)  # appears live, without a reload
        expect(row).to_contain_text("echo__echo")
        expect(row).to_contain_text('"message": "ship it"')
        expect(page.locator("#approvals-badge")).to_contain_text("1")
        page.wait_for_timeout(2500)  # let the waiting call send at least one progress notification
        row.get_by_role("button", name="Approve once: echo__echo for release-bot").click()
        caller.join(timeout=20)
        assert not caller.is_alive()
        assert outcome["text"] == "ship it"
        assert outcome["progress"] and "Waiting for a person to approve" in outcome["progress"][0]
        expect(page.get_by_text("No call is waiting for approval.")).to_be_visible()
        expect(page.locator("#approvals-section")).to_contain_text("Approved")

    approval = ApprovalRequest.objects.get()
    assert approval.status == "approved" and approval.decided_by == owner and approval.rule_id == ask.pk
    event = Event.objects.get(kind="mcp", tool="echo__echo")
    assert event.decision == "approved" and event.rule_id == ask.pk
    assert Event.objects.filter(kind="change", method="approval.approve", user_id=owner.pk).count() == 1
    assert console_errors == []
