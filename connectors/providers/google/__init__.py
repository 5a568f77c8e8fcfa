"""Google: OpenID Connect sign-in with offline access, incremental scopes, and Gmail, Drive and Calendar."""

from __future__ import annotations

import requests
from django.conf import settings

from connectors.providers.base import Identity
from connectors.providers.google.api import GoogleApi
from connectors.providers.google.tools import TOOLS
from connectors.providers.provider import App, Provider, ProviderError, Service

AUTH = "https://www.googleapis.com/auth/"


class Google(Provider):
    kind = "google"
    label = "Google"
    api_class = GoogleApi
    services = (
        Service("gmail", "Gmail", (AUTH + "gmail.readonly",), (AUTH + "gmail.readonly", AUTH + "gmail.compose")),
        Service("drive", "Drive", (AUTH + "drive.readonly",), (AUTH + "drive.readonly",)),
        Service("calendar", "Calendar", (AUTH + "calendar.readonly",), (AUTH + "calendar.events",)),
    )
    base_scopes = ("openid", "email", "profile")
    tools = TOOLS

    def authorize_url(self) -> str:
        return self.urls["accounts"] + "/o/oauth2/v2/auth"

    def token_url(self) -> str:
        return self.urls["oauth2"] + "/token"

    def authorize_params(self) -> dict[str, str]:
        # offline: a refresh token; consent: Google sends it again on a reconnect; include_granted_scopes: a
        # later connect of another service adds to what the account already granted (incremental scopes).
        return {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}

    def identity(self, access_token: str) -> Identity:
        info = self._get(self.urls["api"] + "/oauth2/v3/userinfo", access_token)
        if not info.get("sub"):
            raise ProviderError("Google did not say which account this is.")
        email = str(info.get("email") or "")
        return Identity(account_id=str(info["sub"]), login=email, email=email)

    def revoke(self, app: App, tokens: dict[str, str]) -> None:
        """Revoking the refresh token ends the whole grant (and its access tokens)."""
        token = tokens.get("refresh_token") or tokens.get("access_token", "")
        try:
            response = requests.post(
                self.urls["oauth2"] + "/revoke",
                data={"token": token},
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise ProviderError(f"Google could not be reached ({type(exc).__name__}).") from None
        # 400 invalid_token: already revoked or expired, which is what we wanted.
        if response.status_code == 400 and "invalid_token" in response.text:
            return
        if response.status_code != 200:
            raise ProviderError(f"Google answered HTTP {response.status_code} to the revocation.")
