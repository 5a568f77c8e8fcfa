"""Celery beat jobs of the audit trail: sealing the chain, and retention."""

from __future__ import annotations

from celery import shared_task

from audit.changes import audit_context
from audit.sealing import retention_enforce, seal_all


@shared_task(name="audit.seal")
def audit_seal() -> int:
    return seal_all()


@shared_task(name="audit.retention")
def audit_retention() -> dict[int, int]:
    with audit_context(via="system"):
        return retention_enforce()
