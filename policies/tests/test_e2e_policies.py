"""The permission matrix through the real gateway, with the mcp SDK client: only allowed tools are listed, an
allowed call passes, a forbidden repository is refused naming the rule, a listing is filtered, and a rate limit
holds at its configured rate across two gateway processes that share Redis."""

import asyncio
import json
import os
import time

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from audit.models import Event
from connectors.models import CatalogItem
from gateway.tests.helpers import Setup, agent_with, connect, connected, org_ctx, run, tool_names
from policies.resources import catalog_resources_set
from policies.services import rule_create
from tests.live import start_daphne, stop
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ONLY_TWO = [{"resource": "repository", "op": "one_of", "values": ["acme/web", "acme/api"]}]


def declare(ctx, conn, tool: str, resources: dict) -> None:
    item = CatalogItem.objects.get(connection=conn, kind="tool", name=tool)
    catalog_resources_set(ctx=ctx, item_id=item.pk, resources=resources)


def test_an_agent_sees_and_calls_only_what_its_rules_allow(live):
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        declare(ctx, conn, "create_issue", {"arguments": {"repo": "repository"}})
        declare(
            ctx, conn, "list_repos", {"listing": {"items": "items", "field": "full_name", "resource": "repository"}}
        )
        setup = agent_with(ctx, live.url, allow=[(conn, "echo")])
        aid = setup.agent.pk
        read_only = rule_create(
            ctx=ctx, agent_id=aid, effect="allow", target="annotation", name="read_only", constraints=ONLY_TWO
        )
        issues = rule_create(
            ctx=ctx, agent_id=aid, effect="allow", target="pattern", name="echo__create_*", constraints=ONLY_TWO
        )

        async def scenario():
            async with connected(setup, "auto") as client:
                assert await tool_names(client) == {"echo__echo", "echo__list_repos", "echo__create_issue"}
                echoed = await client.call_tool("echo__echo", {"message": "allowed"})
                assert echoed.content[0].text == "allowed"
                opened = await client.call_tool("echo__create_issue", {"repo": "acme/web", "title": "bug"})
                assert opened.content[0].text == "opened 'bug' in acme/web"
                with pytest.raises(MCPError) as refused:
                    await client.call_tool("echo__create_issue", {"repo": "acme/secret-plans", "title": "x"})
                assert refused.value.error.code == -32003
                assert refused.value.error.message == (
                    f"Refused: argument repo 'acme/secret-plans' is not one of acme/api, acme/web (rule {issues.pk})."
                )
                listed = await client.call_tool("echo__list_repos", {})
                names = [r["full_name"] for r in json.loads(listed.content[0].text)["items"]]
                assert names == ["acme/web", "acme/api"]
                with pytest.raises(MCPError):
                    await client.call_tool("echo__delete_repo", {"repo": "acme/web"})

        run(scenario())
        refusal = Event.objects.get(kind="mcp", tool="echo__create_issue", decision="deny")
        assert refusal.rule_id == issues.pk
        listing = Event.objects.filter(kind="mcp", tool="echo__list_repos").first()
        assert listing.decision == "allow" and listing.rule_id == read_only.pk


@pytest.fixture
def second_node(live, tmp_path):
    server = start_daphne(tmp_path)
    yield server
    stop(server)


async def hammer(setup: Setup, endpoints: list[str], seconds: float) -> tuple[int, int, float]:
    """Calls the tool from four clients per node as fast as they can; counts admitted and throttled calls, and the
    time from the first admitted answer to the last."""
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    params = {"name": "echo__echo", "arguments": {"message": "x"}, "_meta": meta}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    headers = {
        "Authorization": f"Bearer {setup.key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    async with httpx2.AsyncClient(timeout=10) as client:  # each node loads the agent before the clock starts
        listing = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}})
        for url in endpoints:
            assert "result" in (await client.post(url, content=listing, headers=headers)).json()
    headers.update({"Mcp-Method": "tools/call", "Mcp-Name": "echo__echo"})
    admitted = throttled = 0
    retry_hints: list[int] = []
    times: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(url: str) -> None:
        nonlocal admitted, throttled
        async with httpx2.AsyncClient(timeout=10) as client:
            while time.monotonic() < deadline:
                answer = (await client.post(url, content=body, headers=headers)).json()
                if "result" in answer:
                    admitted += 1
                    times.append(time.monotonic())
                else:
                    assert answer["error"]["code"] == -32004, answer
                    retry_hints.append(answer["error"]["data"]["retryAfterMs"])
                    throttled += 1

    await asyncio.gather(*(worker(url) for url in endpoints for _ in range(4)))
    assert retry_hints and all(0 < hint <= 1000 for hint in retry_hints)
    return admitted, throttled, max(times) - min(times)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="two gateway processes share rate limits through Redis")
def test_a_rate_limit_holds_at_its_rate_across_two_gateway_processes(live, second_node):
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url)
        rule_create(
            ctx=ctx,
            agent_id=setup.agent.pk,
            effect="allow",
            connection_id=conn.pk,
            target="tool",
            name="echo",
            rate_limit=600,
            rate_period="minute",
            rate_burst=10,
        )
        path = f"/mcp/{setup.agent.public_id}"
        admitted, throttled, took = run(hammer(setup, [live.url + path, second_node.url + path], 8.0))
        expected = 10 + 10 * took  # the burst, then 600 a minute (10 a second)
        assert throttled > admitted  # the clients asked far more than the limit
        assert abs(admitted - expected) <= 0.05 * expected, (admitted, expected, took)


def test_an_agent_wide_rate_limit_answers_when_to_retry(live):
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        from policies.services import agent_update

        agent_update(ctx=ctx, agent_id=setup.agent.pk, rate_limit=1, rate_period="hour", rate_burst=2)

        async def scenario():
            async with connected(setup, "auto") as client:
                for _ in range(2):
                    await client.call_tool("echo__echo", {"message": "ok"})
                with pytest.raises(MCPError) as throttled:
                    await client.call_tool("echo__echo", {"message": "too many"})
                error = throttled.value.error
                assert error.code == -32004
                assert error.message.startswith("Rate limit of 1 calls per hour (burst 2) exceeded for agent bot")
                assert 3_590_000 < error.data["retryAfterMs"] <= 3_600_000

        run(scenario())
        assert Event.objects.filter(kind="mcp", decision="rate_limited").count() == 1
