"""Reads of the policies app: an agent's endpoint and config snippets, and its permission matrix."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.utils.text import slugify

from accounts.onboarding import register_done_check
from accounts.tenancy import OrgContext
from connectors.models import CatalogItem, Connection
from policies.models import Agent, Rule

KEY_PLACEHOLDER = "<key>"


def endpoint_url(agent: Agent) -> str:
    return f"{settings.PUBLIC_URL}/mcp/{agent.public_id}"


def secret_url(agent: Agent, secret: str) -> str:
    """The endpoint with the key in its path, for clients that cannot send headers: the URL is itself a secret."""
    return f"{endpoint_url(agent)}/{secret}"


def config_snippets(agent: Agent, key: str = KEY_PLACEHOLDER) -> dict[str, str]:
    """Ready-to-paste client configurations: the mcpServers JSON of Claude Desktop, Cursor and others, and
    the Python SDK."""
    url = endpoint_url(agent)
    server_name = slugify(agent.name) or "scopegate"
    config = {"mcpServers": {server_name: {"url": url, "headers": {"Authorization": f"Bearer {key}"}}}}
    python = f'''import asyncio

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

URL = "{url}"
KEY = "{key}"


async def main() -> None:
    http = httpx2.AsyncClient(headers={{"Authorization": f"Bearer {{KEY}}"}})
    async with Client(streamable_http_client(URL, http_client=http)) as client:
        print([tool.name for tool in (await client.list_tools()).tools])


asyncio.run(main())
'''
    return {"json": json.dumps(config, indent=2), "python": python}


@dataclass(frozen=True)
class ToolCell:
    item: CatalogItem
    allowed: bool


@dataclass(frozen=True)
class MatrixRow:
    connection: Connection
    whole: bool  # everything of the connection is allowed
    tools: list[ToolCell]


def permission_matrix(ctx: OrgContext, agent: Agent) -> list[MatrixRow]:
    """One row per connection: "everything" and one cell per tool.

    Shows the active tools, and also any tool the agent is allowed that is now changed or removed upstream, so
    that saving the matrix never silently drops a permission nobody could see.
    """
    allow_rules = list(ctx.scoped(Rule).filter(agent=agent, effect=Rule.Effect.ALLOW))
    whole = {r.connection_id for r in allow_rules if r.target == Rule.Target.ALL}
    allowed_tools = {(r.connection_id, r.name) for r in allow_rules if r.target == Rule.Target.TOOL and r.name}
    tools = ctx.scoped(CatalogItem).filter(kind=CatalogItem.Kind.TOOL).order_by("name")
    by_connection: dict[int, list[ToolCell]] = {}
    for item in tools:
        allowed = (item.connection_id, item.name) in allowed_tools
        if item.status == CatalogItem.Status.ACTIVE or allowed:
            by_connection.setdefault(item.connection_id, []).append(ToolCell(item=item, allowed=allowed))
    return [
        MatrixRow(connection=c, whole=c.pk in whole, tools=by_connection.get(c.pk, []))
        for c in ctx.scoped(Connection).order_by("name")
    ]


def tool_choices(ctx: OrgContext) -> list[tuple[str, str]]:
    """The values the matrix form accepts for a tool: ``<connection id>:<tool name>``."""
    rows = ctx.scoped(CatalogItem).filter(kind=CatalogItem.Kind.TOOL).values_list("connection_id", "name")
    return [(f"{cid}:{name}", name) for cid, name in rows]


@register_done_check("agent")
def has_agent(ctx: OrgContext) -> bool:
    return ctx.scoped(Agent).exists()
