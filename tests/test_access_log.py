"""The web process's access log holds no secret: an agent key in the endpoint's path, an invitation or e-mail
link, an OAuth callback's code. daphne logs request lines as they came; ``scopegate.serve`` masks those parts."""

from __future__ import annotations

import time

import httpx2
import pytest

from gateway.tests.helpers import agent_with, org_ctx
from scopegate.serve import masked


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/mcp/agt_abc/sg_live_SECRET", "/mcp/agt_abc/[secret]"),
        ("/mcp/agt_abc/sg_live_SECRET/", "/mcp/agt_abc/[secret]/"),
        ("/mcp/agt_abc/sg_live_SECRET?x=1", "/mcp/agt_abc/[secret]?x=1"),
        ("/mcp/agt_abc", "/mcp/agt_abc"),
        ("/invitations/SECRET/", "/invitations/[secret]/"),
        ("/accounts/confirm-email/SECRET/", "/accounts/confirm-email/[secret]/"),
        ("/accounts/password/reset/key/1-SECRET/", "/accounts/password/reset/key/[secret]/"),
        ("/o/acme/connections/oauth/callback/?code=SECRET&state=SECRET", None),
        ("/o/acme/activity/?agent=3&tool=x", "/o/acme/activity/?agent=3&tool=x"),
        ("b'/mcp/agt_abc/sg_live_SECRET\\xff'", "b'/mcp/agt_abc/[secret]'"),
    ],
)
def test_secret_parts_of_a_request_line_are_masked(path, expected):
    out = masked(path)
    assert "SECRET" not in out
    if expected is not None:
        assert out == expected


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_key_in_the_endpoints_path_never_reaches_the_log(live):
    setup = agent_with(org_ctx(), live.url)
    url = f"{setup.endpoint}/{setup.key}"
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    answer = httpx2.post(url, json=initialize, headers={"Accept": "application/json, text/event-stream"}, timeout=30)
    assert answer.status_code == 200, answer.text
    line = f'"POST /mcp/{setup.agent.public_id}/[secret]" 200'
    deadline = time.monotonic() + 10
    while line not in live.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line in live.log()
    assert setup.key not in live.log()
