"""Connections to the services agents act on, their encrypted credentials, and the tool catalogue."""

from __future__ import annotations

import json
import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import OrganizationOwned, User
from connectors import vault

# A connection's name prefixes its tools (``github__create_issue``) and resource URIs (``github+repo://...``):
# a letter first (it becomes part of a URI scheme), no underscores (``__`` separates it from the tool).
CONNECTION_NAME_RE = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$"
connection_name_validator = RegexValidator(
    CONNECTION_NAME_RE, "Use 1-32 lower-case letters, digits and dashes, starting with a letter."
)


class Connection(OrganizationOwned):
    class Kind(models.TextChoices):
        MCP = "mcp", "MCP server"
        GITHUB = "github", "GitHub"
        GOOGLE = "google", "Google"

    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "HTTP+SSE (legacy)"
        STDIO = "stdio", "Local command (stdio)"

    class Status(models.TextChoices):
        PENDING = "pending", "Not yet synced"
        ACTIVE = "active", "Active"
        ERROR = "error", "Error"

    name = models.CharField(max_length=32, validators=[connection_name_validator])
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MCP)
    # Blank for GitHub and Google: their tools are built in, not reached over an MCP transport.
    transport = models.CharField(
        max_length=24, choices=Transport.choices, default=Transport.STREAMABLE_HTTP, blank=True
    )
    url = models.URLField(max_length=2000, blank=True)
    # For stdio: the name of a command the operator allowed in settings, never a command line a tenant typed.
    command_name = models.CharField(max_length=64, blank=True)
    # Which era the upstream speaks, learned at discovery: "2026-07-28" or a legacy version.
    protocol_version = models.CharField(max_length=16, blank=True)
    server_info = models.JSONField(default=dict, blank=True)
    secret_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    headers_ciphertext = models.BinaryField(null=True, blank=True)
    header_names = models.JSONField(default=list, blank=True)  # displayable; the values stay encrypted
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="connection_unique_name")]

    def __str__(self) -> str:
        return self.name

    def _aad(self) -> bytes:
        return f"connectors.Connection:{self.secret_id}:{self.organization_id}".encode()

    def set_headers(self, headers: dict[str, str]) -> None:
        self.header_names = sorted(headers)
        self.headers_ciphertext = vault.encrypt(json.dumps(headers).encode(), aad=self._aad()) if headers else None

    def get_headers(self) -> dict[str, str]:
        if not self.headers_ciphertext:
            return {}
        return json.loads(vault.decrypt(self.headers_ciphertext, aad=self._aad()))


class Credential(OrganizationOwned):
    """The OAuth grant behind a GitHub or Google connection: its tokens encrypted, what is displayable beside.

    It outlives its connection on purpose (``SET_NULL``): a disconnected or deleted connection's grant is still
    revoked at the provider by a background task, which needs the token until it has succeeded.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        REVOKING = "revoking", "Disconnected: revoking at the provider"
        REVOKED = "revoked", "Disconnected and revoked at the provider"
        REVOKE_FAILED = "revoke_failed", "Disconnected: revocation at the provider failed"

    class Access(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    connection = models.OneToOneField(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="credential"
    )
    provider = models.CharField(max_length=16, choices=Connection.Kind.choices)
    secret_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    tokens_ciphertext = models.BinaryField(null=True, blank=True)
    # Bumped by every refresh: caches of the decrypted token are keyed by it.
    version = models.PositiveIntegerField(default=1)
    access = models.CharField(max_length=8, choices=Access.choices, default=Access.READ)
    scopes = models.JSONField(default=list, blank=True)  # as granted by the provider
    expires_at = models.DateTimeField(null=True, blank=True)  # None: the access token does not expire
    refreshable = models.BooleanField(default=False)
    account_id = models.CharField(max_length=64, blank=True)
    account_login = models.CharField(max_length=254, blank=True)
    account_email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    last_error = models.TextField(blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoke_attempts = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="credential_due")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.account_label}"

    @property
    def account_label(self) -> str:
        return self.account_login or self.account_email or self.account_id or "unknown account"

    def _aad(self) -> bytes:
        return f"connectors.Credential:{self.secret_id}:{self.organization_id}".encode()

    def set_tokens(self, *, access_token: str, refresh_token: str | None) -> None:
        payload = {"access_token": access_token, "refresh_token": refresh_token or ""}
        self.tokens_ciphertext = vault.encrypt(json.dumps(payload).encode(), aad=self._aad())
        self.refreshable = bool(refresh_token)

    def get_tokens(self) -> dict[str, str]:
        if not self.tokens_ciphertext:
            return {}
        return json.loads(vault.decrypt(self.tokens_ciphertext, aad=self._aad()))

    def wipe_tokens(self) -> None:
        self.tokens_ciphertext = None
        self.refreshable = False


class CatalogItem(OrganizationOwned):
    """One tool, resource, resource template or prompt a connection offers, as last discovered."""

    class Kind(models.TextChoices):
        TOOL = "tool", "Tool"
        RESOURCE = "resource", "Resource"
        TEMPLATE = "template", "Resource template"
        PROMPT = "prompt", "Prompt"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CHANGED = "changed", "Changed upstream: awaiting approval"
        REMOVED = "removed", "No longer offered"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=2000)  # tool or prompt name, resource URI, or URI template
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    definition = models.JSONField(default=dict)  # the upstream's object as it came (inputSchema, annotations...)
    # Which arguments name a resource the permission matrix can constrain, and where a listing result holds
    # resources it can filter: {"arguments": {"repo": "repository"},
    # "listing": {"items": "items", "field": "full_name", "resource": "repository"}}. Built-in tools declare it;
    # an admin may declare it for an upstream tool. Never shown to agents.
    resources = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64)
    approved_fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind", "name"], name="catalog_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.kind}:{self.name}"
