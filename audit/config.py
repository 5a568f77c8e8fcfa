"""Writes of an organization's audit settings: how long its trail is kept, and where it is pushed (SIEM).

Each change is audited (``change_record``) in the same transaction; the signing secret never enters an event.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import change_record
from audit.models import SiemSink
from connectors.services import check_upstream_url

RETENTION_MIN, RETENTION_MAX = 1, 3650
SECRET_PREFIX = "sg_whsec_"


def _snapshot(sink: SiemSink | None) -> dict[str, Any] | None:
    if sink is None:
        return None
    return {"url": sink.url, "enabled": sink.enabled, "secret_prefix": sink.secret_prefix}


@transaction.atomic
def retention_update(*, ctx: OrgContext, days: int) -> Organization:
    ctx.require(Perm.MANAGE_ORG)
    if isinstance(days, bool) or not isinstance(days, int) or not RETENTION_MIN <= days <= RETENTION_MAX:
        raise ValidationError({"days": [f"Keep events between {RETENTION_MIN} and {RETENTION_MAX} days."]})
    org = Organization.objects.select_for_update().get(pk=ctx.organization.pk)
    before = org.audit_retention_days
    if before != days:
        org.audit_retention_days = days
        org.save(update_fields=["audit_retention_days"])
        change_record(
            organization_id=org.pk,
            actor=ctx,
            action="organization.audit_retention",
            target_type="organization",
            target_id=org.pk,
            target_repr=org.name,
            before={"audit_retention_days": before},
            after={"audit_retention_days": days},
        )
    return org


def siem_url_check(url: str) -> str:
    """An HTTPS URL that does not reach a private network (plain HTTP only where the operator allows private
    upstreams, i.e. a try on one machine)."""
    url = (url or "").strip()
    check_upstream_url(url)
    if urlsplit(url).scheme != "https" and not settings.ALLOW_PRIVATE_UPSTREAMS:
        raise ValidationError({"url": ["Enter an https:// URL."]})
    return url


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def siem_get(*, ctx: OrgContext) -> SiemSink | None:
    return ctx.scoped(SiemSink).first()


@transaction.atomic
def siem_configure(*, ctx: OrgContext, url: str, enabled: bool = True) -> tuple[SiemSink, str | None]:
    """Creates or updates the organization's SIEM push; returns the new signing secret when one was made (on
    creation), to be shown once."""
    ctx.require(Perm.MANAGE_ORG)
    url = siem_url_check(url)
    sink = ctx.scoped(SiemSink).select_for_update().first()
    before = _snapshot(sink)
    secret = None
    if sink is None:
        # A new push starts from now: the SIEM receives what happens from here on (its own creation included).
        sink = SiemSink(organization=ctx.organization, url=url, enabled=enabled, cursor_time=timezone.now())
        secret = _new_secret()
        sink.set_secret(secret)
    else:
        sink.url, sink.enabled = url, enabled
    # A changed destination or a re-enabled push is retried now rather than after an old backoff.
    sink.failures, sink.next_attempt_at = 0, None
    sink.save()
    change_record(
        organization_id=ctx.organization.pk,
        actor=ctx,
        action="siem.create" if before is None else "siem.update",
        target_type="siem",
        target_id=sink.pk,
        target_repr=url,
        before=before,
        after=_snapshot(sink),
    )
    return sink, secret


@transaction.atomic
def siem_secret_rotate(*, ctx: OrgContext) -> tuple[SiemSink, str]:
    ctx.require(Perm.MANAGE_ORG)
    sink = ctx.scoped(SiemSink).select_for_update().first()
    if sink is None:
        raise ValidationError("Set up a SIEM push first.")
    before = _snapshot(sink)
    secret = _new_secret()
    sink.set_secret(secret)
    sink.save(update_fields=["secret_ciphertext", "secret_prefix"])
    change_record(
        organization_id=ctx.organization.pk,
        actor=ctx,
        action="siem.secret_rotate",
        target_type="siem",
        target_id=sink.pk,
        target_repr=sink.url,
        before=before,
        after=_snapshot(sink),
    )
    return sink, secret


@transaction.atomic
def siem_delete(*, ctx: OrgContext) -> None:
    ctx.require(Perm.MANAGE_ORG)
    sink = ctx.scoped(SiemSink).select_for_update().first()
    if sink is None:
        return
    change_record(
        organization_id=ctx.organization.pk,
        actor=ctx,
        action="siem.delete",
        target_type="siem",
        target_id=sink.pk,
        target_repr=sink.url,
        before=_snapshot(sink),
        after=None,
    )
    sink.delete()
