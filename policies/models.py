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
    """Allow or deny one agent something of one connection: everything, every item of a kind, or one item.

    Default deny; a matching deny wins over any allow. The policies issue adds patterns, annotations,
    argument constraints, "ask", rate limits and expiry to this same row.
    """

    class Effect(models.TextChoices):
        ALLOW = "allow", "Allow"
        DENY = "deny", "Deny"

    class Target(models.TextChoices):
        ALL = "all", "Everything of the connection"
        TOOL = CatalogItem.Kind.TOOL
        RESOURCE = CatalogItem.Kind.RESOURCE
        PROMPT = CatalogItem.Kind.PROMPT

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rules")
    effect = models.CharField(max_length=8, choices=Effect.choices)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.ALL)
    name = models.CharField(max_length=2000, blank=True)  # empty: every item of the target kind
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connection_id", "target", "name", "id"]

    def __str__(self) -> str:
        return f"{self.effect} {self.connection_id}:{self.target}:{self.name or '*'}"
