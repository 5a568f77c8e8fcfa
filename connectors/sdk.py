"""Talking to an upstream MCP server through the official SDK: discovery, and every transport the lean hot
path does not handle itself (HTTP+SSE, stdio)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from django.conf import settings
from mcp import Client, types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from connectors import egress

logger = logging.getLogger(__name__)
METHOD_NOT_FOUND = -32601
# What every session ScopeGate opens with an upstream declares it can do: sampling and elicitations, which the
# gateway relays to the agent of the call they belong to (and refuses outside a call). Discovery declares the
# same, so the catalogue lists what a call may use (an upstream may offer some tools only to such a client). Not
# roots: a session shared by every agent of an organization has no roots of its own.
CLIENT_CAPABILITIES = {"sampling": {}, "elicitation": {"form": {}, "url": {}}}
# Hands an upstream's request ("sampling/createMessage" or "elicitation/create", its params) to the agent of the
# call in progress; returns the JSON-RPC answer for the upstream: {"result": ...} or {"error": ...}.
Relay = Callable[[str, dict], Awaitable[dict]]


def refusal(method: Any) -> dict:
    """The JSON-RPC error an upstream gets for a request ScopeGate does not relay."""
    return {
        "code": METHOD_NOT_FOUND,
        "message": f"ScopeGate does not pass '{str(method)[:64]}' requests from an upstream on to its agents.",
    }


def ambiguous(method: Any, calls: int) -> dict:
    """The JSON-RPC error for an upstream's request made while several calls that could answer it are in progress
    on a transport that does not say which one it belongs to (HTTP+SSE, stdio)."""
    return {
        "code": types.INTERNAL_ERROR,
        "message": (
            f"ScopeGate cannot tell which of the {calls} calls in progress this '{str(method)[:64]}' request belongs "
            "to; this connection's calls now run one at a time: try again."
        ),
    }


def _callbacks(relay: Relay | None) -> dict[str, Any]:
    """The SDK client's callbacks for an upstream's sampling and elicitation requests (having them makes the SDK
    declare both capabilities, as ``CLIENT_CAPABILITIES`` says): each is relayed, or refused without a relay."""

    async def relayed(method: str, params: Any, result_type: type) -> Any:
        reply = await relay(method, dump(params)) if relay is not None else {"error": refusal(method)}
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            code = error.get("code") if isinstance(error.get("code"), int) else types.INTERNAL_ERROR
            return types.ErrorData(code=code, message=str(error.get("message", "refused"))[:500])
        try:
            return result_type.model_validate(reply.get("result"))
        except ValueError:
            logger.warning("an agent's answer to %s was not a valid result", method)
            return types.ErrorData(
                code=types.INTERNAL_ERROR, message=f"The client's answer to {method} was not a valid result."
            )

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> Any:
        return await relayed("sampling/createMessage", params, types.CreateMessageResult)

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> Any:
        return await relayed("elicitation/create", params, types.ElicitResult)

    return {"sampling_callback": sampling, "elicitation_callback": elicitation}


class UpstreamConfigError(Exception):
    """The connection cannot be opened as configured (e.g. a stdio command the operator no longer allows)."""


@dataclass(frozen=True)
class UpstreamTarget:
    name: str
    transport: str
    url: str = ""
    command_name: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def stdio_command(command_name: str) -> list[str]:
    argv = settings.STDIO_COMMANDS.get(command_name)
    if not argv:
        raise UpstreamConfigError(f"the operator does not allow a stdio command named {command_name!r}")
    return list(argv)


def _transport(target: UpstreamTarget, timeout: float):
    if target.transport == "stdio":
        argv = stdio_command(target.command_name)
        return StdioServerParameters(command=argv[0], args=argv[1:])
    if target.transport == "sse":
        return sse_client(
            target.url, headers=target.headers, timeout=timeout, httpx_client_factory=egress.mcp_client_factory
        )
    http = egress.async_http_client(headers=target.headers, timeout=httpx2.Timeout(timeout, read=timeout * 6))
    return streamable_http_client(target.url, http_client=http)


@contextlib.asynccontextmanager
async def open_client(
    target: UpstreamTarget,
    *,
    timeout: float | None = None,
    relay: Relay | None = None,
    bounded_requests: bool = True,
    **kwargs: Any,
) -> AsyncIterator[Client]:
    """An SDK client for ``target``; ``timeout`` bounds connecting and, unless ``bounded_requests`` is off, each
    request (off for a caller that bounds its requests itself: the gateway's deadline stops while an agent
    answers what the upstream asked, the SDK's cannot)."""
    timeout = timeout or settings.UPSTREAM_TIMEOUT_SECONDS
    async with Client(
        _transport(target, timeout),
        mode="auto",
        cache=None,
        read_timeout_seconds=timeout if bounded_requests else None,
        **_callbacks(relay),
        **kwargs,
    ) as client:
        yield client


def dump(model: Any) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def fingerprint(definition: dict) -> str:
    """Pins what an agent is told about an item: its name, description and schemas, canonically encoded."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Discovery:
    protocol_version: str
    server_info: dict
    tools: list[dict]
    resources: list[dict]
    templates: list[dict]
    prompts: list[dict]


async def _all_pages(fetch, attribute: str, limit: int = 100) -> list[dict]:
    items: list[dict] = []
    cursor: str | None = None
    for _ in range(limit):  # a bound: an upstream that pages forever does not hang discovery
        page = await fetch(cursor=cursor)
        items.extend(dump(item) for item in getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def discover(target: UpstreamTarget) -> Discovery:
    async with open_client(target) as client:
        caps = client.server_capabilities
        tools = await _all_pages(client.list_tools, "tools") if caps.tools is not None else []
        resources = templates = prompts = []
        if caps.resources is not None:
            resources = await _all_pages(client.list_resources, "resources")
            templates = await _all_pages(client.list_resource_templates, "resource_templates")
        if caps.prompts is not None:
            prompts = await _all_pages(client.list_prompts, "prompts")
        info = client.server_info
        return Discovery(
            protocol_version=client.protocol_version,
            server_info=dump(info) if info is not None else {},
            tools=tools,
            resources=resources,
            templates=templates,
            prompts=prompts,
        )
