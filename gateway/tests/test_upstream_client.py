"""The pooled HTTP client that forwards to Streamable HTTP upstreams, against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from gateway.upstream import close_all, forward
from policies.runtime import ConnectionRuntime


async def _cookie_setting_upstream() -> tuple[web.AppRunner, str]:
    """A 2026-07-28 upstream that sets a cookie on every answer and tells which cookie it was sent."""

    async def mcp(request: web.Request) -> web.Response:
        body = await request.json()
        result = {"cookie": request.headers.get("Cookie", ""), "resultType": "complete"}
        response = web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})
        response.set_cookie("upstream_session", "secret-of-whoever-called-first")
        return response

    app = web.Application()
    app.router.add_post("/mcp", mcp)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://localhost:{port}/mcp"  # a host name: cookie jars ignore cookies from IP addresses


def _conn(pk: int, url: str) -> ConnectionRuntime:
    return ConnectionRuntime(
        id=pk,
        name=f"c{pk}",
        transport="streamable_http",
        url=url,
        command_name="",
        protocol_version="2026-07-28",
        headers={},
    )


def test_a_cookie_an_upstream_sets_is_never_sent_again():
    """One client serves every organization's connections: a cookie jar in it would carry one organization's
    upstream session into another's requests to the same host. The client keeps no cookies at all."""

    async def scenario():
        runner, url = await _cookie_setting_upstream()
        try:
            first = await forward(_conn(1, url), "tools/list", {})
            second = await forward(_conn(2, url), "tools/list", {})  # another organization, the same upstream
            again = await forward(_conn(1, url), "tools/list", {})
        finally:
            await close_all()
            await runner.cleanup()
        return first, second, again

    first, second, again = asyncio.run(scenario())
    assert first["result"]["cookie"] == ""
    assert second["result"]["cookie"] == "", json.dumps(second)
    assert again["result"]["cookie"] == ""


def test_the_providers_client_keeps_no_cookies_either():
    """The built-in GitHub and Google tools share one client across organizations too."""
    from aiohttp import DummyCookieJar

    from connectors.providers.http import _Pool

    async def jar():
        session = _Pool.get()
        try:
            return session.cookie_jar
        finally:
            await session.close()

    assert isinstance(asyncio.run(jar()), DummyCookieJar)
