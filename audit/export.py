"""CSV and JSON Lines exports of the trail for any filter, streamed in keyset chunks of ~1000 rows.

Under ASGI (daphne) the body is an async iterator that fetches each chunk in the sync thread: Django would
otherwise collect a sync iterator into one list before sending it, holding the whole export in memory. Under
WSGI (and Django's test client) it is a plain iterator. Either way memory holds one chunk at a time.

CSV cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) are
prefixed with a single quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from accounts.models import Organization
from audit.selectors import EventFilters, event_chunks

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CHUNK = 1000
COLUMNS = (
    "id",
    "time",
    "kind",
    "actor_type",
    "agent_id",
    "agent_name",
    "key_prefix",
    "user_id",
    "user_email",
    "via",
    "client_name",
    "client_version",
    "source_ip",
    "session_ref",
    "request_id",
    "method",
    "connection",
    "tool",
    "arguments",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "decision",
    "rule_id",
    "trace",
    "outcome",
    "upstream_ms",
    "latency_ms",
    "result_bytes",
    "error",
    "parent_id",
    "outcome_id",
    "segment",
    "seq",
    "hash",
)
JSON_COLUMNS = {"arguments", "before", "after", "trace"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_value(name: str, value: Any) -> Any:
    """A JSON-able value of one column."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


def csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in JSON_COLUMNS:
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    elif isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).isoformat()
    elif not isinstance(value, str):
        return str(value)  # numbers: never a formula
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Line:
    """csv.writer writes into this; the caller takes each line as it is written."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def encode_chunk(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(
            json.dumps({c: export_value(c, row.get(c)) for c in COLUMNS}, ensure_ascii=False, default=str) + "\n"
            for row in rows
        ).encode()
    line = _Line()
    writer = csv.writer(line.buffer)
    for row in rows:
        writer.writerow([csv_cell(c, row.get(c)) for c in COLUMNS])
    return line.take().encode()


def header(fmt: str) -> bytes:
    if fmt != "csv":
        return b""
    line = _Line()
    csv.writer(line.buffer).writerow(COLUMNS)
    return line.take().encode()


def export_lines(*, organization_id: int, filters: EventFilters, fmt: str, chunk: int = CHUNK) -> Iterator[bytes]:
    yield header(fmt)
    for rows in event_chunks(organization_id=organization_id, filters=filters, chunk=chunk):
        yield encode_chunk(rows, fmt)


async def export_lines_async(
    *, organization_id: int, filters: EventFilters, fmt: str, chunk: int = CHUNK
) -> AsyncIterator[bytes]:
    lines = export_lines(organization_id=organization_id, filters=filters, fmt=fmt, chunk=chunk)
    # Each chunk's queries run in Django's sync thread; the event loop only ever holds one encoded chunk.
    take = sync_to_async(lambda: next(lines, None))
    try:
        while (part := await take()) is not None:
            yield part
    finally:
        # The stream outlives the view: hand the sync thread's connection back rather than leave it open.
        await sync_to_async(close_old_connections)()


def export_filename(organization: Organization, fmt: str) -> str:
    return f"scopegate-activity-{organization.slug}-{timezone.now():%Y%m%dT%H%M%SZ}.{fmt}"


def export_response(
    request: HttpRequest, *, organization: Organization, filters: EventFilters, fmt: str
) -> StreamingHttpResponse:
    args = {"organization_id": organization.pk, "filters": filters, "fmt": fmt}
    body = export_lines_async(**args) if isinstance(request, ASGIRequest) else export_lines(**args)
    response = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(organization, fmt)}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
