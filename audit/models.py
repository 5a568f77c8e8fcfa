"""The audit trail: one append-only, hash-chained event per thing that happened.

Three kinds of events share one table (one chain, one export, one page):
- ``mcp``: a request to an agent's endpoint and its decision. A call that reaches an upstream is written
  before it is forwarded (outcome "pending") and its outcome follows as an ``outcome`` row naming it.
- ``change``: a person changed something (who, through what, before, after).
- ``system``: ScopeGate itself did something (token refresh, provider revocation, key rotation, retention).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import OrganizationOwned
from connectors import vault


class Event(models.Model):
    """Copies names as text: an event outlives the agent, key, user or connection it mentions.

    Not an ``OrganizationOwned`` subclass on purpose: deleting an organization must not cascade through its
    trail silently; retention decides when rows go. Rows are never updated: the hash chain
    (``segment``, ``seq``, ``hash``) makes an edit, a deletion, an insertion or a reordering detectable.
    """

    class Kind(models.TextChoices):
        MCP = "mcp", "MCP request"
        OUTCOME = "outcome", "Outcome of an MCP request"
        CHANGE = "change", "Change by a person"
        SYSTEM = "system", "System action"

    class Actor(models.TextChoices):
        AGENT = "agent", "Agent"
        USER = "user", "Person"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"
        ANONYMOUS = "anonymous", "Unauthenticated"

    class Decision(models.TextChoices):
        ALLOW = "allow", "Allowed"
        DENY = "deny", "Denied"
        ASK = "ask", "Awaiting approval"
        APPROVED = "approved", "Approved by a person"
        REJECTED = "rejected", "Rejected by a person"
        RATE_LIMITED = "rate_limited", "Rate-limited"
        NONE = "none", "No decision needed"

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        ERROR = "error", "Failed"
        REFUSED = "refused", "Refused"
        PENDING = "pending", "Forwarded, outcome follows"

    class Via(models.TextChoices):
        MCP = "mcp", "MCP endpoint"
        PAGE = "page", "Dashboard"
        API = "api", "REST API"
        COMMAND = "command", "Command line"
        SYSTEM = "system", "System"

    time = models.DateTimeField(default=timezone.now)  # every read is per organization: see the indexes
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MCP)
    organization_id = models.BigIntegerField(null=True)
    # Who: an agent (and its key), a person, or the system.
    actor_type = models.CharField(max_length=10, choices=Actor.choices, default=Actor.AGENT)
    agent_id = models.BigIntegerField(null=True)
    agent_name = models.CharField(max_length=100, blank=True)
    key_prefix = models.CharField(max_length=24, blank=True)
    user_id = models.BigIntegerField(null=True)
    user_email = models.CharField(max_length=254, blank=True)
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.MCP)
    client_name = models.CharField(max_length=100, blank=True)
    client_version = models.CharField(max_length=50, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    session_ref = models.CharField(max_length=16, blank=True)  # a digest prefix, never the session token
    request_id = models.CharField(max_length=100, blank=True)
    # What: the MCP method, or the action of a change ("rule.create").
    method = models.CharField(max_length=64, blank=True)
    connection = models.CharField(max_length=32, blank=True)
    tool = models.CharField(max_length=300, blank=True)  # the tool, resource URI or prompt the request named
    arguments = models.JSONField(null=True, blank=True)  # redacted and size-capped
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # How it went.
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.NONE)
    rule_id = models.BigIntegerField(null=True)
    # How the decision was reached, step by step: [{"step": "rule", "rule": 12, "effect": "allow", "reason": ...}]
    trace = models.JSONField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OK)
    parent_id = models.BigIntegerField(null=True)  # an outcome row names the event it completes
    upstream_ms = models.FloatField(null=True)
    latency_ms = models.FloatField(null=True)
    result_bytes = models.IntegerField(null=True)
    error = models.TextField(blank=True)
    # The chain: each writer appends to its own segment; seq counts from 1 within (organization, segment).
    segment = models.CharField(max_length=32, blank=True)
    seq = models.BigIntegerField(null=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [
            models.Index(fields=["organization_id", "-time"], name="audit_event_org_time"),
            models.Index(fields=["organization_id", "segment", "seq"], name="audit_event_chain"),
            models.Index(fields=["parent_id"], name="audit_event_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.kind} {self.method} {self.tool} {self.decision} {self.outcome}"


class ChainHead(models.Model):
    """The last link of a chain segment written inside database transactions (changes, system events).

    A writer locks this row, links its event to it and moves it, all in the caller's transaction: a change that
    rolls back takes its event and the head's move with it, so the chain never has a gap that nothing fills.
    """

    organization_id = models.BigIntegerField(null=True)
    segment = models.CharField(max_length=32)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "segment"], name="audit_chainhead_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.segment}@{self.seq}"


class Checkpoint(models.Model):
    """A signed statement about one chain segment, which the database alone cannot forge.

    A *seal* says "this segment had reached ``seq`` with ``hash``": rows up to there cannot be deleted from the
    end unseen. A *horizon* says "retention removed this segment's rows up to ``seq``, the last of which had
    ``hash``": verification starts after it instead of reporting the removed rows missing.
    """

    class Kind(models.TextChoices):
        SEAL = "seal", "Seal"
        HORIZON = "horizon", "Retention horizon"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    organization_id = models.BigIntegerField(null=True)
    segment = models.CharField(max_length=32)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    signature = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["organization_id", "segment", "kind", "-seq"], name="audit_checkpoint_seg")]

    def __str__(self) -> str:
        return f"{self.kind} {self.organization_id}:{self.segment}@{self.seq}"

    def statement(self) -> str:
        return f"{self.kind}:{self.organization_id}:{self.segment}:{self.seq}:{self.hash}"


class SiemSink(OrganizationOwned):
    """Where an organization's events are pushed (a SIEM's HTTPS webhook), and how far delivery has got.

    The signing secret is shown once and kept encrypted, bound to this row and organization. Delivery walks the
    trail in (time, id) order from the stored cursor; a failure backs off exponentially (``next_attempt_at``).
    """

    url = models.URLField(max_length=2000)
    enabled = models.BooleanField(default=True)
    secret_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    secret_ciphertext = models.BinaryField()
    secret_prefix = models.CharField(max_length=24, blank=True)  # shown to tell secrets apart
    created_at = models.DateTimeField(default=timezone.now)
    # Delivery state.
    cursor_time = models.DateTimeField(null=True, blank=True)
    cursor_id = models.BigIntegerField(default=0)
    delivered = models.BigIntegerField(default=0)
    failures = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="audit_siemsink_one_per_org")]

    def __str__(self) -> str:
        return f"SIEM push of {self.organization_id} to {self.url}"

    def _aad(self) -> bytes:
        return f"audit.SiemSink:{self.secret_id}:{self.organization_id}".encode()

    def set_secret(self, secret: str) -> None:
        self.secret_ciphertext = vault.encrypt(secret.encode(), aad=self._aad())
        self.secret_prefix = secret[:12]

    def get_secret(self) -> str:
        return vault.decrypt(self.secret_ciphertext, aad=self._aad()).decode()


class VerifyRun(OrganizationOwned):
    """One integrity check of an organization's trail, asked for on the Activity page and run by a Celery worker
    (a long trail takes longer than a request may); the page follows its progress and shows its verdict."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.BigIntegerField(default=0)  # events checked so far, then in all
    segments = models.IntegerField(default=0)
    ok = models.BooleanField(null=True)
    first_break = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_verifyrun_org")]

    def __str__(self) -> str:
        return f"integrity check {self.pk} of organization {self.organization_id}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
