"""Seals every chain segment into signed checkpoints, and enforces each organization's retention.

Both run from Celery beat (``audit.tasks``) and from ``manage.py audit_seal``. Retention removes a prefix of
each segment in batches (short transactions, no long locks), after signing a horizon that tells the verifier
where the remaining chain begins.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Organization
from audit import chain, partitions
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
    _horizon_ahead(organization_id, segment, last_old, row["hash"])
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


def _horizon_ahead(organization_id: int | None, segment: str, seq: int, hash_: str) -> None:
    newest = (
        Checkpoint.objects.filter(kind=Checkpoint.Kind.HORIZON, organization_id=organization_id, segment=segment)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if newest is None or newest < seq:
        _checkpoint(Checkpoint.Kind.HORIZON, organization_id, segment, seq, hash_)


def _drop_expired_months(now: dt.datetime, removed: dict[int, int]) -> None:
    """PostgreSQL: a month older than every organization's retention goes in one statement."""
    longest = Organization.objects.aggregate(days=Max("audit_retention_days"))["days"] or 0
    horizon_day = (now - dt.timedelta(days=longest)).date()
    for name, _first, end in partitions.monthly_partitions():
        if end > horizon_day:
            continue
        with connection.cursor() as cursor:
            # Where each segment's chain resumes once these rows are gone, signed before they go.
            cursor.execute(
                f"SELECT DISTINCT ON (organization_id, segment) organization_id, segment, seq, hash, "  # noqa: S608
                f"count(*) OVER (PARTITION BY organization_id) FROM {name} ORDER BY organization_id, segment, seq DESC"
            )
            heads = cursor.fetchall()
        for org_id, segment, seq, hash_, _count in heads:
            _horizon_ahead(org_id, segment, seq, hash_)
        partitions.drop_partition(name)
        for org_id, count in {(org, n) for org, _s, _q, _h, n in heads}:
            if org_id is not None:
                removed[org_id] = removed.get(org_id, 0) + count
        logger.info("audit partition %s dropped past retention", name)


def retention_enforce(now: dt.datetime | None = None) -> dict[int, int]:
    """Applies every organization's retention; returns the events removed per organization."""
    now = now or timezone.now()
    removed: dict[int, int] = {}
    partitions.ensure_partitions(now.date())
    _drop_expired_months(now, removed)
    for org_id, days in Organization.objects.values_list("id", "audit_retention_days"):
        cutoff = now - dt.timedelta(days=days)
        segments = (
            Event.objects.filter(organization_id=org_id, time__lt=cutoff).order_by().values_list("segment", flat=True)
        )
        total = removed.get(org_id, 0) + sum(_expire_segment(org_id, seg, cutoff) for seg in set(segments))
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
