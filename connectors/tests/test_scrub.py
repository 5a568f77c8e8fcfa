"""An upstream's URL may carry its credential (hosted MCP servers often take their API key in the path or the
query), and httpx's errors quote the whole URL: what a failure says (to the agent, on the connection's page, in the
trail and the logs) names the scheme and host only. A real server on loopback that refuses every request."""

from __future__ import annotations

import pytest

from connectors.egress import scrub_urls
from connectors.services import connection_create
from tests.http_server import answering


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Client error '401 Unauthorized' for url 'https://u:SECRET@mcp.example.com:8443/k/SECRET/sse?key=SECRET'",
            "Client error '401 Unauthorized' for url 'https://mcp.example.com:8443/...'",
        ),
        ("connect to http://127.0.0.1:9 refused", "connect to http://127.0.0.1:9 refused"),
        ("ConnectError(http://[::1]:9/mcp?token=SECRET)", "ConnectError(http://[::1]:9/..."),  # all of the rest
        ("no address here: a/b?c=d, mailto:x@y.z", "no address here: a/b?c=d, mailto:x@y.z"),
    ],
)
def test_a_url_in_a_message_keeps_its_scheme_and_host_only(text, expected):
    assert scrub_urls(text) == expected


@pytest.fixture
def refusing():
    with answering(401) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.django_db
@pytest.mark.parametrize(("transport", "path"), [("sse", "/k/SECRET/sse"), ("streamable_http", "/k/SECRET/mcp")])
def test_a_failed_discovery_does_not_repeat_the_credential_in_its_url(world, refusing, transport, path, caplog):
    caplog.set_level("INFO")
    connection = connection_create(
        ctx=world.ctx("owner"), name="hosted", transport=transport, url=f"{refusing}{path}?api_key=SECRET"
    )
    assert connection.status != connection.Status.ACTIVE
    assert connection.last_error and "SECRET" not in connection.last_error
    assert "SECRET" not in caplog.text


def test_the_client_libraries_log_records_lose_their_urls_on_the_console():
    """The SDK logs a redirect's location and its clients' errors with their tracebacks (the URL of an
    HTTPStatusError included) by itself: the console handler's filter cuts them; our own records stay as they are."""
    import logging
    import sys

    from connectors.egress import ScrubUpstreamUrls

    console = [h for h in logging.getLogger().handlers if any(isinstance(f, ScrubUpstreamUrls) for f in h.filters)]
    assert console, "the console handler has no URL filter"
    try:
        raise RuntimeError("Client error '401' for url 'https://mcp.example.com/k/SECRET/sse?api_key=SECRET'")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "mcp.client.sse", logging.ERROR, __file__, 1, "Redirect to %s not followed", ("https://h/k/SECRET",), exc_info
    )
    assert ScrubUpstreamUrls().filter(record)
    assert "SECRET" not in logging.Formatter().format(record)
    assert "https://mcp.example.com/..." in record.exc_text and "Redirect to https://h/..." in record.getMessage()
    ours = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "at %s", ("https://h/path",), None)
    assert ScrubUpstreamUrls().filter(ours) and ours.getMessage() == "at https://h/path"
