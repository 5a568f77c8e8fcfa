"""Approval requests: a call under an "ask" rule waits while a person approves once, approves always (which adds
or widens a rule) or denies it.

The waiting gateway call listens on the channel layer group ``approval_group(token)``; a verdict is sent there
once it commits, from whichever process the person's browser reached. The call also re-reads the row every
``APPROVAL_POLL_SECONDS``, so a message lost on the way only delays it. Pages learn of new and decided requests
through the organization's event group (``approval.created`` / ``approval.decided``).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.consumers import org_broadcast
from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change
from audit.redact import redact
from policies.models import ApprovalRequest, Rule
from policies.rules import changed, rule_create, rule_update

logger = logging.getLogger(__name__)
VERDICTS = ("approve", "approve_always", "deny")


def new_token() -> str:
    return secrets.token_hex(16)


def approval_group(token: str) -> str:
    return f"sg.approval.{token}"


def approval_open(
    *,
    token: str,
    organization_id: int,
    agent_id: int,
    rule_id: int | None,
    connection_id: int,
    tool: str,
    upstream_name: str,
    arguments: dict[str, Any],
    reason: str,
    timeout_seconds: float,
) -> int:
    """Stores a pending request (the gateway calls this; no person acted yet) and returns its id."""
    approval = ApprovalRequest.objects.create(
        organization_id=organization_id,
        token=token,
        agent_id=agent_id,
        rule_id=rule_id,
        connection_id=connection_id,
        tool=tool[:300],
        upstream_name=upstream_name[:2000],
        arguments=redact(arguments),
        reason=reason[:500],
        expires_at=timezone.now() + timedelta(seconds=timeout_seconds),
    )
    return approval.pk


def approval_status(token: str) -> str:
    """The request's status as stored: the waiting call's fallback when a message did not reach it."""
    return ApprovalRequest.objects.filter(token=token).values_list("status", flat=True).first() or "expired"


def approval_expire(token: str) -> bool:
    """Marks a request that nobody decided in time (or whose call went away); False if it was decided first."""
    return bool(
        ApprovalRequest.objects.filter(token=token, status=ApprovalRequest.Status.PENDING).update(
            status=ApprovalRequest.Status.EXPIRED, decided_at=timezone.now()
        )
    )


async def _announce(token: str, status: str, organization_id: int, approval_id: int) -> None:
    layer = get_channel_layer()
    await layer.group_send(approval_group(token), {"type": "approval.verdict", "status": status})
    await org_broadcast(organization_id, "approval.decided", {"id": approval_id, "status": status})


def _announce_after_commit(approval: ApprovalRequest) -> None:
    def send() -> None:
        try:
            async_to_sync(_announce)(approval.token, approval.status, approval.organization_id, approval.pk)
        except Exception:
            # The waiting call re-reads the row within APPROVAL_POLL_SECONDS; pages refresh on their next event.
            logger.exception("could not announce the verdict on approval %s", approval.pk)

    transaction.on_commit(send)


def _approve_always(ctx: OrgContext, approval: ApprovalRequest) -> None:
    """From now on the agent may call this tool without asking: the ask rule on exactly this tool becomes an
    allow rule, or an allow rule on the tool is added with the ask rule's constraints and rate limit (so that
    approving always never widens what arguments are allowed)."""
    ask = approval.rule
    if ask is not None and ask.target == Rule.Target.TOOL and ask.name == approval.upstream_name:
        rule_update(ctx=ctx, rule_id=ask.pk, effect=Rule.Effect.ALLOW)
        return
    rule_create(
        ctx=ctx,
        agent_id=approval.agent_id,
        effect=Rule.Effect.ALLOW,
        connection_id=approval.connection_id,
        target=Rule.Target.TOOL,
        name=approval.upstream_name,
        constraints=ask.constraints if ask else [],
        rate_limit=ask.rate_limit if ask else None,
        rate_period=ask.rate_period if ask else Rule.Period.MINUTE,
        rate_burst=ask.rate_burst if ask else None,
    )


@transaction.atomic
def approval_decide(*, ctx: OrgContext, approval_id: int, verdict: str) -> ApprovalRequest:
    ctx.require(Perm.GOVERN)
    if verdict not in VERDICTS:
        raise ValidationError({"verdict": ["Choose approve, approve_always or deny."]})
    approval = ctx.get(
        ApprovalRequest.objects.select_for_update(of=("self",)).select_related("agent", "rule"), pk=approval_id
    )
    if approval.status != ApprovalRequest.Status.PENDING:
        raise ValidationError({"verdict": [f"This request is already {approval.get_status_display().lower()}."]})
    if approval.expires_at <= timezone.now():
        raise ValidationError({"verdict": ["This request timed out: the call was refused."]})
    approval.status = ApprovalRequest.Status.REJECTED if verdict == "deny" else ApprovalRequest.Status.APPROVED
    approval.always = verdict == "approve_always"
    approval.decided_by = ctx.user
    approval.decided_at = timezone.now()
    approval.save()
    record_change(
        ctx,
        action=f"approval.{verdict}",
        target=approval,
        target_type="approval",
        target_repr=f"{approval.agent.name}: {approval.tool}",
        before={"status": ApprovalRequest.Status.PENDING},
        after={"status": approval.status, "always": approval.always, "arguments": approval.arguments},
    )
    if approval.always:
        _approve_always(ctx, approval)
        changed(approval.agent.public_id)
    _announce_after_commit(approval)
    return approval


def pending(ctx: OrgContext):
    """Requests still waiting: pending and not past their timeout (a call whose node died leaves one behind)."""
    return ctx.scoped(ApprovalRequest).filter(status=ApprovalRequest.Status.PENDING, expires_at__gt=timezone.now())
