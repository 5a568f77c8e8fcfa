"""The web process's access log holds no secret: an agent key in the endpoint's path, an invitation, an e-mail
confirmation or password reset link, an OAuth callback's code. daphne logs request lines as they came;
``scopegate.asgi`` has its access log go through ``gateway.redact``."""

from __future__ import annotations

import time

import httpx2
import pytest

from gateway.redact import redact_path
from gateway.tests.helpers import agent_with, org_ctx


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("POST /mcp/agt_abc/SECRET", "POST /mcp/agt_abc/[redacted]"),
        ("POST /mcp/agt_abc/SECRET/?x=1", "POST /mcp/agt_abc/[redacted]/?x=1"),
        ("POST /mcp/agt_abc", "POST /mcp/agt_abc"),
        ("GET /invitations/sg_inv_SECRETSECRET/", "GET /invitations/sg_inv_[redacted]/"),
        ("GET /accounts/confirm-email/SECRET/", "GET /accounts/confirm-email/[redacted]/"),
        ("GET /accounts/password/reset/key/1-SECRET/", "GET /accounts/password/reset/key/[redacted]/"),
        ("GET /o/acme/connections/oauth/callback/?code=SECRET&state=SECRET", None),
        ("GET /x/?Token=SECRET&page=2", "GET /x/?Token=[redacted]&page=2"),
        ("GET /o/acme/activity/?agent=3&tool=x", "GET /o/acme/activity/?agent=3&tool=x"),
    ],
)
def test_secret_parts_of_a_request_line_are_masked(line, expected):
    out = redact_path(line)
    assert "SECRET" not in out
    if expected is not None:
        assert out == expected


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_key_in_the_endpoints_path_never_reaches_the_log(live):
    setup = agent_with(org_ctx(), live.url)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    answer = httpx2.post(
        f"{setup.endpoint}/{setup.key}",
        json=initialize,
        headers={"Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    line = f'"POST /mcp/{setup.agent.public_id}/[redacted]" 200'
    deadline = time.monotonic() + 10
    while line not in live.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line in live.log()
    assert setup.key not in live.log()
