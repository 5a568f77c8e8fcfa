"""The audit writer's PostgreSQL connection: one per process, driven from the event loop's own callbacks.

A batch is sent the moment the writer is free, and stored in one transaction: one execution of an INSERT prepared
once per connection for each chunk size (1 to 8, 16 and 32 rows; a larger batch is several chunks in one libpq
pipeline, committed once), with every parameter dumped in binary by the dumper of its *column's* type. Its
result is read by a reader callback on the connection's socket, which answers the batch's callers and sends the
next batch at once: under load a batch costs one turn of the event loop, not the three or four of awaiting a
cursor (psycopg's COPY awaited per phase). Measured under the audit bench (32 agents, instrumented gateway): with
the cursor, a batch of 16-31 rows took 6.6 ms from send to answer, one of 1-3 rows 1.6 ms, batches averaged 9 rows
and a call waited 9.5 ms (median) for its pre-write; driven by callbacks, batches average 6.7 rows and the wait
is 7.7 ms, of which ~1.5 ms is the caller's own resumption (a turn of a loop that is ~70% busy).
Measured with real rows (an ad hoc loop of 1,500 sequential batches against the real table): a batch of 2 costs
the gateway 120 us of CPU against 190-210 through psycopg's cursor. psycopg still opens the connection, prepares
the statements and reserves ids (a thousand at a time).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from psycopg import postgres, pq
from psycopg.errors import error_from_result

from audit.models import Event

logger = logging.getLogger(__name__)

FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]
COLUMNS = [f.column for f in FIELDS]
ID_BLOCK = 1000
# The prepared statements' sizes: any batch is a sum of these, largest first. Every size up to 8 (the usual
# batch is one statement: a batch of 7 as 4 + 2 + 1 in a pipeline measured 760-800 us of wall time and 370-400 us
# of PostgreSQL's CPU against 525-690 and 250-330 as one statement), then 16 and 32: a prepared INSERT of n rows
# holds ~18 kB * n of the server's memory (~1.5 MB for these), so not every size up to the largest is prepared.
CHUNKS = (32, 16, 8, 7, 6, 5, 4, 3, 2, 1)
MAX_BATCH = 128
_TABLE = Event._meta.db_table


def _column_codecs() -> tuple[list[str], list[Callable[[Any], Any]], list[int]]:
    """For the id and every column: its PostgreSQL type, the binary dumper of that type, and the format (1 binary,
    0 text). Fixing the dumper per column (not per value) keeps one prepared statement per size: psycopg's own
    choice goes by the value (a small int is an int2), so its statements multiply with the values' sizes. The
    dumpers come from psycopg's registry, which holds the C ones of psycopg-binary (the pure Python classes cost
    the writer ~10 us per row more: measured)."""

    def dumper(pg_type: str, cls: type) -> Callable[[Any], Any]:
        return psycopg.adapters.get_dumper_by_oid(postgres.types[pg_type].oid, pq.Format.BINARY)(cls).dump

    by_type = {
        "BigIntegerField": ("bigint", dumper("int8", int), 1),
        "IntegerField": ("integer", dumper("int4", int), 1),
        "FloatField": ("double precision", dumper("float8", float), 1),
        "CharField": ("text", dumper("text", str), 1),
        "TextField": ("text", dumper("text", str), 1),
        "DateTimeField": ("timestamptz", dumper("timestamptz", object), 1),
        "JSONField": ("jsonb", dumper("jsonb", object), 1),
        # an address arrives as text; PostgreSQL parses it (and refuses what is not one)
        "GenericIPAddressField": ("inet", str.encode, 0),
    }
    types, dumpers, formats = ["bigint"], [by_type["BigIntegerField"][1]], [1]
    for field in FIELDS:
        kind = field.get_internal_type()
        if kind not in by_type:
            raise TypeError(f"audit column {field.column}: no binary codec for {kind}")
        pg_type, dump, fmt = by_type[kind]
        types.append(pg_type)
        dumpers.append(dump)
        formats.append(fmt)
    return types, dumpers, formats


_TYPES, _DUMPERS, _FORMATS = _column_codecs()


def connect_params(db: dict[str, Any], **override: Any) -> dict[str, Any]:
    """psycopg's connection parameters for one of Django's ``DATABASES`` entries (the unset ones left out)."""
    params = {"dbname": db["NAME"], "user": db.get("USER"), "password": db.get("PASSWORD")}
    params.update(host=db.get("HOST"), port=db.get("PORT"), **override)
    return {name: value for name, value in params.items() if value}


@functools.cache
def insert_statement(rows: int) -> str:
    width = len(COLUMNS) + 1
    values = ",".join("(" + ",".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(rows))
    return f"INSERT INTO {_TABLE} (id,{','.join(COLUMNS)}) VALUES {values}"  # noqa: S608 (names from the model)


def chunks(count: int) -> list[int]:
    """``count`` rows as a sum of prepared sizes, largest first."""
    out = []
    for size in CHUNKS:
        while count >= size:
            out.append(size)
            count -= size
    return out


def _dumped(records: list[tuple]) -> list[Any]:
    """Every record's values as the wire wants them, in one flat list (None is NULL)."""
    out: list[Any] = []
    extend = out.extend
    for record in records:
        extend([None if v is None else dump(v) for dump, v in zip(_DUMPERS, record, strict=True)])
    return out


class PgWriterConnection:
    """The writer's connection, reopened after a failure. One batch is in flight at a time: ``submit`` sends it
    (at once when the connection is ready, else from a task that connects or reserves ids first) and calls its
    ``done`` callback, exactly once, from the event loop, with the batch's ids or the exception that failed it.
    Any failure closes the connection: whether the commit happened is then unknown."""

    def __init__(self) -> None:
        self.conn = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.spare_ids: list[int] = []
        self._flight: tuple[list[int], Callable] | None = None  # the batch in flight: its ids, its callback
        self._failure: BaseException | None = None  # the first error among its results
        self._timer: asyncio.TimerHandle | None = None
        self._fd = -1  # the socket our reader callback watches (between batches too: one registration per
        # connection instead of two epoll_ctl calls per batch), or -1 while psycopg drives the connection itself
        self._tasks: set[asyncio.Task] = set()

    def submit(self, rows: list[tuple], done: Callable[[list[int] | BaseException], None]) -> None:
        """Stores the rows (each a tuple of the model's column values, in ``COLUMNS`` order) in one transaction
        and one durable commit. The ids come from the sequence beforehand, in order, for the chain and the
        callers."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests): the old loop's connection cannot serve it
            self._flight, self.loop = None, loop
            self._drop()
        if self._flight is not None:
            raise RuntimeError("the audit writer has a batch in flight")
        if self.conn is not None and not self.conn.closed and len(self.spare_ids) >= len(rows):
            self._send(rows, done)
            return
        self._unwatch()  # psycopg waits on the socket itself meanwhile
        task = loop.create_task(self._prepare_then_send(rows, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare_then_send(self, rows: list[tuple], done: Callable) -> None:
        try:
            async with asyncio.timeout(settings.AUDIT_WRITE_TIMEOUT_SECONDS):
                conn = await self._connected()
                while len(self.spare_ids) < len(rows):
                    cursor = await conn.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                        [_TABLE, ID_BLOCK],
                    )
                    self.spare_ids.extend(pk for (pk,) in await cursor.fetchall())
        except BaseException as exc:
            self._unsent(done, exc)
            return
        self._send(rows, done)

    async def _connected(self):
        if self.conn is not None and not self.conn.closed:
            return self.conn
        conn = await psycopg.AsyncConnection.connect(
            **connect_params(settings.DATABASES["default"]),
            autocommit=True,
            application_name="scopegate-audit",
            connect_timeout=5,
        )
        try:
            if not settings.AUDIT_SYNCHRONOUS_COMMIT:
                # The operator's choice: commits return before the WAL reaches disk. A gateway crash loses
                # nothing (PostgreSQL has the rows); a PostgreSQL crash may lose the last fraction of a second.
                await conn.execute("SET synchronous_commit = off")
            for size in CHUNKS:
                await conn.execute(
                    f"PREPARE scopegate_audit_{size} ({','.join(_TYPES * size)}) AS {insert_statement(size)}"
                )
        except BaseException:
            await conn.close()
            raise
        self.conn = conn
        return conn

    def _send(self, rows: list[tuple], done: Callable) -> None:
        """Sends the batch without waiting: one prepared execution, or several in a pipeline and one commit."""
        count = len(rows)
        ids, self.spare_ids = self.spare_ids[:count], self.spare_ids[count:]
        sizes = chunks(count)
        pgconn = self.conn.pgconn
        try:
            records = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
            if len(sizes) > 1:
                pgconn.enter_pipeline_mode()
            start = 0
            for size in sizes:
                part = records[start : start + size]
                pgconn.send_query_prepared(_NAMES[size], _dumped(part), _FORMATS * size)
                start += size
            if len(sizes) > 1:
                pgconn.pipeline_sync()
            pending = pgconn.flush()
        except BaseException as exc:
            self._unsent(done, exc)
            return
        self._flight = (ids, done)
        self._failure = None
        self._timer = self.loop.call_later(settings.AUDIT_WRITE_TIMEOUT_SECONDS, self._timed_out)
        if self._fd < 0:
            self._fd = pgconn.socket
            self.loop.add_reader(self._fd, self._readable)
        if pending:  # the socket's buffer is full (a large batch): the rest goes when it drains
            self.loop.add_writer(self._fd, self._writable)

    def _unsent(self, done: Callable, exc: BaseException) -> None:
        """A batch that failed before it was sent: the connection goes, the batch's callers are told, and a
        cancellation or an interrupt goes on up."""
        self._drop()
        _call(done, exc)
        if not isinstance(exc, Exception):
            raise exc

    def _writable(self) -> None:
        pgconn = self.conn.pgconn
        try:
            if pgconn.flush():
                return
        except Exception as exc:
            self._finish(exc)
            return
        self.loop.remove_writer(self._fd)

    def _readable(self) -> None:
        """The server answered (or hung up): once every result of the batch is in, the batch is done. Results
        may arrive over several calls; the first error among them is the batch's. Between batches only a notice
        or the server hanging up can arrive: the latter drops the connection (the next batch opens another)."""
        pgconn = self.conn.pgconn if self.conn is not None else None
        if self._flight is None:
            try:
                if pgconn is None:
                    raise psycopg.OperationalError("no connection")
                pgconn.consume_input()
                while not pgconn.is_busy() and pgconn.notifies() is not None:
                    pass
            except Exception as exc:
                logger.warning("the audit connection closed between batches: %r", exc)
                self._drop()
            return
        try:
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    if pgconn.pipeline_status == pq.PipelineStatus.OFF:
                        break  # a single execution's results are over
                    continue  # the end of one pipelined execution's results
                status = result.status
                if status == pq.ExecStatus.PIPELINE_SYNC:
                    pgconn.exit_pipeline_mode()
                    break
                if status != pq.ExecStatus.COMMAND_OK and self._failure is None:
                    self._failure = error_from_result(result, encoding="utf-8")
            else:
                return  # more to come
        except Exception as exc:  # the connection is gone: libpq says why
            self._failure = exc
        self._finish(self._failure if self._failure is not None else self._flight[0])

    def _timed_out(self) -> None:
        self._timer = None
        self._finish(TimeoutError(f"the audit write took over {settings.AUDIT_WRITE_TIMEOUT_SECONDS} s"))

    def _finish(self, result: list[int] | BaseException) -> None:
        if self._flight is None:
            return
        _, done = self._flight
        self._flight = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if isinstance(result, BaseException):
            self._drop()
        _call(done, result)

    def _unwatch(self) -> None:
        if self._fd >= 0 and self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self._fd)
            self.loop.remove_writer(self._fd)
        self._fd = -1

    def _drop(self) -> None:
        """Closes the connection after a failure, at once (the next batch opens a new one)."""
        self._unwatch()
        conn, self.conn = self.conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()  # what psycopg's close does, without waiting for a turn of the loop

    async def close(self) -> None:
        if self._flight is not None:
            self._finish(AuditConnectionClosed("the audit connection was closed"))
        self._unwatch()
        if self.conn is not None and not self.conn.closed:
            await self.conn.close()
        self.conn = None


class AuditConnectionClosed(Exception):
    """The connection was closed with a batch in flight (shutdown)."""


_NAMES = {size: f"scopegate_audit_{size}".encode() for size in CHUNKS}


def _call(done: Callable, result: Any) -> None:
    try:
        done(result)
    except Exception:  # a callback's own failure must not take the event loop's callback with it
        logger.exception("audit batch callback failed")
