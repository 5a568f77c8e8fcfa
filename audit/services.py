"""The one way gateway events enter the audit trail: a durable, hash-chained group commit.

``event_record`` returns the event's id once it is committed. Concurrent callers share one multi-row insert
(group commit): while one batch commits, the next one gathers, so a busy gateway pays one commit per batch,
not per call. A write that fails raises to every caller of its batch; nothing is swallowed, and the caller
refuses the request (fail closed).

Each writer (one per process and event loop) appends to its own chain segment per organization: it links every
row to the previous one it wrote, in memory, so chaining costs no read. When a batch fails, nobody knows whether
its commit happened (the connection may drop after the server committed), so the writer starts a new segment:
the old one ends with whatever was stored, and no sequence number is ever used twice.

On PostgreSQL the writer speaks async psycopg directly (one statement, one round trip, no thread hop): the
gateway's hot path cannot afford the ORM's thread and three round trips per call. Elsewhere (SQLite, the
embedded default) it goes through the ORM in a worker thread.
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

logger = logging.getLogger(__name__)
COLUMNS = [f.column for f in Event._meta.concrete_fields if not f.primary_key]
ATTRS = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
_VALUES = operator.itemgetter(*ATTRS)
# Where the JSON columns sit in a COPY/INSERT record (after the id).
_JSON_AT = [
    i + 1
    for i, f in enumerate(f for f in Event._meta.concrete_fields if not f.primary_key)
    if f.get_internal_type() == "JSONField"
]
MAX_BATCH = 500
# How long a row nobody waits for (a call's outcome) may wait for a batch to join.
FLUSH_SECONDS = 0.005
ID_BLOCK = 1000
# Up to this many rows a batch is one prepared INSERT on a raw cursor (one round trip); above, COPY. Measured
# here with real rows: the INSERT costs the gateway 110 us per batch of 2 where COPY costs 200 (COPY pays a
# second round trip and its own protocol); PostgreSQL binds more than 16 rows cheaper from COPY. Above 8 rows,
# COPY kept 78-80% in the audit bench where INSERT up to 32 kept 76-77%.
SMALL_BATCH = 8


def _insert_orm(rows: list[dict]) -> list[int]:
    with transaction.atomic():
        return [e.pk for e in Event.objects.bulk_create([Event(**row) for row in rows])]


class _PgConnection:
    """One async psycopg connection per event loop, reopened after a failure."""

    def __init__(self) -> None:
        self.conn = None
        self.loop = None
        self.spare_ids: list[int] = []

    async def get(self):
        import psycopg

        loop = asyncio.get_running_loop()
        if self.conn is None or self.conn.closed or self.loop is not loop:
            db = settings.DATABASES["default"]
            self.conn = await psycopg.AsyncConnection.connect(
                dbname=db["NAME"],
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=db.get("PORT") or None,
                autocommit=True,
                application_name="scopegate-audit",
                connect_timeout=5,
            )
            if not settings.AUDIT_SYNCHRONOUS_COMMIT:
                # The operator's choice: commits return before the WAL reaches disk. A gateway crash loses
                # nothing (PostgreSQL has the rows); a PostgreSQL crash may lose the last fraction of a second.
                await self.conn.execute("SET synchronous_commit = off")
            self.loop = loop
        return self.conn

    async def _ids(self, conn, count: int) -> list[int]:
        """Ids from the table's own sequence, reserved a block at a time (one query per thousand events)."""
        while len(self.spare_ids) < count:
            cursor = await conn.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Event._meta.db_table, max(ID_BLOCK, count)],
            )
            self.spare_ids.extend(pk for (pk,) in await cursor.fetchall())
        taken, self.spare_ids = self.spare_ids[:count], self.spare_ids[count:]
        return taken

    async def insert(self, rows: list[dict]) -> list[int]:
        """One statement, one durable commit: a prepared multi-row INSERT for the usual batch, COPY for a large
        one. The ids come from the sequence beforehand (COPY returns none, and the chain wants them in order)."""
        import psycopg
        from psycopg.types.json import Jsonb

        conn = await self.get()
        try:
            async with asyncio.timeout(settings.AUDIT_WRITE_TIMEOUT_SECONDS):
                ids = await self._ids(conn, len(rows))
                records = []
                for pk, row in zip(ids, rows, strict=True):
                    record = [pk, *_VALUES(row)]
                    for i in _JSON_AT:
                        if record[i] is not None:
                            record[i] = Jsonb(record[i])
                    records.append(record)
                if len(records) <= SMALL_BATCH:
                    # The usual batch: a few calls and earlier calls' outcomes.
                    # A raw cursor: the statement already has $n placeholders, so psycopg need not parse it (it
                    # caches the parse only up to 50 parameters; a row has 38). Binary parameters: a batch of 8
                    # measured 170-200 us of CPU here against 250 as text, and PostgreSQL parses no numbers.
                    flat = [v for record in records for v in record]
                    await psycopg.AsyncRawCursor(conn).execute(
                        _insert_statement(len(records)), flat, prepare=True, binary=True
                    )
                else:
                    # autocommit: the COPY is one statement and one durable commit, done when this block exits
                    async with conn.cursor().copy(_copy_statement()) as copy:
                        for record in records:
                            await copy.write_row(record)
        except BaseException:
            await conn.close()
            raise
        return ids


@functools.cache
def _insert_statement(rows: int) -> str:
    width = len(COLUMNS) + 1
    values = ",".join("(" + ",".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(rows))
    return f"INSERT INTO {Event._meta.db_table} (id,{','.join(COLUMNS)}) VALUES {values}"  # noqa: S608


@functools.cache
def _copy_statement() -> str:
    # Table and columns come from the model, never from input.
    return f"COPY {Event._meta.db_table} (id,{','.join(COLUMNS)}) FROM STDIN"


class _GroupWriter:
    """Callers that arrive while a batch commits wait for the next one. The caller that finds the writer idle
    writes its batch in its own task (no task to schedule on a quiet gateway), then hands whatever gathered
    meanwhile to a background task: its own answer never waits for batches after its own (under steady load the
    queue never empties, and a caller that drained it measured a 5 ms prewrite at 32 concurrent calls)."""

    def __init__(self) -> None:
        self._pending: list[tuple[dict, asyncio.Future | None]] = []
        self._draining = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self.segment = "g" + secrets.token_hex(8)
        self._heads: dict[int | None, tuple[int, str]] = {}  # organization → (seq, hash) of its last stored row

    async def write(self, row: dict) -> int:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if not self._draining:
            self._draining = True
            try:
                await self._drain_batch()
            finally:
                self._hand_over()
        return await future

    def _hand_over(self) -> None:
        """After a caller's batch: rows that arrived meanwhile go on in the background, else the writer idles."""
        if self._pending:
            task = asyncio.get_running_loop().create_task(self._drain_rest())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._draining = False

    async def _drain_rest(self) -> None:
        try:
            await self._drain()
        except Exception:
            logger.exception("audit write failed")
        finally:
            self._draining = False

    def write_soon(self, row: dict) -> None:
        """Queues a row that nobody waits for: it joins the next batch, or a batch of its own within
        ``FLUSH_SECONDS``. A failure to store it is logged as an error; it is never silently dropped."""
        self._pending.append((row, None))
        if not self._draining and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._pending and not self._draining:
            task = asyncio.get_running_loop().create_task(self._drain_alone())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain_alone(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            await self._drain()
        except Exception:
            logger.exception("audit flush failed")
        finally:
            self._draining = False

    def _link(self, rows: list[dict]) -> None:
        for row in rows:
            org = row["organization_id"]
            seq, prev = self._heads.get(org) or (0, chain.genesis(org, self.segment))
            row["segment"], row["seq"] = self.segment, seq + 1
            row["hash"] = chain.link(prev, row)
            self._heads[org] = (row["seq"], row["hash"])

    def _new_segment(self) -> None:
        self.segment = "g" + secrets.token_hex(8)
        self._heads = {}

    async def _drain(self) -> None:
        while self._pending:
            await self._drain_batch()

    async def _drain_batch(self) -> None:
        """Stores the next batch; a failure goes to its callers (and the log), and starts a new segment."""
        postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        if not self._pending:
            return
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        rows = [row for row, _ in batch]
        self._link(rows)
        try:
            if postgres:
                ids = await _pg.insert(rows)
            else:
                ids = await sync_to_async(_insert_orm, thread_sensitive=False)(rows)
        except BaseException as exc:
            self._new_segment()
            logger.error("audit write of %s events failed: %r", len(rows), exc)
            unawaited = sum(future is None for _, future in batch)
            if unawaited:
                logger.error("%s audit outcome rows were not stored: their calls show no outcome", unawaited)
            failure = exc if isinstance(exc, Exception) else AuditUnavailable("the audit write was interrupted")
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
        else:
            for (row, future), pk in zip(batch, ids, strict=True):
                row["id"] = pk
                if future is not None and not future.done():
                    future.set_result(pk)
            live.publish(rows)


class AuditUnavailable(Exception):
    """The audit trail cannot store an event right now: the request is refused."""


_pg = _PgConnection()
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


async def event_record(**fields: Any) -> int:
    """Stores one event durably and returns its id; raises when it cannot be stored."""
    unknown = set(fields) - set(ATTRS)
    if unknown:
        raise TypeError(f"unknown audit fields: {sorted(unknown)}")
    row = {**_DEFAULTS, "time": timezone.now(), **chain.clean_text(fields)}
    return await _writer().write(row)


def event_record_soon(**fields: Any) -> None:
    """Queues one event to be stored with the next batch, without waiting for its commit: for rows that
    complete an event already stored (a call's outcome), after the answer has gone."""
    unknown = set(fields) - set(ATTRS)
    if unknown:
        raise TypeError(f"unknown audit fields: {sorted(unknown)}")
    _writer().write_soon({**_DEFAULTS, "time": timezone.now(), **chain.clean_text(fields)})


async def close_connection() -> None:
    """Closes this process's audit connection (tests, and shutdown)."""
    if _pg.conn is not None and not _pg.conn.closed:
        await _pg.conn.close()
    _pg.conn = None
