"""Bridging 2026-07-28 input requests to legacy agents.

A modern upstream that needs input (an elicitation, a sampling, the roots) answers ``input_required``; a
legacy agent understands only real server-to-client requests. The gateway sends each input request to the
agent on the call's SSE stream, waits for the agent's answer (which the agent POSTs, to whichever node), and
retries the call upstream with ``inputResponses`` and the untouched ``requestState``.

Answers cross nodes through the channel layer: the node holding the call listens on a group named after the
session and the request id, and the node that receives the POSTed answer publishes it there.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

from channels.layers import get_channel_layer

MAX_ROUNDS = 10
ANSWER_TIMEOUT_SECONDS = 300.0
ID_PREFIX = "sg-input-"


def _group(session_token: str, request_id: str) -> str:
    session = hashlib.sha256(session_token.encode()).hexdigest()[:24]
    return f"mcp.reply.{session}.{request_id[len(ID_PREFIX) :]}"


async def publish_answer(session_token: str, message: dict) -> bool:
    """Called with a JSON-RPC response an agent POSTed; True when it answered one of our input requests."""
    request_id = message.get("id")
    if not isinstance(request_id, str) or not request_id.startswith(ID_PREFIX) or len(request_id) > 64:
        return False
    layer = get_channel_layer()
    if layer is None:
        return False
    await layer.group_send(_group(session_token, request_id), {"type": "mcp.reply", "message": message})
    return True


async def ask_agent(session_token: str, send_event, requests: dict[str, Any]) -> dict[str, Any]:
    """Sends every input request to the agent at once and returns its answers by key."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer to carry the agent's answers")
    channel = await layer.new_channel()
    pending: dict[str, str] = {}
    try:
        for key, request in requests.items():
            request_id = ID_PREFIX + secrets.token_hex(12)
            pending[request_id] = key
            await layer.group_add(_group(session_token, request_id), channel)
            await send_event(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": request.get("method"),
                    "params": request.get("params") or {},
                }
            )
        answers: dict[str, Any] = {}
        async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
            while pending:
                message = (await layer.receive(channel)).get("message") or {}
                key = pending.pop(message.get("id"), None)
                if key is None:
                    continue
                if "error" in message:
                    raise AgentDeclined(message["error"])
                answers[key] = message.get("result") or {}
        return answers
    finally:
        for request_id in list(pending):
            await layer.group_discard(_group(session_token, request_id), channel)


class AgentDeclined(Exception):
    """The agent answered an input request with an error."""
