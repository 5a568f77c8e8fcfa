"""One event as a row of the Activity table: the same markup for the page and for rows arriving live."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from audit.models import Event

DECISION_TONE = {
    Event.Decision.ALLOW: "ok",
    Event.Decision.APPROVED: "ok",
    Event.Decision.ASK: "warn",
    Event.Decision.DENY: "danger",
    Event.Decision.REJECTED: "danger",
    Event.Decision.RATE_LIMITED: "danger",
}
OUTCOME_TONE = {
    Event.Outcome.OK: "ok",
    Event.Outcome.PENDING: "warn",
    Event.Outcome.ERROR: "danger",
    Event.Outcome.REFUSED: "danger",
}


def _label(choices: type, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def actor_of(row: dict[str, Any]) -> str:
    if row.get("actor_type") == Event.Actor.AGENT:
        return row.get("agent_name") or "unknown agent"
    if row.get("actor_type") == Event.Actor.USER:
        return row.get("user_email") or "a person"
    if row.get("actor_type") == Event.Actor.TOKEN:
        return row.get("user_email") or "an API token"
    if row.get("actor_type") == Event.Actor.ANONYMOUS:
        return "unauthenticated"
    return "ScopeGate"


def present(row: dict[str, Any], org_slug: str) -> dict[str, Any]:
    """What a reader sees of an event (a stored row, or a live summary of one), completed by its outcome."""
    decision = row.get("decision") or Event.Decision.NONE
    outcome = row.get("outcome") or Event.Outcome.OK
    target = row.get("tool") or row.get("target_repr") or ""
    return {
        "id": row["id"],
        "url": reverse("activity_event", kwargs={"org_slug": org_slug, "pk": row["id"]}),
        "time": _time(row.get("time")),
        "kind": row.get("kind"),
        "kind_label": _label(Event.Kind, row.get("kind") or ""),
        "actor": actor_of(row),
        "key_prefix": row.get("key_prefix") or "",
        "method": row.get("method") or "",
        "connection": row.get("connection") or "",
        "target": target,
        "decision": decision,
        "decision_label": _label(Event.Decision, decision),
        "decision_tone": DECISION_TONE.get(decision, ""),
        "rule_id": row.get("rule_id"),
        "outcome": outcome,
        "outcome_label": _label(Event.Outcome, outcome),
        "outcome_tone": OUTCOME_TONE.get(outcome, ""),
        "latency_ms": row.get("latency_ms"),
        "error": (row.get("error") or "")[:300],
    }


def render_row(row: dict[str, Any], org_slug: str) -> str:
    return render_to_string("audit/_row.html", {"row": present(row, org_slug)})
