"""Writes of the policies app: agents, keys and the matrix's tool sets (rules themselves: policies.rules). Every
change is audited and invalidates the agent's compiled policy on every gateway node once it commits."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change
from connectors.models import CatalogItem, Connection
from policies.models import Agent, AgentKey, Rule
from policies.rules import agent_rules_replace, rule_create, rule_delete, rule_snapshot, rule_update, rules_of
from policies.rules import changed as _changed
from scopegate.tokens import issue_secret

__all__ = [
    "agent_create",
    "agent_delete",
    "agent_key_issue",
    "agent_key_revoke",
    "agent_rules_replace",
    "agent_rules_set",
    "agent_tools_set",
    "agent_update",
    "rule_create",
    "rule_delete",
    "rule_update",
]


def agent_snapshot(agent: Agent) -> dict:
    return {
        "name": agent.name,
        "description": agent.description,
        "mount": agent.mount.name if agent.mount_id else None,
        "is_active": agent.is_active,
        "rate_limit": agent.rate_limit,
        "rate_period": agent.rate_period,
        "rate_burst": agent.rate_burst,
    }


def _record(ctx: OrgContext, action: str, target_type: str, obj, before: dict | None, after: dict | None) -> None:
    record_change(ctx, action=action, target=obj, target_type=target_type, before=before, after=after)


def _clean_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({field: ["Enter a name."]})
    if len(name) > 100:
        raise ValidationError({field: ["Use at most 100 characters."]})
    return name


def _mount(ctx: OrgContext, mount_id: int | None) -> Connection | None:
    if mount_id is None:
        return None
    connection = ctx.scoped(Connection).filter(pk=mount_id).first()
    if connection is None:
        raise ValidationError({"mount": ["Choose a connection of this organization."]})
    return connection


@transaction.atomic
def agent_create(*, ctx: OrgContext, name: str, description: str = "", mount_id: int | None = None) -> Agent:
    ctx.require(Perm.GOVERN)
    name = _clean_name(name)
    if ctx.scoped(Agent).filter(name=name).exists():
        raise ValidationError({"name": ["An agent with this name exists."]})
    try:
        with transaction.atomic():
            agent = Agent.objects.create(
                organization=ctx.organization,
                name=name,
                description=(description or "")[:2000],
                mount=_mount(ctx, mount_id),
                created_by=ctx.user,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": ["An agent with this name exists."]}) from exc
    _record(ctx, "agent.create", "agent", agent, None, agent_snapshot(agent))
    return agent


@transaction.atomic
def agent_update(
    *,
    ctx: OrgContext,
    agent_id: int,
    name: str | None = None,
    description: str | None = None,
    mount_id: int | str | None = "keep",
    is_active: bool | None = None,
    rate_limit: int | str | None = "keep",
    rate_period: str | None = None,
    rate_burst: int | str | None = "keep",
) -> Agent:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(of=("self",)).select_related("mount"), pk=agent_id)
    before = agent_snapshot(agent)
    if name is not None:
        agent.name = _clean_name(name)
        if ctx.scoped(Agent).filter(name=agent.name).exclude(pk=agent.pk).exists():
            raise ValidationError({"name": ["An agent with this name exists."]})
    if description is not None:
        agent.description = description[:2000]
    if mount_id != "keep":
        agent.mount = _mount(ctx, mount_id)  # type: ignore[arg-type]
    if is_active is not None:
        agent.is_active = is_active
    _set_rate(agent, rate_limit, rate_period, rate_burst)
    agent.save()
    agent.refresh_from_db()
    _record(ctx, "agent.update", "agent", agent, before, agent_snapshot(agent))
    _changed(agent.public_id)
    return agent


def _set_rate(
    agent: Agent, rate_limit: int | str | None, rate_period: str | None, rate_burst: int | str | None
) -> None:
    """The agent's limit over all its calls; "keep" leaves a field as it is, None removes the limit."""
    for field, value, top in (("rate_limit", rate_limit, 1_000_000), ("rate_burst", rate_burst, 10_000)):
        if value == "keep":
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top):
            raise ValidationError({field: [f"Enter a whole number from 1 to {top}, or nothing for no limit."]})
        setattr(agent, field, value)
    if rate_period is not None:
        if rate_period not in Rule.Period.values:
            raise ValidationError({"rate_period": ["Choose minute or hour."]})
        agent.rate_period = rate_period


@transaction.atomic
def agent_delete(*, ctx: OrgContext, agent_id: int) -> None:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_related("mount"), pk=agent_id)
    _record(ctx, "agent.delete", "agent", agent, agent_snapshot(agent), None)
    agent.delete()
    _changed(agent.public_id)


@transaction.atomic
def agent_key_issue(
    *, ctx: OrgContext, agent_id: int, name: str = "key", expires_at: datetime | None = None
) -> tuple[AgentKey, str]:
    """Returns the key and its secret, shown once and stored only as a digest."""
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent, pk=agent_id)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Choose a time in the future."]})
    secret = issue_secret("key")
    key = AgentKey.objects.create(
        organization=ctx.organization,
        agent=agent,
        name=_clean_name(name),
        prefix=secret.prefix,
        digest=secret.digest,
        created_by=ctx.user,
        expires_at=expires_at,
    )
    _record(ctx, "key.issue", "agent_key", key, None, _key_snapshot(key))
    return key, secret.plaintext


def _key_snapshot(key: AgentKey) -> dict:
    """Never the secret nor its digest: the prefix names the key."""
    return {
        "agent": key.agent.name,
        "name": key.name,
        "prefix": key.prefix,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@transaction.atomic
def agent_key_revoke(*, ctx: OrgContext, key_id: int) -> AgentKey:
    ctx.require(Perm.GOVERN)
    key = ctx.get(AgentKey.objects.select_for_update().select_related("agent"), pk=key_id)
    if key.revoked_at is None:
        before = _key_snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _record(ctx, "key.revoke", "agent_key", key, before, _key_snapshot(key))
    from policies.invalidation import announce_keys_revoked

    transaction.on_commit(lambda: announce_keys_revoked([key.digest]))
    return key


@transaction.atomic
def agent_tools_set(*, ctx: OrgContext, agent_id: int, allowed: dict[int, set[str]], whole: set[int]) -> None:
    """The matrix page's save: per connection, either everything (``whole``) or exactly the checked tools.

    Replaces the agent's allow rules on whole connections and on tools; allow rules on a single resource or
    prompt (made through the rules API) and deny rules stay as they are.
    """
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(), pk=agent_id)
    connections = {c.pk: c for c in ctx.scoped(Connection)}
    unknown = (set(allowed) | whole) - set(connections)
    if unknown:
        raise ValidationError({"connection": ["Choose connections of this organization."]})
    known_tools = {
        (cid, n)
        for cid, n in ctx.scoped(CatalogItem).filter(kind=CatalogItem.Kind.TOOL).values_list("connection_id", "name")
    }
    for cid, names in allowed.items():
        stray = [n for n in names if (cid, n) not in known_tools]
        if stray:
            raise ValidationError({"tools": [f"Unknown tools of {connections[cid].name}: {', '.join(stray[:5])}."]})
    replaced = ctx.scoped(Rule).filter(
        agent=agent, effect=Rule.Effect.ALLOW, target__in=[Rule.Target.ALL, Rule.Target.TOOL]
    )
    before = [rule_snapshot(r) for r in replaced.select_related("agent", "connection")]
    replaced.delete()
    rows = [
        Rule(
            organization=ctx.organization,
            agent=agent,
            effect=Rule.Effect.ALLOW,
            connection_id=cid,
            target=Rule.Target.ALL,
            created_by=ctx.user,
        )
        for cid in sorted(whole)
    ]
    rows += [
        Rule(
            organization=ctx.organization,
            agent=agent,
            effect=Rule.Effect.ALLOW,
            connection_id=cid,
            target=Rule.Target.TOOL,
            name=name,
            created_by=ctx.user,
        )
        for cid, names in sorted(allowed.items())
        if cid not in whole
        for name in sorted(names)
    ]
    Rule.objects.bulk_create(rows)
    after = [
        rule_snapshot(r) for r in rules_of(ctx, agent) if r.effect == Rule.Effect.ALLOW and r.target in ("all", "tool")
    ]
    _record(ctx, "agent.tools_set", "agent", agent, {"rules": before}, {"rules": after})
    _changed(agent.public_id)


@transaction.atomic
def agent_rules_set(
    *, ctx: OrgContext, agent_id: int, allow: list[tuple[int, str]], deny: list[tuple[int, str]]
) -> None:
    """Sets the agent's whole policy at once (``set_rules``): each pair is (connection id, tool name), an empty
    name meaning everything of the connection. Replaces every rule of the agent."""
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent, pk=agent_id)
    known = set(ctx.scoped(CatalogItem).filter(kind=CatalogItem.Kind.TOOL).values_list("connection_id", "name"))
    names = dict(ctx.scoped(Connection).values_list("pk", "name"))
    stray = [(cid, tool) for cid, tool in allow if tool and (cid, tool) not in known]
    if stray:
        cid = stray[0][0]
        tools = ", ".join(t for c, t in stray if c == cid)
        raise ValidationError({"tools": [f"Unknown tools of {names.get(cid, cid)}: {tools}."]})
    rules = [
        {"effect": effect, "connection_id": cid, "target": "tool" if tool else "all", "name": tool}
        for effect, pairs in ((Rule.Effect.ALLOW, allow), (Rule.Effect.DENY, deny))
        for cid, tool in sorted(set(pairs))
    ]
    agent_rules_replace(ctx=ctx, agent_id=agent.pk, rules=rules, action="agent.rules_set")
