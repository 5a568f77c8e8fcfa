"""The one way gateway events enter the audit trail: a durable, hash-chained group commit.

``event_record`` returns the event's id once it is committed. Concurrent callers share one multi-row insert
(group commit): while one batch commits, the next one gathers, so a busy gateway pays one commit per batch,
not per call. A write that fails raises to every caller of its batch; nothing is swallowed, and the caller
refuses the request (fail closed).

Each writer (one per process and event loop) appends to its own chain segment per organization: it links every
row to the previous one it wrote, in memory, so chaining costs no read. When a batch fails, nobody knows whether
its commit happened (the connection may drop after the server committed), so the writer starts a new segment:
the old one ends with whatever was stored, and no sequence number is ever used twice.

On PostgreSQL the writer speaks to its own connection directly (``audit.pgwriter``: one statement, one round
trip, no thread hop): the gateway's hot path cannot afford the ORM's thread and three round trips per call.
Elsewhere (SQLite, the embedded default) it goes through the ORM in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
import secrets
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import chain, live
from audit.models import Event
from audit.pgwriter import MAX_BATCH, PgWriterConnection

logger = logging.getLogger(__name__)
ATTRS = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
_ATTR_NAMES = frozenset(ATTRS)
_VALUES = operator.itemgetter(*ATTRS)  # a row's values in the table's column order
# How long a row nobody waits for (a call's outcome) may wait for a batch to join.
FLUSH_SECONDS = 0.005


def _insert_orm(rows: list[dict]) -> list[int]:
    with transaction.atomic():
        return [e.pk for e in Event.objects.bulk_create([Event(**row) for row in rows])]


class _GroupWriter:
    """Callers that arrive while a batch commits wait for the next one. A caller that finds the writer idle sends
    its batch at once, from its own step (no task to schedule on a quiet gateway); when a batch is stored, its
    callers are answered and whatever gathered meanwhile is sent at once, from the same callback (on PostgreSQL,
    ``audit.pgwriter``'s reader callback: no task resumes in between). A caller never waits for batches after
    its own."""

    def __init__(self) -> None:
        self._pending: list[tuple[dict, asyncio.Future | None]] = []
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self.segment = "g" + secrets.token_hex(8)
        self._heads: dict[int | None, tuple[int, str]] = {}  # organization → (seq, hash) of its last stored row

    async def write(self, row: dict) -> int:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._kick()
        return await future

    def write_soon(self, row: dict) -> None:
        """Queues a row that nobody waits for: it joins the next batch, or a batch of its own within
        ``FLUSH_SECONDS``. A failure to store it is logged as an error; it is never silently dropped."""
        self._pending.append((row, None))
        if not self._busy and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._timer = None
        self._kick()

    def _kick(self) -> None:
        """Sends the next batch if the writer is free."""
        if self._busy or not self._pending:
            return
        if self._timer is not None:  # the rows it waited for go now
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        rows = [row for row, _ in batch]
        self._busy = True
        try:
            self._link(rows)
            if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
                _pg.submit([_VALUES(row) for row in rows], functools.partial(self._done, batch, rows))
            else:
                task = asyncio.get_running_loop().create_task(self._through_orm(batch, rows))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception as exc:
            self._done(batch, rows, exc)

    async def _through_orm(self, batch: list, rows: list[dict]) -> None:
        try:
            ids = await sync_to_async(_insert_orm, thread_sensitive=False)(rows)
        except BaseException as exc:
            self._done(batch, rows, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._done(batch, rows, ids)

    def _done(self, batch: list, rows: list[dict], result: list[int] | BaseException) -> None:
        """A batch is stored, or failed (its callers and the log are told, and a new segment starts); the next
        batch goes at once."""
        self._busy = False
        if isinstance(result, BaseException):
            self._new_segment()
            logger.error("audit write of %s events failed: %r", len(rows), result)
            unawaited = sum(future is None for _, future in batch)
            if unawaited:
                logger.error("%s audit outcome rows were not stored: their calls show no outcome", unawaited)
            failure = result if isinstance(result, Exception) else AuditUnavailable("the audit write was interrupted")
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(failure)
        else:
            for (row, future), pk in zip(batch, result, strict=True):
                row["id"] = pk
                if future is not None and not future.done():
                    future.set_result(pk)
            live.publish(rows)
        self._kick()

    def _link(self, rows: list[dict]) -> None:
        for row in rows:
            org = row["organization_id"]
            seq, prev = self._heads.get(org) or (0, chain.genesis(org, self.segment))
            row["segment"], row["seq"] = self.segment, seq + 1
            row["hash"] = chain.link_clean(prev, row)
            self._heads[org] = (row["seq"], row["hash"])

    def _new_segment(self) -> None:
        self.segment = "g" + secrets.token_hex(8)
        self._heads = {}


class AuditUnavailable(Exception):
    """The audit trail cannot store an event right now: the request is refused."""


_pg = PgWriterConnection()
_writers: dict[asyncio.AbstractEventLoop, _GroupWriter] = {}
_DEFAULTS = {
    f.attname: f.get_default()
    for f in Event._meta.concrete_fields
    if not f.primary_key and f.attname not in ("time", "segment", "seq", "hash")
}


def _writer() -> _GroupWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        for old in [lp for lp in _writers if lp.is_closed()]:
            del _writers[old]
        writer = _writers[loop] = _GroupWriter()
    return writer


def _row(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = fields.keys() - _ATTR_NAMES
    if unknown:
        raise TypeError(f"unknown audit fields: {sorted(unknown)}")
    return {**_DEFAULTS, "time": timezone.now(), **fields}  # cleaned of NULs as it is linked


async def event_record(**fields: Any) -> int:
    """Stores one event durably and returns its id; raises when it cannot be stored."""
    return await _writer().write(_row(fields))


def event_record_soon(**fields: Any) -> None:
    """Queues one event to be stored with the next batch, without waiting for its commit: for rows that
    complete an event already stored (a call's outcome), after the answer has gone."""
    _writer().write_soon(_row(fields))


async def close_connection() -> None:
    """Closes this process's audit connection (tests, and shutdown)."""
    await _pg.close()
