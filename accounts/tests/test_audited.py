"""Every change people make to an organization leaves an audit event: who, through what, before and after."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import api_token_issue, api_token_revoke, membership_change_role, organization_rename
from audit.changes import audit_context
from audit.models import Event
from audit.verify import verify_organization

pytestmark = pytest.mark.django_db


def changes(org_id: int) -> list[Event]:
    return list(Event.objects.filter(organization_id=org_id, kind="change").order_by("seq"))


def test_a_role_change_records_who_before_and_after(world):
    ctx = world.ctx("owner")
    member = Membership.objects.get(organization=world.acme, user=world.member)
    with audit_context(via="page", source_ip="192.0.2.7", request_id="req-1"):
        membership_change_role(ctx=ctx, membership_id=member.pk, role="admin")
    event = changes(world.acme.pk)[-1]
    assert event.method == "membership.role" and event.user_email == world.owner.email
    assert event.before["role"] == "member" and event.after["role"] == "admin"
    assert (event.via, event.source_ip, event.request_id) == ("page", "192.0.2.7", "req-1")
    assert verify_organization(world.acme.pk).ok


def test_a_failed_change_leaves_no_event(world):
    ctx = world.ctx("owner")
    before = len(changes(world.acme.pk))
    with pytest.raises(Exception):  # noqa: B017 (a validation error of any shape)
        organization_rename(ctx=ctx, name="x" * 500)
    assert len(changes(world.acme.pk)) == before


def test_api_tokens_are_audited_without_their_secret(world):
    ctx = world.ctx("owner")
    token, secret = api_token_issue(ctx=ctx, name="ci", role="member")
    api_token_revoke(ctx=ctx, token_id=token.pk)
    issued, revoked = changes(world.acme.pk)[-2:]
    assert issued.method == "api_token.issue" and revoked.method == "api_token.revoke"
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"]
    assert secret not in str(issued.after) + str(revoked.after)
