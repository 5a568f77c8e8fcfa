"""JSON-RPC 2.0 framing for the gateway: parsing that validates only what routing needs, and error shapes."""

from __future__ import annotations

import json
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# 2026-07-28: an Mcp-Method / Mcp-Name header that contradicts the body, and an unsupported protocol version.
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022
# Gateway errors in the implementation-defined server range.
UPSTREAM_ERROR = -32002
NOT_AUTHORIZED = -32001
POLICY_DENIED = -32003  # data: {"rule": id, "reason": "..."}
RATE_LIMITED = -32004  # data: {"retryAfterMs": n, "rule": id or null}
REQUEST_CANCELLED = -32800  # the client cancelled (notifications/cancelled, or it closed the request)

MODERN_VERSION = "2026-07-28"
MODERN_VERSIONS = (MODERN_VERSION,)
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_LEGACY = LEGACY_VERSIONS[0]

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPS = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None, *, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.data, self.status = code, message, data, status

    def payload(self, request_id: Any = None) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}


def error_payload(request_id: Any, code: int, message: str, data: Any = None) -> dict:
    return RpcError(code, message, data).payload(request_id)


def result_payload(request_id: Any, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RpcError(PARSE_ERROR, "Parse error: the body is not valid JSON.", status=400) from exc


def check_message(message: Any) -> dict:
    """A single JSON-RPC request or notification, minimally validated; raises INVALID_REQUEST otherwise."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object.", status=400)
    has_method = "method" in message
    if has_method and not isinstance(message["method"], str):
        raise RpcError(INVALID_REQUEST, "Invalid Request: method must be a string.", status=400)
    if "id" in message:
        request_id = message["id"]
        if request_id is None or isinstance(request_id, bool) or not isinstance(request_id, str | int):
            raise RpcError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer.", status=400)
    if not has_method and not ("result" in message or "error" in message):
        raise RpcError(INVALID_REQUEST, "Invalid Request: no method.", status=400)
    params = message.get("params")
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object.")
    return message
