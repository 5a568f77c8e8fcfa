"""The trail over the REST API: filters, cursor pages with next links, one event, exports, errors, tenancy."""

import csv
import io

import pytest
from django.urls import reverse

from accounts import services
from audit.tests.helpers import make_call, make_event, minutes_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_trail")]


@pytest.fixture
def api(world, client):
    _, secret = services.api_token_issue(ctx=world.ctx("owner"), name="siem-bot", role="auditor")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def url(world, name="api_events", **kwargs):
    return reverse(name, kwargs={"org_slug": world.acme.slug, **kwargs})


def test_an_auditor_token_pages_through_the_events_with_next_links(world, api):
    for n in range(5):
        make_event(world.acme, time=minutes_ago(n), tool=f"tool_{n}")
    make_event(world.evil, tool="foreign")
    seen, next_url = [], url(world) + "?limit=2&kind=mcp"  # not the token's own issuing, a change
    while next_url:
        body = api.get(next_url).json()
        seen += [e["tool"] for e in body["results"]]
        next_url = body["next"]
        assert next_url is None or (next_url.startswith("http://testserver/api/v1/") and "limit=2" in next_url)
    assert seen == [f"tool_{n}" for n in range(5)]


def test_filters_apply_and_a_call_carries_its_outcome(world, api):
    call, done = make_call(world.acme, agent_name="ci-bot", outcome="error", error="upstream down")
    make_event(world.acme, agent_name="release-bot")
    body = api.get(url(world), {"agent": "ci-bot", "outcome": "error"}).json()
    [event] = body["results"]
    assert event["id"] == call.id and event["outcome"] == "error" and event["error"] == "upstream down"
    assert event["outcome_id"] == done.id and body["next"] is None


def test_one_event_and_the_call_an_outcome_completes(world, api):
    call, done = make_call(world.acme)
    body = api.get(url(world, "api_event", pk=call.id)).json()
    assert body["id"] == call.id and body["outcome_id"] == done.id and body["completes"] is None
    body = api.get(url(world, "api_event", pk=done.id)).json()
    assert body["kind"] == "outcome" and body["completes"]["id"] == call.id


def test_another_organizations_event_is_404_in_the_api_shape(world, api):
    foreign = make_event(world.evil)
    response = api.get(url(world, "api_event", pk=foreign.id))
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


def test_the_export_streams_csv_for_a_filter(world, api):
    make_event(world.acme, tool="=cmd|'/C calc'!A0", decision="deny")
    make_event(world.acme, tool="allowed_tool")
    response = api.get(url(world, "api_events_export"), {"format": "csv", "decision": "deny"})
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["tool"] for r in rows] == ["'=cmd|'/C calc'!A0"]


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("api_events", {"decision": "maybe"}, "decision"),
        ("api_events", {"since": "last tuesday"}, "since"),
        ("api_events", {"cursor": "not-a-cursor"}, "cursor"),
        ("api_events", {"limit": "0"}, "limit"),
        ("api_events", {"limit": "501"}, "limit"),
        ("api_events", {"limit": "ten"}, "limit"),
        ("api_events", {"agnet": "typo"}, "agnet"),
        ("api_events_export", {"format": "xlsx"}, "format"),
        ("api_events_export", {}, "format"),
        ("api_events_export", {"format": "csv", "cursor": "x"}, "cursor"),
        ("api_events_export", {"format": "csv", "until": "2026-02-30T00:00"}, "until"),
    ],
)
def test_bad_query_parameters_answer_400_with_the_field_named(world, api, name, params, field):
    response = api.get(url(world, name), params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error" and field in error["fields"]


def test_a_member_token_may_not_read_the_trail(world, client):
    _, secret = services.api_token_issue(ctx=world.ctx("owner"), name="ci", role="member")
    for name in ("api_events", "api_events_export"):
        response = client.get(url(world, name), {"format": "csv"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 403 and response.json()["error"]["type"] == "permission_denied"
