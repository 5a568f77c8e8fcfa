"""Events written inside database transactions: changes made by people, and actions of the system.

``change_record`` is called by the services that make a change, inside their ``transaction.atomic()``: the
event commits with the change or not at all, and a failure to write it raises, so the change rolls back (fail
closed). Who and through what come from ``audit_context`` (set per request by ``AuditContextMiddleware``, by
management commands and by Celery tasks); the caller says what changed.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import chain, live
from audit.models import ChainHead, Event
from audit.redact import redact

TX_SEGMENT = "tx"
# Every column's default, so that the row hashed is the row stored.
_DEFAULTS = {f.attname: f.get_default() for f in Event._meta.concrete_fields if not f.primary_key}


@dataclass(frozen=True)
class AuditContext:
    via: str = Event.Via.SYSTEM
    source_ip: str | None = None
    request_id: str = ""
    client_name: str = ""


_DEFAULT = AuditContext()
_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audit_context",
    default=_DEFAULT,
)


def current_context() -> AuditContext:
    return _context.get()


@contextlib.contextmanager
def audit_context(**fields: Any) -> Iterator[AuditContext]:
    token = _context.set(replace(_context.get(), **fields))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def _append(row: dict[str, Any]) -> Event:
    """Links ``row`` to the transactional segment of its organization and inserts it; needs a transaction."""
    head, _ = ChainHead.objects.select_for_update().get_or_create(
        organization_id=row["organization_id"], segment=TX_SEGMENT, defaults={"seq": 0, "hash": ""}
    )
    prev = head.hash or chain.genesis(row["organization_id"], TX_SEGMENT)
    row.update(segment=TX_SEGMENT, seq=head.seq + 1)
    row["hash"] = chain.link(prev, row)
    event = Event.objects.create(**row)
    head.seq, head.hash = row["seq"], row["hash"]
    head.save(update_fields=["seq", "hash"])
    live.publish_after_commit({**row, "id": event.pk})
    return event


def ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def _base(kind: str, organization_id: int | None) -> dict[str, Any]:
    ctx = current_context()
    return {
        **_DEFAULTS,
        "time": timezone.now(),
        "kind": kind,
        "organization_id": organization_id,
        "via": ctx.via,
        "source_ip": ip_or_none(ctx.source_ip),
        "request_id": ctx.request_id[:100],
        "client_name": ctx.client_name[:100],
        "outcome": Event.Outcome.OK,
        "decision": Event.Decision.NONE,
    }


def change_record(
    *,
    organization_id: int | None,
    actor: Any,
    action: str,
    target_type: str,
    target_id: Any,
    target_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    error: str = "",
) -> Event:
    """Records that ``actor`` did ``action`` ("rule.update") to a target.

    ``actor``: the request's OrgContext (a person, or the API token acting), a User, or None for the system.

    ``before`` and ``after`` are JSON-able snapshots of the fields a reader cares about; secrets in them are
    redacted here as a last line of defence, but callers should not pass secrets at all.
    """
    user, token = (actor.user, actor.token) if hasattr(actor, "role") and hasattr(actor, "token") else (actor, None)
    row = _base(Event.Kind.CHANGE if user is not None or token is not None else Event.Kind.SYSTEM, organization_id)
    if user is not None:
        row.update(actor_type=Event.Actor.USER, user_id=user.pk, user_email=(user.email or "")[:254])
    elif token is not None:
        row.update(
            actor_type=Event.Actor.TOKEN,
            key_prefix=token.prefix[:24],
            user_id=token.created_by_id,
            user_email=f"API token {token.name}"[:254],
        )
    else:
        row.update(actor_type=Event.Actor.SYSTEM)
    row.update(
        method=action[:64],
        target_type=target_type[:32],
        target_id=str(target_id)[:64],
        target_repr=chain.clean_text(target_repr)[:300],
        before=redact(before, max_bytes=65536),
        after=redact(after, max_bytes=65536),
        error=error[:2000],
    )
    if row["actor_type"] == Event.Actor.SYSTEM and row["via"] != Event.Via.COMMAND:
        row["via"] = Event.Via.SYSTEM
    with transaction.atomic():
        return _append(row)


def snapshot(instance: Any, fields: list[str]) -> dict[str, Any]:
    """The named fields of a model instance as JSON-able values, for ``before`` and ``after``."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(instance, name, None)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "pk"):
            value = value.pk
        elif not isinstance(value, str | int | float | bool | list | dict | type(None)):
            value = str(value)
        out[name] = value
    return out


def record_change(
    ctx: Any,
    *,
    action: str,
    target: Any,
    before: dict | None = None,
    after: dict | None = None,
    target_type: str = "",
    target_repr: str = "",
) -> Event:
    """``change_record`` for a model instance changed through a request's OrgContext (its model's name and its
    ``str()`` unless given)."""
    return change_record(
        organization_id=ctx.organization.pk,
        actor=ctx,
        action=action,
        target_type=target_type or target._meta.model_name,
        target_id=target.pk,
        target_repr=target_repr or str(target),
        before=before,
        after=after,
    )


def record_system(target: Any, *, action: str, detail: dict | None = None, error: str = "") -> Event:
    """``system_record`` about an organization's model instance (a credential refreshed, revoked...)."""
    return system_record(
        organization_id=target.organization_id,
        action=action,
        target_type=target._meta.model_name,
        target_id=target.pk,
        target_repr=str(target),
        detail=detail,
        error=error,
    )


def system_record(
    *,
    organization_id: int | None,
    action: str,
    target_type: str = "",
    target_id: Any = "",
    target_repr: str = "",
    detail: dict | None = None,
    error: str = "",
) -> Event:
    """Records what ScopeGate itself did (a token refresh, a revocation at a provider, a key rotation)."""
    return change_record(
        organization_id=organization_id,
        actor=None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        after=detail,
        error=error,
    )


def new_request_id() -> str:
    return uuid.uuid4().hex
