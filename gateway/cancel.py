"""Cancellation of a forwarded call (legacy era): the agent's ``notifications/cancelled`` may reach any node, so
it is broadcast; the node running the call cancels its upstream request, which closes that HTTP exchange (the
upstream sees the client go away)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

_inflight: dict[str, asyncio.Task] = {}


def call_key(session_token: str, request_id: Any) -> str:
    return hashlib.sha256(f"{session_token}\x00{request_id!r}".encode()).hexdigest()[:40]


@contextlib.asynccontextmanager
async def cancellable(key: str | None) -> AsyncIterator[None]:
    """Registers the current task under ``key`` while the block runs."""
    task = asyncio.current_task()
    if key is None or task is None:
        yield
        return
    _inflight[key] = task
    try:
        yield
    finally:
        if _inflight.get(key) is task:
            del _inflight[key]


def cancel_calls(keys: list[str]) -> None:
    for key in keys:
        task = _inflight.pop(key, None)
        if task is not None:
            task.cancel("cancelled by the agent")


async def request_cancel(session_token: str, request_id: Any) -> None:
    from policies.invalidation import announce_async

    await announce_async({"cancel": [call_key(session_token, request_id)]})
