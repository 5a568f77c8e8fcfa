"""Background work on credentials: refresh ahead of expiry (beat), revocation at the provider (with backoff)."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from audit.changes import audit_context
from connectors.credentials import credential_refresh, credential_revoke_at_provider, credentials_due

REVOKE_RETRIES = 6
# A queued catalogue refresh holds its place this long at most (a worker that died releases it then).
REFRESH_LOCK_SECONDS = 120


@shared_task(bind=True, max_retries=REVOKE_RETRIES, acks_late=True)
def credential_revoke(self, credential_id: int) -> None:
    with audit_context(via="system"):
        done = credential_revoke_at_provider(
            credential_id=credential_id, final=self.request.retries >= self.max_retries
        )
    if done or self.request.retries >= self.max_retries:
        return
    if self.request.is_eager:  # the embedded default has no worker to come back later: try again now
        self.apply(args=(credential_id,), retries=self.request.retries + 1)
        return
    # 30 s, 1 min, 2 min ... about half an hour in all before the page says it failed.
    raise self.retry(countdown=30 * 2**self.request.retries)


@shared_task
def credentials_refresh_due() -> int:
    refreshed = 0
    with audit_context(via="system"):
        for credential_id, version in credentials_due():
            state = credential_refresh(credential_id=credential_id, seen_version=version)
            refreshed += state.version != version
    return refreshed


def _refresh_keys(connection_id: int) -> tuple[str, str]:
    return f"catalogue-refresh:{connection_id}:queued", f"catalogue-refresh:{connection_id}:again"


def catalogue_refresh_soon(connection_id: int) -> bool:
    """Asks a worker to rediscover a connection's catalogue, once however many gateway nodes heard the
    upstream's list-changed notification: the first node queues the job; the others mark it to run again after
    the running one, so that a change made while it ran is not missed. Returns whether it queued the job."""
    queued, again = _refresh_keys(connection_id)
    if cache.add(queued, 1, timeout=REFRESH_LOCK_SECONDS):
        catalogue_refresh_job.delay(connection_id)
        return True
    cache.set(again, 1, timeout=REFRESH_LOCK_SECONDS)
    return False


@shared_task(name="connectors.catalogue_refresh", acks_late=True)
def catalogue_refresh_job(connection_id: int) -> None:
    from connectors.models import Connection
    from connectors.services import catalogue_refresh

    queued, again = _refresh_keys(connection_id)
    try:
        connection = Connection.objects.filter(pk=connection_id).first()
        if connection is not None:
            with audit_context(via="system"):
                catalogue_refresh(connection)
    finally:
        cache.delete(queued)
    if cache.get(again):
        cache.delete(again)
        catalogue_refresh_soon(connection_id)
