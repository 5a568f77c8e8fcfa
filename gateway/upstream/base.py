"""What every kind of upstream shares: its error, and the callbacks a call is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Notify = Callable[[dict], Awaitable[None]]
# Asks the agent of the call in progress what an upstream asked ScopeGate ({"method", "params"}) and returns the
# JSON-RPC answer to give it: {"result": ...} or {"error": ...}.
Ask = Callable[[dict], Awaitable[dict]]


class UpstreamError(Exception):
    """The upstream is down, slow or answered nonsense; the message names the connection."""
