"""Integrity checks in the background: asked for on the Activity page, run by a Celery worker, followed live.

Walking a long trail takes longer than a request may, so the page queues a ``VerifyRun`` and polls it; the
worker records its progress every 20,000 events and its verdict, and the verdict itself enters the trail (a
system event naming the first broken link, if any). One check per organization at a time: asking again while one
is under way follows that one. ``manage.py audit_verify`` stays synchronous for the command line.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from audit.changes import record_change, record_system
from audit.models import VerifyRun
from audit.verify import verify_organization

logger = logging.getLogger(__name__)
# A check queued or running for longer than this is taken for lost (its worker died): a new one may start.
STALE = dt.timedelta(minutes=15)
PROGRESS_EVERY = 20_000


def verify_request(ctx) -> VerifyRun:
    """The organization's check under way, or a new one queued for a worker."""
    from audit.tasks import audit_verify_run

    with transaction.atomic():
        under_way = (
            ctx.scoped(VerifyRun)
            .select_for_update()
            .filter(
                status__in=[VerifyRun.Status.QUEUED, VerifyRun.Status.RUNNING],
                created_at__gte=timezone.now() - STALE,
            )
            .order_by("-created_at")
            .first()
        )
        if under_way is not None:
            return under_way
        run = VerifyRun.objects.create(organization=ctx.organization, requested_by=ctx.user)
        record_change(ctx, action="audit.verify", target=run, after={"status": run.status})

        def enqueue() -> None:
            try:
                audit_verify_run.delay(run.pk)
            except Exception as exc:  # the broker is down: say so on the page rather than wait forever
                logger.error("integrity check %s could not be queued: %r", run.pk, exc)
                _failed(
                    run.pk,
                    "The check could not be queued (the task queue is unavailable); try again shortly.",
                    status=VerifyRun.Status.QUEUED,
                )

        transaction.on_commit(enqueue)
    run.refresh_from_db()  # with an eager queue (the embedded default) it has already run
    return run


def verify_run_execute(run_id: int) -> VerifyRun | None:
    """The worker's side: runs a queued check once (a duplicate delivery finds it taken) and records the verdict."""
    taken = VerifyRun.objects.filter(pk=run_id, status=VerifyRun.Status.QUEUED).update(
        status=VerifyRun.Status.RUNNING, started_at=timezone.now()
    )
    if not taken:
        return None
    run = VerifyRun.objects.get(pk=run_id)

    def progress(checked: int) -> None:
        VerifyRun.objects.filter(pk=run_id).update(checked=checked)

    try:
        report = verify_organization(run.organization_id, progress=progress, every=PROGRESS_EVERY)
    except Exception as exc:
        logger.exception("integrity check %s failed", run_id)
        _failed(run_id, f"The check could not finish ({type(exc).__name__}); try again.")
        run.refresh_from_db()
        return run
    with transaction.atomic():
        run.status, run.finished_at = VerifyRun.Status.DONE, timezone.now()
        run.checked, run.segments, run.ok, run.first_break = (
            report.checked,
            report.segments,
            report.ok,
            report.first_break,
        )
        run.save(update_fields=["status", "finished_at", "checked", "segments", "ok", "first_break"])
        record_system(
            run,
            action="audit.verified",
            detail={"ok": report.ok, "checked": report.checked, "segments": report.segments},
            error="" if report.ok else str((report.first_break or {}).get("reason", "a broken link"))[:2000],
        )
    return run


def _failed(run_id: int, error: str, **where) -> None:
    VerifyRun.objects.filter(pk=run_id, **where).update(
        status=VerifyRun.Status.FAILED, finished_at=timezone.now(), error=error
    )
