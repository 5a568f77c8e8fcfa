"""Real upstreams we did not write, over every transport: server-everything over Streamable HTTP, HTTP+SSE
and stdio; mcp-server-time over stdio; our SDK server over HTTP+SSE. A down or slow upstream yields an error
naming its connection within the timeout and never blocks calls to the others."""

import asyncio
import time

import pytest
from mcp.shared.exceptions import MCPError

from connectors.services import connection_create
from gateway.tests.helpers import agent_with, connect, connected, org_ctx, run, tool_names
from tests.upstreams.run import echo_server, everything

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("transport", ["streamableHttp", "sse"])
def test_server_everything_over_http(live, transport):
    with everything(transport) as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "every", upstream.url, "streamable_http" if transport == "streamableHttp" else "sse")
        setup = agent_with(ctx, live.url, allow=[(conn, "echo"), (conn, "get-sum")])

        async def scenario():
            async with connected(setup, "auto") as client:
                assert await tool_names(client) == {"every__echo", "every__get-sum"}
                echoed = await client.call_tool("every__echo", {"message": "through the gate"})
                assert "through the gate" in echoed.content[0].text
                summed = await client.call_tool("every__get-sum", {"a": 2, "b": 3})
                assert "5" in summed.content[0].text

        run(scenario())


def test_stdio_upstreams_the_operator_allows(live):
    ctx = org_ctx()
    every = connect(ctx, "every", transport="stdio", command="everything")
    clock = connect(ctx, "clock", transport="stdio", command="time")
    setup = agent_with(ctx, live.url, allow=[(every, "echo"), (clock, "")])

    async def scenario():
        async with connected(setup, "legacy") as client:
            names = await tool_names(client)
            assert {"every__echo", "clock__get_current_time", "clock__convert_time"} <= names
            assert "every__get-sum" not in names
            now = await client.call_tool("clock__get_current_time", {"timezone": "UTC"})
            assert '"timezone": "UTC"' in now.content[0].text or "UTC" in now.content[0].text
            echoed = await client.call_tool("every__echo", {"message": "over stdio"})
            assert "over stdio" in echoed.content[0].text

    run(scenario())


def test_a_stdio_command_the_operator_did_not_allow_is_refused():
    ctx = org_ctx()
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        connection_create(ctx=ctx, name="evil", transport="stdio", command_name="rm -rf /")
    assert "command_name" in refused.value.message_dict


def test_our_sdk_server_over_http_and_sse(live):
    with echo_server("sse") as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "legacy", upstream.url, "sse")
        setup = agent_with(ctx, live.url, allow=[(conn, "")])

        async def scenario():
            async with connected(setup, "2026-07-28") as client:
                assert (await client.call_tool("legacy__echo", {"message": "sse"})).content[0].text == "sse"
                read = await client.read_resource("legacy+echo://greeting")
                assert read.contents[0].text == "hello from upstream"

        run(scenario())


def test_a_down_or_slow_upstream_is_named_and_blocks_no_other(live):
    with echo_server() as slow, echo_server() as fast:
        ctx = org_ctx()
        slow_conn = connect(ctx, "slow", slow.url)
        fast_conn = connect(ctx, "fast", fast.url)
        setup = agent_with(ctx, live.url, allow=[(slow_conn, ""), (fast_conn, "")])
        slow.process.terminate()
        slow.process.wait(timeout=10)

        async def scenario():
            async with connected(setup, "2026-07-28") as client:
                with pytest.raises(MCPError) as down:
                    await client.call_tool("slow__echo", {"message": "x"})
                assert "'slow'" in down.value.message and down.value.code == -32002

        run(scenario())

    with echo_server() as slow, echo_server() as fast:
        ctx = org_ctx("second@example.test")
        slow_conn = connect(ctx, "slow", slow.url)
        fast_conn = connect(ctx, "fast", fast.url)
        setup = agent_with(ctx, live.url, allow=[(slow_conn, ""), (fast_conn, "")])

        async def scenario():
            async with connected(setup, "2026-07-28") as client:
                started = time.monotonic()
                sleeper = asyncio.create_task(client.call_tool("slow__sleep", {"seconds": 10}))
                await asyncio.sleep(0.2)
                quick = await client.call_tool("fast__echo", {"message": "not blocked"})
                assert quick.content[0].text == "not blocked" and time.monotonic() - started < 2
                with pytest.raises(MCPError) as timed_out:
                    await sleeper
                assert "'slow' did not answer within 3 s" in timed_out.value.message
                assert time.monotonic() - started < 6

        run(scenario())
