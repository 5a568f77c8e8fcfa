"""Exports of the trail: CSV with a header row and formula-safe cells, JSON Lines, any filter, streamed in
keyset chunks, one organization only."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.export import COLUMNS, csv_cell, export_lines
from audit.selectors import EventFilters
from audit.tests.helpers import make_call, make_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_trail")]


def export_url(world, **params):
    return reverse("activity_export", kwargs={"org_slug": world.acme.slug})


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_a_filtered_csv_has_a_header_row_and_only_the_matching_events(world, client_as):
    call, _ = make_call(world.acme, agent_name="ci-bot", tool="github__list_repos", latency_ms=20)
    make_event(world.acme, agent_name="release-bot")
    make_event(world.evil, agent_name="ci-bot")
    response = client_as(world.auditor).get(export_url(world), {"agent": "ci-bot", "format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="scopegate-activity-acme-')
    rows = read_csv(response)
    assert [r["id"] for r in rows] == [str(call.id)]
    assert rows[0]["tool"] == "github__list_repos" and rows[0]["outcome"] == "ok" and rows[0]["latency_ms"] == "20.0"
    assert list(rows[0]) == list(COLUMNS)


def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped(world, client_as):
    make_event(world.acme, tool='=HYPERLINK("http://evil")', agent_name="+bot", error="-1+2", key_prefix="@sum")
    rows = read_csv(client_as(world.owner).get(export_url(world), {"format": "csv"}))
    assert rows[0]["tool"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["agent_name"] == "'+bot" and rows[0]["error"] == "'-1+2" and rows[0]["key_prefix"] == "'@sum"
    assert csv_cell("latency_ms", -1.5) == "-1.5"  # a number is never a formula
    assert csv_cell("tool", "\tcmd") == "'\tcmd"


def test_json_lines_carry_every_field_with_json_values_intact(world, client_as):
    call, _ = make_call(world.acme, arguments={"repo": "=acme/web"}, trace=[{"step": "rule", "rule": 3}])
    response = client_as(world.owner).get(export_url(world), {"format": "jsonl"})
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = b"".join(response.streaming_content).decode().splitlines()
    [event] = [json.loads(line) for line in lines]
    assert event["id"] == call.id and event["arguments"] == {"repo": "=acme/web"}
    assert event["trace"] == [{"step": "rule", "rule": 3}] and event["outcome"] == "ok"
    assert set(event) == set(COLUMNS)


def test_an_export_reads_the_trail_a_chunk_at_a_time(world):
    for _ in range(7):
        make_call(world.acme)
    lines = export_lines(organization_id=world.acme.pk, filters=EventFilters(), fmt="csv", chunk=3)
    header = next(lines)
    assert header.startswith(b"id,time,kind")
    with CaptureQueriesContext(connection) as queries:
        first = next(lines)
    assert first.count(b"\n") == 3 and len(queries) == 2  # 3 events, then their outcomes; nothing more yet
    rest = list(lines)
    assert sum(chunk.count(b"\n") for chunk in rest) == 4


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_an_async_stream(world):
    from channels.db import database_sync_to_async
    from django.contrib.sessions.backends.db import SessionStore

    for _ in range(5):
        await database_sync_to_async(make_event)(world.acme)

    @database_sync_to_async
    def login():
        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(world.auditor.pk),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": world.auditor.get_session_auth_hash(),
            }
        )
        session.save()
        return session.session_key

    client = AsyncClient()
    client.cookies["sessionid"] = await login()
    response = await client.get(export_url(world), {"format": "jsonl"})
    assert response.status_code == 200 and response.is_async
    body = b"".join([part async for part in response.streaming_content])
    assert body.count(b"\n") == 5


def test_bad_filters_or_format_answer_400_with_the_field_named(world, client_as):
    client = client_as(world.owner)
    response = client.get(export_url(world), {"format": "xlsx"})
    assert response.status_code == 400 and b"format: Choose csv or jsonl." in response.content
    response = client.get(export_url(world), {"format": "csv", "since": "soon"})
    assert response.status_code == 400 and b"since:" in response.content


def test_members_without_audit_rights_and_outsiders_cannot_export(world, client_as):
    assert client_as(world.member).get(export_url(world), {"format": "csv"}).status_code == 403
    assert client_as(world.outsider).get(export_url(world), {"format": "csv"}).status_code == 404
