"""The Activity page's live rows: ``/ws/o/<slug>/activity/?<filters>``.

Joins the organization's audit group (``audit.live.group_name``) once the visitor is a member whose role may
read the trail (4404 to anyone else, as an outsider gets 404 on a page; 4403 to a member without the audit
permission; 4400 for filters that do not validate), and is closed (4401, to reconnect and be checked again)
once that may no longer hold (``accounts.consumers.Recheck``). Each announced event that matches the page's filters is
sent as the table row the page would render; an outcome row re-renders the row of the call it completes.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from accounts.consumers import RECHECK_SECONDS, Recheck
from accounts.roles import Perm, role_can
from accounts.tenancy import resolve_org_context
from audit.forms import EventFilterForm
from audit.live import group_name
from audit.models import Event
from audit.rows import render_row
from audit.selectors import EventFilters, as_row, complete, org_events, row_matches


@database_sync_to_async
def _resolve(user: Any, slug: str) -> tuple[int, str, str] | None:
    try:
        ctx = resolve_org_context(user=user, token=None, slug=slug)
    except Http404:
        return None
    return ctx.organization.pk, ctx.organization.slug, ctx.role


@database_sync_to_async
def _calls(organization_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The calls that arriving outcome rows complete (one query per announcement)."""
    return {e.id: as_row(e) for e in org_events(organization_id=organization_id).filter(pk__in=ids)}


def _filters(query_string: bytes) -> EventFilters | None:
    params = {k: v[-1] for k, v in parse_qs(query_string.decode("latin-1"), keep_blank_values=True).items()}
    form = EventFilterForm(params)
    return form.filters() if form.is_valid() and not form.cleaned_data.get("cursor") else None


class ActivityConsumer(Recheck, AsyncJsonWebsocketConsumer):
    group: str | None = None
    organization_id: int
    slug: str
    filters: EventFilters

    async def connect(self) -> None:
        resolved = await _resolve(self.scope.get("user"), self.scope["url_route"]["kwargs"]["org_slug"])
        if resolved is None:
            await self.close(code=4404)
            return
        self.organization_id, self.slug, role = resolved
        if not role_can(role, Perm.VIEW_AUDIT):
            await self.close(code=4403)
            return
        filters = _filters(self.scope.get("query_string", b""))
        if filters is None:
            await self.close(code=4400)
            return
        self.filters = filters
        self.allowed_until = time.monotonic() + RECHECK_SECONDS
        self.group = group_name(self.organization_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"error": "this stream accepts no messages"})

    def may_receive(self, role: str) -> bool:
        return role_can(role, Perm.VIEW_AUDIT)

    async def audit_events(self, message: dict) -> None:
        if not await self.still_allowed():  # removed, demoted or signed out since the socket opened
            return
        events = [e for e in message.get("events", []) if e.get("organization_id") == self.organization_id]
        completing = [e for e in events if e.get("kind") == Event.Kind.OUTCOME and e.get("parent_id")]
        calls = await _calls(self.organization_id, [e["parent_id"] for e in completing]) if completing else {}
        rows: list[dict[str, Any]] = []
        for event in events:
            if event.get("kind") == Event.Kind.OUTCOME:
                call = calls.get(event.get("parent_id"))
                if call is None:
                    continue
                row = complete(call, event)
            else:
                row = event
            if row_matches(self.filters, row):
                rows.append({"id": row["id"], "html": render_row(row, self.slug)})
            elif row is not event:
                rows.append({"id": row["id"], "remove": True})  # its outcome took it out of the filter
        if rows:
            await self.send_json({"rows": rows})
