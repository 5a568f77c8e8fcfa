"""The MCP methods an agent may call: answered from its compiled exposure, or checked and forwarded upstream."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from mcp.shared.inbound import mcp_param_headers, validate_mcp_param_headers, x_mcp_header_map

from gateway import jsonrpc as rpc
from gateway.auditing import arguments_of, client_info, prewrite
from gateway.cancel import call_key, cancellable
from gateway.context import Context, Request, Responder
from gateway.decide import decide_call
from gateway.jsonrpc import RpcError
from gateway.sessions import Session, session_issue, session_set_log_level
from gateway.upstream import UpstreamError, forward
from gateway.watchers import watch_resource
from policies.listing import filter_listing

SERVER_INFO = {"name": "ScopeGate", "version": "0.1.0"}
LIST_TTL_MS = 30_000
REQUEST_CANCELLED = -32800
LOG_LEVELS = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
CAPABILITIES = {
    "tools": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": True},
    "prompts": {"listChanged": True},
    "completions": {},
    "logging": {},
}


def params_of(message: dict) -> dict:
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
    client = client_info(params.get("clientInfo"))
    ctx.client_name, ctx.client_version = client
    token = session_issue(
        agent_public_id=ctx.agent.public_id, key_id=ctx.key.id, version=version, capabilities=caps, client=client
    )
    ctx.session = Session(
        token=token,
        agent_public_id=ctx.agent.public_id,
        key_id=ctx.key.id,
        version=version,
        capabilities=caps,
        client=client,
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


def _lister(key: str, exposed: str):
    """tools/list, prompts/list, resources/list, resources/templates/list: the agent's compiled exposure."""

    async def handler(req: Request, ctx: Context, params: dict) -> dict:
        _check_cursor(params)
        return _list_result(ctx, key, [e.definition for e in getattr(ctx.agent, exposed).values()])

    return handler


m_tools_list = _lister("tools", "tools")
m_prompts_list = _lister("prompts", "prompts")
m_resources_list = _lister("resources", "resources")
m_templates_list = _lister("resourceTemplates", "templates")


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

    await prewrite(req, ctx)  # durably stored before anything reaches the upstream, or refused
    key = call_key(ctx.session.token, ctx.request_id) if ctx.session is not None else None
    started = time.perf_counter()
    try:
        async with cancellable(key):
            responder.forwarding = True  # the consumer may now cancel this task if the client leaves
            try:
                result = await _call_upstream(conn, method, upstream_params, notify, extra_headers)
            finally:
                responder.forwarding = False
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling() > 1:
            raise  # the server itself is stopping this task: let it
        if task is not None:
            task.uncancel()
        raise RpcError(REQUEST_CANCELLED, "Request cancelled by the client.") from None
    finally:
        ctx.upstream_ms = round((time.perf_counter() - started) * 1000, 3)
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

    if ctx.session is None or not responder.accepts_stream:
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
        result = await _call_upstream(conn, method, retry, notify, extra_headers)
        if not isinstance(result, dict) or result.get("resultType") != "input_required":
            return result
    raise RpcError(rpc.INTERNAL_ERROR, f"Connection '{conn.name}' kept asking for input.")


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


async def _call_upstream(conn, method: str, params: dict, notify, headers) -> Any:
    """The upstream's result; its JSON-RPC error, or its failure to answer, as the agent's error."""
    try:
        reply = await forward(conn, method, params, notify=notify, headers=headers)
    except UpstreamError as exc:
        raise RpcError(rpc.UPSTREAM_ERROR, str(exc), {"connection": conn.name}) from None
    if "error" in reply:
        error = reply["error"] if isinstance(reply["error"], dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else rpc.INTERNAL_ERROR
        raise RpcError(code, str(error.get("message", "Upstream error")), error.get("data"))
    return reply.get("result")


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
    ctx.arguments = arguments_of(arguments)
    exposed = ctx.agent.tools.get(name)
    if exposed is None:
        _explain_denial(ctx, "tool", name)
        raise _refuse(ctx, "tool", name)
    progress = (params.get("_meta") or {}).get("progressToken") if isinstance(params.get("_meta"), dict) else None
    decision = await decide_call(req, ctx, exposed, name, arguments or {}, responder, progress)
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
    result = await _forward(req, ctx, responder, exposed.connection_id, "tools/call", upstream_params, param_headers)
    return filter_listing(exposed.listing, decision, result)


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
    ctx.arguments = arguments_of(arguments)
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


def readable_resource(ctx: Context, uri: str) -> tuple[Any, str] | None:
    """The connection and upstream URI of an exposed URI the agent may read, or None."""
    located = ctx.agent.locate_uri(uri)
    if located is None:
        return None
    conn, upstream_uri = located
    decision = ctx.agent.decide(conn.id, "resource", upstream_uri)
    if not decision.allowed and not _template_allows(ctx, conn.id, upstream_uri):
        return None
    ctx.rule_id = decision.rule_id
    return conn, upstream_uri


async def m_subscribe(req: Request, ctx: Context, params: dict, responder: Responder) -> dict:
    """Legacy resources/(un)subscribe, on resources the agent may read. The gateway's watcher of the connection
    subscribes upstream; updates reach the agent's streams on every node."""
    uri = _string_param(params, "uri")
    ctx.tool = uri[:300]
    found = readable_resource(ctx, uri)
    if found is None:
        raise _refuse(ctx, "resource", uri)
    conn, upstream_uri = found
    ctx.decision, ctx.connection = "allow", conn.name
    if ctx.rpc_method == "resources/subscribe":
        watch_resource(conn, ctx.agent.organization_id, upstream_uri)
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
    params = params_of(message)
    if method in SIMPLE:
        return await SIMPLE[method](req, ctx, params)
    if method in FORWARDED:
        return await FORWARDED[method](req, ctx, params, responder)
    raise RpcError(rpc.METHOD_NOT_FOUND, f"Method not found: {method}")


# --- the entry points -----------------------------------------------------------------------------------
