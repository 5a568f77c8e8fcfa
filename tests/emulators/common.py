"""What the emulated REST APIs share: the knobs that make them misbehave, authentication, pagination."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.emulators.oauth import bearer
from tests.emulators.state import ProviderState, Token

Handler = Callable[[web.Request, Token], Awaitable[web.StreamResponse]]


def api_route(state: ProviderState, unauthorized: Callable[[], web.Response], rate_limited: Callable[[], web.Response]):
    """Wraps a REST handler: counts the call, applies the knobs, checks the bearer token."""

    def wrap(handler: Handler):
        async def route(request: web.Request) -> web.StreamResponse:
            state.count("api_calls")
            mode = state.knobs.api
            if mode == "timeout":
                await asyncio.sleep(120)
            if mode == "garbage":
                return web.Response(text="<html>Bad gateway</html>", status=200, content_type="application/json")
            if mode == "error500":
                return web.json_response({"message": "Server Error"}, status=500)
            if mode == "rate_limited":
                return rate_limited()
            token = bearer(request, state)
            if token is None:
                state.count("api_401")
                return unauthorized()
            return await handler(request, token)

        return route

    return wrap


def window(request: web.Request, items: list, default: int = 30) -> tuple[list, int, int, bool]:
    """A page of ``items`` by ``per_page``/``page``: (slice, page, per_page, has_next)."""
    per_page = max(1, min(100, int(request.query.get("per_page", default))))
    page = max(1, int(request.query.get("page", 1)))
    start = (page - 1) * per_page
    return items[start : start + per_page], page, per_page, start + per_page < len(items)


def reset_epoch() -> int:
    return int(time.time()) + 3600
