"""Shared set-up of the gateway's end-to-end tests: an organization, connections, an agent and its key."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts.models import Membership
from accounts.services import user_create
from accounts.tenancy import OrgContext, resolve_org_context
from connectors.models import Connection
from connectors.services import connection_create
from policies.models import Agent
from policies.services import agent_create, agent_key_issue, rule_create


@dataclass
class Setup:
    ctx: OrgContext
    agent: Agent
    key: str
    endpoint: str

    def client(self, mode: str = "auto", key: str | None = None, **kwargs) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key or self.key}"}, timeout=30)
        return Client(streamable_http_client(self.endpoint, http_client=http), mode=mode, cache=None, **kwargs)


def org_ctx(email: str = "gate@example.test") -> OrgContext:
    user = user_create(email=email, password=None)
    org = Membership.objects.get(user=user).organization
    return resolve_org_context(user=user, token=None, slug=org.slug)


def connect(
    ctx: OrgContext, name: str, url: str = "", transport: str = "streamable_http", command: str = ""
) -> Connection:
    connection = connection_create(ctx=ctx, name=name, url=url, transport=transport, command_name=command)
    assert connection.status == Connection.Status.ACTIVE, connection.last_error
    return connection


def agent_with(
    ctx: OrgContext,
    live_url: str,
    *,
    allow: list[tuple[Connection, str]] = (),
    deny: list[tuple[Connection, str]] = (),
    name: str = "bot",
    mount: Connection | None = None,
) -> Setup:
    """``allow``/``deny``: (connection, tool name) pairs; an empty tool name means everything of the connection."""
    agent = agent_create(ctx=ctx, name=name, mount_id=mount.pk if mount else None)
    for effect, pairs in (("allow", allow), ("deny", deny)):
        for connection, tool in pairs:
            rule_create(
                ctx=ctx,
                agent_id=agent.pk,
                effect=effect,
                connection_id=connection.pk,
                target="tool" if tool else "all",
                name=tool,
            )
    _, secret = agent_key_issue(ctx=ctx, agent_id=agent.pk)
    return Setup(ctx=ctx, agent=agent, key=secret, endpoint=f"{live_url}/mcp/{agent.public_id}")


def run(coro):
    return asyncio.run(coro)


async def tool_names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


@contextlib.asynccontextmanager
async def connected(setup: Setup, mode: str = "auto", **kwargs):
    async with setup.client(mode, **kwargs) as client:
        yield client
