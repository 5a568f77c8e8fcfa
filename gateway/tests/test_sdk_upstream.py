"""Upstreams the SDK drives (HTTP+SSE and stdio), against real servers (our SDK echo server, server-everything): the
gateway's own deadline bounds a call (paused while the call's agent answers the upstream's question), a cancelled
call stops there instead of holding up the calls after it, calls run side by side, and an upstream's question is
put only to an agent it can belong to."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from audit.models import Event
from audit.services import close_connection
from gateway.upstream import close_all, forward, upstream_for
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


def test_calls_to_one_connection_run_side_by_side(every):
    """A slow call of one agent does not hold up another agent's call on the same connection."""

    async def scenario():
        long = {"name": "trigger-long-running-operation", "arguments": {"duration": 2, "steps": 2}}
        try:
            await forward(every, "tools/call", {"name": "echo", "arguments": {"message": "open"}})  # the session
            started = time.monotonic()
            replies = await asyncio.gather(*(forward(every, "tools/call", long) for _ in range(3)))
            return replies, time.monotonic() - started
        finally:
            await close_all()

    replies, took = asyncio.run(scenario())
    assert all("Long running operation completed" in _text(reply) for reply in replies)
    assert took < 4, f"three 2 s calls took {took:.1f} s: they ran one after another"


@pytest.mark.django_db(transaction=True)
def test_a_question_that_could_belong_to_several_calls_is_refused_then_calls_run_one_at_a_time(every):
    """HTTP+SSE and stdio do not say which call an upstream's question belongs to: while two calls whose agents could
    answer are in progress, neither agent is asked (one must never answer the other's question); the connection
    then runs its calls one at a time, and the next question goes to the one agent whose call is in progress. The
    refusal is in the organization's trail."""
    every = dataclasses.replace(every, organization_id=4242)
    asked: list[str] = []

    async def agent(request: dict) -> dict:
        asked.append(request["method"])
        content = {"type": "text", "text": "sampled: four"}
        return {"result": {"role": "assistant", "content": content, "model": "agent-llm"}}

    async def scenario():
        sample = {"name": "trigger-sampling-request", "arguments": {"prompt": "two plus two", "maxTokens": 5}}
        long = {"name": "trigger-long-running-operation", "arguments": {"duration": 2, "steps": 2}}
        try:
            slow = asyncio.create_task(forward(every, "tools/call", long, ask=agent))
            await asyncio.sleep(0.5)  # in progress at the upstream
            refused = await forward(every, "tools/call", sample, ask=agent)
            await slow
            one_at_a_time = upstream_for(every).one_at_a_time
            answered = await forward(every, "tools/call", sample, ask=agent)
            return refused, one_at_a_time, answered
        finally:
            await close_all()
            await close_connection()

    refused, one_at_a_time, answered = asyncio.run(scenario())
    assert "cannot tell which of the 2 calls in progress" in json.dumps(refused), refused
    assert one_at_a_time
    assert "sampled: four" in _text(answered)
    assert asked == ["sampling/createMessage"]  # only the question that had one call to belong to
    event = Event.objects.get(organization_id=4242, kind="system")
    assert (event.actor_type, event.method, event.connection, event.outcome) == (
        "system",
        "sampling/createMessage",
        every.name,
        "refused",
    )
    assert "cannot tell which of the 2 calls in progress" in event.error
