"""Forms of the audit pages: the filters every view of the trail shares (page, live stream, export, API), and the
organization's audit settings (retention, SIEM push)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from audit.models import Event
from audit.selectors import Cursor, EventFilters

LISTED_KINDS = [(k.value, k.label) for k in Event.Kind if k != Event.Kind.OUTCOME]


def _suggested(name: str) -> forms.TextInput:
    return forms.TextInput(attrs={"list": f"known-{name}"})


DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"})


def _choices(choices: list[tuple[str, str]], blank: str) -> list[tuple[str, str]]:
    return [("", blank), *choices]


def cursor_encode(cursor: Cursor) -> str:
    raw = f"{cursor.time.astimezone(dt.UTC).isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: str) -> Cursor:
    """An opaque cursor back into (time, id); anything else is a field error, never a 500."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        time_text, id_text = raw.split("|")
        time = dt.datetime.fromisoformat(time_text)
        event_id = int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("This cursor is not one ScopeGate gave out.") from exc
    if time.tzinfo is None or event_id < 1:
        raise ValidationError("This cursor is not one ScopeGate gave out.")
    return Cursor(time=time, id=event_id)


class EventFilterForm(forms.Form):
    """Every field optional; a blank field does not filter. Sent as GET parameters."""

    q = forms.CharField(
        label="Search", max_length=200, required=False, help_text="Method, tool, agent, person, target or error"
    )
    agent = forms.CharField(label="Agent", max_length=100, required=False, widget=_suggested("agents"))
    connection = forms.CharField(label="Connection", max_length=32, required=False, widget=_suggested("connections"))
    tool = forms.CharField(label="Tool", max_length=300, required=False, widget=_suggested("tools"))
    method = forms.CharField(label="Method or action", max_length=64, required=False)
    decision = forms.ChoiceField(label="Decision", choices=_choices(Event.Decision.choices, "Any"), required=False)
    outcome = forms.ChoiceField(label="Outcome", choices=_choices(Event.Outcome.choices, "Any"), required=False)
    kind = forms.ChoiceField(label="Kind", choices=_choices(LISTED_KINDS, "Any"), required=False)
    actor = forms.ChoiceField(label="Actor", choices=_choices(Event.Actor.choices, "Any"), required=False)
    user = forms.CharField(label="Person (e-mail)", max_length=254, required=False)
    since = forms.DateTimeField(label="From", required=False, widget=DATETIME)
    until = forms.DateTimeField(label="Until", required=False, widget=DATETIME)
    cursor = forms.CharField(max_length=200, required=False, widget=forms.HiddenInput)

    def clean_cursor(self) -> Cursor | None:
        value = self.cleaned_data.get("cursor") or ""
        return cursor_decode(value) if value else None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("q", "agent", "connection", "tool", "method", "user"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, "This value holds a NUL character.")
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Until must be after From.")
        return data

    def filters(self) -> EventFilters:
        """The validated filters; call after ``is_valid()`` returned True."""
        data = self.cleaned_data
        return EventFilters(
            q=data.get("q") or "",
            agent=data.get("agent") or "",
            connection=data.get("connection") or "",
            tool=data.get("tool") or "",
            method=data.get("method") or "",
            decision=data.get("decision") or "",
            outcome=data.get("outcome") or "",
            kind=data.get("kind") or "",
            actor=data.get("actor") or "",
            user=data.get("user") or "",
            since=data.get("since"),
            until=data.get("until"),
        )

    def query(self, **overrides: str) -> str:
        """The current filters as a query string (without the cursor), for export links and the next page."""
        from django.http import QueryDict

        params = QueryDict(mutable=True)
        for name in self.fields:
            if name == "cursor":
                continue
            value = self.data.get(name, "") if self.is_bound else ""
            if value:
                params[name] = value
        for name, value in overrides.items():
            params[name] = value
        return params.urlencode()


class RetentionForm(forms.Form):
    days = forms.IntegerField(
        label="Keep events for (days)",
        min_value=1,
        max_value=3650,
        help_text="Older events are deleted by an hourly task, in batches. Between 1 and 3650 days.",
    )


class SiemForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        help_text="An https:// URL of your SIEM's HTTP collector. Events are sent as signed JSON batches.",
    )
    enabled = forms.BooleanField(label="Send events", required=False, initial=True)
