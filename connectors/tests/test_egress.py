"""The egress policy at connect time: discovery (and the list-change watchers, which open the same SDK client) and
the SIEM push connect only to addresses the operator allows, checked against the address actually connected to,
not only when the URL was entered. Real servers on loopback; loopback is a private address, so these tests run
with private upstreams refused and, where a connection must succeed, with loopback as an allowed network."""

from __future__ import annotations

import ipaddress
import socket

import httpx2
import pytest
from django.core.exceptions import ValidationError

from connectors import egress
from connectors.sdk import UpstreamTarget, discover
from connectors.services import check_upstream_url
from tests.http_server import answering
from tests.upstreams.run import echo_server

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.fixture(scope="module")
def echo_sse_url():
    with echo_server("sse") as upstream:
        yield upstream.url


@pytest.fixture
def refused(settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = False
    settings.UPSTREAM_ALLOWED_NETWORKS = []
    return settings


def _messages(exc: BaseException) -> str:
    """Every message in an exception, its causes and the groups the SDK's task groups wrap it in."""
    out, seen, todo = [], set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        out.append(str(current))
        todo.extend(getattr(current, "exceptions", ()))
        todo.extend((current.__cause__, current.__context__))
    return " | ".join(out)


@pytest.fixture
def listener():
    """A listening socket that must never see a connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _accepted(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_discovery_never_connects_to_a_private_address(refused, listener, transport, host):
    port = listener.getsockname()[1]
    target = UpstreamTarget(name="inside", transport=transport, url=f"http://{host}:{port}/mcp")
    with pytest.raises(BaseException) as caught:
        await discover(target)
    assert f"{host} resolves to a private address" in _messages(caught.value)
    assert not _accepted(listener)


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_discovery_reaches_a_private_network_the_operator_allows(refused, echo_url, echo_sse_url, transport):
    refused.UPSTREAM_ALLOWED_NETWORKS = LOOPBACK
    url = (echo_sse_url if transport == "sse" else echo_url).replace("127.0.0.1", "localhost")
    found = await discover(UpstreamTarget(name="inside", transport=transport, url=url))
    assert "echo" in [tool["name"] for tool in found.tools]


@pytest.fixture
def web():
    with answering(204) as port:
        yield f"http://localhost:{port}/"


def test_the_blocking_client_checks_at_connect_too(refused, web):
    with egress.http_client(timeout=5) as client, pytest.raises(httpx2.ConnectError, match="private address"):
        client.get(web)
    refused.UPSTREAM_ALLOWED_NETWORKS = LOOPBACK
    with egress.http_client(timeout=5) as client:
        assert client.get(web).status_code == 204


def test_an_allowed_network_opens_only_itself(refused):
    with pytest.raises(ValidationError, match=r"127\.0\.0\.1\), which is refused"):
        check_upstream_url("http://127.0.0.1:8000/mcp")
    refused.UPSTREAM_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    check_upstream_url("http://127.0.0.1:8000/mcp")
    for url in ("http://10.0.0.5/mcp", "http://169.254.169.254/latest/meta-data/", "http://[::1]:8000/mcp"):
        with pytest.raises(ValidationError, match="private address"):
            check_upstream_url(url)
