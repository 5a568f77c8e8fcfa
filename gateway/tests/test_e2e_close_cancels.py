"""2026-07-28: a client cancels a call by closing its request. The gateway notices at once, the upstream call
is cancelled, and the audit trail records the call as cancelled (not left pending for the upstream's answer)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from audit.models import Event
from gateway.tests.helpers import agent_with, connect, org_ctx
from tests.factories import outcomes_of
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def raw_call(url: str, key: str, path: str, body: dict) -> socket.socket:
    """Sends a call on a raw socket and returns it unread, so that the test can close it mid-call."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: echo__sleep\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    return sock


def test_closing_the_request_cancels_the_call_and_the_trail_says_so(live):
    with echo_server() as upstream:
        ctx = org_ctx("closer@example.test")
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        body = {
            "jsonrpc": "2.0",
            "id": "long-1",
            "method": "tools/call",
            "params": {
                "name": "echo__sleep",
                "arguments": {"seconds": 10},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }
        sock = raw_call(live.url, setup.key, f"/mcp/{setup.agent.public_id}", body)
        time.sleep(0.7)
        closed_at = time.monotonic()
        sock.close()
        event = None
        deadline = time.monotonic() + 5
        while event is None and time.monotonic() < deadline:
            event = Event.objects.filter(kind="mcp", request_id="long-1").first()
            time.sleep(0.05)
        assert event is not None and event.outcome == "pending"
        [outcome] = outcomes_of([event], timeout=5)
        assert outcome.outcome == "error" and "cancelled" in outcome.error.lower()
        assert outcome.time.timestamp() - event.time.timestamp() < 3  # not the upstream's ten seconds
        assert time.monotonic() - closed_at < 5
        asyncio.run(asyncio.sleep(0))
