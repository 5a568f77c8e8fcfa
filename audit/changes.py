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

from audit import chain
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
    """Records that ``actor`` (a User; None for the system) did ``action`` ("rule.update") to a target.

    ``before`` and ``after`` are JSON-able snapshots of the fields a reader cares about; secrets in them are
    redacted here as a last line of defence, but callers should not pass secrets at all.
    """
    row = _base(Event.Kind.CHANGE if actor is not None else Event.Kind.SYSTEM, organization_id)
    row.update(
        actor_type=Event.Actor.USER if actor is not None else Event.Actor.SYSTEM,
        user_id=getattr(actor, "pk", None),
        user_email=(getattr(actor, "email", "") or "")[:254],
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
