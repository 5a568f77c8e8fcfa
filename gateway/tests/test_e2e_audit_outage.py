"""Fail closed: while the database is unreachable no call is forwarded without its event; when it comes back the
gateway recovers by itself."""

from __future__ import annotations

import json
import os
import time

import httpx2
import pytest
from django.db import connection

from audit.models import Event
from audit.verify import verify_organization
from gateway.tests.helpers import agent_with, connect, org_ctx
from tests.live import start_daphne, stop
from tests.tcp_proxy import CuttableProxy
from tests.upstreams.run import echo_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="needs PostgreSQL to stop under the gateway"),
]


def call(client: httpx2.Client, url: str, key: str, tool: str, request_id: int) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    body["params"]["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "outage-test", "version": "1"},
    }
    return client.post(url, content=json.dumps(body), headers=headers)


@pytest.fixture(params=["cached", "uncached"])
def gateway_behind_proxy(request, tmp_path):
    s = connection.settings_dict
    proxy = CuttableProxy(s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432)).start()
    url = f"postgres://{s['USER']}@127.0.0.1:{proxy.port}/{s['NAME']}"
    server = start_daphne(tmp_path, extra_env={"DATABASE_URL": url, "SCOPEGATE_AUDIT_WRITE_TIMEOUT_SECONDS": "2"})
    yield server, proxy
    stop(server)
    proxy.cut()


def test_no_call_is_forwarded_while_the_trail_is_down_and_the_gateway_recovers(gateway_behind_proxy):
    server, proxy = gateway_behind_proxy
    with echo_server() as upstream, httpx2.Client(timeout=20) as client:
        ctx = org_ctx("outage@example.test")
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, server.url, allow=[(conn, "")])
        url = f"{server.url}/mcp/{setup.agent.public_id}"

        for i in range(3):
            answer = call(client, url, setup.key, "echo__tally", i)
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["structuredContent"]["result"] == i + 1

        proxy.cut()
        refused = 0
        for i in range(5):
            answer = call(client, url, setup.key, "echo__tally", 100 + i)
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == -32603 and "unavailable" in error["message"]
            refused += 1
        assert refused == 5

        proxy.restore()
        deadline, answer = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            answer = call(client, url, setup.key, "echo__tally", 200)
            if answer.status_code == 200:
                break
            time.sleep(0.5)
        assert answer is not None and answer.status_code == 200, answer.text
        # The fourth call to reach the upstream: none of the refused ones was forwarded.
        assert answer.json()["result"]["structuredContent"]["result"] == 4

    org = ctx.organization.pk
    forwarded = Event.objects.filter(organization_id=org, kind="mcp", method="tools/call", outcome="pending")
    assert forwarded.count() == 4
    report = verify_organization(org)
    assert report.ok, report.first_break
