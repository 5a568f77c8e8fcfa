"""Seals every chain segment into signed checkpoints, and enforces each organization's retention.

Both run from Celery beat (``audit.tasks``) and from ``manage.py audit_seal``. Retention removes a prefix of
each segment in batches (short transactions, no long locks), after signing a horizon that tells the verifier
where the remaining chain begins.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Organization
from audit import chain
from audit.changes import system_record
from audit.models import Checkpoint, Event

logger = logging.getLogger(__name__)
BATCH = 5000


def _checkpoint(kind: str, organization_id: int | None, segment: str, seq: int, hash_: str) -> Checkpoint:
    cp = Checkpoint(kind=kind, organization_id=organization_id, segment=segment, seq=seq, hash=hash_)
    cp.signature = chain.sign(cp.statement())
    cp.save()
    return cp


def seal_all() -> int:
    """Signs the newest link of every segment that grew since its last seal; returns how many it signed."""
    sealed = dict(
        ((org, seg), seq)
        for org, seg, seq in Checkpoint.objects.filter(kind=Checkpoint.Kind.SEAL)
        .values("organization_id", "segment")
        .annotate(seq=Max("seq"))
        .values_list("organization_id", "segment", "seq")
    )
    heads = Event.objects.values("organization_id", "segment").annotate(seq=Max("seq")).order_by()
    count = 0
    for head in heads:
        key = (head["organization_id"], head["segment"])
        if head["seq"] is None or sealed.get(key, 0) >= head["seq"]:
            continue
        row = Event.objects.filter(organization_id=key[0], segment=key[1], seq=head["seq"]).values("hash").first()
        if row:
            _checkpoint(Checkpoint.Kind.SEAL, key[0], key[1], head["seq"], row["hash"])
            count += 1
    return count


def _expire_segment(organization_id: int, segment: str, cutoff: dt.datetime) -> int:
    """Removes the segment's rows up to the last one older than ``cutoff``, oldest first, in batches."""
    last_old = (
        Event.objects.filter(organization_id=organization_id, segment=segment, time__lt=cutoff)
        .aggregate(seq=Max("seq"))
        .get("seq")
    )
    if last_old is None:
        return 0
    row = Event.objects.filter(organization_id=organization_id, segment=segment, seq=last_old).values("hash").first()
    if row is None:
        return 0
    # Signed first: should the deletion stop half-way, the verifier still knows where the chain resumes.
    _checkpoint(Checkpoint.Kind.HORIZON, organization_id, segment, last_old, row["hash"])
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(organization_id=organization_id, segment=segment, seq__lte=last_old)
                .order_by("seq")
                .values_list("id", flat=True)[:BATCH]
            )
            if not ids:
                break
            removed += Event.objects.filter(id__in=ids).delete()[0]
    return removed


def retention_enforce(now: dt.datetime | None = None) -> dict[int, int]:
    """Applies every organization's retention; returns the events removed per organization."""
    now = now or timezone.now()
    removed: dict[int, int] = {}
    for org_id, days in Organization.objects.values_list("id", "audit_retention_days"):
        cutoff = now - dt.timedelta(days=days)
        segments = (
            Event.objects.filter(organization_id=org_id, time__lt=cutoff).order_by().values_list("segment", flat=True)
        )
        total = sum(_expire_segment(org_id, seg, cutoff) for seg in set(segments))
        if total:
            removed[org_id] = total
            system_record(
                organization_id=org_id,
                action="audit.retention",
                target_type="audit",
                target_repr=f"events older than {days} days",
                detail={"removed": total, "cutoff": cutoff.isoformat()},
            )
    return removed
