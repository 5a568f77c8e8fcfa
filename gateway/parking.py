"""A 2026-07-28 agent answering what a legacy upstream asks in the middle of a call.

A modern agent is never sent a request mid-call: the server answers ``input_required`` with its questions and a
``requestState``, and the agent calls again with ``inputResponses``. A legacy upstream, though, asks on the call's
stream and keeps the call open until it is answered. So the call is *parked*: it runs in a task of its own on the
node that holds it, the agent is answered ``input_required`` with the upstream's question and a requestState that
names the parked call (signed, bound to the agent, the connection, the method, the name and the arguments, valid
for one round), and the agent's next call, on whichever node, hands its answers to the parked call through the
channel layer and relays what comes next (the result, an error, or another question) back to the agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets

from channels.layers import get_channel_layer
from django.core import signing

from gateway import jsonrpc as rpc
from gateway.jsonrpc import RpcError

logger = logging.getLogger(__name__)
SALT = "scopegate.gateway.parked"
PREFIX = "sgpark."
WAIT_SECONDS = 300.0  # how long a parked call waits for the agent's next call
TAKEN_SECONDS = 3.0  # how long the next call waits for the parked call to take its answers
QUESTION = "upstream"  # the key of the upstream's question in inputRequests / inputResponses
_parked: set[asyncio.Task] = set()


def _group(park_id: str) -> str:
    return f"mcp.park.{park_id}"


def _binding(agent_id: str, conn_id: int, method: str, params: dict) -> str:
    """What the agent's next call must repeat: the same method, on the same item, with the same arguments."""
    item = {k: params.get(k) for k in ("name", "uri", "arguments", "ref", "argument")}
    text = json.dumps([agent_id, conn_id, method, item], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_parked_state(params: dict) -> bool:
    state = params.get("requestState")
    return isinstance(state, str) and state.startswith(PREFIX)


def may_ask(conn) -> bool:
    """Whether this connection's upstream can ask mid-call (a legacy session, or one the SDK drives)."""
    return conn.kind == "mcp" and not (
        conn.transport == "streamable_http" and conn.protocol_version in rpc.MODERN_VERSIONS
    )


class ParkedCall:
    """One call whose upstream may ask; its outcomes ("result", "error", "ask") go to whichever call of the agent
    waits for them: the first one on this node, then each next one through its own channel."""

    def __init__(self, agent_id: str, conn_id: int, method: str, params: dict) -> None:
        self.id = secrets.token_urlsafe(18)
        self.binding = _binding(agent_id, conn_id, method, params)
        self.round = 0
        self.outcomes: asyncio.Queue = asyncio.Queue()  # while the first call still waits, on this node
        self.reply: str | None = None  # once it left: the channel of the call now waiting
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self._asking = asyncio.Lock()

    async def _emit(self, kind: str, value: dict) -> None:
        if self.reply is None:
            self.outcomes.put_nowait((kind, value))
            return
        await self.layer.send(self.reply, {"type": "mcp.parked", "kind": kind, "value": value})

    async def ask(self, request: dict) -> dict:
        """The upstream's question, put to the agent as ``input_required``; the agent's answer (or a refusal)."""
        if self.layer is None:
            return {"error": {"code": rpc.METHOD_NOT_FOUND, "message": "No channel layer to carry the answer."}}
        async with self._asking:  # one question at a time: a second one is the next round
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(_group(self.id), self.channel)
            self.round += 1
            state = PREFIX + signing.dumps({"p": self.id, "r": self.round, "b": self.binding}, salt=SALT)
            await self._emit(
                "ask",
                {"resultType": "input_required", "inputRequests": {QUESTION: request}, "requestState": state},
            )
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    while True:
                        message = await self.layer.receive(self.channel)
                        if message.get("round") == self.round:
                            break
                        await self.layer.send(message.get("reply"), _stale())
            except TimeoutError:
                self.reply = None
                return {"error": {"code": rpc.INTERNAL_ERROR, "message": "The client did not answer in time."}}
            self.reply = message.get("reply")
            await self.layer.send(self.reply, {"type": "mcp.parked", "kind": "taken", "value": {}})
            answer = (message.get("responses") or {}).get(QUESTION)
            if not isinstance(answer, dict):
                return {"error": {"code": rpc.INVALID_PARAMS, "message": "The client gave no answer to the question."}}
            return {"result": answer}

    async def finished(self, task: asyncio.Task) -> None:
        """The upstream call ended: its result or error goes to whoever waits now."""
        try:
            if task.cancelled():
                return
            exc = task.exception()
            if exc is None:
                await self._emit("result", task.result())
            elif isinstance(exc, RpcError):
                await self._emit("error", {"code": exc.code, "message": exc.message, "data": exc.data})
            else:
                logger.error("parked call failed: %r", exc)
                await self._emit("error", {"code": rpc.INTERNAL_ERROR, "message": "The call failed.", "data": None})
        finally:
            if self.channel is not None:
                await self.layer.group_discard(_group(self.id), self.channel)


def _stale() -> dict:
    message = "This requestState answers an earlier question of the call: send the latest one."
    return {"type": "mcp.parked", "kind": "error", "value": {"code": rpc.INVALID_PARAMS, "message": message}}


def _outcome(kind: str, value: dict) -> dict:
    if kind == "error":
        raise RpcError(value.get("code", rpc.INTERNAL_ERROR), value.get("message", "error"), value.get("data"))
    return value  # a result, or the next question (an input_required result)


async def call_parked(call: ParkedCall, run) -> dict:
    """Runs ``run(ask)`` (the upstream call) in a task of its own; returns its result, or the first question."""
    task = asyncio.get_running_loop().create_task(run(call.ask))
    _parked.add(task)

    def done(finished: asyncio.Task) -> None:
        follow = asyncio.get_running_loop().create_task(call.finished(finished))
        _parked.add(follow)
        follow.add_done_callback(_parked.discard)
        _parked.discard(finished)

    task.add_done_callback(done)
    try:
        kind, value = await call.outcomes.get()
    except asyncio.CancelledError:
        task.cancel()  # the agent left before anything was asked: the call ends with it
        raise
    return _outcome(kind, value)


async def resume(agent_id: str, conn_id: int, method: str, params: dict, timeout: float) -> dict:
    """The agent's next call: its answers handed to the parked call; what the call does next, for the agent."""
    try:
        state = signing.loads(params["requestState"][len(PREFIX) :], salt=SALT, max_age=WAIT_SECONDS + 60)
    except signing.BadSignature:
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: requestState was altered or has expired.") from None
    if state.get("b") != _binding(agent_id, conn_id, method, params):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: requestState belongs to another call.")
    responses = params.get("inputResponses")
    if not isinstance(responses, dict):
        raise RpcError(rpc.INVALID_PARAMS, "Invalid params: inputResponses must answer the input requests.")
    layer = get_channel_layer()
    if layer is None:
        raise RpcError(rpc.INTERNAL_ERROR, "No channel layer to carry the answers.")
    reply = await layer.new_channel()
    message = {"type": "mcp.park", "round": state.get("r"), "responses": responses, "reply": reply}
    await layer.group_send(_group(state.get("p", "")), message)
    try:
        async with asyncio.timeout(TAKEN_SECONDS):
            taken = await layer.receive(reply)
    except TimeoutError:
        message = "The call this requestState answers is no longer waiting (it ended or expired): call again."
        raise RpcError(rpc.INVALID_PARAMS, message) from None
    if taken.get("kind") != "taken":
        return _outcome(taken.get("kind", "error"), taken.get("value") or {})
    try:
        async with asyncio.timeout(timeout):
            outcome = await layer.receive(reply)
    except TimeoutError:
        raise RpcError(rpc.UPSTREAM_ERROR, "The upstream did not go on after the answer in time.") from None
    return _outcome(outcome.get("kind", "error"), outcome.get("value") or {})
