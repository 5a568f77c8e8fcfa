"""The one way events enter the audit trail.

``event_record`` returns once the event is committed. Concurrent callers share one multi-row insert (group
commit): while one batch commits, the next one gathers, so a busy gateway pays one commit per batch, not per
call. A write that fails raises to every caller of its batch; nothing is swallowed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from audit.models import Event


def _insert(events: list[Event]) -> None:
    with transaction.atomic():
        Event.objects.bulk_create(events)


class _GroupWriter:
    def __init__(self) -> None:
        self._pending: list[tuple[Event, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def write(self, event: Event) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((event, future))
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await sync_to_async(_insert, thread_sensitive=False)([event for event, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


_writer = _GroupWriter()


async def event_record(**fields: Any) -> None:
    """Stores one event durably; raises when it cannot be stored."""
    await _writer.write(Event(**fields))


def event_record_sync(**fields: Any) -> Event:
    return Event.objects.create(**fields)
