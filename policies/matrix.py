"""The matrix page's reads and writes: each agent's effective decision on each tool, computed by the evaluator
the gateway uses; a preview of what a change would change; one cell (the agent's rule on exactly one tool) set
in place; bulk actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.tenancy import OrgContext
from connectors.models import CatalogItem, Connection
from policies.compiled import CompiledPolicy, Decision, tool_tags
from policies.models import Agent, Rule
from policies.rules import clean_rule, rule_create, rule_delete, rule_update, rules_of
from policies.runtime import compile_policy

BULK = {
    "read_only": ("Allow every read-only tool", {"effect": "allow", "target": "annotation", "name": "read_only"}),
    "deny_destructive": (
        "Deny every destructive tool",
        {"effect": "deny", "target": "annotation", "name": "destructive"},
    ),
}


@dataclass(frozen=True)
class Cell:
    agent: Agent
    item: CatalogItem
    decision: Decision
    own: Rule | None  # the agent's rule on exactly this tool, which the cell edits


@dataclass(frozen=True)
class Change:
    tool: str
    before: Decision
    after: Decision


def _tools(ctx: OrgContext) -> list[CatalogItem]:
    return list(
        ctx.scoped(CatalogItem)
        .filter(kind=CatalogItem.Kind.TOOL, status=CatalogItem.Status.ACTIVE)
        .select_related("connection")
        .order_by("connection__name", "name")
    )


def _names(ctx: OrgContext) -> dict[int, str]:
    return dict(ctx.scoped(Connection).values_list("pk", "name"))


def decide_tool(policy: CompiledPolicy, item: CatalogItem) -> Decision:
    return policy.decide(item.connection_id, "tool", item.name, tags=tool_tags(item.definition))


def own_rule(rules: list[Rule], item: CatalogItem) -> Rule | None:
    return next(
        (r for r in rules if r.target == "tool" and r.connection_id == item.connection_id and r.name == item.name),
        None,
    )


def matrix_rows(ctx: OrgContext, agents: list[Agent]) -> list[tuple[Connection, list[tuple[CatalogItem, list[Cell]]]]]:
    """Tools grouped by connection, with one cell per agent."""
    names = _names(ctx)
    compiled = {}
    for agent in agents:
        rules = rules_of(ctx, agent)
        compiled[agent.pk] = (compile_policy(rules, names), rules)
    groups: dict[int, list[tuple[CatalogItem, list[Cell]]]] = {}
    connections: dict[int, Connection] = {}
    for item in _tools(ctx):
        connections[item.connection_id] = item.connection
        cells = [Cell(a, item, decide_tool(compiled[a.pk][0], item), own_rule(compiled[a.pk][1], item)) for a in agents]
        groups.setdefault(item.connection_id, []).append((item, cells))
    return [(connections[cid], rows) for cid, rows in groups.items()]


def cell_of(ctx: OrgContext, agent: Agent, item: CatalogItem) -> Cell:
    rules = rules_of(ctx, agent)
    return Cell(agent, item, decide_tool(compile_policy(rules, _names(ctx)), item), own_rule(rules, item))


def preview(ctx: OrgContext, agent: Agent, *, remove: list[int], add: list[dict[str, Any]]) -> list[Change]:
    """Every tool whose effect (allow, ask, deny) would change if the rules ``remove`` went and ``add`` came.
    Constraints and rate limits apply per call, so a change to them alone changes no tool's effect."""
    names = _names(ctx)
    current = rules_of(ctx, agent)
    proposed = [r for r in current if r.pk not in remove]
    next_id = max([r.pk for r in current] or [0]) + 1
    for offset, values in enumerate(add):
        proposed.append(
            Rule(pk=next_id + offset, agent=agent, organization=ctx.organization, **clean_rule(ctx, values))
        )
    before, after = compile_policy(current, names), compile_policy(proposed, names)
    changes = []
    for item in _tools(ctx):
        old, new = decide_tool(before, item), decide_tool(after, item)
        if old.effect != new.effect:
            changes.append(Change(f"{item.connection.name}__{item.name}", old, new))
    return changes


def cell_values(item: CatalogItem, form: dict[str, Any]) -> dict[str, Any] | None:
    """The rule a cell's form asks for, or None for "no rule of its own" (the tool follows broader rules)."""
    effect = form.get("effect", "")
    if effect in ("", "default"):
        return None
    constraints = list(form.get("constraints") or [])
    for argument, text in (form.get("resources") or {}).items():
        values = [v.strip() for v in text.split(",") if v.strip()]
        if values:
            op = "glob" if any("*" in v or "?" in v for v in values) else "one_of"
            constraints.append({"argument": argument, "op": op, "values": values})
    return {
        "effect": effect,
        "connection_id": item.connection_id,
        "target": Rule.Target.TOOL,
        "name": item.name,
        "constraints": constraints,
        "rate_limit": form.get("rate_limit"),
        "rate_period": form.get("rate_period") or Rule.Period.MINUTE,
        "rate_burst": form.get("rate_burst"),
        "expires_at": form.get("expires_at"),
    }


@transaction.atomic
def cell_set(*, ctx: OrgContext, agent_id: int, item_id: int, values: dict[str, Any] | None) -> None:
    """Sets the agent's own rule on one tool (each write audited by the rule services), or removes it."""
    agent = ctx.get(Agent, pk=agent_id)
    item = ctx.get(CatalogItem, pk=item_id, kind=CatalogItem.Kind.TOOL)
    own = own_rule(rules_of(ctx, agent), item)
    if values is None:
        if own is not None:
            rule_delete(ctx=ctx, rule_id=own.pk)
        return
    if own is None:
        rule_create(ctx=ctx, agent_id=agent.pk, **values)
        return
    changes = {k: v for k, v in values.items() if k not in ("connection_id", "target", "name")}
    rule_update(ctx=ctx, rule_id=own.pk, **changes)


def bulk_rule(action: str) -> dict[str, Any]:
    if action not in BULK:
        raise ValidationError({"action": [f"Choose one of: {', '.join(BULK)}."]})
    return {**BULK[action][1], "connection_id": None}
