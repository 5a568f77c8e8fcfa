"""Events for tests, written straight into the table (the product writes them through audit.services)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from audit.models import Event

_seq = itertools.count(1)


def make_event(organization, **fields: Any) -> Event:
    defaults: dict[str, Any] = {
        "organization_id": organization.pk,
        "kind": Event.Kind.MCP,
        "actor_type": Event.Actor.AGENT,
        "agent_name": "release-bot",
        "method": "tools/call",
        "connection": "github",
        "tool": "github__create_issue",
        "decision": Event.Decision.ALLOW,
        "outcome": Event.Outcome.OK,
        "latency_ms": 3.0,
        "segment": "test",
        "seq": next(_seq),
        "hash": "0" * 64,
    }
    return Event.objects.create(**{**defaults, **fields})


def make_call(organization, *, outcome: str = "ok", error: str = "", latency_ms: float = 12.0, **fields: Any):
    """A forwarded call: its event written before forwarding (pending), then the outcome row naming it."""
    call = make_event(organization, outcome=Event.Outcome.PENDING, latency_ms=1.0, **fields)
    done = make_event(
        organization,
        kind=Event.Kind.OUTCOME,
        parent_id=call.id,
        time=call.time + dt.timedelta(milliseconds=15),
        outcome=outcome,
        error=error,
        latency_ms=latency_ms,
        upstream_ms=latency_ms - 1,
        result_bytes=120,
        agent_name=call.agent_name,
        tool=call.tool,
        connection=call.connection,
        method=call.method,
    )
    return call, done


def minutes_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=n)
