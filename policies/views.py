"""Pages of the policies app: the agents, one agent with its endpoint, keys and permission matrix."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import add_service_errors
from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view
from policies import approvals as approvals_service
from policies import services
from policies.documents import simulate
from policies.forms import AgentActivationForm, AgentForm, AgentKeyForm, AgentToolsForm, DenyRuleForm, SimulateForm
from policies.models import Agent, AgentKey, ApprovalRequest, Rule
from policies.selectors import config_snippets, endpoint_url, permission_matrix, secret_url


@org_view()
@require_http_methods(["GET", "POST"])
def agents(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = AgentForm(request.POST if request.method == "POST" else None, ctx=ctx)
    if request.method == "POST":
        ctx.require(Perm.GOVERN)
        if form.is_valid():
            try:
                agent = services.agent_create(
                    ctx=ctx,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    mount_id=form.mount_id,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Created {agent.name}. Issue it a key, then allow it some tools.")
                return redirect("agent_detail", org_slug=ctx.organization.slug, pk=agent.pk)
    context = {
        "form": form,
        "agents": ctx.scoped(Agent).select_related("mount"),
        "nav": "agents",
    }
    return TemplateResponse(request, "policies/agents.html", context)


def _detail(request: HttpRequest, ctx: OrgContext, agent: Agent, **bound: object) -> HttpResponse:
    """The agent's page, with the forms of this request bound (and showing their errors)."""
    issued = bound.pop("issued", None)
    initial = {"name": agent.name, "description": agent.description, "mount": agent.mount_id}
    context = {
        "agent": agent,
        "endpoint": endpoint_url(agent),
        "snippets": config_snippets(agent, issued["secret"]) if issued else config_snippets(agent),
        "issued": issued,
        "keys": ctx.scoped(AgentKey).filter(agent=agent),
        "matrix": permission_matrix(ctx, agent),
        "deny_rules": ctx.scoped(Rule).filter(agent=agent, effect=Rule.Effect.DENY).select_related("connection"),
        "edit_form": AgentForm(initial=initial, ctx=ctx, prefix="agent"),
        "key_form": AgentKeyForm(prefix="key"),
        "rule_form": DenyRuleForm(ctx=ctx, prefix="rule"),
        "simulate_form": SimulateForm(prefix="sim"),
        "nav": "agents",
        **bound,
    }
    response = TemplateResponse(request, "policies/agent_detail.html", context)
    response["Cache-Control"] = "no-store"  # the page shows a new key's secret once
    return response


def _agent(ctx: OrgContext, pk: int) -> Agent:
    return ctx.get(Agent.objects.select_related("mount"), pk=pk)


def _done(request: HttpRequest, ctx: OrgContext, agent: Agent, message: str, anchor: str = "") -> HttpResponse:
    messages.success(request, message)
    response = redirect("agent_detail", org_slug=ctx.organization.slug, pk=agent.pk)
    response["Location"] += anchor
    return response


@org_view()
def agent_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    return _detail(request, ctx, _agent(ctx, pk))


@org_view()
@require_POST
def agent_simulate(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    """The simulator: the decision and the rule that makes it, for a call the agent might make."""
    agent = _agent(ctx, pk)
    form = SimulateForm(request.POST, prefix="sim")
    answer = None
    if form.is_valid():
        try:
            answer = simulate(ctx, agent, form.cleaned_data["tool"], form.cleaned_data["arguments"])
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    response = TemplateResponse(
        request, "policies/_simulation.html", {"agent": agent, "simulate_form": form, "answer": answer}
    )
    if not form.is_valid():
        response.status_code = 400
    return response


def _apply(form: forms.Form, write) -> bool:
    """Runs a service call when the form is valid; shows its ValidationError on the form."""
    if not form.is_valid():
        return False
    try:
        write()
    except ValidationError as exc:
        add_service_errors(form, exc)
        return False
    return True


@org_view(Perm.GOVERN)
@require_POST
def agent_update(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    form = AgentForm(request.POST, ctx=ctx, prefix="agent")

    def write() -> None:
        data = form.cleaned_data
        services.agent_update(
            ctx=ctx, agent_id=agent.pk, name=data["name"], description=data["description"], mount_id=form.mount_id
        )

    if _apply(form, write):
        return _done(request, ctx, agent, "Saved.", "#settings")
    return _detail(request, ctx, agent, edit_form=form)


@org_view(Perm.GOVERN)
@require_POST
def agent_activation(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    form = AgentActivationForm(request.POST)
    if not form.is_valid():
        return _detail(request, ctx, agent, activation_form=form)
    active = form.cleaned_data["is_active"]
    services.agent_update(ctx=ctx, agent_id=agent.pk, is_active=active)
    message = "Activated: its keys work again." if active else "Deactivated: every call is refused from now on."
    return _done(request, ctx, agent, f"{agent.name}: {message}")


@org_view(Perm.GOVERN)
@require_POST
def agent_delete(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    services.agent_delete(ctx=ctx, agent_id=agent.pk)
    messages.success(request, f"Deleted {agent.name}: its endpoint and keys no longer work.")
    return redirect("agents", org_slug=ctx.organization.slug)


@org_view(Perm.GOVERN)
@require_POST
def agent_key_issue(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    form = AgentKeyForm(request.POST, prefix="key")
    issued: dict = {}

    def write() -> None:
        key, secret = services.agent_key_issue(ctx=ctx, agent_id=agent.pk, **form.cleaned_data)
        issued.update(key=key, secret=secret, secret_url=secret_url(agent, secret))

    if _apply(form, write):
        # Rendered, not redirected: this answer is the only place the secret ever appears.
        return _detail(request, ctx, agent, issued=issued)
    return _detail(request, ctx, agent, key_form=form)


@org_view(Perm.GOVERN)
@require_POST
def agent_key_revoke(request: HttpRequest, ctx: OrgContext, pk: int, key_pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    key = services.agent_key_revoke(ctx=ctx, key_id=ctx.get(AgentKey, pk=key_pk, agent=agent).pk)
    return _done(request, ctx, agent, f"Revoked {key.name}: the next call with it is refused.", "#keys")


@org_view(Perm.GOVERN)
@require_POST
def agent_tools(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    form = AgentToolsForm(request.POST, ctx=ctx)

    def write() -> None:
        services.agent_tools_set(ctx=ctx, agent_id=agent.pk, allowed=form.allowed, whole=form.whole_ids)

    if _apply(form, write):
        return _done(request, ctx, agent, "Saved the permissions.", "#permissions")
    return _detail(request, ctx, agent, tools_form=form)


@org_view(Perm.GOVERN)
@require_POST
def agent_rule_create(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    form = DenyRuleForm(request.POST, ctx=ctx, prefix="rule")

    def write() -> None:
        data = form.cleaned_data
        services.rule_create(
            ctx=ctx,
            agent_id=agent.pk,
            effect=Rule.Effect.DENY,
            connection_id=data["connection"].pk,
            target=data["target"],
            name=data["name"].strip(),
        )

    if _apply(form, write):
        return _done(request, ctx, agent, "Added the deny rule.", "#deny-rules")
    return _detail(request, ctx, agent, rule_form=form)


@org_view(Perm.GOVERN)
@require_POST
def agent_rule_delete(request: HttpRequest, ctx: OrgContext, pk: int, rule_pk: int) -> HttpResponse:
    agent = _agent(ctx, pk)
    services.rule_delete(ctx=ctx, rule_id=ctx.get(Rule, pk=rule_pk, agent=agent).pk)
    return _done(request, ctx, agent, "Deleted the rule.", "#deny-rules")


VERDICTS = [
    ("approve", "Approve once", "primary"),
    ("approve_always", "Approve always", ""),
    ("deny", "Deny", "danger"),
]


def _approvals_context(ctx: OrgContext) -> dict:
    pending = list(approvals_service.pending(ctx).select_related("agent"))
    for approval in pending:
        approval.arguments_json = json.dumps(approval.arguments, indent=2, ensure_ascii=False)
    decided = (
        ctx.scoped(ApprovalRequest)
        .exclude(status=ApprovalRequest.Status.PENDING)
        .select_related("agent", "decided_by")
        .order_by("-decided_at")[:20]
    )
    return {"pending": pending, "decided": decided, "verdicts": VERDICTS, "nav": "approvals"}


@org_view(Perm.VIEW_AUDIT)
def approvals(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "policies/approvals.html", _approvals_context(ctx))


@org_view(Perm.VIEW_AUDIT)
def approvals_list(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    """The live part of the page: what the organization's event stream refreshes in place."""
    return TemplateResponse(request, "policies/_approvals.html", _approvals_context(ctx))


@org_view(Perm.VIEW_AUDIT)
def approvals_badge(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "policies/_approvals_badge.html", {})


@org_view(Perm.GOVERN)
@require_POST
def approval_decide(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    try:
        approval = approvals_service.approval_decide(ctx=ctx, approval_id=pk, verdict=request.POST.get("verdict", ""))
    except ValidationError as exc:
        context = {**_approvals_context(ctx), "error": " ".join(exc.messages)}
        template = "policies/_approvals.html" if request.htmx else "policies/approvals.html"
        return TemplateResponse(request, template, context, status=400)
    label = {"approved": "Approved", "rejected": "Denied"}[approval.status]
    messages.success(request, f"{label}: {approval.tool} for {approval.agent.name}.")
    if request.htmx:
        return TemplateResponse(request, "policies/_approvals.html", _approvals_context(ctx))
    return redirect("approvals", org_slug=ctx.organization.slug)
