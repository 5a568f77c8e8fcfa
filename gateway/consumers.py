"""The HTTP consumer of each agent's MCP endpoint: /mcp/<agent> (key in a header) or /mcp/<agent>/<key>.

Thin by design: it reads the request within a size limit and hands it to the pipeline. It opens no channel
per request (the channel layer is for the streams that need one) and skips Channels' per-message
close-old-connections hop: the hot path never touches the sync ORM.
"""

from __future__ import annotations

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings

from gateway import jsonrpc as rpc
from gateway.pipeline import Request, Responder, handle


class McpEndpointConsumer(AsyncHttpConsumer):
    channel_layer_alias = "__no_channel_layer__"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._size = 0
        self._too_large = False

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
            await self.handle(b"".join(self.body))
        finally:
            await self.disconnect()
        raise StopConsumer()

    async def handle(self, body: bytes) -> None:
        responder = Responder(self.send_headers, self.send_body)
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
