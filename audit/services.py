"""The one way events enter the audit trail.

``event_record`` returns once the event is committed. Concurrent callers share one multi-row insert (group
commit): while one batch commits, the next one gathers, so a busy gateway pays one commit per batch, not per
call. A write that fails raises to every caller of its batch; nothing is swallowed.

On PostgreSQL the writer speaks async psycopg directly (one statement, one round trip, no thread hop): the
gateway's hot path cannot afford the ORM's thread and three round trips per call. Elsewhere (SQLite, the
embedded default) it goes through the ORM in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import Event

logger = logging.getLogger(__name__)
COLUMNS = [f.column for f in Event._meta.concrete_fields if not f.primary_key]
ATTRS = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
MAX_BATCH = 500


def _insert_orm(events: list[Event]) -> None:
    with transaction.atomic():
        Event.objects.bulk_create(events)


class _PgConnection:
    """One async psycopg connection per event loop, reopened after a failure."""

    def __init__(self) -> None:
        self.conn = None
        self.loop = None

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
            )
            if not settings.AUDIT_SYNCHRONOUS_COMMIT:
                # The operator's choice: commits return before the WAL reaches disk. A gateway crash loses
                # nothing (PostgreSQL has the rows); a PostgreSQL crash may lose the last fraction of a second.
                await self.conn.execute("SET synchronous_commit = off")
            self.loop = loop
        return self.conn

    async def insert(self, rows: list[dict]) -> None:
        one_row = "(" + ",".join(["%s"] * len(COLUMNS)) + ")"
        # Table and columns come from the model, never from input; every value is a bound parameter.
        table = Event._meta.db_table
        sql = f"INSERT INTO {table} ({','.join(COLUMNS)}) VALUES " + ",".join([one_row] * len(rows))  # noqa: S608
        values = [row[a] for row in rows for a in ATTRS]
        conn = await self.get()
        try:
            await conn.execute(sql, values)  # autocommit: one statement, one durable commit
        except Exception:
            await conn.close()
            raise


_pg = _PgConnection()


class _GroupWriter:
    """Callers that arrive while a batch commits wait for the next one; the first caller drains in its own task
    (no task to schedule on a quiet gateway)."""

    def __init__(self) -> None:
        self._pending: list[tuple[dict, asyncio.Future]] = []
        self._draining = False

    async def write(self, row: dict) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if not self._draining:
            self._draining = True
            try:
                await self._drain()
            finally:
                self._draining = False
        await future

    async def _drain(self) -> None:
        postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            rows = [row for row, _ in batch]
            try:
                if postgres:
                    await _pg.insert(rows)
                else:
                    await sync_to_async(_insert_orm, thread_sensitive=False)([Event(**row) for row in rows])
            except Exception as exc:
                logger.error("audit write of %s events failed: %r", len(rows), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


_writer = _GroupWriter()
_DEFAULTS = {
    f.attname: f.get_default() for f in Event._meta.concrete_fields if not f.primary_key and f.attname != "time"
}


async def event_record(**fields: Any) -> None:
    """Stores one event durably; raises when it cannot be stored."""
    unknown = set(fields) - set(ATTRS)
    if unknown:
        raise TypeError(f"unknown audit fields: {sorted(unknown)}")
    row = {**_DEFAULTS, "time": timezone.now(), **fields}
    await _writer.write(row)
