"""Writes of an agent's rules. Each one is validated into data the evaluator can compile, audited with before and
after snapshots inside its transaction, and announced to every gateway node once it commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change
from connectors.models import Connection
from policies.constraints import ConstraintError, normalize
from policies.models import Agent, Rule

FIELDS = ("effect", "connection_id", "target", "name", "constraints", "rate_limit", "rate_period", "rate_burst")
EDITABLE = (*FIELDS, "expires_at")
MAX_RATE = 1_000_000
MAX_RULES = 5000


def changed(*public_ids: str) -> None:
    from policies.invalidation import announce_agents_changed

    transaction.on_commit(lambda: announce_agents_changed(list(public_ids)))


def rule_snapshot(rule: Rule) -> dict[str, Any]:
    """What an audit event keeps of a rule: everything that decides, by name as well as by id."""
    return {
        "agent": rule.agent.name,
        "effect": rule.effect,
        "connection": rule.connection.name if rule.connection_id else None,
        "connection_id": rule.connection_id,
        "target": rule.target,
        "name": rule.name,
        "constraints": rule.constraints,
        "rate_limit": rule.rate_limit,
        "rate_period": rule.rate_period,
        "rate_burst": rule.rate_burst,
        "expires_at": rule.expires_at.isoformat() if rule.expires_at else None,
    }


def rule_repr(rule: Rule) -> str:
    where = rule.connection.name if rule.connection_id else "any connection"
    what = {"all": "everything", "annotation": f"{rule.name} tools", "pattern": rule.name}.get(rule.target)
    what = what or (f"{rule.target} {rule.name}" if rule.name else f"every {rule.target}")
    return f"{rule.agent.name}: {rule.effect} {what} on {where}"


def _positive(value: Any, field: str, top: int) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise ValidationError({field: [f"Enter a whole number from 1 to {top}."]})
    return value


def _expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip()[:64])
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ValidationError({"expires_at": ["Enter a date and time."]})
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)  # the forms say UTC
    return value


def clean_rule(ctx: OrgContext, values: dict[str, Any]) -> dict[str, Any]:
    """Validates a whole rule's fields (raises ValidationError with field errors); returns them normalized."""
    effect, target = values.get("effect"), values.get("target") or Rule.Target.ALL
    name = (values.get("name") or "").strip() if isinstance(values.get("name", ""), str) else None
    if effect not in Rule.Effect.values:
        raise ValidationError({"effect": ["Choose allow, ask or deny."]})
    if target not in Rule.Target.values:
        raise ValidationError({"target": [f"Choose one of: {', '.join(Rule.Target.values)}."]})
    if name is None or len(name) > 2000:
        raise ValidationError({"name": ["Enter a name of at most 2000 characters."]})
    connection_id = values.get("connection_id")
    if connection_id is None and target not in (Rule.Target.PATTERN, Rule.Target.ANNOTATION):
        raise ValidationError({"connection": ["Choose a connection (only patterns and annotations span them all)."]})
    if connection_id is not None and (
        isinstance(connection_id, bool)
        or not isinstance(connection_id, int)
        or not ctx.scoped(Connection).filter(pk=connection_id).exists()
    ):
        raise ValidationError({"connection": ["Choose a connection of this organization."]})
    if target == Rule.Target.ALL and name:
        raise ValidationError({"name": ["A rule on everything of a connection names no item."]})
    if target == Rule.Target.ANNOTATION and name not in Rule.Annotation.values:
        raise ValidationError({"name": [f"Choose an annotation: {', '.join(Rule.Annotation.values)}."]})
    if target == Rule.Target.PATTERN and (not name or len(name) > 300 or any(c.isspace() for c in name)):
        raise ValidationError({"name": ["Enter a pattern such as github__create_* (no spaces, at most 300)."]})
    try:
        constraints = normalize(values.get("constraints"))
    except ConstraintError as exc:
        raise ValidationError({"constraints": [str(exc)]}) from None
    rate_limit = _positive(values.get("rate_limit"), "rate_limit", MAX_RATE)
    rate_burst = _positive(values.get("rate_burst"), "rate_burst", 10_000)
    rate_period = values.get("rate_period") or Rule.Period.MINUTE
    if rate_period not in Rule.Period.values:
        raise ValidationError({"rate_period": ["Choose minute or hour."]})
    if effect == Rule.Effect.DENY and (constraints or rate_limit):
        raise ValidationError({"effect": ["A deny rule takes no constraints or rate limit: it refuses outright."]})
    if constraints and target in (Rule.Target.RESOURCE, Rule.Target.PROMPT):
        raise ValidationError({"constraints": ["Constraints apply to tool calls: use them on tool rules."]})
    return {
        "effect": effect,
        "connection_id": connection_id,
        "target": target,
        "name": name,
        "constraints": constraints,
        "rate_limit": rate_limit,
        "rate_period": rate_period,
        "rate_burst": rate_burst,
        "expires_at": _expiry(values.get("expires_at")),
    }


def _audit(ctx: OrgContext, action: str, rule: Rule, before: dict | None, after: dict | None) -> None:
    record_change(ctx, action=action, target=rule, target_repr=rule_repr(rule), before=before, after=after)


def _future(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Choose a time in the future."]})


@transaction.atomic
def rule_create(
    *,
    ctx: OrgContext,
    agent_id: int,
    effect: str,
    connection_id: int | None = None,
    target: str = "all",
    name: str = "",
    constraints: list | None = None,
    rate_limit: int | None = None,
    rate_period: str = "minute",
    rate_burst: int | None = None,
    expires_at: datetime | str | None = None,
) -> Rule:
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(), pk=agent_id)
    values = clean_rule(
        ctx,
        {
            "effect": effect,
            "connection_id": connection_id,
            "target": target,
            "name": name,
            "constraints": constraints,
            "rate_limit": rate_limit,
            "rate_period": rate_period,
            "rate_burst": rate_burst,
            "expires_at": expires_at,
        },
    )
    _future(values["expires_at"])
    if ctx.scoped(Rule).filter(agent=agent).count() >= MAX_RULES:
        raise ValidationError({"agent": [f"An agent has at most {MAX_RULES} rules."]})
    rule = Rule.objects.create(organization=ctx.organization, agent=agent, created_by=ctx.user, **values)
    _audit(ctx, "rule.create", rule, None, rule_snapshot(rule))
    changed(agent.public_id)
    return rule


@transaction.atomic
def rule_update(*, ctx: OrgContext, rule_id: int, **changes: Any) -> Rule:
    """Changes some fields of a rule (``EDITABLE``); the whole rule is validated again."""
    ctx.require(Perm.GOVERN)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({"rule": [f"Unknown fields: {', '.join(sorted(unknown))}."]})
    rule = ctx.get(Rule.objects.select_for_update(of=("self",)).select_related("agent", "connection"), pk=rule_id)
    before = rule_snapshot(rule)
    current = {f: getattr(rule, f) for f in EDITABLE}
    values = clean_rule(ctx, {**current, **changes})
    if "expires_at" in changes:
        _future(values["expires_at"])
    for field, value in values.items():
        setattr(rule, field, value)
    rule.save()
    rule.refresh_from_db()
    _audit(ctx, "rule.update", rule, before, rule_snapshot(rule))
    changed(rule.agent.public_id)
    return rule


@transaction.atomic
def rule_delete(*, ctx: OrgContext, rule_id: int) -> None:
    ctx.require(Perm.GOVERN)
    rule = ctx.get(Rule.objects.select_related("agent", "connection"), pk=rule_id)
    _audit(ctx, "rule.delete", rule, rule_snapshot(rule), None)
    public_id = rule.agent.public_id
    rule.delete()
    changed(public_id)


def rules_of(ctx: OrgContext, agent: Agent) -> list[Rule]:
    return list(ctx.scoped(Rule).filter(agent=agent).select_related("agent", "connection").order_by("id"))


@transaction.atomic
def agent_rules_replace(*, ctx: OrgContext, agent_id: int, rules: list[dict[str, Any]], action: str) -> list[Rule]:
    """Replaces every rule of the agent with ``rules`` (each validated as by rule_create); one audit event holds
    the whole policy before and after. Used by imports and by the matrix's bulk saves."""
    ctx.require(Perm.GOVERN)
    agent = ctx.get(Agent.objects.select_for_update(), pk=agent_id)
    if len(rules) > MAX_RULES:
        raise ValidationError({"rules": [f"An agent has at most {MAX_RULES} rules."]})
    cleaned = []
    for i, values in enumerate(rules):
        try:
            cleaned.append(clean_rule(ctx, values))
        except ValidationError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise ValidationError({"rules": [f"Rule {i + 1}: {detail}"]}) from None
        _future(cleaned[-1]["expires_at"])
    old = rules_of(ctx, agent)
    before = [rule_snapshot(r) for r in old]
    ctx.scoped(Rule).filter(agent=agent).delete()
    created = [
        Rule.objects.create(organization=ctx.organization, agent=agent, created_by=ctx.user, **v) for v in cleaned
    ]
    record_change(
        ctx,
        action=action,
        target=agent,
        before={"rules": before},
        after={"rules": [rule_snapshot(r) for r in created]},
    )
    changed(agent.public_id)
    return created
