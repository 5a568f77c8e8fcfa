"""The gateway end to end: a real daphne in front of real upstreams, driven by the official SDK client in each
era. Only allowed tools are listed, calls succeed, resources are read, prompts are got, progress arrives, a
denied call is refused, a revoked key is refused."""

import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from audit.models import Event
from gateway.tests.helpers import agent_with, connect, connected, org_ctx, run, tool_names
from policies.services import agent_key_revoke
from tests.factories import outcomes_of
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MODES = ["legacy", "2026-07-28", "auto"]


@pytest.fixture(scope="module")
def echo():
    with echo_server() as upstream:
        yield upstream


@pytest.fixture
def setup(live, echo):
    ctx = org_ctx()
    conn = connect(ctx, "echo", echo.url)
    return agent_with(ctx, live.url, allow=[(conn, "")], deny=[(conn, "delete_repo")])


@pytest.mark.parametrize("mode", MODES)
def test_an_agent_sees_and_uses_only_what_it_is_granted(setup, mode):
    async def scenario():
        async with connected(setup, mode) as client:
            assert await tool_names(client) == {
                "echo__echo",
                "echo__add",
                "echo__slow_count",
                "echo__sleep",
                "echo__tally",
                "echo__touch",
                "echo__grow",
                "echo__headers",
                "echo__confirm",
                "echo__list_repos",
                "echo__create_issue",
            }
            result = await client.call_tool("echo__add", {"a": 2, "b": 40})
            assert result.structured_content == {"result": 42} and not result.is_error
            with pytest.raises(MCPError) as denied:
                await client.call_tool("echo__delete_repo", {"repo": "acme/web"})
            assert denied.value.code == -32602 and "Unknown tool" in denied.value.message
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("echo__no_such_tool", {})
            assert unknown.value.message.replace("no_such_tool", "X") == denied.value.message.replace(
                "delete_repo", "X"
            )
            resources = await client.list_resources()
            assert [str(r.uri) for r in resources.resources] == ["echo+echo://greeting"]
            templates = await client.list_resource_templates()
            assert [t.uri_template for t in templates.resource_templates] == ["echo+echo://items/{item_id}"]
            read = await client.read_resource("echo+echo://greeting")
            assert read.contents[0].text == "hello from upstream"
            item = await client.read_resource("echo+echo://items/7")
            assert item.contents[0].text == "item 7"
            prompt = await client.get_prompt("echo__summarize", {"topic": "bees"})
            assert prompt.messages[0].content.text == "Summarize bees in one sentence."
            progress = []

            async def on_progress(value, total, message):
                progress.append(value)

            counted = await client.call_tool("echo__slow_count", {"steps": 3}, progress_callback=on_progress)
            assert counted.content[0].text == "counted 3" and progress == [1, 2, 3]
            return client.protocol_version

    version = run(scenario())
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    calls = Event.objects.filter(kind="mcp", method="tools/call", organization_id=setup.ctx.organization.pk)
    allowed = list(calls.filter(decision="allow"))
    # Stored before forwarding, completed by an outcome row once answered.
    assert [e.outcome for e in allowed] == ["pending", "pending"]
    assert [o.outcome for o in outcomes_of(allowed)] == ["ok", "ok"]
    denied = calls.get(tool="echo__delete_repo")
    assert denied.decision == "deny" and denied.rule_id is not None and denied.outcome == "refused"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_revoked_key_is_refused_on_its_next_request(setup, mode):
    """Revocation reaches every node through the channel layer in milliseconds: a call made after the revocation
    has propagated (bounded here at 2 s, in practice a few ms) is refused, whatever node serves it."""
    import time

    from asgiref.sync import sync_to_async

    outcome = {}

    async def scenario():
        async with connected(setup, mode) as client:
            assert (await client.call_tool("echo__echo", {"message": "before"})).content[0].text == "before"
            key = await sync_to_async(setup.agent.keys.get)()
            await sync_to_async(agent_key_revoke)(ctx=setup.ctx, key_id=key.pk)
            revoked_at = time.monotonic()
            try:
                while time.monotonic() - revoked_at < 2:
                    await client.call_tool("echo__echo", {"message": "after"})
                    outcome.setdefault("answered_after", []).append(time.monotonic() - revoked_at)
                    await asyncio.sleep(0.005)
            except BaseException:  # the SDK reports the refusal as an error of the call or its session
                outcome["refused_after"] = time.monotonic() - revoked_at
                raise

    with pytest.raises(BaseException):  # noqa: B017 (whatever wraps it, the call must fail)
        run(scenario())
    assert outcome["refused_after"] < 2
    refused = Event.objects.filter(
        organization_id=setup.ctx.organization.pk, outcome="refused", error__contains="revoked"
    )
    assert refused.exists()


def test_a_mounted_connection_is_served_without_prefixes(live, echo):
    ctx = org_ctx("mount@example.test")
    conn = connect(ctx, "echo", echo.url)
    setup = agent_with(ctx, live.url, allow=[(conn, "echo")], mount=conn)

    async def scenario():
        async with connected(setup) as client:
            assert await tool_names(client) == {"echo"}
            assert (await client.call_tool("echo", {"message": "plain"})).content[0].text == "plain"

    run(scenario())


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_the_agents_key_never_reaches_the_upstream_only_the_connections_headers_do(live, echo, mode):
    from connectors.services import connection_create

    ctx = org_ctx(f"headers-{mode}@example.test")
    conn = connection_create(ctx=ctx, name="echo", url=echo.url, headers={"X-Upstream-Token": "for-upstream-only"})
    setup = agent_with(ctx, live.url, allow=[(conn, "headers")])

    async def scenario():
        async with connected(setup, mode) as client:
            import json

            result = await client.call_tool("echo__headers", {})
            return (result.structured_content or json.loads(result.content[0].text))["headers"]

    seen = run(scenario())
    assert seen["x-upstream-token"] == "for-upstream-only"
    assert "authorization" not in seen
    assert setup.key not in str(seen)
