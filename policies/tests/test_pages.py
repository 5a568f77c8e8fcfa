"""The agents pages as a person uses them: endpoint and snippets, keys shown once, the permission matrix,
deny rules, activation."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.urls import reverse

from accounts.tenancy import resolve_org_context
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.models import Agent, AgentKey, Rule
from policies.services import agent_create, rule_create
from scopegate.tokens import secret_digest

CLOSED_UPSTREAM = "http://127.0.0.1:9/mcp"


@pytest.fixture
def ctx(world):
    return resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)


def tool(connection, name, status=CatalogItem.Status.ACTIVE):
    return CatalogItem.objects.create(
        organization=connection.organization,
        connection=connection,
        kind=CatalogItem.Kind.TOOL,
        name=name,
        description=f"The {name} tool.",
        fingerprint="f" * 64,
        approved_fingerprint="f" * 64,
        status=status,
    )


def detail(client, agent):
    response = client.get(reverse("agent_detail", args=[agent.organization.slug, agent.pk]))
    assert response.status_code == 200
    return response


def test_an_admin_creates_an_agent_and_finds_its_endpoint_and_config_snippets(world, client_as, ctx, settings):
    settings.PUBLIC_URL = "https://gate.example.test"
    github = connection_create(ctx=ctx, name="github", url=CLOSED_UPSTREAM, sync=False)
    admin = client_as(world.admin)
    response = admin.post(
        reverse("agents", args=[world.acme.slug]),
        data={"name": "Release bot", "description": "Ships releases.", "mount": github.pk},
    )
    agent = Agent.objects.get(organization=world.acme, name="Release bot")
    assert response.status_code == 302
    assert response["Location"] == reverse("agent_detail", args=[world.acme.slug, agent.pk])
    assert agent.mount == github and agent.description == "Ships releases."

    html = detail(admin, agent).content.decode()
    endpoint = f"https://gate.example.test/mcp/{agent.public_id}"
    assert f'<code id="endpoint-url">{endpoint}</code>' in html
    assert 'data-copy="#endpoint-url"' in html and 'data-copy="#snippet-json"' in html
    snippet = unescape(html.split('<code id="snippet-json">')[1].split("</code>")[0])
    assert json.loads(snippet) == {
        "mcpServers": {"release-bot": {"url": endpoint, "headers": {"Authorization": "Bearer <key>"}}}
    }
    assert f"URL = &quot;{endpoint}&quot;" in html and "streamable_http_client(URL" in html

    listing = admin.get(reverse("agents", args=[world.acme.slug])).content.decode()
    assert "Release bot" in listing and "<code>github</code>" in listing


def test_a_new_keys_secret_is_shown_once_and_never_again(world, client_as, ctx, settings):
    settings.PUBLIC_URL = "https://gate.example.test"
    agent = agent_create(ctx=ctx, name="release-bot")
    owner = client_as(world.owner)

    response = owner.post(reverse("agent_key_issue", args=[world.acme.slug, agent.pk]), data={"key-name": "laptop"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    key = AgentKey.objects.get(agent=agent)
    secret = html.split('<code id="new-key-secret">')[1].split("</code>")[0]
    assert secret.startswith("sg_key_") and key.digest == secret_digest(secret) and secret != key.digest
    secret_url = f"https://gate.example.test/mcp/{agent.public_id}/{secret}"
    assert f'<code id="new-key-url">{secret_url}</code>' in html
    assert "This URL is itself a secret." in html
    assert f"Bearer {secret}" in html  # the ready snippets carry the key this once

    again = detail(owner, agent)
    assert again["Cache-Control"] == "no-store"
    assert secret not in again.content.decode() and secret[len(key.prefix) :] not in again.content.decode()
    assert f"<code>{key.prefix}…</code>" in again.content.decode()
    keys_api = owner.get(f"/api/v1/orgs/{world.acme.slug}/agents/{agent.pk}/keys/").content.decode()
    assert secret not in keys_api and key.digest not in keys_api


def test_revoking_a_key_marks_it_revoked(world, client_as, ctx):
    agent = agent_create(ctx=ctx, name="bot")
    owner = client_as(world.owner)
    owner.post(reverse("agent_key_issue", args=[world.acme.slug, agent.pk]), data={"key-name": "laptop"})
    key = AgentKey.objects.get(agent=agent)
    response = owner.post(reverse("agent_key_revoke", args=[world.acme.slug, agent.pk, key.pk]), follow=True)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert '<span class="badge">revoked</span>' in response.content.decode()


def test_a_key_of_another_agent_cannot_be_revoked_through_this_one(world, client_as, ctx):
    first, second = agent_create(ctx=ctx, name="first"), agent_create(ctx=ctx, name="second")
    from policies.services import agent_key_issue

    key, _ = agent_key_issue(ctx=ctx, agent_id=second.pk, name="k")
    response = client_as(world.owner).post(reverse("agent_key_revoke", args=[world.acme.slug, first.pk, key.pk]))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_permission_matrix_allows_whole_connections_and_single_tools(world, client_as, ctx):
    github = connection_create(ctx=ctx, name="github", url=CLOSED_UPSTREAM, sync=False)
    drive = connection_create(ctx=ctx, name="drive", url=CLOSED_UPSTREAM, sync=False)
    for name in ("create_issue", "delete_repo"):
        tool(github, name)
    tool(drive, "search")
    tool(github, "vanished", CatalogItem.Status.REMOVED)
    agent = agent_create(ctx=ctx, name="bot")
    owner = client_as(world.owner)

    html = detail(owner, agent).content.decode()
    assert "Everything of github (tools, resources, prompts)" in html
    # what this form cannot say (ask, constraints, rate limits) is one click away, with this agent chosen
    assert f'href="{reverse("matrix", args=[world.acme.slug])}?agent={agent.pk}"' in html
    assert f'value="{github.pk}:create_issue"' in html and "vanished" not in html

    response = owner.post(
        reverse("agent_tools", args=[world.acme.slug, agent.pk]),
        data={"whole": [drive.pk], "tool": [f"{github.pk}:create_issue", f"{drive.pk}:search"]},
    )
    assert response.status_code == 302 and response["Location"].endswith("#permissions")
    rules = {(r.connection.name, r.target, r.name) for r in Rule.objects.filter(agent=agent)}
    assert rules == {("drive", "all", ""), ("github", "tool", "create_issue")}

    html = detail(owner, agent).content.decode()
    assert f'name="whole" value="{drive.pk}" checked' in html
    assert f'value="{github.pk}:create_issue" checked' in html
    assert f'value="{github.pk}:delete_repo">' in html


def test_a_tool_the_agent_may_use_stays_in_the_matrix_while_its_change_awaits_approval(world, client_as, ctx):
    github = connection_create(ctx=ctx, name="github", url=CLOSED_UPSTREAM, sync=False)
    changed = tool(github, "create_issue", CatalogItem.Status.CHANGED)
    agent = agent_create(ctx=ctx, name="bot")
    rule_create(ctx=ctx, agent_id=agent.pk, effect="allow", connection_id=github.pk, target="tool", name=changed.name)

    html = detail(client_as(world.owner), agent).content.decode()
    assert f'value="{github.pk}:create_issue" checked' in html
    assert "Changed upstream: awaiting approval" in html


def test_deny_rules_are_added_and_deleted(world, client_as, ctx):
    github = connection_create(ctx=ctx, name="github", url=CLOSED_UPSTREAM, sync=False)
    agent = agent_create(ctx=ctx, name="bot")
    owner = client_as(world.owner)
    owner.post(reverse("agent_tools", args=[world.acme.slug, agent.pk]), data={"whole": [github.pk]})
    response = owner.post(
        reverse("agent_rule_create", args=[world.acme.slug, agent.pk]),
        data={"rule-connection": github.pk, "rule-target": "tool", "rule-name": "delete_repo"},
        follow=True,
    )
    deny = Rule.objects.get(agent=agent, effect="deny")
    assert (deny.connection, deny.target, deny.name) == (github, "tool", "delete_repo")
    assert "tool <code>delete_repo</code>" in response.content.decode()

    # Saving the matrix keeps the deny rule.
    owner.post(reverse("agent_tools", args=[world.acme.slug, agent.pk]), data={"whole": [github.pk]})
    assert Rule.objects.filter(pk=deny.pk).exists()

    owner.post(reverse("agent_rule_delete", args=[world.acme.slug, agent.pk, deny.pk]))
    assert not Rule.objects.filter(agent=agent, effect="deny").exists()
    assert Rule.objects.filter(agent=agent, effect="allow").count() == 1


def test_an_agent_is_edited_deactivated_activated_and_deleted(world, client_as, ctx):
    agent = agent_create(ctx=ctx, name="bot")
    owner = client_as(world.owner)
    slug = world.acme.slug
    owner.post(reverse("agent_update", args=[slug, agent.pk]), data={"agent-name": "bot-2", "agent-description": "x"})
    agent.refresh_from_db()
    assert (agent.name, agent.description) == ("bot-2", "x")

    response = owner.post(reverse("agent_activation", args=[slug, agent.pk]), data={"is_active": "0"}, follow=True)
    agent.refresh_from_db()
    assert agent.is_active is False
    assert "Activate bot-2" in response.content.decode()
    owner.post(reverse("agent_activation", args=[slug, agent.pk]), data={"is_active": "1"})
    agent.refresh_from_db()
    assert agent.is_active is True

    html = detail(owner, agent).content.decode()
    assert '<details class="confirm">' in html and "Yes, delete bot-2" in html
    response = owner.post(reverse("agent_delete", args=[slug, agent.pk]))
    assert response.status_code == 302 and not Agent.objects.filter(pk=agent.pk).exists()


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_people_who_do_not_govern_see_the_endpoint_but_no_controls(world, client_as, ctx, role):
    github = connection_create(ctx=ctx, name="github", url=CLOSED_UPSTREAM, sync=False)
    tool(github, "create_issue")
    agent = agent_create(ctx=ctx, name="bot")
    client = client_as(world.user(role))
    html = detail(client, agent).content.decode()
    assert agent.public_id in html
    for control in ("Issue key", "Save permissions", "Add deny rule", "Deactivate", "Yes, delete"):
        assert control not in html
    assert f'<fieldset id="matrix-{github.pk}" disabled>' in html
    response = client.post(reverse("agent_key_issue", args=[world.acme.slug, agent.pk]), data={"key-name": "x"})
    assert response.status_code == 403 and not AgentKey.objects.exists()
    assert "Create an agent" not in client.get(reverse("agents", args=[world.acme.slug])).content.decode()
