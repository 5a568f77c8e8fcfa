"""The matrix page: agents side by side, cells edited in place with htmx, previews before saving, bulk actions."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view
from connectors.models import CatalogItem
from policies import matrix
from policies.models import Agent, Rule
from policies.rules import rule_create


def _agents(ctx: OrgContext, ids: list[str]) -> list[Agent]:
    chosen = [int(i) for i in ids if i.isascii() and i.isdigit()][:20]
    agents = list(ctx.scoped(Agent).filter(pk__in=chosen)) if chosen else list(ctx.scoped(Agent)[:1])
    return sorted(agents, key=lambda a: a.name)


@org_view()
def matrix_page(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    agents = _agents(ctx, request.GET.getlist("agent"))
    context = {
        "agents": agents,
        "all_agents": ctx.scoped(Agent),
        "matrix": matrix.matrix_rows(ctx, agents),
        "bulk": [(key, label) for key, (label, _) in matrix.BULK.items()],
        "nav": "agents",
    }
    return TemplateResponse(request, "policies/matrix.html", context)


def _number(raw: str, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError({field: ["Enter a whole number."]})
    return int(raw)


def _form(request: HttpRequest, item: CatalogItem) -> dict[str, Any]:
    post = request.POST
    text = post.get("constraints", "").strip()
    try:
        constraints = json.loads(text) if text else []
    except ValueError:
        raise ValidationError({"constraints": ["Write the constraints as a JSON list."]}) from None
    declared = (item.resources or {}).get("arguments") or {}
    return {
        "effect": post.get("effect", ""),
        "constraints": constraints,
        "constraints_text": text,
        "resources": {arg: post.get(f"res_{arg}", "") for arg in declared},
        "rate_limit": _number(post.get("rate_limit", ""), "rate_limit"),
        "rate_period": post.get("rate_period", ""),
        "rate_burst": _number(post.get("rate_burst", ""), "rate_burst"),
        "expires_at": post.get("expires_at", "").strip() or None,
    }


def _form_of(rule: Rule | None, item: CatalogItem) -> dict[str, Any]:
    """The editor's initial values: the cell's own rule, resource constraints shown in their editors."""
    if rule is None:
        return {"effect": "default", "constraints_text": "", "resources": {}}
    declared = (item.resources or {}).get("arguments") or {}
    resources, others = {}, []
    for c in rule.constraints:
        if c.get("argument") in declared and c.get("op") in ("one_of", "glob"):
            resources[c["argument"]] = ", ".join(c["values"])
        else:
            others.append(c)
    return {
        "effect": rule.effect,
        "constraints_text": json.dumps(others) if others else "",
        "resources": resources,
        "rate_limit": rule.rate_limit,
        "rate_period": rule.rate_period,
        "rate_burst": rule.rate_burst,
        "expires_at": rule.expires_at.strftime("%Y-%m-%dT%H:%M") if rule.expires_at else None,
    }


def _editor(request, cell, form, *, changes=None, error="", status=200) -> HttpResponse:
    declared = (cell.item.resources or {}).get("arguments") or {}
    schema = (cell.item.definition.get("inputSchema") or {}).get("properties") or {}
    context = {
        "cell": cell,
        "form": form,
        "changes": changes,
        "error": error,
        "effects": Rule.Effect.choices,
        "periods": Rule.Period.choices,
        "resource_fields": [(arg, kind, form.get("resources", {}).get(arg, "")) for arg, kind in declared.items()],
        "schema_args": [name for name in schema if name not in declared][:20],
    }
    return TemplateResponse(request, "policies/_matrix_editor.html", context, status=status)


@org_view()
@require_http_methods(["GET", "POST"])
def matrix_cell(request: HttpRequest, ctx: OrgContext, pk: int, item_pk: int) -> HttpResponse:
    agent = ctx.get(Agent, pk=pk)
    item = ctx.get(CatalogItem.objects.select_related("connection"), pk=item_pk, kind=CatalogItem.Kind.TOOL)
    cell = matrix.cell_of(ctx, agent, item)
    if request.method == "GET":
        if request.GET.get("edit") and ctx.can(Perm.GOVERN):
            return _editor(request, cell, _form_of(cell.own, item))
        return TemplateResponse(request, "policies/_matrix_cell.html", {"cell": cell})
    ctx.require(Perm.GOVERN)
    form: dict[str, Any] = {"effect": request.POST.get("effect", "")}
    try:
        form = _form(request, item)
        values = matrix.cell_values(item, form)
        if request.POST.get("step") == "save":
            matrix.cell_set(ctx=ctx, agent_id=agent.pk, item_id=item.pk, values=values)
            return TemplateResponse(request, "policies/_matrix_cell.html", {"cell": matrix.cell_of(ctx, agent, item)})
        remove = [cell.own.pk] if cell.own is not None else []
        changes = matrix.preview(ctx, agent, remove=remove, add=[values] if values else [])
    except ValidationError as exc:
        return _editor(request, cell, form, error=" ".join(exc.messages), status=400)
    return _editor(request, cell, form, changes=changes)


@org_view(Perm.GOVERN)
@require_POST
def matrix_bulk(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = ctx.get(Agent, pk=pk)
    action = request.POST.get("action", "")
    context: dict[str, Any] = {"agent": agent, "action": action}
    try:
        values = matrix.bulk_rule(action)
        context["label"] = matrix.BULK[action][0]
        if request.POST.get("step") == "apply":
            rule_create(ctx=ctx, agent_id=agent.pk, **values)
            context["done"] = f"{context['label']}: added for {agent.name}."
        else:
            context["changes"] = matrix.preview(ctx, agent, remove=[], add=[values])
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return TemplateResponse(request, "policies/_matrix_bulk.html", context, status=400)
    return TemplateResponse(request, "policies/_matrix_bulk.html", context)
