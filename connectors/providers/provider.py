"""A built-in provider: where its OAuth endpoints are, which scopes each choice asks for, who the account is,
how a grant is revoked, and which of its tools a grant offers. Token requests go through authlib."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from connectors.providers.base import Identity, Tool
from connectors.providers.http import Api


@dataclass(frozen=True)
class App:
    """The OAuth app (client) ScopeGate is registered as at the provider."""

    client_id: str
    client_secret: str = ""


@dataclass(frozen=True)
class Service:
    """A part of the provider the admin may choose to connect, with its scopes per access level."""

    key: str
    label: str
    read: tuple[str, ...]
    write: tuple[str, ...]


class ProviderError(Exception):
    """The provider refused or failed; the message is for the person on the page."""


class Provider:
    kind = ""
    label = ""
    api_class: type[Api] = Api
    services: tuple[Service, ...] = ()
    base_scopes: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()

    @property
    def urls(self) -> dict[str, str]:
        return settings.PROVIDER_URLS[self.kind]

    def app(self) -> App | None:
        config = settings.PROVIDER_APPS.get(self.kind)
        return App(config["client_id"], config["client_secret"]) if config else None

    def authorize_url(self) -> str:
        raise NotImplementedError

    def token_url(self) -> str:
        raise NotImplementedError

    def authorize_params(self) -> dict[str, str]:
        return {}

    def api(self, token: str) -> Api:
        return self.api_class(self.urls["api"], token)

    def scopes_for(self, access: str, services: list[str]) -> list[str]:
        scopes = list(self.base_scopes)
        for service in self.services:
            if service.key in services:
                scopes += [s for s in (service.write if access == "write" else service.read) if s not in scopes]
        return scopes

    def session(self, app: App, **kwargs) -> OAuth2Session:
        return OAuth2Session(
            client_id=app.client_id,
            client_secret=app.client_secret,
            token_endpoint_auth_method="client_secret_post",
            code_challenge_method="S256",
            **kwargs,
        )

    def granted_scopes(self, token: dict, requested: list[str]) -> list[str]:
        """The scopes the provider says it granted (a person may have unticked some)."""
        scope = token.get("scope")
        if isinstance(scope, str):
            return sorted({s for s in scope.replace(",", " ").split() if s})
        return sorted(requested)

    def identity(self, access_token: str) -> Identity:
        raise NotImplementedError

    def revoke(self, app: App, tokens: dict[str, str]) -> None:
        """Revokes the grant at the provider; raises ProviderError when it did not take."""
        raise NotImplementedError

    def offered(self, scopes: list[str], access: str) -> list[Tool]:
        """The tools a grant of ``scopes`` offers at the chosen access level."""
        granted = set(scopes)
        return [t for t in self.tools if (access == "write" or t.read_only) and (not t.scopes or t.scopes & granted)]

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def _get(self, url: str, access_token: str, **kwargs) -> dict:
        try:
            response = requests.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
                **kwargs,
            )
        except requests.Timeout:
            raise ProviderError(f"{self.label} did not answer in time.") from None
        except requests.RequestException:
            raise ProviderError(f"{self.label} could not be reached.") from None
        if response.status_code != 200:
            raise ProviderError(f"{self.label} refused to say who the account is (HTTP {response.status_code}).")
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(f"{self.label} answered something that is not JSON.") from None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.label} answered an unexpected document.")
        return data
