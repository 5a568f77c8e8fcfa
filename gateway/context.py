"""What one request to an agent's MCP endpoint carries through the pipeline, and how it is answered."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

from gateway import jsonrpc as rpc
from gateway.sessions import Session
from gateway.streams import StreamSpec
from policies.runtime import AgentRuntime, KeyRuntime


@dataclass
class Request:
    http_method: str
    agent_ref: str
    path_key: str | None
    headers: dict[str, str]  # lower-case names
    raw_headers: list[tuple[str, str]]
    body: bytes
    client: str = ""


@dataclass
class Context:
    """What one request learned on its way through the pipeline; it becomes the audit event."""

    started: float = field(default_factory=time.perf_counter)
    agent: AgentRuntime | None = None
    key: KeyRuntime | None = None
    session: Session | None = None
    modern: bool = False
    client_caps: dict = field(default_factory=dict)
    log_level: str | None = None
    rpc_method: str = ""
    request_id: Any = None
    tool: str = ""
    connection: str = ""
    decision: str = "none"
    rule_id: int | None = None
    trace: list = field(default_factory=list)
    arguments: Any = None  # redacted, for the audit event
    client_name: str = ""
    client_version: str = ""
    event_id: int | None = None  # set once the request was stored before forwarding
    upstream_ms: float | None = None
    outcome: str = "ok"
    error: str = ""


class Responder:
    """How the pipeline answers: one JSON body, or an SSE stream once a notification must go out first."""

    def __init__(
        self,
        send_headers: Callable[..., Awaitable],
        send_body: Callable[..., Awaitable],
        open_stream: Callable[[StreamSpec, list], Awaitable] | None = None,
    ) -> None:
        self._send_headers, self._send_body, self._open_stream = send_headers, send_body, open_stream
        self.streaming = False
        self.accepts_stream = True
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.sent_bytes = 0
        self.forwarding = False  # True while an upstream call runs: the only moment a departed client cancels

    async def json(self, status: int, payload: Any | None) -> None:
        body = b"" if payload is None else rpc.dumps(payload)
        self.sent_bytes += len(body)
        headers = [*self.extra_headers, (b"cache-control", b"no-store"), (b"content-length", b"%d" % len(body))]
        if payload is not None:
            headers.append((b"content-type", b"application/json"))
        await self._send_headers(status=status, headers=headers)
        await self._send_body(body)

    async def event(self, payload: Any) -> None:
        if not self.streaming:
            self.streaming = True
            headers = [*self.extra_headers, (b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
            await self._send_headers(status=200, headers=headers)
        body = rpc.dumps(payload)
        self.sent_bytes += len(body)
        await self._send_body(b"event: message\ndata: " + body + b"\n\n", more_body=True)

    async def stream(self, spec: StreamSpec) -> None:
        """Hands the response over to a long-lived stream the consumer keeps open until the client leaves."""
        if self._open_stream is None:
            raise HttpProblem(405, "Streams are not served here.")
        self.streaming = True
        await self._open_stream(spec, self.extra_headers)

    async def finish(self, payload: dict) -> None:
        if self.streaming:
            body = rpc.dumps(payload)
            self.sent_bytes += len(body)
            await self._send_body(b"event: message\ndata: " + body + b"\n\n")
        else:
            await self.json(status_of(payload), payload)


def status_of(payload: dict) -> int:
    error = payload.get("error")
    return ERROR_CODE_HTTP_STATUS.get(error["code"], 200) if isinstance(error, dict) else 200


class HttpProblem(Exception):
    """An answer decided before JSON-RPC: bad auth, media types, origin, session."""

    def __init__(self, status: int, message: str, code: int = rpc.INVALID_REQUEST, headers=None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or []


# --- authentication and transport checks ------------------------------------------------------------------
