"""The live trail: every stored event is announced to its organization's channel-layer group.

The Activity page's WebSocket consumer joins ``group_name(organization_id)``; any gateway node's writer
publishes there, so an event made on one node appears on a page served by another. Publishing never delays or
fails a write: it runs after the commit, in a task the writer keeps a reference to, and a lost message only
means a page must reload to see that event (the trail itself is complete).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)
_tasks: set[asyncio.Task] = set()
LIVE_FIELDS = (
    "id",
    "time",
    "kind",
    "organization_id",
    "actor_type",
    "agent_id",
    "agent_name",
    "key_prefix",
    "user_email",
    "via",
    "method",
    "connection",
    "tool",
    "decision",
    "rule_id",
    "outcome",
    "parent_id",
    "upstream_ms",
    "latency_ms",
    "error",
)


LIVE_FLUSH_SECONDS = 0.2


def group_name(organization_id: int) -> str:
    return f"audit.org.{organization_id}"


def summary(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in LIVE_FIELDS}
    out["time"] = row["time"].isoformat() if row.get("time") is not None else None
    out["error"] = (out["error"] or "")[:300]
    return out


async def _send(rows: list[dict[str, Any]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    by_org: dict[int, list[dict]] = {}
    for row in rows:
        if row.get("organization_id") is not None:
            by_org.setdefault(row["organization_id"], []).append(summary(row))
    for org_id, events in by_org.items():
        try:
            await layer.group_send(group_name(org_id), {"type": "audit.events", "events": events})
        except Exception as exc:  # the trail is stored; only the live view misses these
            logger.warning("live audit publish failed for %s events: %r", len(events), exc)


_buffer: list[dict[str, Any]] = []
_scheduled_on: asyncio.AbstractEventLoop | None = None  # the loop whose timer will send the buffer


def publish(rows: list[dict[str, Any]]) -> None:
    """Announces stored rows (with their ids); call from the event loop after the commit.

    Rows gather for ``LIVE_FLUSH_SECONDS`` and go out as one message per organization: a busy gateway pays one
    channel-layer send per interval, not one per call, and a row still reaches the page well within a second.
    """
    global _scheduled_on
    _buffer.extend(row for row in rows if row.get("organization_id") is not None)
    loop = asyncio.get_running_loop()
    if _buffer and _scheduled_on is not loop:  # none scheduled, or on a loop that has since closed
        _scheduled_on = loop
        loop.call_later(LIVE_FLUSH_SECONDS, _flush)


def _flush() -> None:
    global _scheduled_on
    _scheduled_on = None
    rows = _buffer[:]
    _buffer.clear()
    if rows:
        task = asyncio.get_running_loop().create_task(_send(rows))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


def publish_after_commit(row: dict[str, Any]) -> None:
    """For events written in a database transaction (changes, system actions): announced once committed."""
    from asgiref.sync import async_to_sync
    from django.db import transaction

    def send() -> None:
        try:
            async_to_sync(_send)([row])
        except Exception as exc:  # the event is stored; only the live view misses it
            logger.warning("live audit publish failed: %r", exc)

    transaction.on_commit(send)
