"""An upstream that asks something in the middle of a call (an elicitation, a sampling) has it put to the agent
of that call, and the agent's answer goes back to the upstream: over Streamable HTTP (the lean client), HTTP+SSE
and stdio (the SDK's), with real upstreams (our SDK server's elicitation; server-everything's sampling tool, which
it offers only to a client that declares sampling, so discovery shows it only because ScopeGate declares it)."""

import asyncio
import json
import os
import time

import httpx2
import pytest
from mcp import types

from audit.models import Event
from connectors.models import Connection
from gateway.tests.helpers import agent_with, connect, connected, org_ctx, run, tool_names
from tests.live import start_daphne, stop
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
        questions = relayed_events(setup.agent, 3)
        assert [e.outcome for e in questions] == ["ok", "ok", "refused"]
        assert {(e.connection, e.tool, e.arguments["message"]) for e in questions} == {
            ("old", "old__confirm", "Proceed?")
        }
        assert "did not declare elicitation" in questions[2].error
        answers = Event.objects.filter(agent_id=setup.agent.pk, method="response").order_by("time")
        assert [(e.outcome, e.request_id.startswith("sg-input-"), e.arguments) for e in answers] == [
            ("ok", True, None)
        ] * 2


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
        for mode in ("legacy", "2026-07-28"):  # on the call's stream; as input_required with the call parked
            async with connected(setup, mode, sampling_callback=sampling) as client:
                assert "every__trigger-sampling-request" in await tool_names(client)
                arguments = {"prompt": "two plus two", "maxTokens": 5}
                result = await client.call_tool("every__trigger-sampling-request", arguments)
                text = result.content[0].text
                assert "sampled: " in text and "two plus two" in text and "agent-llm" in text, (mode, text)
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


MODERN = "2026-07-28"


def relayed_events(agent, count: int) -> list:
    """The audit trail's records of the questions put to the agent (written just after each was answered)."""
    deadline = time.monotonic() + 5
    while True:
        events = list(Event.objects.filter(agent_id=agent.pk, method="elicitation/create").order_by("id"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def modern_call(setup, name: str, arguments: dict, **extra) -> dict:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    body["params"].update(extra, _meta=meta)
    hdrs = {
        "Authorization": f"Bearer {setup.key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    return hdrs, body


def post_modern(client, endpoint, setup, name, arguments, **extra):
    hdrs, body = modern_call(setup, name, arguments, **extra)
    response = client.post(endpoint, content=json.dumps(body), headers=hdrs)
    assert response.status_code in (200, 400), response.text
    return response.json()


def test_a_modern_agent_answers_a_legacy_upstreams_elicitation_through_input_required(live):
    """The 2026-07-28 client gets input_required, answers with inputResponses, and the parked call goes on."""
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "old", upstream.url)
        Connection.objects.filter(pk=conn.pk).update(protocol_version="2025-11-25")
        setup = agent_with(ctx, live.url, allow=[(conn, "")])

        async def elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
            return types.ElicitResult(action="accept", content={"proceed": True})

        async def scenario():
            async with connected(setup, MODERN, elicitation_callback=elicitation) as client:
                for _ in range(2):
                    result = await client.call_tool("old__confirm", {})
                    assert result.content[0].text == "answered: accept", result.content[0].text
                echoed = await client.call_tool("old__echo", {"message": "not parked"})
                assert echoed.content[0].text == "not parked"

        run(scenario())
        assert [e.outcome for e in relayed_events(setup.agent, 2)] == ["ok", "ok"]


def test_a_parked_calls_request_state_is_bound_to_its_call_and_its_round(live):
    with echo_server() as upstream, httpx2.Client(timeout=20) as client:
        ctx = org_ctx()
        conn = connect(ctx, "old", upstream.url)
        Connection.objects.filter(pk=conn.pk).update(protocol_version="2025-11-25")
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        first = post_modern(client, setup.endpoint, setup, "old__confirm", {})["result"]
        assert first["resultType"] == "input_required"
        question = first["inputRequests"]["upstream"]
        assert question["method"] == "elicitation/create" and question["params"]["message"] == "Proceed?"
        state = first["requestState"]
        accept = {"upstream": {"action": "accept", "content": {"proceed": True}}}

        altered = post_modern(
            client, setup.endpoint, setup, "old__confirm", {}, requestState=state[:-2] + "xx", inputResponses=accept
        )
        assert altered["error"]["code"] == -32602 and "altered" in altered["error"]["message"]
        other = post_modern(
            client, setup.endpoint, setup, "old__echo", {"message": "m"}, requestState=state, inputResponses=accept
        )
        assert other["error"]["code"] == -32602 and "another call" in other["error"]["message"]

        done = post_modern(client, setup.endpoint, setup, "old__confirm", {}, requestState=state, inputResponses=accept)
        assert done["result"]["content"][0]["text"] == "answered: accept", done
        started = time.monotonic()
        again = post_modern(
            client, setup.endpoint, setup, "old__confirm", {}, requestState=state, inputResponses=accept
        )
        assert again["error"]["code"] == -32602 and "no longer waiting" in again["error"]["message"]
        assert time.monotonic() - started < 6


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the answer crosses processes through Redis")
def test_the_answer_may_reach_another_node(live, tmp_path):
    second = start_daphne(tmp_path)
    try:
        with echo_server() as upstream, httpx2.Client(timeout=20) as client:
            ctx = org_ctx()
            conn = connect(ctx, "old", upstream.url)
            Connection.objects.filter(pk=conn.pk).update(protocol_version="2025-11-25")
            setup = agent_with(ctx, live.url, allow=[(conn, "")])
            path = f"/mcp/{setup.agent.public_id}"
            first = post_modern(client, live.url + path, setup, "old__confirm", {})["result"]
            decline = {"upstream": {"action": "decline"}}
            done = post_modern(
                client,
                second.url + path,
                setup,
                "old__confirm",
                {},
                requestState=first["requestState"],
                inputResponses=decline,
            )
            assert done["result"]["content"][0]["text"] == "answered: decline", done
    finally:
        stop(second)
