"""Forwarding to upstream MCP servers.

Streamable HTTP upstreams (either era) are called with the lean pooled client of ``gateway.lean_http``: one
connection pool per event loop, one long-lived upstream session per connection (legacy era), the JSON-RPC body
built by hand.
HTTP+SSE and stdio upstreams go through the official SDK's client, kept open per connection in a task of its
own. Either way the agent's credentials never leave the gateway: only the connection's own headers are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from mcp.shared.inbound import encode_header_value
from mcp_types import CONNECTION_CLOSED

from connectors.sdk import CLIENT_CAPABILITIES, UpstreamConfigError, UpstreamTarget, dump, open_client, refusal
from gateway import lean_http
from gateway.builtin import BuiltinError, BuiltinUpstream
from gateway.jsonrpc import (
    LATEST_LEGACY,
    META_CLIENT_CAPS,
    META_CLIENT_INFO,
    META_VERSION,
    MODERN_VERSION,
    MODERN_VERSIONS,
)
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)
CLIENT_INFO = {"name": "scopegate", "version": "0.1.0"}
Notify = Callable[[dict], Awaitable[None]]
# Asks the agent of the call in progress what an upstream asked ScopeGate ({"method", "params"}) and returns the
# JSON-RPC answer to give it: {"result": ...} or {"error": ...}.
Ask = Callable[[dict], Awaitable[dict]]


class UpstreamError(Exception):
    """The upstream is down, slow or answered nonsense; the message names the connection."""


def _name_param(method: str, params: dict) -> str | None:
    if method in ("tools/call", "prompts/get"):
        return params.get("name")
    if method in ("resources/read", "resources/subscribe", "resources/unsubscribe"):
        return params.get("uri")
    return None


class HttpUpstream:
    def __init__(self, conn: ConnectionRuntime) -> None:
        self.conn = conn
        self.modern = conn.protocol_version in MODERN_VERSIONS
        self.session_id: str | None = None
        self.version = conn.protocol_version if conn.protocol_version and not self.modern else LATEST_LEGACY
        self._ids = itertools.count(1)
        self._init_lock = asyncio.Lock()
        self._target = lean_http.Target(conn.url)

    def _headers(self, method: str, params: dict) -> dict[str, str]:
        headers = dict(self.conn.headers)
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "application/json, text/event-stream"
        if self.modern:
            headers["MCP-Protocol-Version"] = MODERN_VERSION
            headers["Mcp-Method"] = method
            name = _name_param(method, params)
            if isinstance(name, str):
                headers["Mcp-Name"] = encode_header_value(name)
        else:
            headers["MCP-Protocol-Version"] = self.version
            if self.session_id:
                headers["Mcp-Session-Id"] = self.session_id
        return headers

    def _params(self, params: dict) -> dict:
        if not self.modern:
            return params
        meta = dict(params.get("_meta") or {})
        meta[META_VERSION] = MODERN_VERSION
        meta[META_CLIENT_INFO] = CLIENT_INFO
        meta.setdefault(META_CLIENT_CAPS, {})
        return {**params, "_meta": meta}

    async def _ensure_session(self, timeout: float) -> None:
        if self.modern or self.session_id:
            return
        async with self._init_lock:
            if self.session_id:
                return
            init = {"protocolVersion": self.version, "capabilities": CLIENT_CAPABILITIES, "clientInfo": CLIENT_INFO}
            self.session_id = None
            reply, session_id = await self._post("initialize", init, None, timeout, initializing=True)
            if "error" in reply:
                raise UpstreamError(f"refused initialize: {reply['error'].get('message')}")
            self.version = reply.get("result", {}).get("protocolVersion", self.version)
            self.session_id = session_id
            await self._post("notifications/initialized", None, None, timeout, notification=True)

    def _posting(self, body: dict, headers: dict[str, str], timeout: float, *, limited: bool = True):
        """One JSON-RPC message POSTed to the upstream (a context manager giving its response). Its timeout bounds
        the connection and each wait for data; the whole call is bounded by ``forward``'s deadline, which stops
        while the agent is asked something (a person may be answering)."""
        data = json.dumps(body, separators=(",", ":")).encode()
        return lean_http.post(self._target, data, headers, timeout, settings.ALLOW_PRIVATE_UPSTREAMS, limited=limited)

    async def _post(
        self,
        method: str,
        params: dict | None,
        notify: Notify | None,
        timeout: float,
        *,
        notification: bool = False,
        initializing: bool = False,
        extra_headers: dict | None = None,
        ask: Ask | None = None,
    ) -> tuple[dict, str | None]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        upstream_id = None
        if not notification:
            upstream_id = next(self._ids)
            body["id"] = upstream_id
        if params is not None:
            body["params"] = self._params(params)
        headers = self._headers(method, params or {})
        if extra_headers and self.modern:
            headers.update(extra_headers)
        async with self._posting(body, headers, timeout) as response:
            session_id = response.headers.get("mcp-session-id")
            if notification:
                return {}, session_id
            if response.status == 404 and self.session_id and not initializing:
                raise _SessionExpired
            ctype = response.headers.get("content-type", "")
            if ctype.startswith("text/event-stream"):
                return await self._read_stream(response, upstream_id, notify, ask), session_id
            if ctype.startswith("application/json"):
                reply = json.loads(await response.read())
                if isinstance(reply, dict) and ("result" in reply or "error" in reply):
                    return reply, session_id
            raise UpstreamError(f"answered HTTP {response.status} ({ctype or 'no content type'})")

    async def _read_stream(
        self, response: lean_http.Response, upstream_id: int, notify: Notify | None, ask: Ask | None
    ) -> dict:
        data: list[str] = []
        async for raw in response.lines():
            line = raw.decode("utf-8")
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
                continue
            if line or not data:
                continue
            text = "\n".join(data).strip()
            data.clear()
            if not text:
                continue  # a priming event (an id to resume from, no message)
            message = json.loads(text)
            if (
                isinstance(message, dict)
                and message.get("id") == upstream_id
                and ("result" in message or "error" in message)
            ):
                return message
            if isinstance(message, dict) and "method" in message:
                if "id" in message:
                    await self._answer(message, ask)
                elif notify is not None:
                    await notify(message)
        raise UpstreamError("closed its stream without an answer")

    async def _answer(self, request: dict, ask: Ask | None) -> None:
        """The upstream asked something in the middle of a call (on the call's own stream). A ping is answered
        here; sampling and elicitations go to the agent of the call (``ask``), which may refuse them; anything
        else is refused at once, so the call goes on (or fails) now instead of waiting out its timeout."""
        method = request.get("method")
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        if method == "ping":
            body["result"] = {}
        elif ask is not None:
            body.update(await ask({"method": method, "params": request.get("params") or {}}))
        else:
            body["error"] = refusal(method)
        try:
            timeout = float(settings.UPSTREAM_TIMEOUT_SECONDS)
            async with self._posting(body, self._headers("", {}), timeout, limited=False) as answer:
                await answer.read()
        except (OSError, ValueError, TimeoutError) as exc:  # the call itself still ends within its timeout
            logger.warning("could not answer %s from connection %s: %r", method, self.conn.name, exc)

    async def request(
        self,
        method: str,
        params: dict,
        *,
        notify: Notify | None,
        timeout: float,
        headers: dict | None = None,
        ask: Ask | None = None,
    ) -> dict:
        for attempt in range(2):
            await self._ensure_session(timeout)
            try:
                reply, _ = await self._post(method, params, notify, timeout, extra_headers=headers, ask=ask)
                return reply
            except _SessionExpired:
                self.session_id = None  # the upstream forgot our session: open a new one, once
                if attempt:
                    raise UpstreamError("keeps forgetting its session") from None
        raise AssertionError("unreachable")


class _SessionExpired(Exception):
    pass


class SdkUpstream:
    """An SDK client (HTTP+SSE or stdio) held open by a task of its own, since the SDK's cancel scopes must be
    entered and left in one task; each call is made from its caller's task, so the gateway's deadline (which stops
    while the call's agent answers the upstream's question) bounds it, and a call that is cancelled (its agent's
    notifications/cancelled, a client that left, the deadline) is cancelled at the upstream too (the SDK sends
    notifications/cancelled) instead of holding up the calls after it. One call at a time: an upstream's sampling
    or elicitation request then belongs to the call in progress and goes to its agent."""

    def __init__(self, conn: ConnectionRuntime) -> None:
        self.target = UpstreamTarget(
            name=conn.name,
            transport=conn.transport,
            url=conn.url,
            command_name=conn.command_name,
            headers=conn.headers,
        )
        self._lock = asyncio.Lock()
        self._opened: asyncio.Future | None = None  # the open client, once the holder has it
        self._holder: asyncio.Task | None = None
        self._ask: Ask | None = None  # the agent of the call in progress

    async def _relay(self, method: str, params: dict) -> dict:
        ask = self._ask
        return await ask({"method": method, "params": params}) if ask is not None else {"error": refusal(method)}

    async def _hold(self, opened: asyncio.Future) -> None:
        """Opens the client and keeps it open until the session fails or ``close`` cancels this task."""
        try:
            async with open_client(self.target, relay=self._relay, bounded_requests=False) as client:
                opened.set_result(client)
                await asyncio.Event().wait()
        except Exception as exc:
            if not opened.done():
                opened.set_exception(UpstreamError(f"is unreachable: {exc!r}"[:300]))
            else:
                logger.info("the session with connection %s ended: %r", self.target.name, exc)

    async def _client(self):
        loop = asyncio.get_running_loop()
        if self._holder is None or self._holder.done() or self._holder.get_loop() is not loop:
            self._opened = loop.create_future()
            self._holder = loop.create_task(self._hold(self._opened))
        return await asyncio.shield(self._opened)  # a caller that gives up does not fail the opening for the next

    async def request(
        self,
        method: str,
        params: dict,
        *,
        notify: Notify | None,
        timeout: float,
        headers: dict | None = None,
        ask: Ask | None = None,
    ) -> dict:
        async with self._lock:
            client = await self._client()
            self._ask = ask
            try:
                reply = await _sdk_call(client, method, params, notify)
            finally:
                self._ask = None
        error = reply.get("error")
        if isinstance(error, dict) and error.get("code") == CONNECTION_CLOSED:
            self.close()  # the session is over: the next call opens another
        return reply

    def close(self) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(UpstreamError("was closed while it opened"))
            self._opened.exception()  # retrieved here: its waiters, if any, get it too
        if self._holder is not None and not self._holder.done():
            self._holder.cancel()
        self._holder = self._opened = None


async def _sdk_call(client, method: str, params: dict, notify: Notify | None) -> dict:
    from mcp.shared.exceptions import MCPError

    try:
        if method == "tools/call":
            token = (params.get("_meta") or {}).get("progressToken")

            async def progress(value: float, total: float | None, message: str | None) -> None:
                if notify is not None and token is not None:
                    note = {"progressToken": token, "progress": value}
                    if total is not None:
                        note["total"] = total
                    if message:
                        note["message"] = message
                    await notify({"jsonrpc": "2.0", "method": "notifications/progress", "params": note})

            result = await client.call_tool(params["name"], params.get("arguments"), progress_callback=progress)
        elif method == "resources/read":
            result = await client.read_resource(params["uri"])
        elif method == "prompts/get":
            result = await client.get_prompt(params["name"], params.get("arguments"))
        elif method == "completion/complete":
            result = await client.session.complete(
                ref=params["ref"],
                argument=params["argument"],
                context_arguments=(params.get("context") or {}).get("arguments"),
            )
        elif method == "ping":
            result = await client.send_ping()
        else:
            return {"error": {"code": -32601, "message": f"Method not found: {method}"}}
    except MCPError as exc:
        return {"error": dump(exc.error)}
    return {"result": dump(result)}


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
