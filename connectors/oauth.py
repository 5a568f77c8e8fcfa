"""Connecting GitHub and Google: the authorization-code flow with PKCE, through authlib.

``oauth_start`` checks what the admin asked for and returns where to send them, with a pending grant the view
keeps in the person's session under a random state (bound to that session and to the organization, used once).
``oauth_complete`` exchanges the code, learns who the account is, and saves the connection, its encrypted
credential and its catalogue in one transaction: a failure anywhere saves nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change
from connectors.models import CONNECTION_NAME_RE, Connection, Credential
from connectors.providers import provider_for
from connectors.providers.provider import Provider, ProviderError

PENDING_SECONDS = 600


@dataclass(frozen=True)
class Start:
    state: str
    pending: dict
    url: str


def redirect_uri(kind: str) -> str:
    """The exact callback registered at the provider: the same string on the way out and on the way back."""
    return settings.PUBLIC_URL + reverse("oauth_callback", kwargs={"provider": kind})


def _provider(kind: str) -> Provider:
    provider = provider_for(kind)
    if provider is None:
        raise ValidationError({"provider": [f"Unknown provider {kind!r}."]})
    if provider.app() is None:
        raise ValidationError(
            {
                "provider": [
                    f"{provider.label} is not configured on this installation: the operator sets "
                    f"SCOPEGATE_{kind.upper()}_CLIENT_ID and SCOPEGATE_{kind.upper()}_CLIENT_SECRET."
                ]
            }
        )
    return provider


def oauth_start(
    *,
    ctx: OrgContext,
    provider: str,
    name: str = "",
    access: str = Credential.Access.READ,
    services: list[str] | None = None,
    connection_id: int | None = None,
) -> Start:
    """Checks the admin's choices; a ``connection_id`` reconnects that connection with its own choices."""
    ctx.require(Perm.GOVERN)
    chosen = _provider(provider)
    if connection_id is not None:
        connection = ctx.get(Connection, pk=connection_id, kind=provider)
        credential = Credential.objects.filter(connection=connection).first()
        name = connection.name
        access = credential.access if credential else access
        services = _services_of(chosen, credential.scopes) if credential else services
    else:
        _check_new(ctx, chosen, name, access, services)
    services = services or [s.key for s in chosen.services]
    scopes = chosen.scopes_for(access, services)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    session = chosen.session(chosen.app(), redirect_uri=redirect_uri(provider), scope=" ".join(scopes))
    url, _ = session.create_authorization_url(
        chosen.authorize_url(), state=state, code_verifier=verifier, **chosen.authorize_params()
    )
    pending = {
        "organization": ctx.organization.pk,
        "user": ctx.user.pk if ctx.user else None,
        "provider": provider,
        "name": name,
        "access": access,
        "scopes": scopes,
        "verifier": verifier,
        "connection": connection_id,
        "created": time.time(),
    }
    return Start(state=state, pending=pending, url=url)


def _services_of(provider: Provider, scopes: list[str]) -> list[str]:
    granted = set(scopes)
    return [s.key for s in provider.services if granted & set(s.read + s.write)]


def _check_new(ctx: OrgContext, provider: Provider, name: str, access: str, services: list[str] | None) -> None:
    errors: dict[str, list[str]] = {}
    if not re.match(CONNECTION_NAME_RE, name or ""):
        errors["name"] = ["Use 1-32 lower-case letters, digits and dashes, starting with a letter."]
    elif ctx.scoped(Connection).filter(name=name).exists():
        errors["name"] = ["A connection with this name exists."]
    if access not in Credential.Access.values:
        errors["access"] = ["Choose read or write."]
    known = {s.key for s in provider.services}
    if services is not None and (not services or not set(services) <= known):
        errors["services"] = [f"Choose at least one of: {', '.join(sorted(known))}."]
    if errors:
        raise ValidationError(errors)


def pending_is_fresh(pending: dict) -> bool:
    return time.time() - float(pending.get("created", 0)) < PENDING_SECONDS


def _exchange(provider: Provider, pending: dict, code: str) -> dict:
    session = provider.session(provider.app(), redirect_uri=redirect_uri(provider.kind))
    try:
        token = session.fetch_token(
            provider.token_url(),
            code=code,
            code_verifier=pending["verifier"],
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )
    except (OAuthError, OAuth2Error) as exc:
        reason = getattr(exc, "description", "") or getattr(exc, "error", "") or "no reason given"
        raise ProviderError(f"{provider.label} refused the connection: {reason}") from None
    except requests.Timeout:
        raise ProviderError(f"{provider.label} did not answer in time. Nothing was saved; try again.") from None
    except (requests.RequestException, ValueError):
        raise ProviderError(f"{provider.label} answered something unexpected. Nothing was saved; try again.") from None
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ProviderError(f"{provider.label} answered without a token. Nothing was saved; try again.")
    return dict(token)


def _expiry(token: dict):
    try:
        seconds = int(token.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return timezone.now() + timedelta(seconds=seconds) if seconds > 0 else None


def oauth_complete(*, ctx: OrgContext, pending: dict, code: str) -> Connection:
    """Finishes a connect (or a reconnect) the person consented to at the provider."""
    ctx.require(Perm.GOVERN)
    provider = _provider(pending["provider"])
    token = _exchange(provider, pending, code)
    identity = provider.identity(token["access_token"])
    scopes = provider.granted_scopes(token, pending["scopes"])
    from connectors.credentials import begin_revocation
    from connectors.services import catalogue_builtin

    try:
        with transaction.atomic():
            if pending.get("connection"):
                connection = ctx.get(Connection.objects.select_for_update(), pk=pending["connection"])
                old = Credential.objects.filter(connection=connection).first()
                if old is not None:
                    old.connection = None
                    old.save(update_fields=["connection"])
                    begin_revocation(old)
                action = "connection.reconnect"
            else:
                connection = Connection.objects.create(
                    organization=ctx.organization,
                    name=pending["name"],
                    kind=provider.kind,
                    transport="",
                    created_by=ctx.user,
                )
                action = "connection.connect"
            credential = Credential(
                organization=ctx.organization,
                connection=connection,
                provider=provider.kind,
                access=pending["access"],
                scopes=scopes,
                expires_at=_expiry(token),
                account_id=identity.account_id[:64],
                account_login=identity.login[:254],
                account_email=identity.email[:254],
                created_by=ctx.user,
            )
            credential.set_tokens(access_token=token["access_token"], refresh_token=token.get("refresh_token"))
            credential.save()
            catalogue_builtin(connection, credential)
            record_change(ctx, action=action, target=connection, after=credential_snapshot(connection, credential))
    except IntegrityError as exc:
        raise ValidationError({"name": ["A connection with this name exists."]}) from exc
    return connection


def credential_snapshot(connection: Connection, credential: Credential) -> dict:
    """What an audit row keeps of a connection's grant: who and what, never a token."""
    return {
        "name": connection.name,
        "provider": credential.provider,
        "account": credential.account_label,
        "access": credential.access,
        "scopes": credential.scopes,
        "status": credential.status,
    }
