"""What the gateway needs to know of an agent, compiled once and cached in each process.

A change commits, then ``announce_*`` drops the entry here and tells every other node through the channel
layer (group ``GROUP``), so the next request anywhere reloads it. A node that missed the message (its channel
layer was down) reloads anyway after ``SCOPEGATE_POLICY_CACHE_SECONDS``: that is the bounded staleness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from connectors.models import CatalogItem, Connection, Credential
from policies.compiled import CompiledPolicy, CompiledRule, Decision
from policies.models import Agent, AgentKey, Rule

logger = logging.getLogger(__name__)
GROUP = "scopegate.invalidate"


@dataclass(frozen=True)
class ConnectionRuntime:
    id: int
    name: str
    transport: str
    url: str
    command_name: str
    protocol_version: str
    headers: dict[str, str] = field(repr=False)
    kind: str = "mcp"  # github and google are served by built-in tools, not an upstream MCP server
    credential_id: int | None = None  # their OAuth grant; its token is fetched per call through a cache


@dataclass(frozen=True)
class Exposed:
    """One item as the agent sees it: its exposed name or URI, and where it really lives."""

    connection_id: int
    upstream_name: str
    rule_id: int | None
    definition: dict[str, Any]


@dataclass(frozen=True)
class AgentRuntime:
    id: int
    public_id: str
    name: str
    organization_id: int
    policy: CompiledPolicy
    connections: dict[int, ConnectionRuntime]
    by_name: dict[str, int]  # connection name -> id
    mounted: bool
    tools: dict[str, Exposed]
    prompts: dict[str, Exposed]
    resources: dict[str, Exposed]
    templates: dict[str, Exposed]
    loaded_at: float

    def tool_name(self, connection: ConnectionRuntime, upstream: str) -> str:
        return upstream if self.mounted else f"{connection.name}__{upstream}"

    def resource_uri(self, connection: ConnectionRuntime, upstream: str) -> str:
        return upstream if self.mounted else f"{connection.name}+{upstream}"

    def locate_uri(self, uri: str) -> tuple[ConnectionRuntime, str] | None:
        """The connection and upstream URI behind an exposed URI, or None."""
        if self.mounted:
            return next(iter(self.connections.values())), uri
        prefix, sep, rest = uri.partition("+")
        connection_id = self.by_name.get(prefix)
        if not sep or connection_id is None:
            return None
        return self.connections[connection_id], rest

    def decide(self, connection_id: int, kind: str, name: str) -> Decision:
        return self.policy.decide(connection_id, kind, name)


@dataclass(frozen=True)
class KeyRuntime:
    id: int
    prefix: str
    agent_public_id: str
    organization_id: int
    expires_at: Any
    active: bool

    def usable(self) -> bool:
        return self.active and (self.expires_at is None or self.expires_at > timezone.now())


_agents: dict[str, tuple[float, AgentRuntime | None]] = {}
_keys: dict[str, tuple[float, KeyRuntime | None]] = {}
_last_used: dict[int, float] = {}


def _ttl() -> float:
    return float(getattr(settings, "POLICY_CACHE_SECONDS", 5))


def load_agent(public_id: str) -> AgentRuntime | None:
    agent = Agent.objects.filter(public_id=public_id, is_active=True).first()
    if agent is None:
        return None
    org_id = agent.organization_id
    rules = Rule.objects.filter(organization_id=org_id, agent=agent)
    policy = CompiledPolicy.compile(
        CompiledRule(
            id=r.pk, allow=r.effect == Rule.Effect.ALLOW, connection_id=r.connection_id, target=r.target, name=r.name
        )
        for r in rules
    )
    connections = Connection.objects.filter(organization_id=org_id)
    if agent.mount_id:
        connections = connections.filter(pk=agent.mount_id)
    credentials = dict(
        Credential.objects.filter(organization_id=org_id, connection__isnull=False).values_list("connection_id", "pk")
    )
    conns = {
        c.pk: ConnectionRuntime(
            id=c.pk,
            name=c.name,
            transport=c.transport,
            url=c.url,
            command_name=c.command_name,
            protocol_version=c.protocol_version,
            headers=c.get_headers(),
            kind=c.kind,
            credential_id=credentials.get(c.pk),
        )
        for c in connections
    }
    runtime = AgentRuntime(
        id=agent.pk,
        public_id=public_id,
        name=agent.name,
        organization_id=org_id,
        policy=policy,
        connections=conns,
        by_name={c.name: c.id for c in conns.values()},
        mounted=bool(agent.mount_id),
        tools={},
        prompts={},
        resources={},
        templates={},
        loaded_at=time.monotonic(),
    )
    items = CatalogItem.objects.filter(
        organization_id=org_id, connection_id__in=list(conns), status=CatalogItem.Status.ACTIVE
    )
    slots = {
        CatalogItem.Kind.TOOL: (runtime.tools, runtime.tool_name, "name"),
        CatalogItem.Kind.PROMPT: (runtime.prompts, runtime.tool_name, "name"),
        CatalogItem.Kind.RESOURCE: (runtime.resources, runtime.resource_uri, "uri"),
        CatalogItem.Kind.TEMPLATE: (runtime.templates, runtime.resource_uri, "uriTemplate"),
    }
    for item in items:
        decision = policy.decide(item.connection_id, item.kind, item.name)
        if not decision.allowed:
            continue
        index, exposed_name, key = slots[item.kind]
        name = exposed_name(conns[item.connection_id], item.name)
        index[name] = Exposed(item.connection_id, item.name, decision.rule_id, {**item.definition, key: name})
    return runtime


def load_key(digest: str) -> KeyRuntime | None:
    key = AgentKey.objects.select_related("agent").filter(digest=digest).first()
    if key is None:
        return None
    return KeyRuntime(
        id=key.pk,
        prefix=key.prefix,
        agent_public_id=key.agent.public_id,
        organization_id=key.organization_id,
        expires_at=key.expires_at,
        active=key.revoked_at is None and key.agent.is_active,
    )


def _touch_key(key_id: int) -> None:
    AgentKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


async def agent_runtime(public_id: str) -> AgentRuntime | None:
    cached = _agents.get(public_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _ttl():
        return cached[1]
    runtime = await database_sync_to_async(load_agent)(public_id)
    _agents[public_id] = (now, runtime)
    return runtime


async def key_runtime(digest: str) -> KeyRuntime | None:
    cached = _keys.get(digest)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _ttl():
        return cached[1]
    key = await database_sync_to_async(load_key)(digest)
    _keys[digest] = (now, key)
    return key


async def key_used(key: KeyRuntime) -> None:
    """Records a key's last use at most once a minute per process, off the request's critical path."""
    now = time.monotonic()
    if now - _last_used.get(key.id, -120.0) < 60:
        return
    _last_used[key.id] = now
    await database_sync_to_async(_touch_key)(key.id)


# --- invalidation ----------------------------------------------------------------------------------------


def _apply(message: dict) -> None:
    for public_id in message.get("agents", ()):
        _agents.pop(public_id, None)
    for digest in message.get("keys", ()):
        _keys.pop(digest, None)
    if message.get("credentials"):
        from connectors.token_cache import forget

        forget(message["credentials"])
    if message.get("sessions"):
        from gateway.sessions import forget_ended

        forget_ended(message["sessions"])
    if message.get("cancel"):
        from gateway.cancel import cancel_calls

        cancel_calls(message["cancel"])
    if message.get("session_levels"):
        from gateway.sessions import remember_levels

        remember_levels(message["session_levels"])
    org = message.get("organization")
    if org is not None:
        for public_id, (_, runtime) in list(_agents.items()):
            if runtime is None or runtime.organization_id == org:
                _agents.pop(public_id, None)
        for digest, (_, key) in list(_keys.items()):
            if key is None or key.organization_id == org:
                _keys.pop(digest, None)


def _stream_groups(message: dict) -> list[str]:
    """The agents' open streams that must hear of this change (they turn it into list_changed)."""
    groups = [f"mcp.agent.{public_id}" for public_id in message.get("agents", ())]
    if message.get("organization") is not None:
        groups.append(f"mcp.org.{message['organization']}")
    return groups


async def _send_all(layer, message: dict) -> None:
    await layer.group_send(GROUP, {"type": "gateway.invalidate", **message})
    for group in _stream_groups(message):
        await layer.group_send(group, {"type": "mcp.changed"})


def _announce(message: dict) -> None:
    _apply(message)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_all)(layer, message)
    except Exception:
        # The other nodes still reload within the cache's bounded staleness.
        logger.exception("could not broadcast a policy change; other nodes catch up within %ss", _ttl())


async def announce_async(message: dict) -> None:
    """The same as ``_announce``, from async code (the gateway)."""
    _apply(message)
    layer = get_channel_layer()
    if layer is not None:
        try:
            await _send_all(layer, message)
        except Exception:
            logger.exception("could not broadcast %s; other nodes catch up within %ss", sorted(message), _ttl())


def announce_agents_changed(public_ids: list[str]) -> None:
    _announce({"agents": public_ids})


def announce_organization_changed(organization_id: int) -> None:
    _announce({"organization": organization_id})


def announce_credentials_changed(credential_ids: list[int]) -> None:
    """A credential was refreshed, disconnected or marked for reconnect: every node drops its cached token."""
    _announce({"credentials": credential_ids})


def announce_keys_revoked(digests: list[str]) -> None:
    _announce({"keys": digests})


async def announce_sessions_ended(hashes: list[str]) -> None:
    await announce_async({"sessions": hashes})


class _Listener:
    """One task per process that applies the invalidations other nodes broadcast."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    def ensure(self) -> None:
        if self.task is not None and not self.task.done():
            return
        layer = get_channel_layer()
        if layer is None:
            return
        self.task = asyncio.get_running_loop().create_task(self._run(layer))

    async def _run(self, layer) -> None:
        channel = await layer.new_channel()
        joined: float | None = None
        while True:
            try:
                if joined is None or time.monotonic() - joined > 3600:  # groups expire; join again well before
                    await layer.group_add(GROUP, channel)
                    joined = time.monotonic()
                _apply(await layer.receive(channel))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("policy invalidation listener failed; retrying in 1 s")
                _agents.clear()
                _keys.clear()
                from connectors.token_cache import forget_all

                forget_all()
                await asyncio.sleep(1)
                joined = None


listener = _Listener()
