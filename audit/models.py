"""The audit trail: one append-only row per request and decision."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Copies names as text: an event outlives the agent, key or connection it mentions.

    Not an ``OrganizationOwned`` subclass on purpose: deleting an organization must not cascade through its
    trail silently; the retention task of the audit issue decides when rows go.
    """

    class Decision(models.TextChoices):
        ALLOW = "allow", "Allowed"
        DENY = "deny", "Denied"
        NONE = "none", "No decision needed"

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        ERROR = "error", "Failed"
        REFUSED = "refused", "Refused"

    time = models.DateTimeField(default=timezone.now, db_index=True)
    organization_id = models.BigIntegerField(null=True, db_index=True)
    agent_id = models.BigIntegerField(null=True)
    agent_name = models.CharField(max_length=100, blank=True)
    key_prefix = models.CharField(max_length=24, blank=True)
    method = models.CharField(max_length=64, blank=True)
    tool = models.CharField(max_length=300, blank=True)  # the tool, resource URI or prompt the request named
    connection = models.CharField(max_length=32, blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.NONE)
    rule_id = models.BigIntegerField(null=True)
    latency_ms = models.FloatField(null=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error = models.TextField(blank=True)
    request_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["organization_id", "-time"], name="audit_event_org_time")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.tool} {self.decision} {self.outcome}"
