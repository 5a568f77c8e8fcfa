"""Background work on credentials: refresh ahead of expiry (beat), revocation at the provider (with backoff)."""

from __future__ import annotations

from celery import shared_task

from audit.changes import audit_context
from connectors.credentials import credential_refresh, credential_revoke_at_provider, credentials_due

REVOKE_RETRIES = 6


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
