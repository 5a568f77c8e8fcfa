"""GitHub: OAuth apps (tokens that do not expire) and GitHub App user tokens (that expire and refresh)."""

from __future__ import annotations

import requests
from django.conf import settings

from connectors.providers.base import Identity
from connectors.providers.github.api import GitHubApi
from connectors.providers.github.tools import TOOLS
from connectors.providers.provider import App, Provider, ProviderError, Service


class GitHub(Provider):
    kind = "github"
    label = "GitHub"
    api_class = GitHubApi
    # GitHub's OAuth scopes have no read-only access to private repositories: a read-only connection asks for
    # the same scopes and ScopeGate offers it only the read tools.
    services = (Service("repos", "Repositories, issues and pull requests", ("repo",), ("repo",)),)
    base_scopes = ("read:user", "user:email")
    tools = TOOLS

    def authorize_url(self) -> str:
        return self.urls["oauth"] + "/login/oauth/authorize"

    def token_url(self) -> str:
        return self.urls["oauth"] + "/login/oauth/access_token"

    def authorize_params(self) -> dict[str, str]:
        return {"allow_signup": "false"}

    def identity(self, access_token: str) -> Identity:
        user = self._get(self.urls["api"] + "/user", access_token)
        if not user.get("login"):
            raise ProviderError("GitHub did not say which account this is.")
        return Identity(
            account_id=str(user.get("id", "")), login=str(user["login"]), email=str(user.get("email") or "")
        )

    def revoke(self, app: App, tokens: dict[str, str]) -> None:
        """Deletes the whole grant (DELETE /applications/{client_id}/grant), so no token of it works again."""
        try:
            response = requests.delete(
                f"{self.urls['api']}/applications/{app.client_id}/grant",
                auth=(app.client_id, app.client_secret),
                json={"access_token": tokens.get("access_token", "")},
                headers={"Accept": "application/vnd.github+json"},
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise ProviderError(f"GitHub could not be reached ({type(exc).__name__}).") from None
        # 404: the grant is already gone (the person revoked it on GitHub), which is what we wanted.
        if response.status_code not in (204, 404):
            raise ProviderError(f"GitHub answered HTTP {response.status_code} to the grant deletion.")
