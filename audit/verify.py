"""Checks an organization's audit chain and reports the first broken link.

Walks every segment in sequence order with constant memory, recomputing each link. It reports: an edited row
(its content no longer matches its link), a deleted row (a gap in the sequence), an inserted or reordered row (a
sequence number out of place, or a link that does not follow), a truncated segment (a seal names a row that is
gone), and a forged or edited checkpoint (its signature does not match).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit import chain
from audit.models import Checkpoint, Event


@dataclass
class Report:
    organization_id: int | None
    checked: int = 0
    segments: int = 0
    first_break: dict[str, Any] | None = None
    sealed_through: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _checkpoints(organization_id: int | None, report: Report) -> tuple[dict, dict]:
    """The newest valid seal and horizon per segment; a forged checkpoint is itself a break."""
    seals: dict[str, Checkpoint] = {}
    horizons: dict[str, Checkpoint] = {}
    for cp in Checkpoint.objects.filter(organization_id=organization_id).order_by("seq", "id"):
        if not hmac.compare_digest(cp.signature, chain.sign(cp.statement())):
            report.first_break = {
                "segment": cp.segment,
                "seq": cp.seq,
                "event_id": None,
                "reason": f"checkpoint {cp.pk} ({cp.kind}) is not signed by this server: it was forged or edited",
            }
            return {}, {}
        (seals if cp.kind == Checkpoint.Kind.SEAL else horizons)[cp.segment] = cp
    return seals, horizons


def _break(report: Report, row: dict | None, segment: str, seq: int | None, reason: str) -> Report:
    report.first_break = {
        "segment": segment,
        "seq": seq,
        "event_id": row["id"] if row else None,
        "reason": reason,
    }
    return report


def verify_organization(
    organization_id: int | None, *, progress: Callable[[int], None] | None = None, every: int = 20_000
) -> Report:
    """``progress`` hears how many events have been checked, every ``every`` events."""
    report = Report(organization_id=organization_id)
    seals, horizons = _checkpoints(organization_id, report)
    if not report.ok:
        return report
    rows = (
        Event.objects.filter(organization_id=organization_id)
        .order_by("segment", "seq", "id")
        .values("id", "hash", *chain.HASHED)
        .iterator(chunk_size=2000)
    )
    segment, expected, prev, horizon_seq = None, 0, "", None
    seen: set[str] = set()
    for row in rows:
        if row["segment"] != segment:
            if segment is not None:
                problem = _end_of_segment(segment, expected - 1, seals)
                if problem:
                    return _break(report, None, segment, expected, problem)
            segment = row["segment"]
            seen.add(segment)
            report.segments += 1
            horizon = horizons.get(segment)
            horizon_seq = horizon.seq if horizon else None
            expected = horizon.seq + 1 if horizon else 1
            prev = horizon.hash if horizon else chain.genesis(organization_id, segment)
        seq = row["seq"]
        if horizon_seq is not None and seq is not None and seq <= horizon_seq:
            continue  # older than where retention cut this segment: kept by chance (a month boundary), not chained
        if seq is None or seq < expected:
            return _break(report, row, segment, seq, f"event {row['id']} repeats or reorders sequence number {seq}")
        if seq > expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            return _break(report, row, segment, expected, f"event(s) {missing} of this segment were deleted")
        if not hmac.compare_digest(row["hash"], chain.link(prev, row)):
            return _break(
                report, row, segment, seq, f"event {row['id']} was edited, inserted or moved: its link does not match"
            )
        prev, expected = row["hash"], expected + 1
        report.checked += 1
        if progress is not None and report.checked % every == 0:
            progress(report.checked)
        if segment in seals and seals[segment].seq == seq and seals[segment].hash != row["hash"]:
            return _break(report, row, segment, seq, f"event {row['id']} does not match the seal of its segment")
    if segment is not None:
        problem = _end_of_segment(segment, expected - 1, seals)
        if problem:
            return _break(report, None, segment, expected, problem)
    for name, seal in seals.items():
        if name not in seen and seal.seq > (horizons[name].seq if name in horizons else 0):
            return _break(report, None, name, 1, f"every event of sealed segment {name} was deleted")
    report.sealed_through = {name: seal.seq for name, seal in seals.items()}
    return report


def _end_of_segment(segment: str, last_seq: int, seals: dict[str, Checkpoint]) -> str | None:
    seal = seals.get(segment)
    if seal is not None and last_seq < seal.seq:
        return f"events {last_seq + 1} to {seal.seq} of this segment were deleted (it was sealed at {seal.seq})"
    return None


def organizations_with_events() -> list[int | None]:
    return list(Event.objects.order_by().values_list("organization_id", flat=True).distinct())
