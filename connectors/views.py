"""Pages of the connectors app: the connections, one connection with its catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import add_service_errors
from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view
from connectors import services
from connectors.forms import ConnectionForm
from connectors.models import CatalogItem, Connection, Credential
from connectors.selectors import catalogue_counts, catalogue_of, connections_with_counts


@org_view()
@require_http_methods(["GET", "POST"])
def connections(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = ConnectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        ctx.require(Perm.GOVERN)
        if form.is_valid():
            data = form.cleaned_data
            try:
                connection = services.connection_create(
                    ctx=ctx,
                    name=data["name"],
                    transport=data["transport"],
                    url=data["url"],
                    command_name=data.get("command_name") or "",
                    headers=data["headers"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                _report_sync(request, connection)
                return redirect("connection_detail", org_slug=ctx.organization.slug, pk=connection.pk)
    return connections_page(request, ctx, form=form)


def connections_page(
    request: HttpRequest, ctx: OrgContext, *, form: ConnectionForm | None = None, connect: list | None = None
) -> HttpResponse:
    """The connections, "Connect GitHub", "Connect Google" and "Add MCP server", with any form's errors."""
    from connectors.oauth_views import allow_provider_forms, connect_forms

    context = {
        "form": form or ConnectionForm(),
        "connect_forms": connect if connect is not None else connect_forms(),
        "connections": connections_with_counts(ctx).select_related("credential"),
        "nav": "connections",
    }
    bad = (form is not None and form.errors) or any(f.errors for f in context["connect_forms"])
    response = TemplateResponse(request, "connectors/connections.html", context, status=400 if bad else 200)
    response["Cache-Control"] = "no-store"  # a form with errors shows the header values typed into it
    return allow_provider_forms(response)


def _report_sync(request: HttpRequest, connection: Connection) -> None:
    if connection.status == Connection.Status.ERROR:
        messages.error(request, f"{connection.name}: {connection.last_error}")
        return
    counts = catalogue_counts(connection)
    messages.success(
        request,
        f"{connection.name}: {counts['tool']} tools, {counts['resource']} resources, "
        f"{counts['template']} resource templates, {counts['prompt']} prompts.",
    )


def _state_response(request: HttpRequest, ctx: OrgContext, connection: Connection) -> HttpResponse:
    from connectors.oauth_views import allow_provider_forms

    template = "connectors/_connection_state.html" if request.htmx else "connectors/connection_detail.html"
    credential = Credential.objects.filter(connection=connection).first()
    context = {
        "connection": connection,
        "credential": credential,
        "groups": catalogue_of(connection),
        "nav": "connections",
    }
    return allow_provider_forms(TemplateResponse(request, template, context))


@org_view()
def connection_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    return _state_response(request, ctx, ctx.get(Connection, pk=pk))


@org_view(Perm.GOVERN)
@require_POST
def connection_sync(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    connection = services.connection_sync(ctx=ctx, connection_id=pk)
    connection.refresh_from_db()
    _report_sync(request, connection)
    if not request.htmx:
        return redirect("connection_detail", org_slug=ctx.organization.slug, pk=pk)
    return _state_response(request, ctx, connection)


@org_view(Perm.GOVERN)
@require_POST
def catalog_item_approve(request: HttpRequest, ctx: OrgContext, pk: int, item_pk: int) -> HttpResponse:
    item = ctx.get(CatalogItem, pk=item_pk, connection_id=pk)
    services.catalog_item_approve(ctx=ctx, item_id=item.pk)
    messages.success(request, f"Approved the change of {item.name}: agents allowed to use it see it again.")
    if not request.htmx:
        return redirect("connection_detail", org_slug=ctx.organization.slug, pk=pk)
    return _state_response(request, ctx, ctx.get(Connection, pk=pk))


@org_view(Perm.GOVERN)
@require_POST
def connection_delete(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    connection = ctx.get(Connection, pk=pk)
    services.connection_delete(ctx=ctx, connection_id=connection.pk)
    messages.success(request, f"Deleted {connection.name}. No agent reaches it any more.")
    return redirect("connections", org_slug=ctx.organization.slug)
