"""Where ScopeGate's own connections to addresses that people configure may go: upstream MCP servers (the hot
path, discovery, list-change watchers) and SIEM endpoints.

Unless the operator allows private networks (``ALLOW_PRIVATE_UPSTREAMS``, on for a try on one machine, off in
production), a host must resolve to global addresses only. That is checked when a URL is entered (a field error),
and again at every connect, against the very address connected to: a name that resolves elsewhere later (DNS
rebinding, a changed record) is refused there, not only when the connection was added. The hot path's lean client
calls ``resolve_checked`` itself; the SDK's and the SIEM push's httpx clients come from ``async_http_client`` and
``http_client``, whose connection pools connect through the checking backends below. Neither follows proxies from
the environment: the check is about the destination, and one client serves every organization.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
from django.conf import settings

_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^/\s'\"<>@]*@)?(?P<host>[^/\s'\"<>?#@]+)(?P<rest>[^\s'\"<>]*)"
)


def scrub_urls(text: str) -> str:
    """``text`` (an exception's message) with every URL cut to its scheme and host: an upstream's or a SIEM's URL
    may carry a credential in its user-info, path or query (hosted MCP servers often take their API key there),
    and httpx's errors quote the whole URL. For what reaches agents, the trail, the pages and the logs."""
    return _URL.sub(lambda m: m["scheme"] + m["host"] + ("/..." if m["rest"] else ""), text)


class RefusedAddress(ValueError):
    """The host resolves to an address the operator does not allow (private, loopback, link-local...)."""


def check_address(host: str, address: str) -> None:
    """Refuses an address that is not global, unless it is in a network the operator allows."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 address may carry its zone
    if not ip.is_global and not any(ip in network for network in settings.UPSTREAM_ALLOWED_NETWORKS):
        raise RefusedAddress(f"{host} resolves to a private address ({ip}), which is refused")


def _checked(host: str, infos: list) -> list:
    if not infos:
        raise OSError(f"{host} has no address")
    for *_, address in infos:
        check_address(host, address[0])
    return infos


async def resolve_checked(host: str, port: int) -> list:
    """``getaddrinfo``'s answers for a TCP connection, once every one of them is allowed."""
    return _checked(host, await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM))


def resolve_checked_sync(host: str, port: int | None) -> list:
    return _checked(host, socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


class _CheckedAsyncBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's own backend, connecting only to addresses it has checked (TLS still names the host)."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                infos = await resolve_checked(host, port)
        except (RefusedAddress, OSError, TimeoutError) as exc:
            raise httpcore2.ConnectError(str(exc) or type(exc).__name__) from exc
        last: Exception | None = None
        for *_, address in infos:
            try:
                return await self._inner.connect_tcp(
                    address[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as exc:  # the next address may answer
                last = exc
        raise last or httpcore2.ConnectError(f"{host} has no address")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        raise httpcore2.ConnectError("a Unix socket is not an upstream address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedSyncBackend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            infos = resolve_checked_sync(host, port)
        except (RefusedAddress, OSError) as exc:
            raise httpcore2.ConnectError(str(exc) or type(exc).__name__) from exc
        last: Exception | None = None
        for *_, address in infos:
            try:
                return self._inner.connect_tcp(
                    address[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as exc:
                last = exc
        raise last or httpcore2.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        raise httpcore2.ConnectError("a Unix socket is not an upstream address")


def _guarded(transport: httpx2.AsyncHTTPTransport | httpx2.HTTPTransport, backend: Any) -> None:
    # httpx builds its pool itself and takes no backend: the pool's backend is set after (a test connects to a
    # private address through these clients and sees it refused, so a change inside httpx cannot go unnoticed).
    transport._pool._network_backend = backend


def async_http_client(**kwargs: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` (``kwargs`` as httpx takes them) for a configured address."""
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    if not settings.ALLOW_PRIVATE_UPSTREAMS:
        _guarded(transport, _CheckedAsyncBackend())
    return httpx2.AsyncClient(transport=transport, trust_env=False, **kwargs)


def http_client(**kwargs: Any) -> httpx2.Client:
    """The same, blocking (the SIEM push runs in a Celery worker)."""
    transport = httpx2.HTTPTransport(trust_env=False)
    if not settings.ALLOW_PRIVATE_UPSTREAMS:
        _guarded(transport, _CheckedSyncBackend())
    return httpx2.Client(transport=transport, trust_env=False, **kwargs)


def mcp_client_factory(
    headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None
) -> httpx2.AsyncClient:
    """The SDK's ``httpx_client_factory`` (its HTTP+SSE transport makes its client itself)."""
    kwargs: dict[str, Any] = {"headers": headers, "timeout": timeout, "auth": auth}
    return async_http_client(**{name: value for name, value in kwargs.items() if value is not None})


class ScrubUpstreamUrls:
    """A logging filter for the console handler: records of the HTTP and MCP client libraries (which log an
    upstream's URL in redirects, errors and their tracebacks) get every URL cut by ``scrub_urls``."""

    LIBRARIES = ("mcp", "httpx", "httpx2", "httpcore", "httpcore2")

    def filter(self, record: Any) -> bool:
        if record.name.split(".", 1)[0] not in self.LIBRARIES:
            return True
        record.msg, record.args = scrub_urls(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            import logging

            record.exc_text = scrub_urls(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub_urls(record.exc_text)
        return True
