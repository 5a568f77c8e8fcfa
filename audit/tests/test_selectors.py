"""Reading the trail: filters, outcomes folded into their calls, keyset pages, and one organization only."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.forms import EventFilterForm, cursor_decode, cursor_encode
from audit.models import Event
from audit.selectors import (
    Cursor,
    EventFilters,
    changed_fields,
    event_chunks,
    event_detail,
    event_filter,
    event_page,
    row_matches,
)
from audit.tests.helpers import make_call, make_event, minutes_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_trail")]


def ids(rows):
    return [r["id"] for r in rows]


@pytest.fixture
def trail(world):
    acme = world.acme
    events = {
        "old_call": make_call(acme, time=minutes_ago(60), agent_name="ci-bot", tool="github__list_repos")[0],
        "denied": make_event(
            acme,
            time=minutes_ago(30),
            decision="deny",
            outcome="refused",
            rule_id=7,
            tool="github__delete_repo",
            error="Denied by rule 7",
        ),
        "failed": make_call(
            acme, time=minutes_ago(20), outcome="error", error="upstream said: rate limit exceeded", connection="gmail"
        )[0],
        "change": make_event(
            acme,
            time=minutes_ago(10),
            kind="change",
            actor_type="user",
            user_email="Olivia@acme.test",
            agent_name="",
            method="rule.update",
            tool="",
            connection="",
            decision="none",
            target_type="rule",
            target_repr="deny delete_repo",
        ),
        "pending": make_event(acme, time=minutes_ago(1), outcome="pending", tool="github__create_issue"),
    }
    events["foreign"] = make_event(world.evil, time=minutes_ago(5), agent_name="ci-bot")
    return events


def listed(world, **filters):
    return list(
        event_filter(organization_id=world.acme.pk, filters=EventFilters(**filters)).values_list("id", flat=True)
    )


def test_each_filter_narrows_the_list_to_what_it_names(world, trail):
    t = trail
    assert listed(world) == [t["pending"].id, t["change"].id, t["failed"].id, t["denied"].id, t["old_call"].id]
    assert listed(world, agent="ci-bot") == [t["old_call"].id]
    assert listed(world, connection="gmail") == [t["failed"].id]
    assert listed(world, tool="github__delete_repo") == [t["denied"].id]
    assert listed(world, decision="deny") == [t["denied"].id]
    assert listed(world, kind="change") == [t["change"].id]
    assert listed(world, actor="user") == [t["change"].id]
    assert listed(world, user="olivia@ACME.test") == [t["change"].id]
    assert listed(world, method="rule.update") == [t["change"].id]
    assert listed(world, since=minutes_ago(25), until=minutes_ago(5)) == [t["change"].id, t["failed"].id]


def test_the_outcome_filter_reads_the_outcome_a_call_ended_with(world, trail):
    assert listed(world, outcome="error") == [trail["failed"].id]
    assert listed(world, outcome="ok") == [trail["change"].id, trail["old_call"].id]
    assert listed(world, outcome="pending") == [trail["pending"].id]
    assert listed(world, outcome="refused") == [trail["denied"].id]


def test_free_text_searches_names_targets_and_errors_including_an_outcomes_error(world, trail):
    assert listed(world, q="RATE LIMIT") == [trail["failed"].id]
    assert listed(world, q="delete_repo") == [trail["change"].id, trail["denied"].id]
    assert listed(world, q="olivia@") == [trail["change"].id]
    assert listed(world, q="nothing like this") == []


def test_another_organizations_events_are_never_listed(world, trail):
    assert trail["foreign"].id not in listed(world)
    assert listed(world, agent="ci-bot") == [trail["old_call"].id]
    assert event_detail(organization_id=world.acme.pk, event_id=trail["foreign"].id) is None
    evil = event_page(organization_id=world.evil.pk, filters=EventFilters())
    assert ids(evil.rows) == [trail["foreign"].id]


def test_a_call_shows_the_outcome_of_its_outcome_row_with_one_query_per_page(world, trail):
    for n in range(10):
        make_call(world.acme, time=minutes_ago(40 + n))
    with CaptureQueriesContext(connection) as queries:
        page = event_page(organization_id=world.acme.pk, filters=EventFilters(), limit=50)
    assert len(queries) == 2
    failed = next(r for r in page.rows if r["id"] == trail["failed"].id)
    assert failed["outcome"] == "error" and failed["error"] == "upstream said: rate limit exceeded"
    assert failed["latency_ms"] == 12.0 and failed["result_bytes"] == 120 and failed["outcome_id"]
    pending = next(r for r in page.rows if r["id"] == trail["pending"].id)
    assert pending["outcome"] == "pending" and pending["outcome_id"] is None
    assert all(r["kind"] != "outcome" for r in page.rows)


def test_keyset_pages_cover_every_row_once_even_when_rows_share_a_time_and_new_ones_arrive(world):
    same = minutes_ago(3)
    for _ in range(7):
        make_event(world.acme, time=same)
    for n in range(5):
        make_event(world.acme, time=minutes_ago(10 + n))
    seen, cursor = [], None
    while True:
        page = event_page(organization_id=world.acme.pk, filters=EventFilters(), cursor=cursor, limit=4)
        seen += ids(page.rows)
        make_event(world.acme)  # a new event arriving between pages shifts nothing
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 12


def test_pagination_never_uses_offset(world):
    for _ in range(3):
        make_event(world.acme)
    first = event_page(organization_id=world.acme.pk, filters=EventFilters(), limit=2)
    with CaptureQueriesContext(connection) as queries:
        event_page(organization_id=world.acme.pk, filters=EventFilters(), cursor=first.next_cursor, limit=2)
    assert all("OFFSET" not in q["sql"].upper() for q in queries)


def test_chunks_walk_the_whole_filter_a_chunk_at_a_time(world):
    for _ in range(7):
        make_call(world.acme)
    chunks = list(event_chunks(organization_id=world.acme.pk, filters=EventFilters(), chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert all(r["outcome"] == "ok" for c in chunks for r in c)


def test_a_cursor_survives_the_round_trip_and_garbage_is_a_field_error():
    cursor = Cursor(time=dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC), id=42)
    assert cursor_decode(cursor_encode(cursor)) == cursor
    for bad in ("garbage", "%%%", cursor_encode(cursor)[:-3], "MjAyNnwx", "bm9wZQ"):
        form = EventFilterForm({"cursor": bad})
        assert not form.is_valid() and form.errors["cursor"] == ["This cursor is not one ScopeGate gave out."]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"outcome": "great"}, "outcome"),
        ({"kind": "outcome"}, "kind"),
        ({"actor": "robot"}, "actor"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45T99:00"}, "until"),
        ({"since": "2026-11-25T10:00", "until": "2026-11-24T10:00"}, "until"),
        ({"q": "x" * 201}, "q"),
        ({"agent": "a\x00b"}, "agent"),
    ],
)
def test_bad_filter_values_are_field_errors(params, field):
    form = EventFilterForm(params)
    assert not form.is_valid()
    assert field in form.errors


def test_row_matching_in_memory_agrees_with_the_database(world, trail):
    rows = event_page(organization_id=world.acme.pk, filters=EventFilters(), limit=100).rows
    cases = [
        EventFilters(agent="ci-bot"),
        EventFilters(decision="deny"),
        EventFilters(outcome="error"),
        EventFilters(outcome="pending"),
        EventFilters(kind="change", user="OLIVIA@acme.test"),
        EventFilters(q="delete_repo"),
        EventFilters(q="rate limit"),
        EventFilters(since=minutes_ago(25), until=minutes_ago(5)),
    ]
    for filters in cases:
        in_memory = [r["id"] for r in rows if row_matches(filters, r)]
        assert in_memory == listed(world, **{k: v for k, v in vars(filters).items() if v}), filters


def test_a_changes_before_and_after_are_compared_key_by_key():
    rows = changed_fields({"effect": "allow", "name": "x", "gone": 1}, {"effect": "deny", "name": "x", "new": 2})
    by_name = {r["name"]: r for r in rows}
    assert by_name["effect"]["changed"] and not by_name["name"]["changed"]
    assert by_name["gone"]["in_before"] and not by_name["gone"]["in_after"] and by_name["gone"]["changed"]
    assert by_name["new"]["changed"] and not by_name["new"]["in_before"]
    assert changed_fields(None, {"a": 1}) == [
        {"name": "a", "before": None, "after": 1, "in_before": False, "in_after": True, "changed": True}
    ]


def test_an_outcome_rows_detail_names_the_call_it_completes(world):
    call, done = make_call(world.acme)
    detail = event_detail(organization_id=world.acme.pk, event_id=done.id)
    assert detail.parent["id"] == call.id
    detail = event_detail(organization_id=world.acme.pk, event_id=call.id)
    assert detail.outcome["id"] == done.id and detail.event["outcome"] == Event.Outcome.OK
