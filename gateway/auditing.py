"""What the gateway tells the audit trail about each request, through ``audit.services.event_record``.

A request that reaches an upstream (a call, a read, a prompt, a completion) is written *before* it is forwarded,
with outcome "pending"; if that write fails the request is refused and never forwarded (fail closed). Its
outcome follows as a second row naming the first, written once the answer is on its way. Every other request
(lists, handshakes, refusals) is one event written before it is answered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from audit.models import Event
from audit.redact import redact
from audit.services import event_record, event_record_soon
from gateway import jsonrpc as rpc
from gateway.context import Context, Request
from gateway.jsonrpc import RpcError
from gateway.sessions import session_ref

logger = logging.getLogger(__name__)


def client_info(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        return "", ""
    name, version = value.get("name"), value.get("version")
    return (name[:64] if isinstance(name, str) else "", version[:32] if isinstance(version, str) else "")


def _who(req: Request, ctx: Context) -> dict[str, Any]:
    agent, key = ctx.agent, ctx.key
    return {
        "organization_id": agent.organization_id if agent else None,
        "actor_type": Event.Actor.AGENT if agent and key else Event.Actor.ANONYMOUS,
        "agent_id": agent.id if agent else None,
        "agent_name": agent.name if agent else "",
        "key_prefix": key.prefix if key else "",
        "client_name": ctx.client_name,
        "client_version": ctx.client_version,
        "source_ip": req.client or None,
        "session_ref": session_ref(ctx.session.token) if ctx.session is not None else "",
        "request_id": _request_ref(ctx),
        "method": ctx.rpc_method[:64] or req.http_method,
        "connection": ctx.connection,
        "tool": ctx.tool,
    }


def _request_ref(ctx: Context) -> str:
    return str(ctx.request_id)[:100] if ctx.request_id is not None else ""


def _elapsed_ms(ctx: Context) -> float:
    return round((time.perf_counter() - ctx.started) * 1000, 3)


async def prewrite(req: Request, ctx: Context) -> None:
    """Stores the request and its decision before it is forwarded; refuses it when that cannot be done."""
    if not settings.AUDIT_ENABLED:
        return
    try:
        ctx.event_id = await event_record(
            **_who(req, ctx),
            arguments=ctx.arguments,
            decision=ctx.decision,
            rule_id=ctx.rule_id,
            trace=ctx.trace or None,
            outcome=Event.Outcome.PENDING,
            latency_ms=_elapsed_ms(ctx),
        )
    except Exception as exc:
        logger.error("audit pre-write failed, request refused: %r", exc)
        raise RpcError(
            rpc.INTERNAL_ERROR, "The audit trail is unavailable: the request was not forwarded.", status=503
        ) from None


async def record(req: Request, ctx: Context, sent_bytes: int | None = None) -> None:
    """The request's event, or the outcome of one already stored by ``prewrite``; raises when it cannot."""
    if not settings.AUDIT_ENABLED:
        return
    outcome = {
        "outcome": ctx.outcome,
        "error": ctx.error[:2000],
        "upstream_ms": ctx.upstream_ms,
        "latency_ms": _elapsed_ms(ctx),
        "result_bytes": sent_bytes,
    }
    if ctx.event_id is not None:
        # The request itself is stored; its outcome joins the next batch instead of paying a commit alone. It
        # names its call (parent) and says only what the call's row could not: who and what are there already.
        agent = ctx.agent
        event_record_soon(
            organization_id=agent.organization_id,
            actor_type=Event.Actor.AGENT,
            agent_id=agent.id,
            request_id=_request_ref(ctx),
            method=ctx.rpc_method[:64],
            kind=Event.Kind.OUTCOME,
            parent_id=ctx.event_id,
            **outcome,
        )
        return
    await event_record(
        **_who(req, ctx),
        arguments=ctx.arguments,
        decision=ctx.decision,
        rule_id=ctx.rule_id,
        trace=ctx.trace or None,
        **outcome,
    )


def relayed(req: Request, ctx: Context, request: dict, reply: dict, started: float) -> None:
    """Records a question an upstream asked in the middle of the call (a sampling, an elicitation), put to the
    agent, and whether the agent answered it; not the answer, which may hold what a person typed."""
    if not settings.AUDIT_ENABLED:
        return
    error = reply.get("error") if isinstance(reply.get("error"), dict) else None
    event_record_soon(
        **{**_who(req, ctx), "method": str(request.get("method"))[:64]},
        arguments=arguments_of(request.get("params")),
        outcome=Event.Outcome.REFUSED if error else Event.Outcome.OK,
        error=str(error.get("message", ""))[:2000] if error else "",
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
    )


def refused_question(organization_id: int | None, connection: str, method: Any, error: dict) -> None:
    """Records a question an upstream asked that no agent was put (outside any call, a method ScopeGate does not
    relay, or one that could belong to several calls): ScopeGate itself refused it, and says why."""
    if not settings.AUDIT_ENABLED:
        return
    event_record_soon(
        organization_id=organization_id,
        kind=Event.Kind.SYSTEM,
        actor_type=Event.Actor.SYSTEM,
        via=Event.Via.SYSTEM,
        method=str(method)[:64],
        connection=connection[:32],
        outcome=Event.Outcome.REFUSED,
        error=str(error.get("message", ""))[:2000],
    )


def arguments_of(value: Any) -> Any:
    return redact(value) if value not in (None, {}) else None
