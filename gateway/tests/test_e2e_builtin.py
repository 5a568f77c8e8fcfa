"""Built-in GitHub and Google tools through an agent's endpoint, against the provider emulator: listed and
called exactly like upstream MCP tools, provider failures as clear tool errors, tokens refreshed once however
many calls meet them expired, and a disconnect refusing the very next call."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from mcp.shared.exceptions import MCPError

from audit.models import Event
from connectors.credentials import connection_disconnect
from connectors.models import Connection, Credential
from connectors.providers.tests.flow import connect
from gateway.tests.helpers import agent_with, connected, org_ctx, run, tool_names

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def connected_provider(provider: str, **fields) -> tuple:
    ctx = org_ctx()
    client = Client()
    client.force_login(ctx.user, backend="django.contrib.auth.backends.ModelBackend")
    return ctx, connect(client, ctx.organization.slug, provider, **fields)


def test_an_agent_sees_exactly_its_github_tools_and_creates_an_issue(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "create_issue"), (gh, "list_repositories")])

    async def scenario():
        async with connected(setup) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed) == {"gh__create_issue", "gh__list_repositories"}
            assert listed["gh__create_issue"].annotations.read_only_hint is False
            assert listed["gh__list_repositories"].output_schema["properties"]["repositories"]["type"] == "array"
            created = await client.call_tool(
                "gh__create_issue", {"repository": "acme/web", "title": "Filed by an agent", "labels": ["bug"]}
            )
            assert created.is_error is False
            assert created.structured_content["number"] == 3
            repos = await client.call_tool("gh__list_repositories", {"per_page": 10})
            assert len(repos.structured_content["repositories"]) == 10
            assert repos.structured_content["next_page"] == 2
            assert '"full_name"' in repos.content[0].text

    run(scenario())
    issue = emulator.github.data["repos"]["acme/web"]["issues"][-1]
    assert (issue["title"], issue["user"], issue["labels"]) == ("Filed by an agent", "octocat", ["bug"])


def test_google_drive_and_gmail_tools_answer_structured_content(live, emulator):
    ctx, google = connected_provider("google", name="work")
    setup = agent_with(ctx, live.url, allow=[(google, "")])

    async def scenario():
        async with connected(setup) as client:
            names = await tool_names(client)
            assert {"work__drive_read_file", "work__gmail_send", "work__calendar_create_event"} <= names
            doc = await client.call_tool("work__drive_read_file", {"file_id": "doc1"})
            assert doc.structured_content["content"] == "Q1: ship the gateway."
            assert doc.structured_content["exported_as"] == "text/plain"
            listing = await client.call_tool("work__drive_list_folder", {"folder_id": "fold1"})
            assert [f["name"] for f in listing.structured_content["files"]] == ["Roadmap"]
            found = await client.call_tool("work__gmail_search", {"query": "report", "max_results": 5})
            assert len(found.structured_content["messages"]) == 5
            assert found.structured_content["next_page_token"] == "5"
            message = await client.call_tool("work__gmail_read", {"message_id": "msg001"})
            assert message.structured_content["body"].startswith("Report number 1.")
            sent = await client.call_tool(
                "work__gmail_send", {"to": ["bo@acme.test"], "subject": "Hi", "body": "From the gate."}
            )
            assert sent.is_error is False
            binary = await client.call_tool("work__drive_read_file", {"file_id": "img1"})
            assert binary.is_error and "cannot be read as text" in binary.content[0].text

    run(scenario())
    assert emulator.google.data["sent"] == [
        {"to": "bo@acme.test", "cc": None, "subject": "Hi", "body": "From the gate.\n"}
    ]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("rate_limited", "GitHub's rate limit is exhausted; it resets at"),
        ("error500", "GitHub failed (HTTP 500); try again later."),
        ("garbage", "GitHub answered something that is not JSON (HTTP 200)."),
    ],
)
def test_a_provider_failure_is_the_tools_clear_error(live, emulator, mode, message):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "list_issues")])
    emulator.github.knobs.api = mode

    async def scenario():
        async with connected(setup) as client:
            answer = await client.call_tool("gh__list_issues", {"repository": "acme/web"})
            assert answer.is_error is True
            assert answer.content[0].text.startswith(message)

    run(scenario())


def test_google_rate_limits_read_as_such(live, emulator):
    ctx, google = connected_provider("google", name="work")
    setup = agent_with(ctx, live.url, allow=[(google, "drive_search")])
    emulator.google.knobs.api = "rate_limited"

    async def scenario():
        async with connected(setup) as client:
            answer = await client.call_tool("work__drive_search", {"query": "roadmap"})
            assert answer.content[0].text == "Google's rate limit for this account is exceeded; retry in 30 s."

    run(scenario())


def test_bad_arguments_are_invalid_params_before_the_provider_is_called(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "create_issue")])

    async def scenario():
        async with connected(setup) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("gh__create_issue", {"repository": "not a repo", "title": "x"})
            assert refused.value.error.code == -32602
            assert "repository" in refused.value.error.message

    calls = emulator.github.counts.get("api_calls", 0)
    run(scenario())
    assert emulator.github.counts.get("api_calls", 0) == calls


def test_forty_calls_meeting_an_expired_token_cause_exactly_one_refresh(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "get_issue")])
    Credential.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    emulator.github.expire_tokens_now()
    emulator.github.knobs.refresh_delay = 0.3  # every call arrives while the one refresh is under way

    async def scenario():
        async with connected(setup) as client:
            answers = await asyncio.gather(
                *(client.call_tool("gh__get_issue", {"repository": "acme/web", "number": 1}) for _ in range(40))
            )
            assert [a.is_error for a in answers] == [False] * 40
            assert answers[0].structured_content["comments"][0]["body"] == "I can reproduce it."

    run(scenario())
    assert emulator.github.counts["refreshes"] == 1
    credential = Credential.objects.get()
    assert credential.version == 2 and credential.expires_at > timezone.now()
    assert Event.objects.filter(method="credential.refresh", error="").count() == 1


def test_a_token_the_provider_rejects_is_refreshed_once_and_the_call_retried(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "get_file")])

    async def scenario():
        async with connected(setup) as client:
            answer = await client.call_tool("gh__get_file", {"repository": "acme/web", "path": "README.md"})
            assert answer.structured_content["content"] == "# acme/web\n"

    run(scenario())
    emulator.github.expire_tokens_now()  # the provider ends the token early; ScopeGate thinks it still valid
    run(scenario())
    assert emulator.github.counts["refreshes"] == 1 and emulator.github.counts["api_401"] == 1


def test_a_rejected_refresh_token_needs_reconnect_and_the_tools_say_so(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "list_issues")])
    emulator.github.expire_tokens_now()
    emulator.github.knobs.reject_refresh = True

    async def scenario():
        async with connected(setup) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("gh__list_issues", {"repository": "acme/web"})
            assert refused.value.error.message == (
                "Connection 'gh' needs reconnecting: GitHub no longer accepts its grant. "
                "An admin reconnects it on the connection's page."
            )

    run(scenario())
    assert Credential.objects.get().status == "needs_reconnect"
    page = Client()
    page.force_login(ctx.user, backend="django.contrib.auth.backends.ModelBackend")
    body = page.get(f"/o/{ctx.organization.slug}/connections/{gh.pk}/").content.decode()
    assert "Needs reconnect" in body and "Reconnect GitHub" in body


def test_a_disconnect_refuses_the_next_call_and_revokes_the_grant_at_the_provider(live, emulator):
    ctx, gh = connected_provider("github", name="gh")
    setup = agent_with(ctx, live.url, allow=[(gh, "list_repositories")])

    async def scenario():
        async with connected(setup) as client:
            first = await client.call_tool("gh__list_repositories", {})
            assert first.is_error is False
            await asyncio.to_thread(_disconnect, ctx, gh)
            with pytest.raises(MCPError) as refused:
                await client.call_tool("gh__list_repositories", {})
            assert refused.value.error.message == "Connection 'gh' was disconnected."

    run(scenario())
    credential = Credential.objects.get()
    assert credential.status == "revoked" and credential.tokens_ciphertext is None
    assert emulator.github.counts["revoked"] == 1
    assert Event.objects.filter(method="connection.disconnect").count() == 1
    assert Event.objects.filter(method="credential.revoke", error="").count() == 1


def _disconnect(ctx, connection: Connection) -> None:
    from django.db import close_old_connections

    try:
        connection_disconnect(ctx=ctx, connection_id=connection.pk)
    finally:
        close_old_connections()
