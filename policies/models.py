"""Agents, their keys, and the rules of their permission matrix."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from accounts.models import BearerSecret, OrganizationOwned, User
from connectors.models import CatalogItem, Connection


def new_public_id() -> str:
    return "agt_" + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


class Agent(OrganizationOwned):
    name = models.CharField(max_length=100)
    # The agent's endpoint is /mcp/<public_id>: random, so that it reveals nothing of the organization.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    description = models.TextField(blank=True, max_length=2000)
    # When set, the agent sees this one connection's tools without prefixes.
    mount = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_active = models.BooleanField(default=True)
    # Bumped with every announced change of what the gateway caches about this agent: a node whose cache has
    # aged compares it (one small query) before recompiling the whole policy.
    policy_epoch = models.PositiveBigIntegerField(default=0, editable=False)
    # Calls per period over all of the agent's tools (None: unlimited); rules add limits per tool.
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_period = models.CharField(max_length=8, default="minute")
    rate_burst = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="agent_unique_name")]

    def __str__(self) -> str:
        return self.name


class AgentKey(BearerSecret):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="keys")

    class Meta(BearerSecret.Meta):
        pass


class Rule(OrganizationOwned):
    """Allow, ask or deny one agent something: everything of a connection, every item of a kind, one item, the
    tools whose prefixed name matches a glob (``github__create_*``), or the tools an annotation marks.

    Default deny; a matching deny wins over everything; otherwise the most specific matching rule decides
    (policies.compiled). Allow and ask rules may carry argument constraints (policies.constraints), a rate limit
    per tool and an expiry. A rule without a connection applies to every connection (patterns and annotations).
    """

    class Effect(models.TextChoices):
        ALLOW = "allow", "Allow"
        ASK = "ask", "Ask a person"
        DENY = "deny", "Deny"

    class Target(models.TextChoices):
        ALL = "all", "Everything of the connection"
        TOOL = CatalogItem.Kind.TOOL
        RESOURCE = CatalogItem.Kind.RESOURCE
        PROMPT = CatalogItem.Kind.PROMPT
        PATTERN = "pattern", "Tools matching a pattern"
        ANNOTATION = "annotation", "Tools with an annotation"

    class Annotation(models.TextChoices):
        READ_ONLY = "read_only", "Read-only tools"
        DESTRUCTIVE = "destructive", "Destructive tools"

    class Period(models.TextChoices):
        MINUTE = "minute", "per minute"
        HOUR = "hour", "per hour"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rules")
    effect = models.CharField(max_length=8, choices=Effect.choices)
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.ALL)
    # The item's name ("" = every item of the kind), the glob of a pattern, or the annotation.
    name = models.CharField(max_length=2000, blank=True)
    # [{"argument": "repo", "op": "one_of", "values": ["acme/web"]}, {"resource": "repository", ...}]
    constraints = models.JSONField(default=list, blank=True)
    rate_limit = models.PositiveIntegerField(null=True, blank=True)  # calls per period, per tool
    rate_period = models.CharField(max_length=8, choices=Period.choices, default=Period.MINUTE)
    rate_burst = models.PositiveIntegerField(null=True, blank=True)  # calls at once; default 1
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connection_id", "target", "name", "id"]

    def __str__(self) -> str:
        return f"{self.effect} {self.connection_id or '*'}:{self.target}:{self.name or '*'}"


class ApprovalRequest(OrganizationOwned):
    """A call under an "ask" rule, waiting for a person. The waiting gateway call learns the verdict through the
    channel layer group named by ``token`` (and re-reads this row as a fallback)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Denied"
        EXPIRED = "expired", "Timed out"

    token = models.CharField(max_length=40, unique=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="approvals")
    rule = models.ForeignKey(Rule, null=True, on_delete=models.SET_NULL, related_name="+")
    connection = models.ForeignKey(Connection, null=True, on_delete=models.SET_NULL, related_name="+")
    tool = models.CharField(max_length=300)  # as the agent named it
    upstream_name = models.CharField(max_length=2000)
    arguments = models.JSONField(null=True, blank=True)  # redacted and size-capped, as the audit keeps them
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    always = models.BooleanField(default=False)  # approved always: a rule was added
    decided_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "status"], name="approval_org_status")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"
