"""Pages of "Connect GitHub" and "Connect Google": start, the provider's callback, disconnect, reconnect."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Organization
from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view, resolve_org_context
from connectors import credentials, oauth
from connectors.forms import ConnectProviderForm
from connectors.models import Connection
from connectors.providers import all_providers, provider_for
from connectors.providers.provider import ProviderError

SESSION_KEY = "oauth_pending"
MAX_PENDING = 5


def provider_origins() -> list[str]:
    """Where the connect forms send the browser: the Content-Security-Policy's form-action must allow them
    (browsers apply it to the redirects that follow a form's submission)."""
    origins = set()
    for provider in all_providers():
        parts = urlsplit(provider.authorize_url())
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


def allow_provider_forms(response: HttpResponse) -> HttpResponse:
    response._csp_update = {"form-action": provider_origins()}  # type: ignore[attr-defined]
    return response


def connect_forms(data=None, only: str | None = None) -> list[ConnectProviderForm]:
    return [ConnectProviderForm(data if p.kind == only else None, provider=p) for p in all_providers() if p.app()]


def _remember(request: HttpRequest, start: oauth.Start) -> HttpResponse:
    pending = {k: v for k, v in request.session.get(SESSION_KEY, {}).items() if oauth.pending_is_fresh(v)}
    while len(pending) >= MAX_PENDING:
        pending.pop(min(pending, key=lambda s: pending[s]["created"]))
    pending[start.state] = start.pending
    request.session[SESSION_KEY] = pending
    return allow_provider_forms(redirect(start.url))


@org_view(Perm.GOVERN)
@require_POST
def connect_start(request: HttpRequest, ctx: OrgContext, provider: str) -> HttpResponse:
    chosen = provider_for(provider)
    if chosen is None or chosen.app() is None:
        raise Http404
    form = ConnectProviderForm(request.POST, provider=chosen)
    if form.is_valid():
        try:
            start = oauth.oauth_start(
                ctx=ctx,
                provider=provider,
                name=form.cleaned_data["name"].strip(),
                access=form.cleaned_data["access"],
                services=form.chosen_services(),
            )
        except ValidationError as exc:
            from accounts.forms import add_service_errors

            add_service_errors(form, exc)
        else:
            return _remember(request, start)
    from connectors.views import connections_page

    forms = [form if f.provider.kind == provider else f for f in connect_forms()]
    return connections_page(request, ctx, connect=forms)


@org_view(Perm.GOVERN)
@require_POST
def connection_reconnect(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    connection = ctx.get(Connection.objects.exclude(kind=Connection.Kind.MCP), pk=pk)
    try:
        start = oauth.oauth_start(ctx=ctx, provider=connection.kind, connection_id=connection.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("connection_detail", org_slug=ctx.organization.slug, pk=pk)
    return _remember(request, start)


@org_view(Perm.GOVERN)
@require_POST
def connection_disconnect(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    connection = ctx.get(Connection, pk=pk)
    try:
        credentials.connection_disconnect(ctx=ctx, connection_id=connection.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Disconnected {connection.name}: agents can no longer use it. Revoking it at the provider…"
        )
    return redirect("connection_detail", org_slug=ctx.organization.slug, pk=pk)


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return TemplateResponse(request, "connectors/oauth_error.html", {"message": message}, status=status)


@require_GET
def oauth_callback(request: HttpRequest, provider: str) -> HttpResponse:
    """Where the provider sends the person back. The state must be one this session started (it is used up
    now, whatever happens next), for this provider, recently, by this person."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    pending_all = request.session.get(SESSION_KEY, {})
    state = request.GET.get("state", "")
    pending = pending_all.pop(state, None) if state else None
    request.session[SESSION_KEY] = pending_all
    if (
        pending is None
        or pending.get("provider") != provider
        or pending.get("user") != request.user.pk
        or not oauth.pending_is_fresh(pending)
    ):
        return _refused(
            request,
            "This connection attempt is not valid: it expired, was already used, or was not started from this "
            "browser. Nothing was saved; start again from Connections.",
        )
    organization = Organization.objects.filter(pk=pending["organization"]).first()
    if organization is None:
        raise Http404
    ctx = resolve_org_context(user=request.user, token=None, slug=organization.slug)
    label = provider_for(provider).label
    back = redirect("connections", org_slug=organization.slug)
    if pending.get("connection"):
        back = redirect("connection_detail", org_slug=organization.slug, pk=pending["connection"])
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or request.GET["error"]
        denied = request.GET["error"] == "access_denied"
        text = f"{label} access was not granted" if denied else f"{label} refused the connection ({reason[:200]})"
        messages.error(request, f"{text}. Nothing was saved.")
        return back
    code = request.GET.get("code", "")
    if not code or len(code) > 2000:
        messages.error(request, f"{label} sent no authorization code back. Nothing was saved; try again.")
        return back
    try:
        connection = oauth.oauth_complete(ctx=ctx, pending=pending, code=code)
    except ProviderError as exc:
        messages.error(request, str(exc))
        return back
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages) + " Nothing was saved.")
        return back
    credential = connection.credential
    tools = connection.items.filter(kind="tool", status="active").count()
    messages.success(request, f"Connected {connection.name} as {credential.account_label}: {tools} tools.")
    return redirect("connection_detail", org_slug=organization.slug, pk=connection.pk)
