"""Watching upstreams: each gateway process keeps one SDK session per connection its agents use, listening
(a legacy GET stream, or ``subscriptions/listen`` in 2026-07-28) for list changes and for updates of the
resources agents subscribed to.

- A list change refreshes the connection's catalogue, which announces it to every agent's stream on every node.
- A resource update is announced to the organization's streams, which tell the agents that can see it.

Off the hot path entirely: a request only checks that its connections are watched (a dict lookup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from mcp import types
from mcp.shared.exceptions import MCPError

from connectors.egress import scrub_urls
from connectors.sdk import UpstreamTarget, open_client
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)
CHANGES = (
    types.ToolListChangedNotification,
    types.PromptListChangedNotification,
    types.ResourceListChangedNotification,
)
DEBOUNCE_SECONDS = 0.5


@dataclass
class _Watch:
    conn: ConnectionRuntime
    organization_id: int
    uris: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    resubscribe: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


_watching: dict[tuple, _Watch] = {}


def _refresh(connection_id: int) -> None:
    """On a worker, once for all nodes (on the embedded default, here and now)."""
    from connectors.tasks import catalogue_refresh_soon

    catalogue_refresh_soon(connection_id)


async def _announce_update(watch: _Watch, uri: str) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            f"mcp.org.{watch.organization_id}", {"type": "mcp.updated", "connection": watch.conn.name, "uri": uri}
        )


async def _session(watch: _Watch, client) -> None:
    """One upstream session: subscribe, listen, react; returns when the subscriptions must be renewed."""
    modern = client.protocol_version >= "2026"
    # Clear the signal before taking the snapshot: a subscription added while this session opens sets it again
    # (clearing it afterwards lost such a subscription for good).
    watch.resubscribe.clear()
    uris = sorted(watch.uris)
    async with contextlib.AsyncExitStack() as stack:
        if modern:
            try:
                await stack.enter_async_context(
                    client.listen(
                        tools_list_changed=True,
                        prompts_list_changed=True,
                        resources_list_changed=True,
                        resource_subscriptions=uris,
                    )
                )
            except MCPError as exc:  # an upstream that does not serve subscriptions/listen: nothing to watch
                if exc.code != -32601:
                    raise
                await asyncio.Event().wait()
        else:
            for uri in uris:
                with contextlib.suppress(Exception):  # an upstream without subscriptions still lists changes
                    await client.subscribe_resource(uri)
        while True:
            changed = asyncio.ensure_future(watch.changed.wait())
            renew = asyncio.ensure_future(watch.resubscribe.wait())
            try:
                done, _ = await asyncio.wait({changed, renew}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                renew.cancel()
            for waited in done:  # a wait that failed (an event of another loop) must not turn this into a spin
                waited.result()
            if watch.resubscribe.is_set():
                if modern:
                    return  # reopen the listen stream with the new filter
                watch.resubscribe.clear()
                for uri in sorted(watch.uris):
                    with contextlib.suppress(Exception):
                        await client.subscribe_resource(uri)
            if watch.changed.is_set():
                await asyncio.sleep(DEBOUNCE_SECONDS)  # one refresh for a burst of changes
                watch.changed.clear()
                await database_sync_to_async(_refresh)(watch.conn.id)


async def _watch(watch: _Watch) -> None:
    conn = watch.conn
    target = UpstreamTarget(
        name=conn.name, transport=conn.transport, url=conn.url, command_name=conn.command_name, headers=conn.headers
    )
    backoff = 1.0

    async def on_message(message) -> None:
        if isinstance(message, CHANGES):
            watch.changed.set()
        elif isinstance(message, types.ResourceUpdatedNotification):
            await _announce_update(watch, str(message.params.uri))

    while True:
        started = time.monotonic()
        try:
            async with open_client(target, timeout=3600, message_handler=on_message) as client:
                while True:
                    await _session(watch, client)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the upstream went away: try again later, with backoff
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            logger.info(
                "watching connection %s stopped (%s); retrying in %.0f s", conn.name, scrub_urls(repr(exc)), backoff
            )
        backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 60.0)
        await asyncio.sleep(backoff)


def _key(conn: ConnectionRuntime) -> tuple:
    return (conn.id, conn.transport, conn.url, conn.command_name)


def ensure_watched(connections: dict[int, ConnectionRuntime], organization_id: int) -> None:
    for conn in connections.values():
        if conn.kind != "mcp":
            continue  # built-in tools change only with a new release or grant, never behind our back
        watch = _watching.get(_key(conn))
        if watch is None:
            watch = _watching[_key(conn)] = _Watch(conn=conn, organization_id=organization_id)
        if watch.task is None or watch.task.done():
            if watch.task is not None and watch.task.get_loop() is not asyncio.get_running_loop():
                # a new event loop (tests): the old loop's events cannot be awaited here
                watch = _watching[_key(conn)] = _Watch(conn=conn, organization_id=organization_id, uris=watch.uris)
            watch.task = asyncio.get_running_loop().create_task(_watch(watch))


def watch_resource(conn: ConnectionRuntime, organization_id: int, uri: str) -> None:
    """Asks this process's watcher of ``conn`` to subscribe to ``uri`` upstream."""
    ensure_watched({conn.id: conn}, organization_id)
    watch = _watching[_key(conn)]
    if uri not in watch.uris:
        watch.uris.add(uri)
        watch.resubscribe.set()
