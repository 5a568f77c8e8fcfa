"""Watching upstreams for ``list_changed``: each gateway process keeps one SDK session per connection its
agents use, listening (a legacy GET stream, or ``subscriptions/listen`` in 2026-07-28). A change refreshes the
connection's catalogue, which announces it to every agent's stream on every node.

Off the hot path entirely: a request only checks that its connections are watched (a dict lookup).
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from mcp import types

from connectors.models import Connection
from connectors.sdk import UpstreamTarget, open_client
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)
CHANGES = (
    types.ToolListChangedNotification,
    types.PromptListChangedNotification,
    types.ResourceListChangedNotification,
)
_watching: dict[tuple, asyncio.Task] = {}
DEBOUNCE_SECONDS = 0.5


def _refresh(connection_id: int) -> None:
    from connectors.services import catalogue_refresh

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is not None:
        catalogue_refresh(connection)


async def _watch(conn: ConnectionRuntime) -> None:
    target = UpstreamTarget(
        name=conn.name, transport=conn.transport, url=conn.url, command_name=conn.command_name, headers=conn.headers
    )
    backoff = 1.0
    while True:
        changed = asyncio.Event()

        async def on_message(message, changed: asyncio.Event = changed) -> None:
            if isinstance(message, CHANGES):
                changed.set()

        started = time.monotonic()
        try:
            async with open_client(target, timeout=3600, message_handler=on_message) as client:
                listen = None
                if client.protocol_version >= "2026":
                    listen = client.listen(
                        tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True
                    )
                    await listen.__aenter__()
                try:
                    while True:
                        await changed.wait()
                        await asyncio.sleep(DEBOUNCE_SECONDS)  # one refresh for a burst of changes
                        changed.clear()
                        await database_sync_to_async(_refresh)(conn.id)
                finally:
                    if listen is not None:
                        await listen.__aexit__(None, None, None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the upstream went away: try again later, with backoff
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            logger.info("watching connection %s stopped (%r); retrying in %.0f s", conn.name, exc, backoff)
        backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 60.0)
        await asyncio.sleep(backoff)


def ensure_watched(connections: dict[int, ConnectionRuntime]) -> None:
    for conn in connections.values():
        key = (conn.id, conn.transport, conn.url, conn.command_name)
        task = _watching.get(key)
        if task is None or task.done():
            _watching[key] = asyncio.get_running_loop().create_task(_watch(conn))
