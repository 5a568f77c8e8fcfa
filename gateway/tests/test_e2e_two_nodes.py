"""Gateway nodes keep no state another node needs: two daphne processes serve one legacy session while the
client alternates between them, and a session ended on one is refused by the other."""

import json
import os
import time

import httpx2
import pytest

from gateway.tests.helpers import agent_with, connect, org_ctx
from tests.live import start_daphne, stop
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def second_node(live, tmp_path):
    server = start_daphne(tmp_path)
    yield server
    stop(server)


def rpc(client, url, key, method, params=None, session=None, request_id=1):
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session:
        headers["Mcp-Session-Id"] = session
    body = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        body["id"] = request_id
    return client.post(url, content=json.dumps(body), headers=headers)


def test_one_legacy_session_alternates_between_two_nodes(live, second_node):
    with echo_server() as upstream, httpx2.Client(timeout=10) as client:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        path = f"/mcp/{setup.agent.public_id}"
        node_a, node_b = live.url + path, second_node.url + path

        init = rpc(
            client,
            node_a,
            setup.key,
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        )
        session = init.headers["Mcp-Session-Id"]
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        assert (
            rpc(client, node_b, setup.key, "notifications/initialized", session=session, request_id=None).status_code
            == 202
        )
        listed = rpc(client, node_b, setup.key, "tools/list", session=session, request_id=2).json()
        assert "echo__echo" in {t["name"] for t in listed["result"]["tools"]}
        for i, url in enumerate([node_a, node_b, node_a, node_b], start=3):
            answer = rpc(
                client,
                url,
                setup.key,
                "tools/call",
                {"name": "echo__echo", "arguments": {"message": f"m{i}"}},
                session=session,
                request_id=i,
            ).json()
            assert answer["result"]["content"][0]["text"] == f"m{i}"

        headers = {"Authorization": f"Bearer {setup.key}", "Mcp-Session-Id": session}
        assert client.delete(node_b, headers=headers).status_code == 200
        assert rpc(client, node_b, setup.key, "tools/list", session=session, request_id=9).status_code == 404
        if os.environ.get("REDIS_URL"):  # the end of a session crosses processes through Redis, within ms
            deadline = time.monotonic() + 2
            while rpc(client, node_a, setup.key, "tools/list", session=session, request_id=10).status_code != 404:
                assert time.monotonic() < deadline, "node A still serves a session ended on node B"
                time.sleep(0.02)


def test_a_session_of_another_key_or_agent_is_refused(live):
    with echo_server() as upstream, httpx2.Client(timeout=10) as client:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        first = agent_with(ctx, live.url, allow=[(conn, "")], name="first")
        second = agent_with(ctx, live.url, allow=[(conn, "")], name="second")
        init = rpc(
            client,
            first.endpoint,
            first.key,
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}},
        )
        session = init.headers["Mcp-Session-Id"]
        assert rpc(client, second.endpoint, second.key, "tools/list", session=session).status_code == 404


def test_sessions_opened_in_the_same_second_are_distinct(live):
    with echo_server() as upstream, httpx2.Client(timeout=10) as client:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}}
        first, second = (
            rpc(client, setup.endpoint, setup.key, "initialize", params).headers["Mcp-Session-Id"] for _ in range(2)
        )
        assert first != second
        client.delete(setup.endpoint, headers={"Authorization": f"Bearer {setup.key}", "Mcp-Session-Id": first})
        assert rpc(client, setup.endpoint, setup.key, "ping", session=first).status_code == 404
        assert rpc(client, setup.endpoint, setup.key, "ping", session=second).status_code == 200


def test_a_cancelled_call_stops_on_whichever_node_runs_it(live, second_node):
    import asyncio

    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        path = f"/mcp/{setup.agent.public_id}"
        nodes = [live.url + path]
        if os.environ.get("REDIS_URL"):  # the cancellation crosses processes through Redis
            nodes.append(second_node.url + path)

        async def scenario(cancel_on: str) -> tuple[dict, float]:
            headers = {
                "Authorization": f"Bearer {setup.key}",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            }
            async with httpx2.AsyncClient(timeout=20) as client:
                init = await client.post(
                    nodes[0],
                    headers=headers,
                    content=json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "initialize",
                            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}},
                        }
                    ),
                )
                headers["Mcp-Session-Id"] = init.headers["Mcp-Session-Id"]
                call = {
                    "jsonrpc": "2.0",
                    "id": 7,
                    "method": "tools/call",
                    "params": {"name": "echo__sleep", "arguments": {"seconds": 10}},
                }
                started = time.monotonic()
                pending = asyncio.ensure_future(client.post(nodes[0], headers=headers, content=json.dumps(call)))
                await asyncio.sleep(0.5)
                cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
                assert (await client.post(cancel_on, headers=headers, content=json.dumps(cancel))).status_code == 202
                answer = await pending
                return answer.json(), time.monotonic() - started

        for cancel_on in nodes:
            answer, took = asyncio.run(scenario(cancel_on))
            assert answer["error"]["code"] == -32800 and took < 3
