"""API token authentication for the REST API: ``Authorization: Bearer sg_api_...``."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from accounts.models import ApiToken
from accounts.services import api_token_authenticate


class TokenPrincipal(AnonymousUser):
    """Who acts when a script calls with an API token: the token, within its organization only."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    @property
    def is_anonymous(self) -> bool:  # type: ignore[override]
        return False

    def __str__(self) -> str:
        return f"API token {self.token.prefix}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        token = api_token_authenticate(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, expired or was revoked.")
        return TokenPrincipal(token), token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="scopegate-api"'
