"""Streamable HTTP upstreams (either era), called with the lean pooled client of ``gateway.lean_http``: one
connection pool per event loop, one long-lived upstream session per connection (legacy era), the JSON-RPC body
built by hand. Only the connection's own headers are sent, never the agent's credentials."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from django.conf import settings
from mcp.shared.inbound import encode_header_value

from connectors.sdk import CLIENT_CAPABILITIES, refusal
from gateway import lean_http
from gateway.auditing import refused_question
from gateway.jsonrpc import (
    LATEST_LEGACY,
    META_CLIENT_CAPS,
    META_CLIENT_INFO,
    META_VERSION,
    MODERN_VERSION,
    MODERN_VERSIONS,
)
from gateway.upstream.base import Ask, Notify, UpstreamError
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)
CLIENT_INFO = {"name": "scopegate", "version": "0.1.0"}


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
        opening a connection; the rest of the call is bounded by ``forward``'s deadline, which stops while the
        agent is asked something (a person may be answering)."""
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
            refused_question(self.conn.organization_id, self.conn.name, method, body["error"])
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
