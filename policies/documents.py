"""An agent's policy as a document (export and import as YAML or JSON, for review in git) and the simulator:
"what would this agent get for this tool with these arguments", answered by the evaluator the gateway uses."""

from __future__ import annotations

from typing import Any

import yaml
from django.core.exceptions import ValidationError

from accounts.tenancy import OrgContext
from connectors.models import CatalogItem, Connection
from policies.compiled import NO_TAGS, tool_tags
from policies.models import Agent
from policies.rules import agent_rules_replace, rules_of
from policies.runtime import compile_policy, rate_of

RULE_KEYS = ("effect", "connection", "target", "name", "constraints", "rate_limit", "rate_period", "rate_burst")


def policy_export(ctx: OrgContext, agent: Agent) -> dict[str, Any]:
    rules = []
    for rule in rules_of(ctx, agent):
        entry: dict[str, Any] = {
            "effect": rule.effect,
            "connection": rule.connection.name if rule.connection_id else None,
            "target": rule.target,
            "name": rule.name,
        }
        if rule.constraints:
            entry["constraints"] = rule.constraints
        if rule.rate_limit:
            entry.update(rate_limit=rule.rate_limit, rate_period=rule.rate_period, rate_burst=rule.rate_burst)
        if rule.expires_at:
            entry["expires_at"] = rule.expires_at.isoformat()
        rules.append(entry)
    return {"agent": agent.name, "rules": rules}


def policy_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def parse_document(text: str) -> Any:
    """YAML is a superset of JSON: one safe loader reads both (no tags, no objects)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError({"document": [f"Not valid YAML or JSON: {str(exc).splitlines()[0]}"]}) from None


def policy_import(*, ctx: OrgContext, agent_id: int, document: Any) -> list:
    """Replaces the agent's rules with the document's (connections named, as exported). Audited as one change."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ValidationError({"rules": ["The document is an object with a list of rules."]})
    names = dict(ctx.scoped(Connection).values_list("name", "pk"))
    rules = []
    for i, entry in enumerate(document["rules"]):
        if not isinstance(entry, dict):
            raise ValidationError({"rules": [f"Rule {i + 1}: each rule is an object."]})
        unknown = set(entry) - {*RULE_KEYS, "expires_at"}
        if unknown:
            raise ValidationError({"rules": [f"Rule {i + 1}: unknown fields {', '.join(sorted(map(str, unknown)))}."]})
        connection = entry.get("connection")
        if connection is not None and connection not in names:
            raise ValidationError({"rules": [f"Rule {i + 1}: no connection named {str(connection)[:40]!r}."]})
        values = {k: v for k, v in entry.items() if k != "connection"}
        values["connection_id"] = names.get(connection) if connection is not None else None
        rules.append(values)
    return agent_rules_replace(ctx=ctx, agent_id=agent_id, rules=rules, action="policy.import")


def simulate(ctx: OrgContext, agent: Agent, tool: str, arguments: Any) -> dict[str, Any]:
    """The decision on a call of ``tool`` (as the agent names it) with ``arguments``, from the saved rules."""
    if not isinstance(arguments, dict):
        raise ValidationError({"arguments": ["Give the arguments as an object."]})
    connections = {c.pk: c for c in ctx.scoped(Connection)}
    if agent.mount_id:
        connection, upstream = connections.get(agent.mount_id), tool
    else:
        prefix, _, upstream = tool.partition("__")
        connection = next((c for c in connections.values() if c.name == prefix), None)
    if connection is None or not upstream:
        raise ValidationError({"tool": ["Name a tool as the agent sees it: connection__tool."]})
    item = ctx.scoped(CatalogItem).filter(connection=connection, kind=CatalogItem.Kind.TOOL, name=upstream).first()
    declared = item.resources if item is not None and isinstance(item.resources, dict) else {}
    policy = compile_policy(rules_of(ctx, agent), {pk: c.name for pk, c in connections.items()})
    decision = policy.decide(
        connection.pk,
        "tool",
        upstream,
        arguments,
        tags=tool_tags(item.definition) if item is not None else NO_TAGS,
        resources=declared.get("arguments") or {},
    )
    rule = decision.rule
    limits = [r.describe() for r in (rate_of(agent.rate_limit, agent.rate_period, agent.rate_burst),) if r]
    if rule is not None and rule.rate is not None and decision.offered:
        limits.append(f"{rule.rate.describe()} per tool (rule {rule.id})")
    effect, reason = decision.effect, decision.reason
    if not agent.is_active:
        effect, reason = "deny", "the agent is inactive"
    return {
        "tool": tool,
        "decision": effect,
        "rule": decision.rule_id,
        "reason": reason,
        "rate_limits": limits,
        "known_tool": item is not None,
    }
