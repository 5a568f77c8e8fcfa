"""Pushing an organization's events to its SIEM: signed JSON batches after a stored cursor, with backoff.

A receiver checks ``X-ScopeGate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` against the
``X-ScopeGate-Timestamp`` header (unix seconds; refuse old ones to stop replays). Events go in (time, id) order,
each as stored (outcome rows included: ``parent_id`` names the call they complete), at least once: a batch
whose answer was lost is sent again.

Only events older than a settle window are sent: rows reach the table in (time, id) order only approximately
(concurrent writers commit in any order), and the window lets a slower commit land before the cursor passes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx2
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from audit.config import siem_url_check
from audit.export import export_value
from audit.models import Event, SiemSink
from audit.selectors import as_row, org_events
from connectors import egress

logger = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=2)
MAX_BATCHES_PER_RUN = 20
USER_AGENT = "ScopeGate-SIEM/1"


def siem_sign(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def siem_backoff(failures: int) -> dt.timedelta:
    """10 s, 20 s, 40 s, ... up to an hour (the base and the cap are settings)."""
    base = settings.AUDIT_SIEM_BACKOFF_SECONDS
    cap = settings.AUDIT_SIEM_BACKOFF_MAX_SECONDS
    return dt.timedelta(seconds=min(cap, base * 2 ** max(failures - 1, 0)))


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return {name: export_value(name, value) for name, value in row.items() if name != "organization_id"}


def pending_batch(sink: SiemSink, *, now: dt.datetime, limit: int) -> list[Event]:
    settled = now - dt.timedelta(seconds=settings.AUDIT_SIEM_SETTLE_SECONDS)
    qs = org_events(organization_id=sink.organization_id).filter(time__lte=settled)
    if sink.cursor_time is not None:
        qs = qs.filter(Q(time__gt=sink.cursor_time) | Q(time=sink.cursor_time, id__gt=sink.cursor_id))
    return list(qs.order_by("time", "id")[:limit])


@dataclass
class PushResult:
    sent: int = 0
    batches: int = 0
    error: str = ""
    skipped: bool = False


def _lease(sink_id: int, now: dt.datetime) -> bool:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return SiemSink.objects.filter(free, pk=sink_id, enabled=True).update(lease_until=now + LEASE) == 1


def _post(client: httpx2.Client, sink: SiemSink, secret: str, events: list[Event]) -> int:
    body = json.dumps(
        {
            "organization": sink.organization.slug,
            "delivery": uuid.uuid4().hex,
            "events": [event_json(as_row(e)) for e in events],
        },
        ensure_ascii=False,
        default=str,
        separators=(",", ":"),
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ScopeGate-Timestamp": timestamp,
        "X-ScopeGate-Signature": siem_sign(secret=secret, timestamp=timestamp, body=body),
    }
    response = client.post(sink.url, content=body, headers=headers)
    return response.status_code


def siem_push(*, sink_id: int) -> PushResult:
    """Sends what the sink has not yet received, batch by batch; on a failure, schedules the next try."""
    now = timezone.now()
    if not _lease(sink_id, now):
        return PushResult(skipped=True)
    sink = SiemSink.objects.select_related("organization").get(pk=sink_id)
    result = PushResult()
    status: int | None = None
    try:
        siem_url_check(sink.url)  # again: the name may resolve elsewhere now
        secret = sink.get_secret()
        limit = settings.AUDIT_SIEM_BATCH
        timeout = settings.AUDIT_SIEM_TIMEOUT_SECONDS
        with egress.http_client(timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_BATCHES_PER_RUN):
                events = pending_batch(sink, now=now, limit=limit)
                if not events:
                    break
                status = _post(client, sink, secret, events)
                if not 200 <= status < 300:
                    result.error = f"The endpoint answered HTTP {status}."
                    break
                sink.cursor_time, sink.cursor_id = events[-1].time, events[-1].id
                sink.delivered += len(events)
                result.sent += len(events)
                result.batches += 1
                SiemSink.objects.filter(pk=sink.pk).update(
                    cursor_time=sink.cursor_time, cursor_id=sink.cursor_id, delivered=sink.delivered
                )
    except ValidationError as exc:
        result.error = " ".join(exc.messages)
    except httpx2.HTTPError as exc:
        result.error = f"Could not deliver: {type(exc).__name__}: {egress.scrub_urls(str(exc))}"[:500]
    except Exception as exc:  # recorded on the sink, where an admin sees it; the task itself must not die
        logger.exception("SIEM push of sink %s failed", sink_id)
        result.error = f"Could not deliver: {type(exc).__name__}"
    _finish(sink, result, status)
    return result


def _finish(sink: SiemSink, result: PushResult, status: int | None) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"lease_until": None}
    if status is not None or result.error:
        fields.update(last_attempt_at=now, last_status=status)
    if result.error:
        failures = sink.failures + 1
        fields.update(failures=failures, next_attempt_at=now + siem_backoff(failures), last_error=result.error)
        logger.warning("SIEM push of organization %s failed (%s): %s", sink.organization_id, failures, result.error)
    else:
        fields.update(failures=0, next_attempt_at=None, last_error="")
        if result.sent:
            fields["last_success_at"] = now
    SiemSink.objects.filter(pk=sink.pk).update(**fields)


def siem_due(*, now: dt.datetime | None = None) -> list[int]:
    """The sinks to push now: enabled, and not waiting out a backoff."""
    now = now or timezone.now()
    due = SiemSink.objects.filter(enabled=True).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return list(due.values_list("pk", flat=True))
