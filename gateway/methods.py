"""The MCP methods an agent may call: answered from its compiled exposure, or checked and forwarded upstream."""

from __future__ import annotations

from typing import Any

from mcp.shared.inbound import mcp_param_headers, validate_mcp_param_headers, x_mcp_header_map

from gateway import jsonrpc as rpc
from gateway.auditing import arguments_of, client_info
from gateway.context import Context, Request, Responder
from gateway.decide import decide_call
from gateway.forwarding import SERVER_INFO, forward_request
from gateway.jsonrpc import RpcError
from gateway.sessions import Session, session_issue, session_set_log_level
from gateway.watchers import watch_resource
from policies.listing import filter_listing

LIST_TTL_MS = 30_000
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
    result = await forward_request(
        req, ctx, responder, exposed.connection_id, "tools/call", upstream_params, param_headers
    )
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
    if not decision.allowed and not ctx.agent.reads_through_template(conn.id, upstream_uri):
        ctx.connection = conn.name
        ctx.rule_id = decision.rule_id
        raise _refuse(ctx, "resource", uri)
    ctx.decision, ctx.rule_id = "allow", decision.rule_id
    result = await forward_request(req, ctx, responder, conn.id, "resources/read", {**params, "uri": upstream_uri})
    if not ctx.agent.mounted:
        for content in result.get("contents") or []:
            if isinstance(content, dict) and isinstance(content.get("uri"), str):
                content["uri"] = ctx.agent.resource_uri(conn, content["uri"])
    return result


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
    return await forward_request(
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
    return await forward_request(
        req, ctx, responder, exposed.connection_id, "completion/complete", {**params, "ref": upstream_ref}
    )


def readable_resource(ctx: Context, uri: str) -> tuple[Any, str] | None:
    """The connection and upstream URI of an exposed URI the agent may read, or None."""
    located = ctx.agent.locate_uri(uri)
    if located is None:
        return None
    conn, upstream_uri = located
    decision = ctx.agent.decide(conn.id, "resource", upstream_uri)
    if not decision.allowed and not ctx.agent.reads_through_template(conn.id, upstream_uri):
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
