"""On PostgreSQL the audit trail is partitioned by month, so that retention drops a month in one statement.

The table is range-partitioned on ``time`` (its primary key becomes ``(id, time)``; ids stay unique, they come
from one sequence). A default partition catches anything no monthly partition covers, so no write ever fails
for want of a partition; beat creates the coming months ahead of time. Elsewhere (SQLite) nothing changes:
retention deletes rows in batches there.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import DatabaseError, connection, transaction

from audit.models import Event

logger = logging.getLogger(__name__)
TABLE = Event._meta.db_table


def partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1)


def partition_name(first: dt.date) -> str:
    return f"{TABLE}_y{first.year:04d}m{first.month:02d}"


def convert(schema_editor) -> None:
    """The migration's step: the plain table becomes a partitioned one, rows, indexes and sequence kept."""
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s", [TABLE, f"{TABLE}_pkey"]
        )
        indexes = [row[0] for row in cursor.fetchall()]
    # Every name below comes from the model and the calendar, never from input.
    run(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_plain")
    run(f'CREATE TABLE {TABLE} (LIKE {TABLE}_plain INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE ("time")')
    run(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    today = dt.date.today()
    for first in (_month(today), _next_month(_month(today))):
        run(
            f"CREATE TABLE {partition_name(first)} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{first.isoformat()}') TO ('{_next_month(first).isoformat()}')"
        )
    run(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_plain")  # noqa: S608
    last_id = f"GREATEST((SELECT max(id) FROM {TABLE}_plain), 1)"  # noqa: S608
    run(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), {last_id})")
    run(f"DROP TABLE {TABLE}_plain")
    run(f'ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, "time")')
    for definition in indexes:
        run(definition.replace(f" ON public.{TABLE}_plain ", f" ON public.{TABLE} "))


def ensure_partitions(today: dt.date | None = None, months_ahead: int = 2) -> list[str]:
    """Creates this month's partition and the next ones; returns the names it created."""
    if not partitioned():
        return []
    created = []
    first = _month(today or dt.date.today())
    for _ in range(months_ahead + 1):
        name = partition_name(first)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT to_regclass(%s)", [name])
                if cursor.fetchone()[0] is None:
                    cursor.execute(
                        f"CREATE TABLE {name} PARTITION OF {TABLE} "
                        f"FOR VALUES FROM ('{first.isoformat()}') TO ('{_next_month(first).isoformat()}')"
                    )
                    created.append(name)
        except DatabaseError as exc:  # rows of that month already sit in the default partition: they stay there
            logger.warning("audit partition %s not created: %s", name, exc)
        first = _next_month(first)
    return created


def monthly_partitions() -> list[tuple[str, dt.date, dt.date]]:
    """(name, first day, first day of the next month) of every monthly partition, oldest first."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    out = []
    for name in names:
        suffix = name.removeprefix(f"{TABLE}_y")
        if suffix == name or len(suffix) != 7:
            continue
        first = dt.date(int(suffix[:4]), int(suffix[5:7]), 1)
        out.append((name, first, _next_month(first)))
    return out


def drop_partition(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {name}")
