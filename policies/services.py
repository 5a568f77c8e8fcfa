"""Writes of the policies app: agents, keys and rules. Every change invalidates the agent's compiled policy on
every gateway node once it commits."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from connectors.models import CatalogItem, Connection
from policies.models import Agent, AgentKey, Rule
from scopegate.tokens import issue_secret


def _changed(*public_ids: str) -> None:
    from policies.runtime import announce_agents_changed

    transaction.on_commit(lambda: announce_agents_changed(list(public_ids)))


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
            return Agent.objects.create(
                organization=ctx.organization,
                name=name,
                description=(description or "")[:2000],
                mount=_mount(ctx, mount_id),
                created_by=ctx.user,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": ["An agent with this name exists."]}) from exc


@transaction.atomic
def agent_update(
    *,
    ctx: OrgContext,
    agent_id: int,
    name: str | None = None,
    description: str | None = None,
    mount_id: int | str | None = "keep",
    is_active: bool | None = None,
) -> Agent:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(), pk=agent_id)
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
    agent.save()
    _changed(agent.public_id)
    return agent


@transaction.atomic
def agent_delete(*, ctx: OrgContext, agent_id: int) -> None:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent, pk=agent_id)
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
    return key, secret.plaintext


@transaction.atomic
def agent_key_revoke(*, ctx: OrgContext, key_id: int) -> AgentKey:
    ctx.require(Perm.GOVERN)
    key = ctx.get(AgentKey.objects.select_for_update(), pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    from policies.runtime import announce_keys_revoked

    transaction.on_commit(lambda: announce_keys_revoked([key.digest]))
    return key


def _check_target(connection: Connection, target: str, name: str) -> None:
    if target not in Rule.Target.values:
        raise ValidationError({"target": [f"Choose one of: {', '.join(Rule.Target.values)}."]})
    if target == Rule.Target.ALL and name:
        raise ValidationError({"name": ["A rule on everything of a connection names no item."]})
    if len(name) > 2000:
        raise ValidationError({"name": ["Use at most 2000 characters."]})


@transaction.atomic
def rule_create(
    *, ctx: OrgContext, agent_id: int, effect: str, connection_id: int, target: str = "all", name: str = ""
) -> Rule:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent, pk=agent_id)
    if effect not in Rule.Effect.values:
        raise ValidationError({"effect": ["Choose allow or deny."]})
    connection = ctx.scoped(Connection).filter(pk=connection_id).first()
    if connection is None:
        raise ValidationError({"connection": ["Choose a connection of this organization."]})
    _check_target(connection, target, name)
    rule = Rule.objects.create(
        organization=ctx.organization,
        agent=agent,
        effect=effect,
        connection=connection,
        target=target,
        name=name,
        created_by=ctx.user,
    )
    _changed(agent.public_id)
    return rule


@transaction.atomic
def rule_delete(*, ctx: OrgContext, rule_id: int) -> None:
    ctx.require(Perm.GOVERN)
    rule = ctx.get(Rule, pk=rule_id)
    rule.delete()
    _changed(rule.agent.public_id)


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
    ctx.scoped(Rule).filter(
        agent=agent, effect=Rule.Effect.ALLOW, target__in=[Rule.Target.ALL, Rule.Target.TOOL]
    ).delete()
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
    _changed(agent.public_id)


@transaction.atomic
def agent_rules_set(
    *, ctx: OrgContext, agent_id: int, allow: list[tuple[int, str]], deny: list[tuple[int, str]]
) -> None:
    """Sets the agent's whole policy at once (``set_rules``): each pair is (connection id, tool name), an empty
    name meaning everything of the connection. Replaces every allow and every deny rule of the agent."""
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(), pk=agent_id)
    whole = {cid for cid, tool in allow if not tool}
    allowed: dict[int, set[str]] = {}
    for cid, tool in allow:
        if tool:
            allowed.setdefault(cid, set()).add(tool)
    agent_tools_set(ctx=ctx, agent_id=agent.pk, allowed=allowed, whole=whole)
    ctx.scoped(Rule).filter(agent=agent, effect=Rule.Effect.DENY).delete()
    for cid, tool in sorted(set(deny)):
        rule_create(
            ctx=ctx,
            agent_id=agent.pk,
            effect=Rule.Effect.DENY,
            connection_id=cid,
            target=Rule.Target.TOOL if tool else Rule.Target.ALL,
            name=tool,
        )
