"""The request pipeline of an agent's MCP endpoint: plain async functions over the apps' services.

authenticate → parse → pick the era → validate → decide (compiled policy) → forward → audit → answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    classify_inbound_request,
    find_duplicated_routing_header,
    mcp_param_headers,
    unsupported_protocol_version_rejection,
    validate_mcp_param_headers,
    x_mcp_header_map,
)

from audit.services import event_record
from gateway import jsonrpc as rpc
from gateway.jsonrpc import RpcError
from gateway.sessions import (
    Session,
    session_end,
    session_issue,
    session_log_level,
    session_open,
    session_set_log_level,
)
from gateway.streams import StreamSpec, legacy_stream, listen_stream
from gateway.upstream import UpstreamError, forward
from gateway.watchers import ensure_watched
from policies.runtime import AgentRuntime, KeyRuntime, agent_runtime, key_runtime, key_used, listener
from scopegate.tokens import secret_digest

logger = logging.getLogger(__name__)
SERVER_INFO = {"name": "ScopeGate", "version": "0.1.0"}
LIST_TTL_MS = 30_000
LOG_LEVELS = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
CAPABILITIES = {
    "tools": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": False},
    "prompts": {"listChanged": True},
    "completions": {},
    "logging": {},
}


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

    async def json(self, status: int, payload: Any | None) -> None:
        body = b"" if payload is None else rpc.dumps(payload)
        headers = [*self.extra_headers, (b"cache-control", b"no-store")]
        if payload is not None:
            headers.append((b"content-type", b"application/json"))
        await self._send_headers(status=status, headers=headers)
        await self._send_body(body)

    async def event(self, payload: Any) -> None:
        if not self.streaming:
            self.streaming = True
            headers = [*self.extra_headers, (b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
            await self._send_headers(status=200, headers=headers)
        await self._send_body(b"event: message\ndata: " + rpc.dumps(payload) + b"\n\n", more_body=True)

    async def stream(self, spec: StreamSpec) -> None:
        """Hands the response over to a long-lived stream the consumer keeps open until the client leaves."""
        if self._open_stream is None:
            raise HttpProblem(405, "Streams are not served here.")
        self.streaming = True
        await self._open_stream(spec, self.extra_headers)

    async def finish(self, payload: dict) -> None:
        if self.streaming:
            await self._send_body(b"event: message\ndata: " + rpc.dumps(payload) + b"\n\n")
        else:
            await self.json(_status_of(payload), payload)


def _status_of(payload: dict) -> int:
    error = payload.get("error")
    return ERROR_CODE_HTTP_STATUS.get(error["code"], 200) if isinstance(error, dict) else 200


class HttpProblem(Exception):
    """An answer decided before JSON-RPC: bad auth, media types, origin, session."""

    def __init__(self, status: int, message: str, code: int = rpc.INVALID_REQUEST, headers=None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or []


# --- authentication and transport checks ------------------------------------------------------------------


def _bearer(req: Request) -> str | None:
    if req.path_key:
        return req.path_key
    header = req.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def authenticate(req: Request, ctx: Context) -> None:
    challenge = [(b"www-authenticate", b'Bearer realm="scopegate", error="invalid_token"')]
    ctx.agent = await agent_runtime(req.agent_ref) if req.agent_ref.startswith("agt_") else None
    secret = _bearer(req)
    if secret is None:
        raise HttpProblem(
            401,
            "Send the agent's key as 'Authorization: Bearer <key>'.",
            rpc.NOT_AUTHORIZED,
            [(b"www-authenticate", b'Bearer realm="scopegate"')],
        )
    key = await key_runtime(secret_digest(secret)) if secret.startswith("sg_key_") and len(secret) < 100 else None
    if key is None or ctx.agent is None or key.agent_public_id != ctx.agent.public_id or not key.usable():
        raise HttpProblem(
            401, "The key is not valid for this endpoint, expired, or was revoked.", rpc.NOT_AUTHORIZED, challenge
        )
    ctx.key = key


def check_origin(req: Request) -> None:
    """DNS rebinding protection: a browser page of another origin may not drive the endpoint."""
    from django.conf import settings
    from django.http.request import validate_host

    host = req.headers.get("host", "").rsplit(":", 1)[0].strip("[]") if req.headers.get("host") else ""
    if host and not validate_host(host, settings.ALLOWED_HOSTS):
        raise HttpProblem(403, "Forbidden: this Host is not served.")
    origin = req.headers.get("origin")
    if origin is None:
        return
    from urllib.parse import urlsplit

    origin_host = urlsplit(origin).hostname or ""
    allowed = set(settings.MCP_ALLOWED_ORIGINS)
    if origin not in allowed and origin_host != host and not validate_host(origin_host, settings.ALLOWED_HOSTS):
        raise HttpProblem(403, "Forbidden: requests from this Origin are refused.")


def check_post_media(req: Request) -> None:
    ctype = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise HttpProblem(415, "Unsupported Media Type: send Content-Type: application/json.")
    accept = req.headers.get("accept", "")
    if accept and not any(t in accept for t in ("application/json", "text/event-stream", "*/*")):
        raise HttpProblem(406, "Not Acceptable: accept application/json and text/event-stream.")


# --- era selection --------------------------------------------------------------------------------------


def _meta_version(message: dict) -> Any:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta.get(rpc.META_VERSION) if isinstance(meta, dict) else None


async def choose_era(req: Request, ctx: Context, message: dict) -> None:
    """Modern when the request says so (header or envelope); legacy otherwise, which needs a session."""
    header_version = req.headers.get("mcp-protocol-version")
    if message.get("method") == "initialize" and header_version not in rpc.MODERN_VERSIONS:
        return  # the legacy handshake (a 2026-07-28 client sending it gets -32601 from dispatch)
    if (
        header_version in rpc.MODERN_VERSIONS
        or _meta_version(message) is not None
        or (header_version and header_version not in rpc.LEGACY_VERSIONS and "mcp-session-id" not in req.headers)
    ):
        ctx.modern = True
        duplicated = find_duplicated_routing_header(req.raw_headers)
        if duplicated:
            raise RpcError(rpc.HEADER_MISMATCH, f"{duplicated} header appears more than once", status=400)
        if "id" not in message:
            version = header_version or _meta_version(message)
            rejection = unsupported_protocol_version_rejection(version) if isinstance(version, str) else None
            if rejection:
                raise RpcError(rejection.code, rejection.message, rejection.data, status=400)
            return
        verdict = classify_inbound_request(message, headers=req.headers, supported_modern_versions=rpc.MODERN_VERSIONS)
        if not hasattr(verdict, "protocol_version"):
            raise RpcError(
                verdict.code, verdict.message, verdict.data, status=ERROR_CODE_HTTP_STATUS.get(verdict.code, 400)
            )
        caps = verdict.client_capabilities
        ctx.client_caps = caps if isinstance(caps, dict) else {}
        level = message["params"]["_meta"].get(rpc.META_LOG_LEVEL)
        ctx.log_level = level if isinstance(level, str) else None
        return
    token = req.headers.get("mcp-session-id")
    if not token:
        raise HttpProblem(400, "Bad Request: no Mcp-Session-Id; send initialize first.")
    ctx.session = session_open(token, agent_public_id=ctx.agent.public_id)
    if ctx.session is None or ctx.session.key_id != ctx.key.id:
        raise HttpProblem(404, "Session not found: it ended or expired; initialize again.")
    ctx.client_caps = ctx.session.capabilities
    ctx.log_level = session_log_level(ctx.session.token)
    if header_version and header_version not in rpc.LEGACY_VERSIONS:
        raise HttpProblem(400, f"Bad Request: unsupported MCP-Protocol-Version {header_version}.")


# --- methods --------------------------------------------------------------------------------------------


def _params(message: dict) -> dict:
    return message.get("params") or {}


def _list_result(ctx: Context, key: str, items: list[dict]) -> dict:
    result: dict[str, Any] = {key: items}
    if ctx.modern:
        result.update(resultType="complete", ttlMs=LIST_TTL_MS, cacheScope="private")
    return result


def _check_cursor(params: dict) -> None:
    if params.get("cursor") is not None:
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: unknown cursor.")


async def m_initialize(req: Request, ctx: Context, params: dict) -> dict:
    requested = params.get("protocolVersion")
    if not isinstance(requested, str):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: protocolVersion must be a string.")
    version = requested if requested in rpc.LEGACY_VERSIONS else rpc.LATEST_LEGACY
    caps = params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {}
    token = session_issue(agent_public_id=ctx.agent.public_id, key_id=ctx.key.id, version=version, capabilities=caps)
    ctx.session = Session(
        token=token, agent_public_id=ctx.agent.public_id, key_id=ctx.key.id, version=version, capabilities=caps
    )
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": f"ScopeGate endpoint of agent {ctx.agent.name}: only the tools it is granted.",
    }


async def m_discover(req: Request, ctx: Context, params: dict) -> dict:
    return {
        "supportedVersions": list(rpc.MODERN_VERSIONS),
        "capabilities": CAPABILITIES,
        "resultType": "complete",
        "ttlMs": LIST_TTL_MS,
        "cacheScope": "private",
        "_meta": {rpc.META_SERVER_INFO: SERVER_INFO},
    }


async def m_ping(req: Request, ctx: Context, params: dict) -> dict:
    return {"resultType": "complete"} if ctx.modern else {}


async def m_tools_list(req: Request, ctx: Context, params: dict) -> dict:
    _check_cursor(params)
    return _list_result(ctx, "tools", [e.definition for e in ctx.agent.tools.values()])


async def m_prompts_list(req: Request, ctx: Context, params: dict) -> dict:
    _check_cursor(params)
    return _list_result(ctx, "prompts", [e.definition for e in ctx.agent.prompts.values()])


async def m_resources_list(req: Request, ctx: Context, params: dict) -> dict:
    _check_cursor(params)
    return _list_result(ctx, "resources", [e.definition for e in ctx.agent.resources.values()])


async def m_templates_list(req: Request, ctx: Context, params: dict) -> dict:
    _check_cursor(params)
    return _list_result(ctx, "resourceTemplates", [e.definition for e in ctx.agent.templates.values()])


async def m_set_level(req: Request, ctx: Context, params: dict) -> dict:
    if params.get("level") not in LOG_LEVELS:
        raise RpcError(rpc.INVALID_PARAMS, f"Invalid params: level must be one of {sorted(LOG_LEVELS)}.")
    if ctx.session is not None:
        await session_set_log_level(ctx.session.token, params["level"])
    return {}


def _string_param(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise RpcError(rpc.INVALID_PARAMS, f"Invalid params: {name} must be a non-empty string.")
    return value


async def _forward(
    req: Request,
    ctx: Context,
    responder: Responder,
    conn_id: int,
    method: str,
    params: dict,
    extra_headers: dict[str, str] | None = None,
) -> dict:
    conn = ctx.agent.connections[conn_id]
    ctx.connection = conn.name
    upstream_params = {k: v for k, v in params.items() if k != "_meta"}
    # Only what the upstream needs of the agent's _meta: its progress token, what it can do, its log level.
    meta: dict[str, Any] = {rpc.META_CLIENT_CAPS: ctx.client_caps}
    progress = (params.get("_meta") or {}).get("progressToken")
    if progress is not None:
        meta["progressToken"] = progress
    if ctx.log_level:
        meta[rpc.META_LOG_LEVEL] = ctx.log_level
    upstream_params["_meta"] = meta
    accepts_stream = "text/event-stream" in req.headers.get("accept", "") or not req.headers.get("accept")
    responder.accepts_stream = accepts_stream

    async def notify(message: dict) -> None:
        if accepts_stream and message.get("method") in ("notifications/progress", "notifications/message"):
            await responder.event(message)

    try:
        reply = await forward(conn, method, upstream_params, notify=notify, headers=extra_headers)
    except UpstreamError as exc:
        raise RpcError(rpc.UPSTREAM_ERROR, str(exc), {"connection": conn.name}) from None
    if "error" in reply:
        error = reply["error"] if isinstance(reply["error"], dict) else {}
        raise RpcError(
            int(error.get("code", rpc.INTERNAL_ERROR)), str(error.get("message", "Upstream error")), error.get("data")
        )
    result = reply.get("result")
    if isinstance(result, dict) and result.get("resultType") == "input_required" and not ctx.modern:
        result = await _bridge_input(ctx, responder, conn, method, upstream_params, result, extra_headers, notify)
    if not isinstance(result, dict):
        raise RpcError(
            rpc.UPSTREAM_ERROR, f"Connection '{conn.name}' answered without a result.", {"connection": conn.name}
        )
    return _in_era(ctx, method, result)


async def _bridge_input(ctx, responder, conn, method, upstream_params, result, extra_headers, notify) -> dict:
    """A legacy agent answers the upstream's input requests as real requests on this call's stream."""
    from gateway.bridge import MAX_ROUNDS, AgentDeclined, ask_agent

    if ctx.session is None or not req_accepts_stream(responder):
        raise RpcError(rpc.INTERNAL_ERROR, f"Connection '{conn.name}' needs input this client cannot give.")
    for _ in range(MAX_ROUNDS):
        requests = result.get("inputRequests") or {}
        try:
            answers = await ask_agent(ctx.session.token, responder.event, requests) if requests else {}
        except AgentDeclined as exc:
            raise RpcError(rpc.INVALID_REQUEST, f"The client declined an input request: {exc}") from None
        except TimeoutError:
            raise RpcError(rpc.INTERNAL_ERROR, "The client did not answer the input request in time.") from None
        retry = {**upstream_params, "inputResponses": answers}
        if "requestState" in result:
            retry["requestState"] = result["requestState"]
        try:
            reply = await forward(conn, method, retry, notify=notify, headers=extra_headers)
        except UpstreamError as exc:
            raise RpcError(rpc.UPSTREAM_ERROR, str(exc), {"connection": conn.name}) from None
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise RpcError(
                int(error.get("code", rpc.INTERNAL_ERROR)),
                str(error.get("message", "Upstream error")),
                error.get("data"),
            )
        result = reply.get("result")
        if not isinstance(result, dict) or result.get("resultType") != "input_required":
            return result
    raise RpcError(rpc.INTERNAL_ERROR, f"Connection '{conn.name}' kept asking for input.")


def req_accepts_stream(responder: Responder) -> bool:
    return responder.accepts_stream


CACHEABLE = {"resources/read"}


def _in_era(ctx: Context, method: str, result: dict) -> dict:
    """Bridges an upstream's result to the agent's era: modern results carry resultType (and cache hints on
    cacheable methods); legacy ones do not."""
    meta = result.get("_meta")
    if isinstance(meta, dict) and rpc.META_SERVER_INFO in meta:
        meta[rpc.META_SERVER_INFO] = SERVER_INFO  # the agent talks to ScopeGate, not to the upstream
    if ctx.modern:
        result.setdefault("resultType", "complete")
        if method in CACHEABLE:
            result.setdefault("ttlMs", 0)
            result.setdefault("cacheScope", "private")
    elif result.get("resultType") == "complete":
        for key in ("resultType", "ttlMs", "cacheScope"):
            result.pop(key, None)
    return result


def _refuse(ctx: Context, what: str, name: str) -> RpcError:
    """One answer for unknown and denied alike, so that an agent cannot probe what exists."""
    ctx.decision = "deny"
    return RpcError(rpc.INVALID_PARAMS, f"Unknown {what}: {name}")


async def m_tools_call(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    name = _string_param(params, "name")
    ctx.tool = name[:300]
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: arguments must be an object.")
    exposed = ctx.agent.tools.get(name)
    if exposed is None:
        _explain_denial(ctx, "tool", name)
        raise _refuse(ctx, "tool", name)
    decision = ctx.agent.decide(exposed.connection_id, "tool", exposed.upstream_name)
    ctx.decision, ctx.rule_id = decision.label, decision.rule_id
    if not decision.allowed:
        raise _refuse(ctx, "tool", name)
    header_map = _param_header_map(exposed)
    param_headers = None
    if header_map:
        if ctx.modern:
            schema = exposed.definition.get("inputSchema")
            rejection = validate_mcp_param_headers(schema, arguments or {}, req.headers)
            if rejection is not None:
                raise RpcError(rejection.code, rejection.message, rejection.data, status=400)
        param_headers = mcp_param_headers(header_map, arguments or {})
    upstream_params = {**params, "name": exposed.upstream_name}
    return await _forward(req, ctx, responder, exposed.connection_id, "tools/call", upstream_params, param_headers)


_header_maps: dict[int, dict] = {}


def _param_header_map(exposed) -> dict:
    """The tool's ``x-mcp-header`` arguments (2026-07-28 Mcp-Param-* headers), computed once per definition."""
    key = id(exposed.definition)
    cached = _header_maps.get(key)
    if cached is None:
        if len(_header_maps) > 50_000:
            _header_maps.clear()
        try:
            cached = x_mcp_header_map(exposed.definition.get("inputSchema"))
        except Exception:
            cached = {}
        _header_maps[key] = cached
    return cached


def _explain_denial(ctx: Context, kind: str, name: str) -> None:
    """Records which rule refused an item the agent named, when it exists upstream but is not granted."""
    if ctx.agent.mounted:
        conn = next(iter(ctx.agent.connections.values()), None)
        upstream = name
    else:
        prefix, _, upstream = name.partition("__")
        conn_id = ctx.agent.by_name.get(prefix)
        conn = ctx.agent.connections.get(conn_id) if conn_id is not None else None
    if conn is not None:
        ctx.connection = conn.name
        ctx.rule_id = ctx.agent.decide(conn.id, kind, upstream).rule_id


async def m_resources_read(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    uri = _string_param(params, "uri")
    ctx.tool = uri[:300]
    located = ctx.agent.locate_uri(uri)
    if located is None:
        raise _refuse(ctx, "resource", uri)
    conn, upstream_uri = located
    decision = ctx.agent.decide(conn.id, "resource", upstream_uri)
    if not decision.allowed and not _template_allows(ctx, conn.id, upstream_uri):
        ctx.connection = conn.name
        ctx.rule_id = decision.rule_id
        raise _refuse(ctx, "resource", uri)
    ctx.decision, ctx.rule_id = "allow", decision.rule_id
    result = await _forward(req, ctx, responder, conn.id, "resources/read", {**params, "uri": upstream_uri})
    if not ctx.agent.mounted:
        for content in result.get("contents") or []:
            if isinstance(content, dict) and isinstance(content.get("uri"), str):
                content["uri"] = ctx.agent.resource_uri(conn, content["uri"])
    return result


def _template_allows(ctx: Context, conn_id: int, uri: str) -> bool:
    """A read through an allowed template: the URI must match the template's shape."""
    import re

    for exposed in ctx.agent.templates.values():
        if exposed.connection_id != conn_id:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(exposed.upstream_name)) + "$"
        if re.match(pattern, uri):
            return True
    return False


async def m_prompts_get(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    name = _string_param(params, "name")
    ctx.tool = name[:300]
    arguments = params.get("arguments")
    if arguments is not None and (
        not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values())
    ):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: prompt arguments are strings.")
    exposed = ctx.agent.prompts.get(name)
    if exposed is None:
        raise _refuse(ctx, "prompt", name)
    ctx.decision, ctx.rule_id = "allow", exposed.rule_id
    return await _forward(
        req, ctx, responder, exposed.connection_id, "prompts/get", {**params, "name": exposed.upstream_name}
    )


async def m_complete(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    ref = params.get("ref")
    argument = params.get("argument")
    if not isinstance(ref, dict) or not isinstance(argument, dict):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: ref and argument must be objects.")
    if ref.get("type") == "ref/prompt":
        name = _string_param(ref, "name")
        exposed = ctx.agent.prompts.get(name)
        if exposed is None:
            raise _refuse(ctx, "prompt", name)
        upstream_ref = {**ref, "name": exposed.upstream_name}
    elif ref.get("type") == "ref/resource":
        uri = _string_param(ref, "uri")
        exposed = ctx.agent.templates.get(uri) or ctx.agent.resources.get(uri)
        if exposed is None:
            raise _refuse(ctx, "resource", uri)
        upstream_ref = {**ref, "uri": exposed.upstream_name}
    else:
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: ref.type is ref/prompt or ref/resource.")
    ctx.decision, ctx.rule_id, ctx.tool = "allow", exposed.rule_id, exposed.upstream_name[:300]
    return await _forward(
        req, ctx, responder, exposed.connection_id, "completion/complete", {**params, "ref": upstream_ref}
    )


async def m_subscribe(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    """Legacy resources/(un)subscribe: allowed only on resources the agent may read; passed to the upstream.

    Updates are not yet relayed back (the capability says subscribe: false), so clients that rely on them
    re-read instead; accepting the call keeps clients that subscribe unconditionally working.
    """
    uri = _string_param(params, "uri")
    ctx.tool = uri[:300]
    located = ctx.agent.locate_uri(uri)
    if located is None:
        raise _refuse(ctx, "resource", uri)
    conn, upstream_uri = located
    decision = ctx.agent.decide(conn.id, "resource", upstream_uri)
    if not decision.allowed and not _template_allows(ctx, conn.id, upstream_uri):
        raise _refuse(ctx, "resource", uri)
    ctx.decision, ctx.rule_id = "allow", decision.rule_id
    try:
        await _forward(req, ctx, responder, conn.id, ctx.rpc_method, {**params, "uri": upstream_uri})
    except RpcError as exc:
        if exc.code != rpc.METHOD_NOT_FOUND:
            raise
    return {}


SIMPLE = {
    "initialize": m_initialize,
    "server/discover": m_discover,
    "ping": m_ping,
    "tools/list": m_tools_list,
    "prompts/list": m_prompts_list,
    "resources/list": m_resources_list,
    "resources/templates/list": m_templates_list,
    "logging/setLevel": m_set_level,
}
FORWARDED = {
    "tools/call": m_tools_call,
    "resources/read": m_resources_read,
    "prompts/get": m_prompts_get,
    "completion/complete": m_complete,
    "resources/subscribe": m_subscribe,
    "resources/unsubscribe": m_subscribe,
}


LEGACY_ONLY = {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}


async def dispatch(req: Request, ctx: Context, message: dict, responder: Responder) -> dict:
    method = message["method"]
    if ctx.modern and method in LEGACY_ONLY:
        raise RpcError(rpc.METHOD_NOT_FOUND, f"Method not found: {method} (not part of 2026-07-28)")
    params = _params(message)
    if method in SIMPLE:
        return await SIMPLE[method](req, ctx, params)
    if method in FORWARDED:
        return await FORWARDED[method](req, ctx, params, responder)
    raise RpcError(rpc.METHOD_NOT_FOUND, f"Method not found: {method}")


# --- the entry points -----------------------------------------------------------------------------------


async def _audit(req: Request, ctx: Context) -> None:
    agent, key = ctx.agent, ctx.key
    await event_record(
        organization_id=agent.organization_id if agent else None,
        agent_id=agent.id if agent else None,
        agent_name=agent.name if agent else "",
        key_prefix=key.prefix if key else "",
        method=ctx.rpc_method[:64] or req.http_method,
        tool=ctx.tool,
        connection=ctx.connection,
        decision=ctx.decision,
        rule_id=ctx.rule_id,
        latency_ms=round((time.perf_counter() - ctx.started) * 1000, 3),
        outcome=ctx.outcome,
        error=ctx.error[:2000],
        request_id=str(ctx.request_id)[:100] if ctx.request_id is not None else "",
    )


async def handle(req: Request, responder: Responder) -> None:
    listener.ensure()
    ctx = Context()
    try:
        await _handle(req, ctx, responder)
    except HttpProblem as problem:
        ctx.outcome, ctx.error = "refused", problem.message
        responder.extra_headers.extend(problem.headers)
        await _audit_then(req, ctx, responder, problem.status, rpc.error_payload(None, problem.code, problem.message))
    except RpcError as exc:
        ctx.outcome, ctx.error = ("refused" if ctx.decision == "deny" else "error"), exc.message
        payload = exc.payload(ctx.request_id)
        status = exc.status if exc.status != 200 else (_status_of(payload) if ctx.modern else 200)
        await _audit_then(req, ctx, responder, status, payload)


async def _audit_then(req: Request, ctx: Context, responder: Responder, status: int, payload: dict) -> None:
    try:
        await _audit(req, ctx)
    except Exception:
        logger.exception("audit write failed")
        payload = rpc.error_payload(ctx.request_id, rpc.INTERNAL_ERROR, "The audit trail is unavailable.")
        status = 503
    if responder.streaming:
        await responder.finish(payload)
    else:
        await responder.json(status, payload)


async def _handle(req: Request, ctx: Context, responder: Responder) -> None:
    check_origin(req)
    if req.http_method == "POST":
        check_post_media(req)
    await authenticate(req, ctx)
    ensure_watched(ctx.agent.connections)
    if req.http_method == "DELETE":
        await _delete(req, ctx, responder)
        return
    if req.http_method == "GET":
        await _get_stream(req, ctx, responder)
        return
    if req.http_method != "POST":
        raise HttpProblem(
            405,
            "Method Not Allowed: this endpoint takes POST (and GET or DELETE for a session).",
            headers=[(b"allow", b"GET, POST, DELETE")],
        )
    message = rpc.parse_body(req.body)
    if isinstance(message, list):
        raise RpcError(rpc.INVALID_REQUEST, "Invalid Request: batches are not supported.", status=400)
    rpc.check_message(message)
    ctx.request_id = message.get("id")
    ctx.rpc_method = message.get("method", "")
    await choose_era(req, ctx, message)
    if "method" not in message and ctx.session is not None:
        from gateway.bridge import publish_answer

        await publish_answer(ctx.session.token, message)
    if "method" not in message or "id" not in message:
        # A notification (initialized, cancelled, progress) or a client's answer: accepted, nothing to say.
        await _audit(req, ctx)
        await responder.json(202, None)
        return
    if ctx.session is not None:
        responder.extra_headers.append((b"mcp-session-id", ctx.session.token.encode()))
    if ctx.rpc_method == "subscriptions/listen":
        await _listen(req, ctx, message, responder)
        return
    result = await dispatch(req, ctx, message, responder)
    if ctx.session is not None and ctx.rpc_method == "initialize":
        responder.extra_headers.append((b"mcp-session-id", ctx.session.token.encode()))
    await _audit(req, ctx)
    await responder.finish(rpc.result_payload(ctx.request_id, result))
    await key_used(ctx.key)


async def _get_stream(req: Request, ctx: Context, responder: Responder) -> None:
    """The legacy era's stream of server notifications for a session."""
    ctx.rpc_method = "session/stream"
    token = req.headers.get("mcp-session-id")
    if not token:
        raise HttpProblem(
            405, "Method Not Allowed: GET opens a session's stream; send Mcp-Session-Id.", headers=[(b"allow", b"POST")]
        )
    if "text/event-stream" not in req.headers.get("accept", ""):
        raise HttpProblem(406, "Not Acceptable: the stream is text/event-stream.")
    session = session_open(token, agent_public_id=ctx.agent.public_id)
    if session is None or session.key_id != ctx.key.id:
        raise HttpProblem(404, "Session not found.")
    await _audit(req, ctx)
    responder.extra_headers.append((b"mcp-session-id", session.token.encode()))
    await responder.stream(legacy_stream(ctx.agent.public_id, ctx.agent.organization_id))


async def _listen(req: Request, ctx: Context, message: dict, responder: Responder) -> None:
    """2026-07-28: the agent's subscription to list changes, answered as a stream."""
    if not ctx.modern:
        raise RpcError(rpc.METHOD_NOT_FOUND, "Method not found: subscriptions/listen (a 2026-07-28 method)")
    if "text/event-stream" not in req.headers.get("accept", ""):
        raise HttpProblem(406, "Not Acceptable: subscriptions/listen answers text/event-stream.")
    await _audit(req, ctx)
    await responder.stream(
        listen_stream(ctx.agent.public_id, ctx.agent.organization_id, ctx.request_id, _params(message))
    )


async def _delete(req: Request, ctx: Context, responder: Responder) -> None:
    ctx.rpc_method = "session/delete"
    token = req.headers.get("mcp-session-id")
    session = session_open(token, agent_public_id=ctx.agent.public_id) if token else None
    if session is None:
        raise HttpProblem(404 if token else 400, "Session not found." if token else "Bad Request: no Mcp-Session-Id.")
    await session_end(session.token)
    await _audit(req, ctx)
    await responder.json(200, None)
