"""The MCP endpoint of each agent under /mcp/.

Agents and their keys arrive with the gateway issue; until an agent exists, every endpoint answers a JSON-RPC
error with 404, so that a client configured too early gets a clear message instead of an HTML page.
"""

from __future__ import annotations

import json

from channels.generic.http import AsyncHttpConsumer


class McpEndpointConsumer(AsyncHttpConsumer):
    async def handle(self, body: bytes) -> None:
        payload = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "No agent is served at this endpoint."},
        }
        await self.send_response(
            404,
            json.dumps(payload).encode(),
            headers=[(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        )
