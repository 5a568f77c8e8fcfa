"""The HTTP consumer of each agent's MCP endpoint: /mcp/<agent> (key in a header) or /mcp/<agent>/<key>.

Thin by design: it reads the request within a size limit and hands it to the pipeline. It opens no channel
per request (the channel layer is for the streams that need one) and skips Channels' per-message
close-old-connections hop: the hot path never touches the sync ORM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from gateway import jsonrpc as rpc
from gateway.pipeline import Request, Responder, handle
from gateway.streams import KEEPALIVE_SECONDS, StreamSpec, frame
from policies.runtime import agent_runtime

logger = logging.getLogger(__name__)
WATCH_AFTER_SECONDS = 0.02


class McpEndpointConsumer(AsyncHttpConsumer):
    channel_layer_alias = "__no_channel_layer__"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._size = 0
        self._too_large = False
        self._stream_task: asyncio.Task | None = None
        self._receive = None
        self._responder: Responder | None = None

    async def __call__(self, scope, receive, send):
        """Channels' own loop (``await_many_dispatch``) races a task per receive against the channel layer's; this
        consumer has no channel of its own, so it takes its messages in turn, in the request's own task: two turns
        of the event loop fewer per request, and its body is handled in the turn that started it."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self._receive = receive  # to notice a client that leaves while its request is being handled
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"no handler for {message['type']}")
        await handler(message)

    async def http_request(self, message: dict) -> None:
        chunk = message.get("body", b"")
        self._size += len(chunk)
        if self._size > settings.MCP_MAX_BODY_BYTES:
            self._too_large = True
        elif chunk:
            self.body.append(chunk)
        if message.get("more_body"):
            return
        try:
            await self._handle_until_gone(b"".join(self.body))
        finally:
            if self._stream_task is None:
                await self.disconnect()
        if self._stream_task is None:
            raise StopConsumer()
        # A stream stays open until the client goes: http.disconnect ends it.

    async def _handle_until_gone(self, body: bytes) -> None:
        """Handles the request while watching for the client to close it: in the 2026-07-28 era closing the
        request is how a client cancels, so a call it gave up on is cancelled upstream and audited as such.
        The request runs in this task; the watch starts only once it has run ``WATCH_AFTER_SECONDS`` (a task
        that waits for the next message and is then cancelled cost every call two turns of the loop), so a
        call is cancelled at most that much later than its client left."""
        task = asyncio.current_task()
        watching: list[asyncio.Future] = []

        def on_left(done: asyncio.Future) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            if done.result().get("type") == "http.disconnect" and self._responder and self._responder.forwarding:
                # Only the upstream call is cancelled (forwarding turns it into a "cancelled" answer and event);
                # the audit writes around it always finish.
                task.cancel()

        def watch() -> None:
            left = asyncio.ensure_future(self._receive())
            left.add_done_callback(on_left)
            watching.append(left)

        timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, watch)
        try:
            await self.handle(body)
        finally:
            timer.cancel()
            for left in watching:
                left.remove_done_callback(on_left)
                if not left.done():
                    left.cancel()

    async def http_disconnect(self, message: dict) -> None:
        await self.disconnect()
        raise StopConsumer()

    async def disconnect(self) -> None:
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()

    async def open_stream(self, spec: StreamSpec, extra_headers: list) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel() if layer is not None else None
        if channel is not None:
            for group in spec.groups:
                await layer.group_add(group, channel)
        headers = [
            *extra_headers,
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await self.send_headers(status=200, headers=headers)
        for payload in spec.opening:
            await self.send_body(frame(payload), more_body=True)
        self._stream_task = asyncio.get_running_loop().create_task(self._pump(layer, channel, spec))

    async def _pump(self, layer, channel: str | None, spec: StreamSpec) -> None:
        try:
            while True:
                if channel is None:
                    await asyncio.sleep(KEEPALIVE_SECONDS)
                    await self.send_body(b": ping\n\n", more_body=True)
                    continue
                try:
                    message = await asyncio.wait_for(layer.receive(channel), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await self.send_body(b": ping\n\n", more_body=True)
                    continue
                except Exception:  # the channel layer hiccuped (e.g. a Redis read timeout): keep the stream
                    logger.warning("stream receive failed; retrying", exc_info=True)
                    await asyncio.sleep(0.5)
                    continue
                if message.get("type") == "mcp.updated":
                    # Decided on the agent's policy as it is now (cached), not as it was when the stream opened.
                    try:
                        current = await agent_runtime(spec.agent.public_id)
                    except Exception:  # the database hiccuped: this update is not told, the stream goes on
                        logger.warning("could not read agent %s's policy; update skipped", spec.agent.public_id)
                        continue
                    if current is None:
                        continue  # disabled or deleted: its sessions are being ended
                    spec.agent = current
                for chunk in spec.render(message):
                    await self.send_body(chunk, more_body=True)
        finally:
            if channel is not None:
                for group in spec.groups:
                    with contextlib.suppress(Exception):
                        await layer.group_discard(group, channel)

    async def handle(self, body: bytes) -> None:
        responder = self._responder = Responder(self.send_headers, self.send_body, self.open_stream)
        if self._too_large:
            payload = rpc.error_payload(None, rpc.INVALID_REQUEST, "Payload Too Large: the body exceeds the limit.")
            await responder.json(413, payload)
            return
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.scope.get("headers", [])]
        kwargs = self.scope["url_route"]["kwargs"]
        client = self.scope.get("client") or ("", 0)
        request = Request(
            http_method=self.scope["method"],
            agent_ref=kwargs.get("agent_ref", ""),
            path_key=kwargs.get("key"),
            headers={k.lower(): v for k, v in raw},
            raw_headers=raw,
            body=body,
            client=client[0] or "",
        )
        await handle(request, responder)
