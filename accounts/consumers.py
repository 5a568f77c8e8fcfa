"""The live event stream of one organization over a WebSocket: ``/ws/o/<slug>/events/``.

Pages subscribe to it to update in place (members now; activity and approvals later). Only members of the
organization join its group; anyone else is closed with 4404, as an outsider gets 404 on a page.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.http import Http404

from accounts.tenancy import resolve_org_context


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


class OrgEventsConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        resolved = await _resolve(self.scope.get("user"), self.scope["url_route"]["kwargs"]["org_slug"])
        if resolved is None:
            await self.close(code=4404)
            return
        org_id, _role = resolved
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
        await self.send_json({"event": message["event"], "data": message["data"]})
