"""The Activity pages as people see them: the table and its filters, one event, charts, and who may see them."""

import pytest
from django.urls import reverse

from audit.tests.helpers import make_call, make_event, minutes_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_trail")]


def page(client, world, name="activity", **kwargs):
    return reverse(name, kwargs={"org_slug": world.acme.slug, **kwargs})


def table(response) -> str:
    return response.content.decode().split('<tbody id="event-rows">')[1].split("</tbody>")[0]


def test_an_auditor_sees_calls_with_their_decision_rule_outcome_and_latency(world, client_as):
    make_call(world.acme, tool="github__create_issue", latency_ms=42.5)
    make_event(world.acme, decision="deny", outcome="refused", rule_id=7, tool="github__delete_repo")
    response = client_as(world.auditor).get(page(None, world))
    assert response.status_code == 200
    text = response.content.decode()
    assert "github__create_issue" in text and "42.5 ms" in text and "Succeeded" in text
    assert "github__delete_repo" in text and "Denied" in text and "rule 7" in text
    assert "Verify integrity" in text and "Export CSV" in text


def test_filters_narrow_the_table_and_carry_into_export_links_and_the_live_stream(world, client_as):
    make_event(world.acme, agent_name="ci-bot", tool="github__list_repos")
    make_event(world.acme, agent_name="release-bot", tool="github__merge")
    response = client_as(world.owner).get(page(None, world), {"agent": "ci-bot"})
    assert "github__list_repos" in table(response) and "github__merge" not in table(response)
    text = response.content.decode()
    assert "export/?agent=ci-bot&amp;format=csv" in text
    assert f'data-live-url="/ws/o/{world.acme.slug}/activity/?agent=ci-bot"' in text


def test_a_bad_filter_answers_400_with_the_field_error_and_no_rows(world, client_as):
    make_event(world.acme, tool="github__merge")
    response = client_as(world.owner).get(page(None, world), {"decision": "maybe", "since": "yesterday"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Select a valid choice" in text and "Enter a valid date/time" in text
    assert 'id="event-rows"' not in text


def test_older_events_are_a_link_away_and_an_older_page_is_not_live(world, client_as):
    for n in range(55):
        make_event(world.acme, time=minutes_ago(n), tool=f"tool_{n}")
    client = client_as(world.owner)
    first = client.get(page(None, world)).content.decode()
    assert ">tool_49<" in first and ">tool_50<" not in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).content.decode()
    assert ">tool_50<" in second and ">tool_54<" in second and ">tool_49<" not in second
    assert 'data-live-url=""' in second and "Back to newest" in second


def test_an_events_detail_shows_arguments_trace_and_outcome(world, client_as):
    call, done = make_call(
        world.acme,
        arguments={"repo": "acme/web", "token": "[redacted]"},
        trace=[{"step": "rule", "rule": 12, "effect": "allow", "reason": "repo acme/web is allowed"}],
        rule_id=12,
    )
    text = client_as(world.auditor).get(page(None, world, "activity_event", pk=call.pk)).content.decode()
    assert "&quot;repo&quot;: &quot;acme/web&quot;" in text
    assert "repo acme/web is allowed" in text and "Decision trace" in text
    assert f"outcome event #{done.pk}" in text and "Succeeded" in text and "120 bytes" in text


def test_a_changes_detail_shows_before_and_after(world, client_as):
    change = make_event(
        world.acme,
        kind="change",
        actor_type="user",
        user_email="olivia@acme.test",
        method="rule.update",
        decision="none",
        before={"effect": "allow", "name": "echo"},
        after={"effect": "deny", "name": "echo"},
    )
    text = client_as(world.owner).get(page(None, world, "activity_event", pk=change.pk)).content.decode()
    assert "Before and after" in text and "olivia@acme.test" in text
    row = text.split('<th scope="row">effect')[1].split("</tr>")[0]
    assert "changed" in row and "allow" in row and "deny" in row


def test_another_organizations_event_is_404_and_members_without_audit_rights_get_403(world, client_as):
    foreign = make_event(world.evil)
    assert client_as(world.owner).get(page(None, world, "activity_event", pk=foreign.pk)).status_code == 404
    assert client_as(world.member).get(page(None, world)).status_code == 403
    own = make_event(world.acme)
    assert client_as(world.member).get(page(None, world, "activity_event", pk=own.pk)).status_code == 403


def test_charts_count_requests_and_denials_per_agent(world, client_as):
    for _ in range(3):
        make_call(world.acme, agent_name="ci-bot", latency_ms=40)
    make_event(world.acme, agent_name="release-bot", decision="deny", outcome="refused")
    response = client_as(world.auditor).get(page(None, world, "activity_charts"), {"by": "agent"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "<svg" in text and "polyline" in text
    ci_row = text.split("</span>ci-bot</th>")[1].split("</tr>")[0]
    assert "<td>3</td><td>0</td>" in ci_row
    release_row = text.split("</span>release-bot</th>")[1].split("</tr>")[0]
    assert "<td>1</td><td>1</td>" in release_row


def test_charts_refuse_a_bad_grouping_with_a_field_error(world, client_as):
    response = client_as(world.owner).get(page(None, world, "activity_charts"), {"by": "planet"})
    assert response.status_code == 400
    assert "Group by agent, tool, or nothing." in response.content.decode()


def test_verify_integrity_reports_an_intact_chain_then_names_the_edited_event(
    world, client_as, django_capture_on_commit_callbacks
):
    from audit.changes import change_record
    from audit.models import Event

    for n in range(3):
        change_record(
            organization_id=world.acme.pk,
            actor=world.owner,
            action="rule.update",
            target_type="rule",
            target_id=n,
            before={"effect": "allow"},
            after={"effect": "deny"},
        )
    client = client_as(world.auditor)
    url = page(None, world, "activity_verify")
    with django_capture_on_commit_callbacks(execute=True):  # the worker (an eager queue) runs it on commit
        queued = client.post(url, HTTP_HX_REQUEST="true")
    assert queued.status_code == 200 and "<html" not in queued.content.decode()  # htmx gets the fragment only
    intact = client.get(page(None, world))  # Activity shows the last verdict
    assert "Intact." in intact.content.decode()
    edited = Event.objects.filter(organization_id=world.acme.pk, method="rule.update").order_by("id")[1]
    Event.objects.filter(pk=edited.pk).update(after={"effect": "allow"})
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(url)  # without htmx: to the check's own page
    assert asked.status_code == 302 and "/activity/verify/" in asked["Location"]
    broken = client.get(asked["Location"]).content.decode()
    assert "Broken." in broken and f"#{edited.pk}" in broken and "<html" in broken
    assert "Broken." in client.get(page(None, world)).content.decode()  # Activity shows the last verdict
