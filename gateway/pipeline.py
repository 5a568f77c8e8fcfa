"""The request pipeline of an agent's MCP endpoint: plain async functions over the apps' services.

authenticate → parse → pick the era → validate → decide (compiled policy) → forward → audit → answer.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from gateway import jsonrpc as rpc
from gateway.auditing import record
from gateway.cancel import request_cancel
from gateway.checks import authenticate, check_origin, check_post_media, choose_era
from gateway.context import Context, HttpProblem, Request, Responder, status_of
from gateway.jsonrpc import RpcError
from gateway.methods import dispatch, params_of, readable_resource
from gateway.sessions import session_end, session_open
from gateway.streams import legacy_stream, listen_stream
from gateway.watchers import ensure_watched, watch_resource
from policies.invalidation import listener
from policies.runtime import key_used

__all__ = ["Request", "Responder", "handle"]
logger = logging.getLogger(__name__)
# What the audit trail names a JSON-RPC response an agent sends (it has no method of its own).
ANSWER_METHOD = "response"


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
        refused = ctx.decision in ("deny", "rate_limited", "rejected")
        ctx.outcome, ctx.error = ("refused" if refused else "error"), exc.message
        payload = exc.payload(ctx.request_id)
        status = exc.status if exc.status != 200 else (status_of(payload) if ctx.modern else 200)
        await _audit_then(req, ctx, responder, status, payload)
    except DatabaseError as exc:  # the database went away under us (the agent, its key, a session's state)
        logger.error("database unavailable: %r", exc)
        ctx.outcome, ctx.error = "error", "database unavailable"
        message = "ScopeGate's database is unavailable; try again shortly."
        await _audit_then(req, ctx, responder, 503, rpc.error_payload(ctx.request_id, rpc.INTERNAL_ERROR, message))


async def _audit_then(req: Request, ctx: Context, responder: Responder, status: int, payload: dict) -> None:
    if ctx.event_id is not None:  # stored before it was forwarded: answer, then record the outcome
        try:
            await _send(responder, status, payload)
        finally:  # even when the client is gone
            await _record_outcome(req, ctx, responder)
        return
    try:
        await record(req, ctx, len(rpc.dumps(payload)))
    except Exception:
        logger.exception("audit write failed")
        payload = rpc.error_payload(ctx.request_id, rpc.INTERNAL_ERROR, "The audit trail is unavailable.")
        status = 503
    await _send(responder, status, payload)


async def _send(responder: Responder, status: int, payload: dict) -> None:
    if responder.streaming:
        await responder.finish(payload)
    else:
        await responder.json(status, payload)


async def _record_outcome(req: Request, ctx: Context, responder: Responder) -> None:
    """The answer is already on its way; the request's event is stored. An outcome that cannot be stored is
    logged loudly: the trail then shows the request as forwarded with its outcome unknown."""
    try:
        await record(req, ctx, responder.sent_bytes)
    except Exception:
        logger.exception("audit outcome write failed for event %s", ctx.event_id)


async def _take_answer(ctx: Context, message: dict) -> None:
    """An agent's answer to a question ScopeGate put to it (a sampling, an elicitation): handed to the call that
    waits for it, on whichever node. Its event says it was an answer and whether it refused or answered nothing
    we asked; not what it said, which may hold what a person typed (the question's own event is ``relayed``)."""
    from gateway.bridge import publish_answer

    taken = ctx.session is not None and await publish_answer(ctx.session.token, message)
    error = message.get("error")
    if isinstance(error, dict):
        ctx.outcome, ctx.error = "refused", str(error.get("message", ""))[:2000]
    elif not taken:
        ctx.outcome, ctx.error = "error", "It answers no question ScopeGate asked in this session."


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
    ctx.rpc_method = message.get("method", ANSWER_METHOD)
    await choose_era(req, ctx, message)
    if "method" not in message:
        await _take_answer(ctx, message)
    if message.get("method") == "notifications/cancelled" and ctx.session is not None:
        cancelled = params_of(message).get("requestId")
        if isinstance(cancelled, str | int) and not isinstance(cancelled, bool):
            await request_cancel(ctx.session.token, cancelled)
    if "method" not in message or "id" not in message:
        # A notification (initialized, cancelled, progress) or a client's answer: accepted, nothing to say.
        await record(req, ctx)
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
    payload = rpc.result_payload(ctx.request_id, result)
    if ctx.event_id is not None:
        try:
            await responder.finish(payload)
        finally:  # even when the client is gone
            await _record_outcome(req, ctx, responder)
    else:
        await record(req, ctx)
        await responder.finish(payload)
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
    await record(req, ctx)
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
    await record(req, ctx)
    await responder.stream(listen_stream(ctx.agent, ctx.request_id, params, resources))


async def _delete(req: Request, ctx: Context, responder: Responder) -> None:
    ctx.rpc_method = "session/delete"
    token = req.headers.get("mcp-session-id")
    session = session_open(token, agent_public_id=ctx.agent.public_id) if token else None
    if session is None:
        raise HttpProblem(404 if token else 400, "Session not found." if token else "Bad Request: no Mcp-Session-Id.")
    await session_end(session.token)
    await record(req, ctx)
    await responder.json(200, None)
