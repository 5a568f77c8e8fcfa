"""Telling every gateway node that a policy changed: the change is applied here at once (cached agents, keys,
tokens, sessions dropped) and broadcast over the channel layer, where each node's listener applies it too and the
agents' open streams turn it into ``list_changed``. A broadcast that fails leaves the other nodes to catch up
within the cache's bounded staleness (``policies.runtime``)."""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import F

from policies.models import Agent
from policies.runtime import GROUP, cache_seconds, forget, forget_all

logger = logging.getLogger(__name__)


def _apply(message: dict) -> None:
    forget(agents=message.get("agents", ()), keys=message.get("keys", ()), organization=message.get("organization"))
    if message.get("credentials"):
        from connectors import token_cache

        token_cache.forget(message["credentials"])
    if message.get("sessions"):
        from gateway.sessions import forget_ended

        forget_ended(message["sessions"])
    if message.get("cancel"):
        from gateway.cancel import cancel_calls

        cancel_calls(message["cancel"])
    if message.get("session_levels"):
        from gateway.sessions import remember_levels

        remember_levels(message["session_levels"])


def _stream_groups(message: dict) -> list[str]:
    """The agents' open streams that must hear of this change (they turn it into list_changed)."""
    groups = [f"mcp.agent.{public_id}" for public_id in message.get("agents", ())]
    if message.get("organization") is not None:
        groups.append(f"mcp.org.{message['organization']}")
    return groups


async def _send_all(layer, message: dict) -> None:
    await layer.group_send(GROUP, {"type": "gateway.invalidate", **message})
    for group in _stream_groups(message):
        await layer.group_send(group, {"type": "mcp.changed"})


def _announce(message: dict) -> None:
    _apply(message)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_all)(layer, message)
    except Exception:
        # The other nodes still reload within the cache's bounded staleness.
        logger.exception("could not broadcast a policy change; other nodes catch up within %ss", cache_seconds())


async def announce_async(message: dict) -> None:
    """The same as ``_announce``, from async code (the gateway)."""
    _apply(message)
    layer = get_channel_layer()
    if layer is not None:
        try:
            await _send_all(layer, message)
        except Exception:
            logger.exception(
                "could not broadcast %s; other nodes catch up within %ss", sorted(message), cache_seconds()
            )


def announce_agents_changed(public_ids: list[str]) -> None:
    Agent.objects.filter(public_id__in=public_ids).update(policy_epoch=F("policy_epoch") + 1)
    _announce({"agents": public_ids})


def announce_organization_changed(organization_id: int) -> None:
    Agent.objects.filter(organization_id=organization_id).update(policy_epoch=F("policy_epoch") + 1)
    _announce({"organization": organization_id})


def announce_credentials_changed(credential_ids: list[int]) -> None:
    """A credential was refreshed, disconnected or marked for reconnect: every node drops its cached token."""
    _announce({"credentials": credential_ids})


def announce_keys_revoked(digests: list[str]) -> None:
    _announce({"keys": digests})


async def announce_sessions_ended(hashes: list[str]) -> None:
    await announce_async({"sessions": hashes})


class _Listener:
    """One task per process that applies the invalidations other nodes broadcast."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    def ensure(self) -> None:
        if self.task is not None and not self.task.done():
            return
        layer = get_channel_layer()
        if layer is None:
            return
        self.task = asyncio.get_running_loop().create_task(self._run(layer))

    async def _run(self, layer) -> None:
        channel = await layer.new_channel()
        joined: float | None = None
        while True:
            try:
                if joined is None or time.monotonic() - joined > 3600:  # groups expire; join again well before
                    await layer.group_add(GROUP, channel)
                    joined = time.monotonic()
                _apply(await layer.receive(channel))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("policy invalidation listener failed; retrying in 1 s")
                forget_all()
                from connectors import token_cache

                token_cache.forget_all()
                await asyncio.sleep(1)
                joined = None


listener = _Listener()
