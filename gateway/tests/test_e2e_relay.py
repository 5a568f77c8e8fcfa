"""An upstream that asks something in the middle of a call (an elicitation, a sampling) has it put to the agent
of that call, and the agent's answer goes back to the upstream: over Streamable HTTP (the lean client), HTTP+SSE
and stdio (the SDK's), with real upstreams (our SDK server's elicitation; server-everything's sampling tool, which
it offers only to a client that declares sampling, so discovery shows it only because ScopeGate declares it)."""

import asyncio
import time

import pytest
from mcp import types

from connectors.models import Connection
from gateway.tests.helpers import agent_with, connect, connected, org_ctx, run, tool_names
from tests.upstreams.run import echo_server, everything

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_legacy_upstreams_elicitation_reaches_the_agent_and_its_answer_the_upstream(live):
    """The agent takes longer than the upstream timeout (3 s here) to answer, as a person would: the timeout
    stops while the agent is asked."""
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "old", upstream.url)
        Connection.objects.filter(pk=conn.pk).update(protocol_version="2025-11-25")  # the legacy era upstream
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        asked: list[str] = []

        async def elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
            asked.append(params.message)
            await asyncio.sleep(4)
            return types.ElicitResult(action="accept", content={"proceed": True})

        async def declining(context, params: types.ElicitRequestParams) -> types.ElicitResult:
            return types.ElicitResult(action="decline")

        async def scenario():
            async with connected(setup, "legacy", elicitation_callback=elicitation) as client:
                result = await client.call_tool("old__confirm", {})
                assert result.content[0].text == "answered: accept", result.content[0].text
            async with connected(setup, "legacy", elicitation_callback=declining) as client:
                result = await client.call_tool("old__confirm", {})
                assert result.content[0].text == "answered: decline", result.content[0].text
            async with connected(setup, "legacy") as client:  # declares no elicitation: refused at once
                started = time.monotonic()
                result = await client.call_tool("old__confirm", {})
                text = result.content[0].text
                assert text.startswith("no answer:") and "did not declare elicitation" in text, text
                assert time.monotonic() - started < 2

        run(scenario())
        assert asked == ["Proceed?"]


@pytest.mark.parametrize("transport", ["streamableHttp", "sse", "stdio"])
def test_server_everythings_sampling_request_is_answered_by_the_agent(live, transport):
    http = {"streamableHttp": "streamable_http", "sse": "sse"}
    ctx = org_ctx()

    async def sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        prompt = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"sampled: {prompt}"), model="agent-llm"
        )

    async def scenario(setup):
        async with connected(setup, "legacy", sampling_callback=sampling) as client:
            assert "every__trigger-sampling-request" in await tool_names(client)
            result = await client.call_tool(
                "every__trigger-sampling-request", {"prompt": "two plus two", "maxTokens": 5}
            )
            text = result.content[0].text
            assert "sampled: " in text and "two plus two" in text and "agent-llm" in text, text
        async with connected(setup, "legacy") as client:  # no sampling declared: the upstream's tool gets an error
            result = await client.call_tool("every__trigger-sampling-request", {"prompt": "x", "maxTokens": 5})
            assert result.is_error and "sampling" in result.content[0].text, result

    if transport == "stdio":
        conn = connect(ctx, "every", transport="stdio", command="everything")
        run(scenario(agent_with(ctx, live.url, allow=[(conn, "")])))
        return
    with everything(transport) as upstream:
        conn = connect(ctx, "every", upstream.url, http[transport])
        run(scenario(agent_with(ctx, live.url, allow=[(conn, "")])))
