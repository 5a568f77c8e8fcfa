"""Upstreams the SDK drives (HTTP+SSE and stdio), against real servers (our SDK echo server, server-everything): the
gateway's own deadline bounds a call (paused while the call's agent answers the upstream's question), and a
cancelled call stops there instead of holding up the calls after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.upstream import close_all, forward
from policies.runtime import ConnectionRuntime
from tests.upstreams.run import echo_server, everything


@pytest.fixture(scope="module")
def sse_url():
    with echo_server("sse") as upstream:
        yield upstream.url


def _runtime(pk: int, transport: str, sse_url: str, command: str) -> ConnectionRuntime:
    return ConnectionRuntime(
        id=pk,
        name=f"{command}-{transport}",
        transport=transport,
        url=sse_url if transport == "sse" else "",
        command_name=command if transport == "stdio" else "",
        protocol_version="2025-11-25",
        headers={},
    )


@pytest.fixture(params=["stdio", "sse"])
def conn(request, sse_url):
    return _runtime(901 if request.param == "stdio" else 902, request.param, sse_url, "echo")


@pytest.fixture(scope="module")
def everything_sse_url():
    with everything("sse") as upstream:
        yield upstream.url


@pytest.fixture(params=["stdio", "sse"])
def every(request, everything_sse_url):
    return _runtime(911 if request.param == "stdio" else 912, request.param, everything_sse_url, "everything")


def _text(reply: dict) -> str:
    assert "result" in reply, reply
    return reply["result"]["content"][0]["text"]


def test_a_cancelled_call_does_not_hold_up_the_next_one(conn):
    async def scenario():
        try:
            slow = asyncio.create_task(forward(conn, "tools/call", {"name": "sleep", "arguments": {"seconds": 20}}))
            await asyncio.sleep(1.5)  # it runs at the upstream now
            slow.cancel()
            started = time.monotonic()
            reply = await forward(conn, "tools/call", {"name": "echo", "arguments": {"message": "next"}})
            return reply, time.monotonic() - started, slow.cancelled()
        finally:
            await close_all()

    reply, waited, cancelled = asyncio.run(scenario())
    assert cancelled and _text(reply) == "next"
    assert waited < 5, f"the next call waited {waited:.1f} s for the cancelled one"


def test_the_deadline_stops_while_the_agent_answers_the_upstreams_question(every, settings):
    """A person may take longer than the upstream timeout to answer what an upstream asks: that time does not count
    (the SDK's own request timeout cannot stop, so the gateway's bounds these calls)."""
    settings.UPSTREAM_TIMEOUT_SECONDS = 2
    asked: list[str] = []

    async def agent(request: dict) -> dict:
        asked.append(request["method"])
        await asyncio.sleep(3)
        content = {"type": "text", "text": "sampled: four"}
        return {"result": {"role": "assistant", "content": content, "model": "agent-llm"}}

    async def scenario():
        arguments = {"prompt": "two plus two", "maxTokens": 5}
        try:
            return await forward(
                every, "tools/call", {"name": "trigger-sampling-request", "arguments": arguments}, ask=agent
            )
        finally:
            await close_all()

    text = _text(asyncio.run(scenario()))
    assert "sampled: four" in text and "agent-llm" in text, text
    assert asked == ["sampling/createMessage"]


def test_an_upstream_that_does_not_answer_in_time_is_named(conn, settings):
    settings.UPSTREAM_TIMEOUT_SECONDS = 1

    async def scenario():
        try:
            with pytest.raises(Exception, match=f"Connection '{conn.name}' did not answer within 1 s"):
                await forward(conn, "tools/call", {"name": "sleep", "arguments": {"seconds": 5}})
            return await forward(conn, "tools/call", {"name": "echo", "arguments": {"message": "after"}})
        finally:
            await close_all()

    assert _text(asyncio.run(scenario())) == "after"
