"""Reads of the audit trail, always scoped to one organization.

``Event`` is not an ``OrganizationOwned`` model (an organization's deletion must not cascade through its trail),
so ``OrgContext.scoped`` does not apply: every query here starts from :func:`org_events`, which needs the
organization's id.

A call forwarded upstream is two rows: its ``mcp`` event (outcome "pending") and the ``outcome`` event naming
it as parent. Lists show the ``mcp`` row completed by its outcome, fetched with one extra query per page.
Pages are keyset-paginated on (time, id), newest first: a page costs the same on the millionth row as on the
first, and rows arriving meanwhile never shift a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from audit.models import Event

DENIALS = (Event.Decision.DENY, Event.Decision.REJECTED, Event.Decision.RATE_LIMITED)
# The fields an outcome row completes on its call.
COMPLETED = ("outcome", "upstream_ms", "latency_ms", "result_bytes")
SEARCHED = ("method", "tool", "agent_name", "user_email", "error", "target_repr", "connection", "key_prefix")


@dataclass(frozen=True)
class Cursor:
    time: dt.datetime
    id: int


@dataclass(frozen=True)
class EventFilters:
    q: str = ""
    agent: str = ""
    connection: str = ""
    tool: str = ""
    method: str = ""
    decision: str = ""
    outcome: str = ""
    kind: str = ""
    actor: str = ""
    user: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass
class EventPage:
    rows: list[dict[str, Any]]
    next_cursor: Cursor | None
    extra: dict[str, Any] = field(default_factory=dict)


def org_events(*, organization_id: int) -> QuerySet[Event]:
    """Every event of one organization: the only starting point of the reads below."""
    if not isinstance(organization_id, int) or isinstance(organization_id, bool):
        raise TypeError("organization_id must be an int")
    return Event.objects.filter(organization_id=organization_id)


def _final_outcome(organization_id: int) -> Coalesce:
    completion = org_events(organization_id=organization_id).filter(kind=Event.Kind.OUTCOME, parent_id=OuterRef("id"))
    return Coalesce(Subquery(completion.order_by("-id").values("outcome")[:1]), F("outcome"))


def event_filter(*, organization_id: int, filters: EventFilters) -> QuerySet[Event]:
    """The organization's listed events (not outcome rows: they complete their call) matching ``filters``,
    newest first."""
    qs = org_events(organization_id=organization_id).exclude(kind=Event.Kind.OUTCOME)
    exact = {
        "agent_name": filters.agent,
        "connection": filters.connection,
        "tool": filters.tool,
        "method": filters.method,
        "decision": filters.decision,
        "kind": filters.kind,
        "actor_type": filters.actor,
    }
    qs = qs.filter(**{name: value for name, value in exact.items() if value})
    if filters.user:
        qs = qs.filter(user_email__iexact=filters.user)
    if filters.since:
        qs = qs.filter(time__gte=filters.since)
    if filters.until:
        qs = qs.filter(time__lte=filters.until)
    if filters.outcome:
        qs = qs.alias(final_outcome=_final_outcome(organization_id)).filter(final_outcome=filters.outcome)
    if filters.q:
        text = Q()
        for name in SEARCHED:
            text |= Q(**{f"{name}__icontains": filters.q})
        failed_outcomes = org_events(organization_id=organization_id).filter(
            kind=Event.Kind.OUTCOME, error__icontains=filters.q
        )
        text |= Q(id__in=failed_outcomes.values("parent_id"))
        qs = qs.filter(text)
    return qs.order_by("-time", "-id")


def after_cursor(qs: QuerySet[Event], cursor: Cursor | None) -> QuerySet[Event]:
    """Rows older than the cursor in (time, id) order."""
    if cursor is None:
        return qs
    return qs.filter(Q(time__lt=cursor.time) | Q(time=cursor.time, id__lt=cursor.id))


def as_row(event: Event | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(event, Event):
        return {f.attname: getattr(event, f.attname) for f in Event._meta.concrete_fields}
    return dict(event)


def complete(row: dict[str, Any], outcome: Mapping[str, Any] | None) -> dict[str, Any]:
    """A call's row with its outcome row's result folded in (the outcome row's id kept as ``outcome_id``)."""
    row = dict(row)
    row["outcome_id"] = None
    if outcome is None:
        return row
    row["outcome_id"] = outcome.get("id")
    for name in COMPLETED:
        if outcome.get(name) is not None:
            row[name] = outcome[name]
    if outcome.get("error"):
        row["error"] = outcome["error"]
    return row


def outcomes_of(*, organization_id: int, event_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The outcome rows completing these events, in one query: parent id -> the newest outcome row."""
    ids = list(event_ids)
    if not ids:
        return {}
    found: dict[int, dict[str, Any]] = {}
    outcomes = org_events(organization_id=organization_id).filter(kind=Event.Kind.OUTCOME, parent_id__in=ids)
    for outcome in outcomes.order_by("id"):
        found[outcome.parent_id] = as_row(outcome)
    return found


def completed_rows(*, organization_id: int, events: list[Event]) -> list[dict[str, Any]]:
    waiting = [e.id for e in events if e.kind == Event.Kind.MCP]
    outcomes = outcomes_of(organization_id=organization_id, event_ids=waiting)
    return [complete(as_row(e), outcomes.get(e.id)) for e in events]


def event_page(
    *, organization_id: int, filters: EventFilters, cursor: Cursor | None = None, limit: int = 50
) -> EventPage:
    """One page of rows (two queries: the events, then their outcomes) and the cursor of the next page."""
    qs = after_cursor(event_filter(organization_id=organization_id, filters=filters), cursor)
    events = list(qs[: limit + 1])
    more = len(events) > limit
    events = events[:limit]
    next_cursor = Cursor(time=events[-1].time, id=events[-1].id) if more else None
    return EventPage(rows=completed_rows(organization_id=organization_id, events=events), next_cursor=next_cursor)


def event_chunks(*, organization_id: int, filters: EventFilters, chunk: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """Every matching row, ``chunk`` at a time by keyset: memory stays constant however long the trail."""
    cursor: Cursor | None = None
    while True:
        page = event_page(organization_id=organization_id, filters=filters, cursor=cursor, limit=chunk)
        if page.rows:
            yield page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@dataclass
class EventDetail:
    event: dict[str, Any]
    outcome: dict[str, Any] | None
    parent: dict[str, Any] | None


def event_detail(*, organization_id: int, event_id: int) -> EventDetail | None:
    """One event with the row that completes it (or, for an outcome row, the call it completes); None if the
    organization has no such event."""
    event = org_events(organization_id=organization_id).filter(pk=event_id).first()
    if event is None:
        return None
    row = as_row(event)
    outcome = parent = None
    if event.kind == Event.Kind.MCP:
        outcome = outcomes_of(organization_id=organization_id, event_ids=[event.id]).get(event.id)
    elif event.parent_id is not None:
        found = org_events(organization_id=organization_id).filter(pk=event.parent_id).first()
        parent = as_row(found) if found else None
    return EventDetail(event=complete(row, outcome), outcome=outcome, parent=parent)


def changed_fields(before: Any, after: Any) -> list[dict[str, Any]]:
    """A change's snapshots side by side, key by key: what a reviewer reads first."""
    before = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    after = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    keys = list(dict.fromkeys([*before, *after]))
    return [
        {
            "name": key,
            "before": before.get(key),
            "after": after.get(key),
            "in_before": key in before,
            "in_after": key in after,
            "changed": before.get(key) != after.get(key) or (key in before) != (key in after),
        }
        for key in keys
    ]


def known_values(*, organization_id: int, since: dt.datetime) -> dict[str, list[str]]:
    """Agents, connections and tools seen recently: suggestions for the filter fields."""
    recent = org_events(organization_id=organization_id).filter(time__gte=since, kind=Event.Kind.MCP)
    values: dict[str, list[str]] = {}
    for name, column in (("agents", "agent_name"), ("connections", "connection"), ("tools", "tool")):
        found = recent.exclude(**{column: ""}).order_by(column).values_list(column, flat=True).distinct()[:200]
        values[name] = list(found)
    return values


def _text_of(row: Mapping[str, Any]) -> str:
    return "\n".join(str(row.get(name) or "") for name in SEARCHED).lower()


def row_matches(filters: EventFilters, row: Mapping[str, Any]) -> bool:
    """``event_filter`` over one row in memory (a live event, completed by its outcome when it has one)."""
    if row.get("kind") == Event.Kind.OUTCOME:
        return False
    exact = {
        "agent_name": filters.agent,
        "connection": filters.connection,
        "tool": filters.tool,
        "method": filters.method,
        "decision": filters.decision,
        "kind": filters.kind,
        "actor_type": filters.actor,
        "outcome": filters.outcome,
    }
    if any(value and row.get(name) != value for name, value in exact.items()):
        return False
    if filters.user and (row.get("user_email") or "").lower() != filters.user.lower():
        return False
    moment = row.get("time")
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if filters.since and (moment is None or moment < filters.since):
        return False
    if filters.until and (moment is None or moment > filters.until):
        return False
    return not filters.q or filters.q.lower() in _text_of(row)
