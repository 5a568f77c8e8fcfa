"""Before any method runs: who is calling, from where, with what media types, in which era of the protocol."""

from __future__ import annotations

from typing import Any

from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
)

from gateway import jsonrpc as rpc
from gateway.auditing import client_info
from gateway.context import Context, HttpProblem, Request
from gateway.jsonrpc import RpcError
from gateway.sessions import session_log_level, session_open
from policies.runtime import agent_runtime, key_runtime
from scopegate.tokens import secret_digest


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
        ctx.client_name, ctx.client_version = client_info(message["params"]["_meta"].get(rpc.META_CLIENT_INFO))
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
    ctx.client_name, ctx.client_version = ctx.session.client
    ctx.log_level = session_log_level(ctx.session.token)
    if header_version and header_version not in rpc.LEGACY_VERSIONS:
        raise HttpProblem(400, f"Bad Request: unsupported MCP-Protocol-Version {header_version}.")


# --- methods --------------------------------------------------------------------------------------------
