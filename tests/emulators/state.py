"""What the emulated providers remember, and the knobs tests turn."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Knobs:
    token_endpoint: str = "ok"  # ok | timeout | garbage | error500
    reject_refresh: bool = False
    api: str = "ok"  # ok | rate_limited | error500 | timeout | garbage
    revoke: str = "ok"  # ok | error500
    expiring_tokens: bool = True  # GitHub: App user tokens that expire and refresh; False: OAuth app tokens
    refresh_delay: float = 0.0  # seconds a refresh takes: widens the window concurrent refreshes would race in
    token_lifetime: int = 3600


@dataclass
class Grant:
    client_id: str
    scopes: list[str]
    account: str
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class Token:
    grant: Grant
    expires_at: float | None


@dataclass
class ProviderState:
    name: str
    client_id: str
    client_secret: str
    redirect_uris: set[str] = field(default_factory=set)
    knobs: Knobs = field(default_factory=Knobs)
    codes: dict[str, dict] = field(default_factory=dict)
    access_tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def issued(self) -> list[str]:
        """Every token this provider ever issued: tests grep what they captured for them."""
        return [*self.access_tokens, *self.refresh_tokens]

    def new_token(self, prefix: str) -> str:
        return prefix + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")

    def token(self, value: str) -> Token | None:
        token = self.access_tokens.get(value)
        if token is None or token.grant.revoked:
            return None
        if token.expires_at is not None and token.expires_at < time.time():
            return None
        return token

    def mint(self, account: str, scopes: list[str], prefix: str = "gho_") -> str:
        """An access token issued without the consent page, for tests of the tools alone."""
        value = self.new_token(prefix)
        self.access_tokens[value] = Token(grant=Grant(self.client_id, scopes, account), expires_at=None)
        return value

    def expire_tokens_now(self) -> None:
        for token in self.access_tokens.values():
            token.expires_at = time.time() - 1

    def revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
