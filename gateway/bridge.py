"""Putting an upstream's questions to the agent of the call (sampling, an elicitation, the roots).

A modern upstream that needs input answers ``input_required``; a legacy upstream sends a request on the call's
stream. A legacy agent understands only real server-to-client requests: the gateway sends each one to the agent
on the call's SSE stream and waits for the agent's answer (which the agent POSTs, to whichever node); then it
retries the call upstream with ``inputResponses`` and the untouched ``requestState``, or answers the legacy
upstream's request.

Answers cross nodes through the channel layer: the node holding the call listens on a group named after the
session and the request id, and the node that receives the POSTed answer publishes it there.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

from channels.layers import get_channel_layer

from connectors.sdk import refusal
from gateway import jsonrpc as rpc

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


# The capability a client declares to be asked each request.
CAPABILITY = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}


def unanswerable(request: dict, caps: dict, can_stream: bool) -> str | None:
    """Why this agent cannot be asked this request on this call, or None when it can."""
    method = request.get("method")
    capability = CAPABILITY.get(method)
    if capability is None:
        return refusal(method)["message"]
    declared = caps.get(capability)
    if not isinstance(declared, dict):
        return f"The client of this call does not accept {method} requests (it did not declare {capability})."
    params = request.get("params") if isinstance(request.get("params"), dict) else {}
    if capability == "elicitation":
        mode = params.get("mode") or "form"
        modes = {m for m in ("form", "url") if m in declared} or {"form"}  # an empty object means form only
        if mode not in modes:
            return f"The client of this call does not accept {mode!r} elicitations."
    if not can_stream:
        return f"The client of this call takes no stream, on which {method} would reach it."
    return None


async def relay(session_token: str | None, caps: dict, send_event, can_stream: bool, request: dict) -> dict:
    """A legacy upstream's request in the middle of a call, put to the call's (legacy) agent on the call's own
    stream; returns the answer for the upstream ({"result": ...} or {"error": ...})."""
    reason = unanswerable(request, caps, can_stream and session_token is not None)
    if reason is not None:
        return {"error": {"code": rpc.METHOD_NOT_FOUND, "message": reason}}
    try:
        answers = await ask_agent(session_token, send_event, {"r": request})
    except AgentDeclined as exc:
        declined = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        code = declined.get("code") if isinstance(declined.get("code"), int) else rpc.INTERNAL_ERROR
        return {"error": {"code": code, "message": str(declined.get("message", "declined"))[:500]}}
    except TimeoutError:
        return {"error": {"code": rpc.INTERNAL_ERROR, "message": "The client did not answer in time."}}
    return {"result": answers["r"]}
