"""Forwarding to upstream MCP servers.

Streamable HTTP upstreams (either era) are called with the lean pooled client of ``gateway.lean_http``: one
connection pool per event loop, one long-lived upstream session per connection (legacy era), the JSON-RPC body
built by hand (``http``).
HTTP+SSE and stdio upstreams go through the official SDK's client, kept open per connection in a task of its
own (``sdk``). Either way the agent's credentials never leave the gateway: only the connection's own headers are sent.
"""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings

from connectors.sdk import UpstreamConfigError
from gateway import lean_http
from gateway.builtin import BuiltinError, BuiltinUpstream
from gateway.upstream.base import Ask, Notify, UpstreamError
from gateway.upstream.http import HttpUpstream
from gateway.upstream.sdk import SdkUpstream
from policies.runtime import ConnectionRuntime

__all__ = ["Ask", "Notify", "UpstreamError", "close_all", "forward", "upstream_for"]

_pool: dict[tuple, HttpUpstream | SdkUpstream] = {}


def upstream_for(conn: ConnectionRuntime) -> HttpUpstream | SdkUpstream | BuiltinUpstream:
    if conn.kind != "mcp":
        return BuiltinUpstream(conn)  # stateless: the token comes from the credential cache per call
    key = conn.pool_key
    upstream = _pool.get(key)
    if upstream is None:
        upstream = HttpUpstream(conn) if conn.transport == "streamable_http" else SdkUpstream(conn)
        _pool[key] = upstream
    return upstream


async def forward(
    conn: ConnectionRuntime,
    method: str,
    params: dict,
    *,
    notify: Notify | None = None,
    headers: dict[str, str] | None = None,
    ask: Ask | None = None,
) -> dict:
    """The upstream's JSON-RPC answer ({"result": ...} or {"error": ...}); UpstreamError names the connection.
    ``ask`` relays what the upstream asks in the middle of the call to the call's agent; the upstream timeout
    stops while the agent answers (a person may be typing) and starts afresh after."""
    timeout = float(settings.UPSTREAM_TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(timeout) as deadline:
            paused = None if ask is None else _pausing(deadline, timeout, ask)
            upstream = upstream_for(conn)
            return await upstream.request(method, params, notify=notify, timeout=timeout, headers=headers, ask=paused)
    except TimeoutError:
        raise UpstreamError(f"Connection '{conn.name}' did not answer within {timeout:g} s.") from None
    except UpstreamError as exc:
        raise UpstreamError(f"Connection '{conn.name}' {exc}") from None
    except UpstreamConfigError as exc:
        raise UpstreamError(f"Connection '{conn.name}': {exc}") from None
    except BuiltinError as exc:
        raise UpstreamError(f"Connection '{conn.name}' {exc}") from None
    except lean_http.RefusedAddress as exc:
        raise UpstreamError(f"Connection '{conn.name}': {exc}.") from None
    except lean_http.ProtocolError as exc:
        raise UpstreamError(f"Connection '{conn.name}' {exc}.") from None
    except (OSError, ValueError) as exc:
        raise UpstreamError(f"Connection '{conn.name}' is unreachable ({type(exc).__name__}).") from None


def _pausing(deadline: asyncio.Timeout, timeout: float, ask: Ask) -> Ask:
    asking = 0

    async def paused(request: dict) -> dict:
        nonlocal asking
        asking += 1
        deadline.reschedule(None)
        try:
            return await ask(request)
        finally:
            asking -= 1
            if not asking:
                deadline.reschedule(asyncio.get_running_loop().time() + timeout)

    return paused


async def close_all() -> None:
    for key, upstream in list(_pool.items()):
        if isinstance(upstream, SdkUpstream):
            upstream.close()
            del _pool[key]
    with contextlib.suppress(Exception):
        await lean_http.close_all()
