"""Celery beat jobs of the audit trail: sealing the chain, retention, and the push to each organization's SIEM."""

from __future__ import annotations

from celery import shared_task

from audit.changes import audit_context
from audit.sealing import retention_enforce, seal_all
from audit.siem import siem_due, siem_push


@shared_task(name="audit.seal")
def audit_seal() -> int:
    return seal_all()


@shared_task(name="audit.retention")
def audit_retention() -> dict[int, int]:
    with audit_context(via="system"):
        return retention_enforce()


@shared_task(name="audit.siem_push_due", ignore_result=True)
def siem_push_due() -> None:
    """One push task per organization whose SIEM push is due (not waiting out a backoff)."""
    for sink_id in siem_due():
        siem_push_sink.delay(sink_id)


@shared_task(name="audit.siem_push_sink", ignore_result=True)
def siem_push_sink(sink_id: int) -> dict:
    result = siem_push(sink_id=sink_id)
    return {"sent": result.sent, "batches": result.batches, "error": result.error, "skipped": result.skipped}


@shared_task(name="audit.verify_run", ignore_result=True)
def audit_verify_run(run_id: int) -> None:
    from audit.verify_runs import verify_run_execute

    with audit_context(via="system"):
        verify_run_execute(run_id)
