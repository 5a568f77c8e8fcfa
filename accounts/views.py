"""Pages of the accounts app: home, organizations, members, invitations, API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.forms import (
    ApiTokenForm,
    DeleteOrganizationForm,
    InvitationForm,
    OrganizationForm,
    RoleForm,
    add_service_errors,
)
from accounts.models import ApiToken, Invitation, Membership
from accounts.roles import Perm, grantable_roles
from accounts.selectors import default_org_slug
from accounts.tenancy import OrgContext, org_view


def root(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    slug = default_org_slug(request.user, request.session.get("last_org"))
    if slug is None:
        return redirect("org_create")
    return redirect("org_home", org_slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def org_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_create(name=form.cleaned_data["name"], owner=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Created {org.name}.")
            return redirect("org_home", org_slug=org.slug)
    return TemplateResponse(request, "accounts/org_create.html", {"form": form})


@org_view()
def org_home(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    from accounts.onboarding import onboarding_steps

    steps = onboarding_steps(ctx)
    return TemplateResponse(
        request,
        "accounts/home.html",
        {"steps": steps, "done_count": sum(s.done for s in steps), "nav": "home"},
    )


@org_view()
@require_http_methods(["GET", "POST"])
def org_settings(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None, initial={"name": ctx.organization.name})
    delete_form = DeleteOrganizationForm()
    if request.method == "POST":
        ctx.require(Perm.MANAGE_ORG)
        if form.is_valid():
            try:
                services.organization_rename(ctx=ctx, name=form.cleaned_data["name"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("org_settings", org_slug=ctx.organization.slug)
    return TemplateResponse(
        request,
        "accounts/settings.html",
        {"form": form, "delete_form": delete_form, "nav": "settings", "tab": "general"},
    )


@org_view(Perm.DELETE_ORG)
@require_POST
def org_delete(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    delete_form = DeleteOrganizationForm(request.POST)
    if delete_form.is_valid():
        try:
            services.organization_delete(ctx=ctx, confirm_slug=delete_form.cleaned_data["confirm_slug"])
        except ValidationError as exc:
            add_service_errors(delete_form, exc)
        else:
            messages.success(request, f"Deleted {ctx.organization.name}.")
            request.session.pop("last_org", None)
            return redirect("root")
    form = OrganizationForm(initial={"name": ctx.organization.name})
    return TemplateResponse(
        request,
        "accounts/settings.html",
        {"form": form, "delete_form": delete_form, "nav": "settings", "tab": "general"},
    )


def _members_context(ctx: OrgContext, **extra) -> dict:
    grantable = grantable_roles(ctx.role)
    return {
        "memberships": ctx.scoped(Membership).select_related("user"),
        "invitations": ctx.scoped(Invitation).filter(accepted_at__isnull=True).select_related("invited_by")
        if ctx.can(Perm.MANAGE_MEMBERS)
        else [],
        "invite_form": extra.pop("invite_form", None) or InvitationForm(grantable=grantable),
        "grantable": grantable,
        "nav": "settings",
        "tab": "members",
        **extra,
    }


def _members_response(request: HttpRequest, ctx: OrgContext, **extra) -> HttpResponse:
    template = "accounts/_members.html" if request.htmx else "accounts/members.html"
    return TemplateResponse(request, template, _members_context(ctx, **extra))


@org_view()
def members(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return _members_response(request, ctx)


@org_view(Perm.MANAGE_MEMBERS)
@require_POST
def invitation_create(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = InvitationForm(request.POST, grantable=grantable_roles(ctx.role))
    if form.is_valid():
        try:
            invitation, _secret = services.invitation_create(ctx=ctx, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Invited {invitation.email}.")
            if not request.htmx:
                return redirect("members", org_slug=ctx.organization.slug)
            form = None
    return _members_response(request, ctx, invite_form=form)


@org_view(Perm.MANAGE_MEMBERS)
@require_POST
def invitation_revoke(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    services.invitation_revoke(ctx=ctx, invitation_id=pk)
    messages.success(request, "Invitation revoked.")
    if not request.htmx:
        return redirect("members", org_slug=ctx.organization.slug)
    return _members_response(request, ctx)


@org_view(Perm.MANAGE_MEMBERS)
@require_POST
def membership_role(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    form = RoleForm(request.POST)
    role_errors: dict[int, list[str]] = {}
    if form.is_valid():
        try:
            services.membership_change_role(ctx=ctx, membership_id=pk, role=form.cleaned_data["role"])
        except ValidationError as exc:
            role_errors[pk] = exc.messages
        else:
            messages.success(request, "Role changed.")
    else:
        role_errors[pk] = [e for errs in form.errors.values() for e in errs]
    if not role_errors and not request.htmx:
        return redirect("members", org_slug=ctx.organization.slug)
    response = _members_response(request, ctx, role_errors=role_errors)
    if role_errors:
        response.status_code = 400
    return response


@org_view()
@require_POST
def membership_remove(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    leaving = ctx.get(Membership, pk=pk).user_id == request.user.pk
    try:
        services.membership_remove(ctx=ctx, membership_id=pk)
    except ValidationError as exc:
        response = _members_response(request, ctx, role_errors={pk: exc.messages})
        response.status_code = 400
        return response
    if leaving:
        messages.success(request, f"You left {ctx.organization.name}.")
        request.session.pop("last_org", None)
        response = redirect("root")
        if request.htmx:
            response = HttpResponse(status=204, headers={"HX-Redirect": reverse("root")})
        return response
    messages.success(request, "Member removed.")
    if not request.htmx:
        return redirect("members", org_slug=ctx.organization.slug)
    return _members_response(request, ctx)


@org_view(Perm.MANAGE_TOKENS)
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.api_token_issue(ctx=ctx, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            issued = {"token": token, "secret": secret}
            form = ApiTokenForm()
    context = {
        "form": form,
        "issued": issued,
        "tokens": ctx.scoped(ApiToken).select_related("created_by"),
        "nav": "settings",
        "tab": "tokens",
    }
    response = TemplateResponse(request, "accounts/tokens.html", context)
    response["Cache-Control"] = "no-store"  # the page may show a secret once
    return response


@org_view(Perm.MANAGE_TOKENS)
@require_POST
def api_token_revoke(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    token = services.api_token_revoke(ctx=ctx, token_id=pk)
    messages.success(request, f"Revoked {token.name}.")
    return redirect("settings_tokens", org_slug=ctx.organization.slug)


@require_http_methods(["GET", "POST"])
def invitation_detail(request: HttpRequest, secret: str) -> HttpResponse:
    invitation = services.invitation_by_secret(secret)
    if not request.user.is_authenticated:
        if invitation is not None and invitation.is_pending:
            messages.info(request, f"Log in or sign up as {invitation.email} to join {invitation.organization.name}.")
        from django.contrib.auth.views import redirect_to_login

        return redirect_to_login(request.get_full_path())
    error = None
    if request.method == "POST":
        try:
            membership = services.invitation_accept(user=request.user, secret=secret)
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"You joined {membership.organization.name}.")
            return redirect("org_home", org_slug=membership.organization.slug)
    if invitation is None:
        error = error or "This invitation link is not valid."
    response = TemplateResponse(request, "accounts/invitation.html", {"invitation": invitation, "error": error})
    if error:
        response.status_code = 400 if request.method == "POST" else 404
    return response
