"""The request pipeline of an agent's MCP endpoint: plain async functions over the apps' services.

authenticate → parse → pick the era → validate → decide (compiled policy) → forward → audit → answer.
"""

from __future__ import annotations

import logging
import time

from audit.services import event_record
from gateway import jsonrpc as rpc
from gateway.cancel import request_cancel
from gateway.checks import authenticate, check_origin, check_post_media, choose_era
from gateway.context import Context, HttpProblem, Request, Responder, status_of
from gateway.jsonrpc import RpcError
from gateway.methods import dispatch, params_of, readable_resource
from gateway.sessions import session_end, session_open
from gateway.streams import legacy_stream, listen_stream
from gateway.watchers import ensure_watched, watch_resource
from policies.runtime import key_used, listener

__all__ = ["Request", "Responder", "handle"]
logger = logging.getLogger(__name__)


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
        status = exc.status if exc.status != 200 else (status_of(payload) if ctx.modern else 200)
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
    ensure_watched(ctx.agent.connections, ctx.agent.organization_id)
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
    if message.get("method") == "notifications/cancelled" and ctx.session is not None:
        cancelled = params_of(message).get("requestId")
        if isinstance(cancelled, str | int) and not isinstance(cancelled, bool):
            await request_cancel(ctx.session.token, cancelled)
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
    await responder.stream(legacy_stream(ctx.agent))


async def _listen(req: Request, ctx: Context, message: dict, responder: Responder) -> None:
    """2026-07-28: the agent's subscription to list changes, answered as a stream."""
    if not ctx.modern:
        raise RpcError(rpc.METHOD_NOT_FOUND, "Method not found: subscriptions/listen (a 2026-07-28 method)")
    if "text/event-stream" not in req.headers.get("accept", ""):
        raise HttpProblem(406, "Not Acceptable: subscriptions/listen answers text/event-stream.")
    params = params_of(message)
    wanted = params.get("notifications") if isinstance(params.get("notifications"), dict) else {}
    subscriptions = wanted.get("resourceSubscriptions") or []
    resources = []
    for uri in subscriptions[:100] if isinstance(subscriptions, list) else []:
        found = readable_resource(ctx, uri) if isinstance(uri, str) else None
        if found is not None:  # a resource the agent may not read is silently not honored, as the spec allows
            watch_resource(found[0], ctx.agent.organization_id, found[1])
            resources.append(uri)
    await _audit(req, ctx)
    await responder.stream(listen_stream(ctx.agent, ctx.request_id, params, resources))


async def _delete(req: Request, ctx: Context, responder: Responder) -> None:
    ctx.rpc_method = "session/delete"
    token = req.headers.get("mcp-session-id")
    session = session_open(token, agent_public_id=ctx.agent.public_id) if token else None
    if session is None:
        raise HttpProblem(404 if token else 400, "Session not found." if token else "Bad Request: no Mcp-Session-Id.")
    await session_end(session.token)
    await _audit(req, ctx)
    await responder.json(200, None)
