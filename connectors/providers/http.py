"""The async HTTP client built-in tools call providers' REST APIs with: one pooled aiohttp session per event
loop, the access token in a header, and the providers' error answers turned into errors an agent can read."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from django.conf import settings
from yarl import URL

from connectors.providers.base import TokenRejected, ToolError


class LoopSession:
    """One pooled aiohttp client per event loop, made on first use. It keeps no cookies: one client serves every
    organization, and a cookie jar would send one organization's cookies (an upstream's session, a load
    balancer's pin) with another organization's requests to the same host."""

    def __init__(self, **connector: Any) -> None:
        self._connector = connector
        self.session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self.session is None or self.session.closed or self.session._loop is not loop:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**self._connector),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self.session


_Pool = LoopSession(limit=256, limit_per_host=64, ttl_dns_cache=60)


class Response:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Api:
    """One provider API as one access token sees it. ``describe`` turns an error answer into a sentence."""

    label = "The provider"

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self._token = base_url, token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        accept: str | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> Response:
        headers = self.headers()
        if accept:
            headers["Accept"] = accept
        clean = {k: str(v).lower() if isinstance(v, bool) else v for k, v in (params or {}).items() if v is not None}
        # Sent as built: the handlers percent-encode what they put in a path, and a normalised URL would turn a
        # ``..`` an agent slipped into an argument into a path outside what its policy allowed.
        url = URL(path if path.startswith("http") else self.base_url + path, encoded=True)
        timeout = aiohttp.ClientTimeout(total=float(settings.PROVIDER_TIMEOUT_SECONDS))
        try:
            async with _Pool.get().request(
                method, url, params=clean, json=json_body, headers=headers, timeout=timeout, allow_redirects=True
            ) as answer:
                response = Response(answer.status, answer.headers, await answer.read())
        except TimeoutError:
            raise ToolError(f"{self.label} did not answer within {settings.PROVIDER_TIMEOUT_SECONDS} s.") from None
        except aiohttp.ClientError as exc:
            raise ToolError(f"{self.label} is unreachable ({type(exc).__name__}).") from None
        if response.status == 401:
            raise TokenRejected
        if response.status not in ok:
            raise ToolError(self.describe(response))
        return response

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.decode(await self.call("GET", path, **kwargs))

    async def send_json(self, method: str, path: str, body: Any, **kwargs: Any) -> Any:
        return self.decode(await self.call(method, path, json_body=body, **kwargs))

    def decode(self, response: Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ToolError(f"{self.label} answered something that is not JSON (HTTP {response.status}).") from None

    def describe(self, response: Response) -> str:
        return f"{self.label} answered HTTP {response.status}."


def seconds_until(epoch: str | None) -> int | None:
    try:
        return max(0, int(epoch) - int(time.time())) if epoch else None
    except ValueError:
        return None
