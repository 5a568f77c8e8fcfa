"""Built-in tools (GitHub, Google) behind the same request interface as an upstream MCP server.

The gateway forwards ``tools/call`` here exactly as it would upstream; the answer is a CallToolResult with
``structuredContent`` and a text block. A provider's refusal of a call (a 404, a rate limit, a 500) is the
tool's error (``isError``), which the agent reads; a connection that cannot be used at all (disconnected,
needing reconnect, its provider unreachable for a refresh) raises ``UpstreamError`` naming it.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from connectors import token_cache
from connectors.credentials import TokenState
from connectors.providers import provider_for
from connectors.providers.base import TokenRejected, Tool, ToolError
from policies.runtime import ConnectionRuntime

_validators: dict[tuple[str, str], Any] = {}


class BuiltinError(Exception):
    """The connection cannot serve calls; the message follows "Connection 'name' "."""


def _validator(kind: str, tool: Tool):
    key = (kind, tool.name)
    if key not in _validators:
        _validators[key] = jsonschema.Draft202012Validator(tool.input_schema)
    return _validators[key]


def _result(structured: dict) -> dict:
    text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": False}


def _tool_error(message: str) -> dict:
    return {"content": [{"type": "text", "text": message}], "isError": True}


class BuiltinUpstream:
    def __init__(self, conn: ConnectionRuntime) -> None:
        self.conn = conn
        self.provider = provider_for(conn.kind)

    async def request(self, method: str, params: dict, *, notify=None, timeout: float, headers=None, ask=None) -> dict:
        if method == "ping":
            return {"result": {}}
        if method != "tools/call":
            return {"error": {"code": -32601, "message": f"Method not found: {method}"}}
        tool = self.provider.tool(str(params.get("name", "")))
        if tool is None:
            return {"error": {"code": -32602, "message": f"Unknown tool: {params.get('name')}"}}
        arguments = params.get("arguments") or {}
        errors = sorted(_validator(self.conn.kind, tool).iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "arguments"
            return {"error": {"code": -32602, "message": f"Invalid params: {where}: {errors[0].message}"}}
        return {"result": await self._call(tool, arguments)}

    async def _token(self, state: TokenState | None = None) -> TokenState:
        if self.conn.credential_id is None:
            raise BuiltinError("is not connected.")
        if state is None:
            state = await token_cache.current(self.conn.credential_id)
        else:
            state = await token_cache.after_rejection(self.conn.credential_id, state)
        if not state.usable or state.problem:
            raise BuiltinError(state.problem or "cannot be used.")
        return state

    async def _call(self, tool: Tool, arguments: dict) -> dict:
        state = await self._token()
        for attempt in range(2):
            try:
                return _result(await tool.run(self.provider.api(state.access_token), arguments))
            except ToolError as exc:
                return _tool_error(str(exc))
            except TokenRejected:
                if attempt:
                    raise BuiltinError(f"is refused by {self.provider.label} even with a fresh token.") from None
                state = await self._token(state)  # refresh once, then retry
        raise AssertionError("unreachable")
