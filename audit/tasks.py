"""Celery tasks of the audit trail."""

from __future__ import annotations

from celery import shared_task

from audit.siem import siem_due, siem_push


@shared_task(ignore_result=True)
def siem_push_due() -> None:
    """Run by beat: one push task per organization whose SIEM push is due (not waiting out a backoff)."""
    for sink_id in siem_due():
        siem_push_sink.delay(sink_id)


@shared_task(ignore_result=True)
def siem_push_sink(sink_id: int) -> dict:
    result = siem_push(sink_id=sink_id)
    return {"sent": result.sent, "batches": result.batches, "error": result.error, "skipped": result.skipped}
