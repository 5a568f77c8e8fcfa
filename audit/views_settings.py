"""The organization's audit settings: retention, and the SIEM push with its delivery status."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import add_service_errors
from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view
from audit import config
from audit.forms import RetentionForm, SiemForm


def _page(request: HttpRequest, ctx: OrgContext, **extra: Any) -> TemplateResponse:
    sink = config.siem_get(ctx=ctx)
    context = {
        "nav": "settings",
        "tab": "audit",
        "sink": sink,
        "retention_form": extra.pop("retention_form", None)
        or RetentionForm(initial={"days": ctx.organization.audit_retention_days}),
        "siem_form": extra.pop("siem_form", None)
        or SiemForm(initial={"url": sink.url, "enabled": sink.enabled} if sink else {"enabled": True}),
        **extra,
    }
    response = TemplateResponse(request, "audit/settings.html", context)
    if "secret" in context:
        response["Cache-Control"] = "no-store"  # the secret is shown once; no cache keeps a copy
    return response


@org_view(Perm.VIEW_AUDIT)
@require_http_methods(["GET", "POST"])
def audit_settings(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    if request.method == "GET":
        return _page(request, ctx)
    ctx.require(Perm.MANAGE_ORG)
    form = RetentionForm(request.POST)
    if form.is_valid():
        try:
            config.retention_update(ctx=ctx, days=form.cleaned_data["days"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Events are now kept for {form.cleaned_data['days']} days.")
            return redirect("audit_settings", org_slug=ctx.organization.slug)
    return _page(request, ctx, retention_form=form)


@org_view(Perm.MANAGE_ORG)
@require_POST
def audit_siem(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = SiemForm(request.POST)
    if form.is_valid():
        try:
            _sink, secret = config.siem_configure(
                ctx=ctx, url=form.cleaned_data["url"], enabled=form.cleaned_data["enabled"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if secret:
                return _page(request, ctx, secret=secret)
            messages.success(request, "Saved the SIEM push.")
            return redirect("audit_settings", org_slug=ctx.organization.slug)
    return _page(request, ctx, siem_form=form)


@org_view(Perm.MANAGE_ORG)
@require_POST
def audit_siem_rotate(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    try:
        _sink, secret = config.siem_secret_rotate(ctx=ctx)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("audit_settings", org_slug=ctx.organization.slug)
    return _page(request, ctx, secret=secret)


@org_view(Perm.MANAGE_ORG)
@require_POST
def audit_siem_delete(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    config.siem_delete(ctx=ctx)
    messages.success(request, "Removed the SIEM push.")
    return redirect("audit_settings", org_slug=ctx.organization.slug)
