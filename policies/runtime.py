"""What the gateway needs to know of an agent, compiled once and cached in each process.

A change commits, then ``policies.invalidation.announce_*`` drops the entry here and tells every other node
through the channel layer (group ``GROUP``), so the next request anywhere reloads it: normally within
milliseconds. A node that missed the message (its channel layer was down) reloads anyway after
``SCOPEGATE_POLICY_CACHE_SECONDS`` (default 5 s): that is the bounded staleness of a policy anywhere. Rule
expiry needs no message: the evaluator compares each rule's expiry with the clock on every decision.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from connectors.models import CatalogItem, Connection, Credential
from policies.compiled import NO_TAGS, CompiledPolicy, CompiledRule, Decision, RateLimit, tool_tags
from policies.constraints import ConstraintError, compile_all
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
    organization_id: int | None = None  # whose trail records what the gateway refuses the upstream itself

    @functools.cached_property
    def pool_key(self) -> tuple:
        """Everything that shapes an upstream session: a changed URL, header or era gets a fresh one."""
        headers = hashlib.sha256(json.dumps(self.headers, sort_keys=True).encode()).hexdigest()
        return (self.id, self.transport, self.url, self.command_name, self.protocol_version, headers)


@dataclass(frozen=True)
class Exposed:
    """One item as the agent sees it: its exposed name or URI, and where it really lives."""

    connection_id: int
    upstream_name: str
    rule_id: int | None
    definition: dict[str, Any]
    tags: frozenset[str] = NO_TAGS  # read_only / destructive, from the tool's annotations
    resources: dict[str, str] = field(default_factory=dict)  # argument -> resource kind it names
    listing: dict[str, str] | None = None  # where a result lists resources: {"items", "field", "resource"}


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
    epoch: int = 0  # the agent's policy_epoch this was compiled at
    rate: RateLimit | None = None  # over all of the agent's calls

    def tool_name(self, connection: ConnectionRuntime, upstream: str) -> str:
        return upstream if self.mounted else f"{connection.name}__{upstream}"

    def resource_uri(self, connection: ConnectionRuntime, upstream: str) -> str:
        return upstream if self.mounted else f"{connection.name}+{upstream}"

    def reads_through_template(self, connection_id: int, uri: str) -> bool:
        """Whether an allowed resource template of the connection has the shape of ``uri`` (an upstream URI)."""
        for exposed in self.templates.values():
            if exposed.connection_id != connection_id:
                continue
            pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(exposed.upstream_name)) + "$"
            if re.match(pattern, uri):
                return True
        return False

    def may_read(self, connection_id: int, uri: str) -> bool:
        """Whether the agent may read the connection's resource ``uri`` (an upstream URI)."""
        return self.decide(connection_id, "resource", uri).allowed or self.reads_through_template(connection_id, uri)

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

    def decide_call(self, exposed: Exposed, arguments: dict[str, Any]) -> Decision:
        """The decision on one tool call, constraints included."""
        return self.policy.decide(
            exposed.connection_id,
            "tool",
            exposed.upstream_name,
            arguments,
            tags=exposed.tags,
            resources=exposed.resources,
        )


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


def cache_seconds() -> float:
    return float(getattr(settings, "POLICY_CACHE_SECONDS", 5))


PERIODS = {"minute": 60, "hour": 3600}


def rate_of(count: int | None, period: str, burst: int | None) -> RateLimit | None:
    if not count:
        return None
    return RateLimit(count=count, period_seconds=PERIODS.get(period, 60), burst=max(burst or 1, 1))


def compile_rule(rule: Rule) -> CompiledRule:
    try:
        checks = compile_all(rule.constraints)
    except ConstraintError:
        # Saved constraints are validated; one that no longer compiles must not widen access: fail closed.
        logger.error("rule %s has constraints that do not compile; it denies until fixed", rule.pk)
        return CompiledRule(
            id=rule.pk, effect="deny", connection_id=rule.connection_id, target=rule.target, name=rule.name
        )
    return CompiledRule(
        id=rule.pk,
        effect=rule.effect,
        connection_id=rule.connection_id,
        target=rule.target,
        name=rule.name,
        checks=checks,
        rate=rate_of(rule.rate_limit, rule.rate_period, rule.rate_burst),
        expires_at=rule.expires_at.timestamp() if rule.expires_at else None,
    )


def compile_policy(rules: list[Rule], connections: dict[int, str]) -> CompiledPolicy:
    """The agent's rules as the evaluator uses them; ``connections`` maps ids to names (for patterns)."""
    return CompiledPolicy.compile((compile_rule(r) for r in rules), connections)


def load_agent(public_id: str) -> AgentRuntime | None:
    agent = Agent.objects.filter(public_id=public_id, is_active=True).first()
    if agent is None:
        return None
    org_id = agent.organization_id
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
            organization_id=org_id,
        )
        for c in connections
    }
    rules = list(Rule.objects.filter(organization_id=org_id, agent=agent))
    policy = compile_policy(rules, {c.id: c.name for c in conns.values()})
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
        epoch=agent.policy_epoch,
        rate=rate_of(agent.rate_limit, agent.rate_period, agent.rate_burst),
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
        tags = tool_tags(item.definition) if item.kind == CatalogItem.Kind.TOOL else NO_TAGS
        decision = policy.decide(item.connection_id, item.kind, item.name, tags=tags)
        # A tool under "ask" is listed (the call waits for a person); other items only when allowed outright.
        if not (decision.offered if item.kind == CatalogItem.Kind.TOOL else decision.allowed):
            continue
        index, exposed_name, key = slots[item.kind]
        name = exposed_name(conns[item.connection_id], item.name)
        declared = item.resources if isinstance(item.resources, dict) else {}
        index[name] = Exposed(
            item.connection_id,
            item.name,
            decision.rule_id,
            {**item.definition, key: name},
            tags=tags,
            resources=dict(declared.get("arguments") or {}),
            listing=declared.get("listing") or None,
        )
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


def _epoch_of(public_id: str) -> int | None:
    return Agent.objects.filter(public_id=public_id, is_active=True).values_list("policy_epoch", flat=True).first()


async def agent_runtime(public_id: str) -> AgentRuntime | None:
    cached = _agents.get(public_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < cache_seconds():
        return cached[1]
    # Aged, not necessarily changed: one small query tells, instead of recompiling every rule.
    aged = cached[1] if cached is not None else None
    if aged is not None and await database_sync_to_async(_epoch_of)(public_id) == aged.epoch:
        _agents[public_id] = (now, aged)
        return aged
    runtime = await database_sync_to_async(load_agent)(public_id)
    _agents[public_id] = (now, runtime)
    return runtime


async def key_runtime(digest: str) -> KeyRuntime | None:
    cached = _keys.get(digest)
    now = time.monotonic()
    if cached is not None and now - cached[0] < cache_seconds():
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


def forget(*, agents=(), keys=(), organization: int | None = None) -> None:
    """Drops this process's cached runtimes of these agents and keys, or of every one of ``organization``."""
    for public_id in agents:
        _agents.pop(public_id, None)
    for digest in keys:
        _keys.pop(digest, None)
    if organization is not None:
        for public_id, (_, runtime) in list(_agents.items()):
            if runtime is None or runtime.organization_id == organization:
                _agents.pop(public_id, None)
        for digest, (_, key) in list(_keys.items()):
            if key is None or key.organization_id == organization:
                _keys.pop(digest, None)


def forget_all() -> None:
    _agents.clear()
    _keys.clear()
