"""The live event stream of one organization over a WebSocket: ``/ws/o/<slug>/events/``.

Pages subscribe to it to update in place (members now; activity and approvals later). Only members of the
organization join its group; anyone else is closed with 4404, as an outsider gets 404 on a page.

A socket outlives the checks made when it opened: ``Recheck`` asks again, before a message goes out (at most
every ``RECHECK_SECONDS``), whether its session still signs in the same person and that person still has the
role it needs, and closes it otherwise. A member removed, demoted or signed out (a password change included)
stops receiving within that interval, even on a tab left open. It closes with 4401, on which the pages connect
again: through the browser's current session (a person who changed their own password has a new one), where the
full checks at connect give the lasting answer (4403 or 4404, on which the pages stop).
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.http import Http404

from accounts.tenancy import resolve_org_context

RECHECK_SECONDS = 2.0
RECHECK_FAILED = 4401  # "check again": the pages reconnect, and the checks at connect decide


@database_sync_to_async
def _signed_in_role(scope: dict[str, Any], slug: str) -> str | None:
    """The role in the organization ``slug`` of the person the socket's session signs in now (read afresh from
    the session store and the database), or None: session gone or expired, another or a changed password, no
    longer a member."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import get_user

    session, opened_by = scope.get("session"), scope.get("user")
    key = getattr(session, "session_key", None)
    if not key or opened_by is None or not opened_by.is_authenticated:
        return None
    fresh = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    user = get_user(SimpleNamespace(session=fresh))  # verifies the session's password hash, as a request would
    if not user.is_authenticated or user.pk != opened_by.pk:
        return None
    try:
        return resolve_org_context(user=user, token=None, slug=slug).role
    except Http404:
        return None


class Recheck:
    """For an organization's WebSocket consumer: whether the visitor still may receive (see the module)."""

    allowed_until: float = 0.0

    def may_receive(self, role: str) -> bool:
        return True

    async def still_allowed(self) -> bool:
        now = time.monotonic()
        if now < self.allowed_until:
            return True
        role = await _signed_in_role(self.scope, self.scope["url_route"]["kwargs"]["org_slug"])
        if role is None or not self.may_receive(role):
            await self.close(code=RECHECK_FAILED)
            return False
        self.allowed_until = now + RECHECK_SECONDS
        return True


def org_group(org_id: int) -> str:
    return f"org.{org_id}"


async def org_broadcast(org_id: int, event: str, data: dict | None = None) -> None:
    await get_channel_layer().group_send(org_group(org_id), {"type": "org.event", "event": event, "data": data or {}})


@database_sync_to_async
def _resolve(user, slug: str) -> tuple[int, str] | None:
    try:
        ctx = resolve_org_context(user=user, token=None, slug=slug)
    except Http404:
        return None
    return ctx.organization.pk, ctx.role


class OrgEventsConsumer(Recheck, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        resolved = await _resolve(self.scope.get("user"), self.scope["url_route"]["kwargs"]["org_slug"])
        if resolved is None:
            await self.close(code=4404)
            return
        org_id, _role = resolved
        self.allowed_until = time.monotonic() + RECHECK_SECONDS
        self.group = org_group(org_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The stream is one-way; a client that talks gets a polite error rather than a crash.
        await self.send_json({"error": "this stream accepts no messages"})

    async def org_event(self, message: dict) -> None:
        if not await self.still_allowed():
            return
        await self.send_json({"event": message["event"], "data": message["data"]})
