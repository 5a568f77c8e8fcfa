"""The decision on one ``tools/call``: rules and constraints, rate limits, then a person's approval for "ask".

``decide_call`` is the one place the gateway decides a call. It sets ``ctx.decision`` ("allow", "deny",
"approved", "rejected", "rate_limited"), ``ctx.rule_id`` and, on a refusal, ``ctx.error``, then returns the
decision or raises the agent's JSON-RPC error. Everything but the approval wait is in-memory (the compiled policy)
or one Redis round trip (the rate limit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.consumers import org_broadcast
from gateway import jsonrpc as rpc
from gateway.cancel import call_key, cancellable
from gateway.context import Context, Request, Responder
from gateway.jsonrpc import RpcError
from policies import approvals
from policies.compiled import ASK, DENY, Decision
from policies.ratelimit import agent_key, rate_hit, rule_key
from policies.runtime import Exposed

logger = logging.getLogger(__name__)


def _refuse(ctx: Context, decision: str, message: str, code: int, data: dict) -> RpcError:
    ctx.decision, ctx.error = decision, message
    return RpcError(code, message, data)


async def decide_call(
    req: Request,
    ctx: Context,
    exposed: Exposed,
    name: str,
    arguments: dict[str, Any],
    responder: Responder,
    progress_token: str | int | None = None,
) -> Decision:
    decision = ctx.agent.decide_call(exposed, arguments)
    ctx.rule_id = decision.rule_id
    ctx.trace.append({"step": "rule", "rule": decision.rule_id, "effect": decision.effect, "reason": decision.reason})
    if decision.effect == DENY:
        data = {"rule": decision.rule_id, "reason": decision.reason}
        raise _refuse(ctx, "deny", f"Refused: {decision.reason}.", rpc.POLICY_DENIED, data)
    await _rate_limit(ctx, exposed, name, decision)
    if decision.effect == ASK:
        await _ask(req, ctx, exposed, name, arguments, responder, decision, progress_token)
        return decision
    ctx.decision = "allow"
    return decision


async def _rate_limit(ctx: Context, exposed: Exposed, name: str, decision: Decision) -> None:
    limits = []
    if ctx.agent.rate is not None:
        limits.append((agent_key(ctx.agent.id), ctx.agent.rate, None))
    if decision.rule is not None and decision.rule.rate is not None:
        limits.append((rule_key(decision.rule.id, name), decision.rule.rate, decision.rule.id))
    if not limits:
        return
    try:
        wait_us, index = await rate_hit([(key, rate) for key, rate, _ in limits])
    except Exception:
        logger.exception("rate limiter unavailable")
        data = {"retryAfterMs": 1000}
        raise _refuse(
            ctx, "rate_limited", "The rate limiter is unavailable: retry in 1 s.", rpc.RATE_LIMITED, data
        ) from None
    if not wait_us:
        return
    _, rate, rule_id = limits[index]
    retry_ms = max(1, -(-wait_us // 1000))
    whose = f"{name} (rule {rule_id})" if rule_id is not None else f"agent {ctx.agent.name}"
    message = f"Rate limit of {rate.describe()} exceeded for {whose}: retry in {retry_ms / 1000:.2f} s."
    raise _refuse(ctx, "rate_limited", message, rpc.RATE_LIMITED, {"retryAfterMs": retry_ms, "rule": rule_id})


async def _ask(
    req: Request,
    ctx: Context,
    exposed: Exposed,
    name: str,
    arguments: dict[str, Any],
    responder: Responder,
    decision: Decision,
    progress_token: str | int | None,
) -> None:
    """Waits for a person's verdict; returns when approved, raises when denied, timed out or cancelled."""
    timeout = settings.APPROVAL_TIMEOUT_SECONDS
    token = approvals.new_token()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(approvals.approval_group(token), channel)  # listening before anyone can answer
    try:
        approval_id = await database_sync_to_async(approvals.approval_open)(
            token=token,
            organization_id=ctx.agent.organization_id,
            agent_id=ctx.agent.id,
            rule_id=decision.rule_id,
            connection_id=exposed.connection_id,
            tool=name,
            upstream_name=exposed.upstream_name,
            arguments=arguments,
            reason=decision.reason,
            timeout_seconds=timeout,
        )
        await org_broadcast(ctx.agent.organization_id, "approval.created", {"id": approval_id})
        key = call_key(ctx.session.token, ctx.request_id) if ctx.session is not None else None
        try:
            async with cancellable(key):
                status = await _wait(req, layer, channel, token, timeout, responder, progress_token)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() > 1:
                raise
            if task is not None:
                task.uncancel()
            await database_sync_to_async(approvals.approval_expire)(token)
            raise _refuse(ctx, "rejected", "Request cancelled by the client.", rpc.REQUEST_CANCELLED, {}) from None
    finally:
        await layer.group_discard(approvals.approval_group(token), channel)
    if status == "approved":
        ctx.decision = "approved"
        return
    data = {"rule": decision.rule_id, "approval": approval_id}
    if status == "rejected":
        message = f"Refused: a person denied this call (rule {decision.rule_id})."
    else:
        message = f"Refused: nobody approved this call within {timeout} s (rule {decision.rule_id})."
    raise _refuse(ctx, "rejected", message, rpc.POLICY_DENIED, data)


async def _wait(
    req: Request, layer, channel: str, token: str, timeout: float, responder: Responder, progress: str | int | None
) -> str:
    """The verdict: from the channel layer at once, or from the row at each poll; "expired" after ``timeout``.
    While it waits, a client that gave a progress token hears every poll that it is still waiting."""
    poll = settings.APPROVAL_POLL_SECONDS
    streams = "text/event-stream" in req.headers.get("accept", "") or not req.headers.get("accept")
    started = time.monotonic()
    deadline = started + timeout
    ticks = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            expired = await database_sync_to_async(approvals.approval_expire)(token)
            return "expired" if expired else await database_sync_to_async(approvals.approval_status)(token)
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=min(poll, remaining))
        except TimeoutError:
            status = await database_sync_to_async(approvals.approval_status)(token)
        else:
            status = message.get("status", "pending")
        if status != "pending":
            return status
        ticks += 1
        if progress is not None and streams:
            waited = int(time.monotonic() - started)
            await responder.event(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": progress,
                        "progress": ticks,
                        "message": f"Waiting for a person to approve this call ({waited} s of {timeout} s).",
                    },
                }
            )
