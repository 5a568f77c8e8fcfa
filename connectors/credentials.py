"""A connection's OAuth grant over its life: read for a call, refreshed, disconnected, revoked at the provider.

Refreshes of one credential are serialized across processes by a row lock (``select_for_update``; SQLite's
immediate transactions serialize them there), and each caller says which version it saw: one that finds a
newer version after waiting for the lock uses it instead of refreshing again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change, record_system
from connectors.models import Connection, Credential
from connectors.providers import provider_for
from connectors.providers.provider import ProviderError
from connectors.vault import VaultError

logger = logging.getLogger(__name__)
UNUSABLE = {
    Credential.Status.NEEDS_RECONNECT: "needs reconnecting: {provider} no longer accepts its grant. An admin "
    "reconnects it on the connection's page.",
    Credential.Status.REVOKING: "was disconnected.",
    Credential.Status.REVOKED: "was disconnected.",
    Credential.Status.REVOKE_FAILED: "was disconnected.",
}


@dataclass(frozen=True)
class TokenState:
    """What a gateway process caches of a credential: plain values, the token kept out of reprs."""

    credential_id: int
    version: int
    status: str
    provider: str
    expires_at: float | None  # epoch seconds
    access_token: str = field(default="", repr=False)
    problem: str = ""  # why it cannot be used, for the agent

    @property
    def usable(self) -> bool:
        return self.status == Credential.Status.ACTIVE and bool(self.access_token)


def _state(credential: Credential, problem: str = "") -> TokenState:
    label = provider_for(credential.provider).label if provider_for(credential.provider) else credential.provider
    token = ""
    if credential.status == Credential.Status.ACTIVE:
        try:
            token = credential.get_tokens().get("access_token", "")
        except VaultError:
            problem = "has a credential that cannot be decrypted (the key that encrypted it left the key ring)."
    else:
        problem = problem or UNUSABLE.get(credential.status, "cannot be used.").format(provider=label)
    return TokenState(
        credential_id=credential.pk,
        version=credential.version,
        status=credential.status,
        provider=credential.provider,
        expires_at=credential.expires_at.timestamp() if credential.expires_at else None,
        access_token=token,
        problem=problem,
    )


def credential_state(credential_id: int) -> TokenState:
    credential = Credential.objects.filter(pk=credential_id).first()
    if credential is None:
        return TokenState(credential_id, 0, Credential.Status.REVOKED, "", None, problem="was disconnected.")
    return _state(credential)


def _announce(credential: Credential) -> None:
    from policies.invalidation import announce_credentials_changed

    transaction.on_commit(lambda: announce_credentials_changed([credential.pk]))


def credential_refresh(*, credential_id: int, seen_version: int, rejected: bool = False) -> TokenState:
    """Refreshes the credential unless someone did since ``seen_version``; ``rejected``: the provider refused
    the access token (a 401), so a token that cannot be refreshed means the grant is gone."""
    with transaction.atomic():
        credential = Credential.objects.select_for_update().filter(pk=credential_id).first()
        if credential is None:
            return credential_state(credential_id)
        if credential.status != Credential.Status.ACTIVE or credential.version != seen_version:
            return _state(credential)  # nothing to do, or another caller refreshed while we waited
        provider = provider_for(credential.provider)
        if not credential.refreshable:
            if rejected:
                return _needs_reconnect(credential, f"{provider.label} rejected the access token.")
            return _state(credential)
        tokens = credential.get_tokens()
        session = provider.session(provider.app())
        try:
            token = session.refresh_token(
                provider.token_url(), refresh_token=tokens["refresh_token"], timeout=settings.PROVIDER_TIMEOUT_SECONDS
            )
        except (OAuthError, OAuth2Error) as exc:
            reason = getattr(exc, "error", "") or "refused"
            return _needs_reconnect(credential, f"{provider.label} refused the refresh token ({reason}).")
        except requests.Timeout:
            return _refresh_failed(credential, f"{provider.label} did not answer the token refresh in time.")
        except (requests.RequestException, ValueError):
            return _refresh_failed(
                credential, f"{provider.label} answered the token refresh with something unexpected."
            )
        if not isinstance(token.get("access_token"), str) or not token["access_token"]:
            return _refresh_failed(credential, f"{provider.label} answered the token refresh without a token.")
        credential.set_tokens(
            access_token=token["access_token"], refresh_token=token.get("refresh_token") or tokens["refresh_token"]
        )
        seconds = int(token.get("expires_in") or 0)
        credential.expires_at = timezone.now() + timedelta(seconds=seconds) if seconds > 0 else None
        credential.version += 1
        credential.refreshed_at = timezone.now()
        credential.last_error = ""
        credential.save()
        record_system(
            credential,
            action="credential.refresh",
            detail={"version": credential.version, "expires_at": str(credential.expires_at or "")},
        )
        _announce(credential)
        return _state(credential)


def _needs_reconnect(credential: Credential, reason: str) -> TokenState:
    credential.status = Credential.Status.NEEDS_RECONNECT
    credential.last_error = reason
    credential.save(update_fields=["status", "last_error"])
    record_system(
        credential,
        action="credential.refresh",
        detail={"status": credential.status},
        error=reason,
    )
    _announce(credential)
    return _state(credential)


def _refresh_failed(credential: Credential, reason: str) -> TokenState:
    """The provider is down or confused: the grant may still be good, so it stays active for the next try."""
    record_system(
        credential,
        action="credential.refresh",
        error=reason,
    )
    return _state(credential, problem=reason)


def credentials_due() -> list[tuple[int, int]]:
    """(id, version) of the active, refreshable credentials expiring within the margin."""
    horizon = timezone.now() + timedelta(seconds=settings.TOKEN_REFRESH_MARGIN_SECONDS)
    due = Credential.objects.filter(
        status=Credential.Status.ACTIVE, refreshable=True, expires_at__isnull=False, expires_at__lt=horizon
    )
    return list(due.values_list("pk", "version"))


# --- disconnect and revocation -------------------------------------------------------------------------------


def begin_revocation(credential: Credential) -> None:
    """Makes the credential unusable now and revokes it at the provider after the commit."""
    credential.status = Credential.Status.REVOKING
    credential.save(update_fields=["status"])
    _announce(credential)
    from connectors.tasks import credential_revoke

    transaction.on_commit(lambda: credential_revoke.delay(credential.pk))


def connection_disconnect(*, ctx: OrgContext, connection_id: int) -> Credential:
    ctx.require(Perm.GOVERN)
    from connectors.oauth import credential_snapshot
    from connectors.services import announce_changed

    with transaction.atomic():
        connection = ctx.get(Connection.objects.select_for_update(), pk=connection_id)
        credential = Credential.objects.select_for_update().filter(connection=connection).first()
        if credential is None or credential.status not in (
            Credential.Status.ACTIVE,
            Credential.Status.NEEDS_RECONNECT,
        ):
            raise ValidationError({"connection": [f"{connection.name} is not connected."]})
        before = credential_snapshot(connection, credential)
        begin_revocation(credential)
        record_change(
            ctx,
            action="connection.disconnect",
            target=connection,
            before=before,
            after=credential_snapshot(connection, credential),
        )
        announce_changed(ctx.organization.pk)
    return credential


def credential_revoke_at_provider(*, credential_id: int, final: bool) -> bool:
    """One attempt; True when done (revoked, or nothing left to revoke). ``final``: no retry follows."""
    with transaction.atomic():
        credential = Credential.objects.select_for_update().filter(pk=credential_id).first()
        if credential is None or credential.status not in (
            Credential.Status.REVOKING,
            Credential.Status.REVOKE_FAILED,
        ):
            return True
        provider = provider_for(credential.provider)
        credential.revoke_attempts += 1
        try:
            provider.revoke(provider.app(), credential.get_tokens())
        except (ProviderError, VaultError) as exc:
            credential.last_error = str(exc)
            if final:
                credential.status = Credential.Status.REVOKE_FAILED
            credential.save(update_fields=["revoke_attempts", "last_error", "status"])
            record_system(
                credential,
                action="credential.revoke",
                detail={"attempt": credential.revoke_attempts, "final": final},
                error=str(exc),
            )
            return False
        credential.wipe_tokens()
        credential.status = Credential.Status.REVOKED
        credential.revoked_at = timezone.now()
        credential.last_error = ""
        credential.save()
        record_system(
            credential,
            action="credential.revoke",
            detail={"attempt": credential.revoke_attempts},
        )
        return True


def organization_credentials_revoke(*, organization_id: int) -> dict[str, int]:
    """Before an organization is deleted: revoke every live grant at its provider now, since the credential rows
    go with the organization and no background retry could find them afterwards. Best effort, each attempt
    audited; returns how many were revoked and how many the provider refused or could not be reached for."""
    outcome = {"revoked": 0, "failed": 0}
    live = (Credential.Status.ACTIVE, Credential.Status.NEEDS_RECONNECT, Credential.Status.REVOKING)
    for credential in Credential.objects.filter(organization_id=organization_id, status__in=live):
        with transaction.atomic():
            credential.status = Credential.Status.REVOKING
            credential.save(update_fields=["status"])
            _announce(credential)
        done = credential_revoke_at_provider(credential_id=credential.pk, final=True)
        outcome["revoked" if done else "failed"] += 1
    return outcome
