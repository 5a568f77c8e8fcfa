"""The decrypted access tokens a gateway process holds, so that a call pays no database round trip.

Keyed by credential id, stamped with the credential's version. A refresh, a disconnect or a needed reconnect
drops the entry on every node through the channel layer (``policies.invalidation``); an entry also ages out after
``POLICY_CACHE_SECONDS``, the bounded staleness of a node that missed the message. Misses, refreshes and
retries after a 401 run the credential services in a worker thread (they lock a row and may wait on the
provider), one at a time per credential in this process, so that forty calls meeting an expired token cause
one refresh.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from connectors.credentials import TokenState, credential_refresh, credential_state

_cache: dict[int, tuple[float, TokenState]] = {}
_locks: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def forget(credential_ids: list[int]) -> None:
    for credential_id in credential_ids:
        _cache.pop(credential_id, None)


def forget_all() -> None:
    _cache.clear()


def _lock(credential_id: int) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    held = _locks.get(credential_id)
    if held is None or held[0] is not loop:
        held = _locks[credential_id] = (loop, asyncio.Lock())
    return held[1]


def _in_thread(function, **kwargs) -> TokenState:
    """Runs a credential service off the event loop and off Django's shared sync thread."""

    def run() -> TokenState:
        close_old_connections()
        try:
            return function(**kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)()


def _fresh(state: TokenState) -> bool:
    margin = 30.0  # a token this close to its end is refreshed first rather than failing mid-call
    return state.expires_at is None or state.expires_at - margin > time.time()


def _cached(credential_id: int) -> TokenState | None:
    entry = _cache.get(credential_id)
    if entry is None or time.monotonic() - entry[0] > float(settings.POLICY_CACHE_SECONDS):
        return None
    return entry[1]


def _keep(state: TokenState) -> TokenState:
    _cache[state.credential_id] = (time.monotonic(), state)
    return state


async def current(credential_id: int) -> TokenState:
    """The credential's token, refreshed first when it has expired (or is about to)."""
    state = _cached(credential_id)
    if state is not None and (not state.usable or _fresh(state)):
        return state
    async with _lock(credential_id):
        state = _cached(credential_id)
        if state is None:
            state = _keep(await _in_thread(credential_state, credential_id=credential_id))
        if state.usable and not _fresh(state):
            state = _keep(await _in_thread(credential_refresh, credential_id=credential_id, seen_version=state.version))
    return state


async def after_rejection(credential_id: int, seen: TokenState) -> TokenState:
    """The provider refused ``seen``'s token: refresh once (unless someone already did) and say what to use."""
    async with _lock(credential_id):
        state = _cached(credential_id)
        if state is not None and state.version != seen.version:
            return state
        return _keep(
            await _in_thread(credential_refresh, credential_id=credential_id, seen_version=seen.version, rejected=True)
        )
