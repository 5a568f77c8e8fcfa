"""Forwarding one request to the upstream that serves it: stored first (fail closed), cancellable while it
runs (by the agent's notifications/cancelled, or by closing its request), bridged to the agent's era."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.conf import settings

from gateway import jsonrpc as rpc
from gateway import parking
from gateway.auditing import prewrite, relayed
from gateway.cancel import call_key, cancellable
from gateway.context import Context, Request, Responder
from gateway.jsonrpc import RpcError
from gateway.upstream import UpstreamError, forward

SERVER_INFO = {"name": "ScopeGate", "version": "0.1.0"}


async def forward_request(
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
        if (
            accepts_stream
            and responder.forwarding  # not once the call was answered (a parked call goes on)
            and message.get("method") in ("notifications/progress", "notifications/message")
        ):
            await responder.event(message)

    async def ask(request: dict) -> dict:
        """What the upstream asks in the middle of the call, put to the (legacy) agent on the call's stream."""
        from gateway.bridge import relay

        token = ctx.session.token if ctx.session is not None else None
        return await relay(token, ctx.client_caps, responder.event, accepts_stream, request)

    def audited(asking):
        async def asked(request: dict) -> dict:
            started = time.perf_counter()
            reply = await asking(request)
            relayed(req, ctx, request, reply, started)
            return reply

        return asked

    await prewrite(req, ctx)  # durably stored before anything reaches the upstream, or refused
    key = call_key(ctx.session.token, ctx.request_id) if ctx.session is not None else None
    started = time.perf_counter()
    try:
        async with cancellable(key):
            responder.forwarding = True  # the consumer may now cancel this task if the client leaves
            try:
                if not ctx.modern:
                    result = await _call_upstream(conn, method, upstream_params, notify, extra_headers, audited(ask))
                else:
                    result = await _call_modern(
                        ctx, conn, method, params, upstream_params, notify, extra_headers, audited
                    )
            finally:
                responder.forwarding = False
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling() > 1:
            raise  # the server itself is stopping this task: let it
        if task is not None:
            task.uncancel()
        raise RpcError(rpc.REQUEST_CANCELLED, "Request cancelled by the client.") from None
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


async def _call_upstream(conn, method: str, params: dict, notify, headers, ask=None) -> Any:
    """The upstream's result; its JSON-RPC error, or its failure to answer, as the agent's error."""
    try:
        reply = await forward(conn, method, params, notify=notify, headers=headers, ask=ask)
    except UpstreamError as exc:
        raise RpcError(rpc.UPSTREAM_ERROR, str(exc), {"connection": conn.name}) from None
    if "error" in reply:
        error = reply["error"] if isinstance(reply["error"], dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else rpc.INTERNAL_ERROR
        raise RpcError(code, str(error.get("message", "Upstream error")), error.get("data"))
    return reply.get("result")


async def _call_modern(
    ctx: Context, conn, method: str, params: dict, upstream_params: dict, notify, headers, audited
) -> Any:
    """A 2026-07-28 agent's call. An upstream that may ask mid-call gets it parked (``gateway.parking``): the
    agent is answered ``input_required`` and its next call, carrying the parked call's requestState, resumes it."""
    if not parking.may_ask(conn):
        return await _call_upstream(conn, method, upstream_params, notify, headers)
    if parking.is_parked_state(params):
        timeout = float(settings.UPSTREAM_TIMEOUT_SECONDS) + 5
        return await parking.resume(ctx.agent.public_id, conn.id, method, params, timeout)
    call = parking.ParkedCall(ctx.agent.public_id, conn.id, method, params)
    return await parking.call_parked(
        call, lambda ask: _call_upstream(conn, method, upstream_params, notify, headers, audited(ask))
    )
