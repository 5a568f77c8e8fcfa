"""create_agent, set_rules and issue_agent_key: an agent set up headlessly, from connection to working key."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.tenancy import resolve_org_context
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.models import Agent, AgentKey, Rule
from scopegate.tokens import secret_digest

pytestmark = pytest.mark.django_db


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def connections(world):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    made = {}
    for name, tools in (("github", ("create_issue", "delete_repo")), ("drive", ("search",))):
        made[name] = connection_create(ctx=ctx, name=name, url="http://127.0.0.1:9/mcp", sync=False)
        for tool in tools:
            CatalogItem.objects.create(
                organization=world.acme,
                connection=made[name],
                kind="tool",
                name=tool,
                fingerprint="f",
                approved_fingerprint="f",
            )
    return made


def rules_of(agent: Agent) -> set[tuple[str, str, str, str]]:
    return {(r.effect, r.connection.name, r.target, r.name) for r in Rule.objects.filter(agent=agent)}


def test_an_operator_creates_an_agent_sets_its_rules_and_issues_a_key(world, connections, settings):
    settings.PUBLIC_URL = "https://gate.example.test"
    slug = world.acme.slug
    created = run("create_agent", "--org", slug, "--name", "release-bot", "--mount", "github")
    agent = Agent.objects.get(name="release-bot")
    assert created == {
        "organization": slug,
        "agent_id": agent.pk,
        "name": "release-bot",
        "public_id": agent.public_id,
        "mount": "github",
        "endpoint": f"https://gate.example.test/mcp/{agent.public_id}",
    }
    assert agent.mount == connections["github"] and agent.created_by is None

    set_ = run(
        "set_rules", "--org", slug, "--agent", "release-bot",
        "--allow", "github", "--allow", "drive:search", "--deny", "github:delete_repo",
    )  # fmt: skip
    assert set_ == {
        "organization": slug,
        "agent": "release-bot",
        "allow": ["github", "drive:search"],
        "deny": ["github:delete_repo"],
    }
    assert rules_of(agent) == {
        ("allow", "github", "all", ""),
        ("allow", "drive", "tool", "search"),
        ("deny", "github", "tool", "delete_repo"),
    }

    # Setting again replaces everything the agent had.
    run("set_rules", "--org", slug, "--agent", "release-bot", "--allow", "github:create_issue", "--deny", "drive")
    assert rules_of(agent) == {("allow", "github", "tool", "create_issue"), ("deny", "drive", "all", "")}

    issued = run("issue_agent_key", "--org", slug, "--agent", "release-bot", "--name", "ci", "--expires-in-days", "30")
    key = AgentKey.objects.get(pk=issued["key_id"])
    assert issued["endpoint"] == f"https://gate.example.test/mcp/{agent.public_id}"
    assert issued["secret_url"] == f"{issued['endpoint']}/{issued['key']}"
    assert key.digest == secret_digest(issued["key"]) and key.name == "ci" and key.is_active
    assert issued["prefix"] == key.prefix and issued["expires_at"] == key.expires_at.isoformat()


def test_the_plain_output_prints_one_line_each(world):
    out = io.StringIO()
    call_command("create_agent", "--org", world.acme.slug, "--name", "bot", stdout=out)
    lines = out.getvalue().splitlines()
    assert "name: bot" in lines and any(line.startswith("endpoint: http") for line in lines)


def test_the_commands_explain_what_is_wrong_and_change_nothing(world, connections):
    slug = world.acme.slug
    run("create_agent", "--org", slug, "--name", "bot")
    run("set_rules", "--org", slug, "--agent", "bot", "--allow", "github")
    before = rules_of(Agent.objects.get(name="bot"))
    cases = [
        (("create_agent", "--org", "nope", "--name", "x"), "no organization"),
        (("create_agent", "--org", slug, "--name", "x", "--mount", "nope"), "no connection named 'nope'"),
        (("create_agent", "--org", slug, "--name", "bot"), "name: An agent with this name exists"),
        (("set_rules", "--org", slug, "--agent", "nobody", "--allow", "github"), "no agent named 'nobody'"),
        (("set_rules", "--org", slug, "--agent", "bot", "--allow", "gitlab"), "no connection named 'gitlab'"),
        (("set_rules", "--org", slug, "--agent", "bot", "--allow", "github:nope"), "Unknown tools of github: nope"),
        (("issue_agent_key", "--org", slug, "--agent", "nobody"), "no agent named 'nobody'"),
        (("issue_agent_key", "--org", slug, "--agent", "bot", "--expires-in-days", "0"), "at least 1"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            call_command(*args, stdout=io.StringIO())
    assert rules_of(Agent.objects.get(name="bot")) == before
    assert Agent.objects.count() == 1 and not AgentKey.objects.exists()


def test_an_operator_exports_a_policy_and_imports_it_into_another_agent(world, connections, tmp_path):
    slug = world.acme.slug
    run("create_agent", "--org", slug, "--name", "release-bot")
    run("create_agent", "--org", slug, "--name", "copy-bot")
    run("set_rules", "--org", slug, "--agent", "release-bot", "--allow", "github", "--deny", "github:delete_repo")
    out = io.StringIO()
    call_command("policy_export", "--org", slug, "--agent", "release-bot", stdout=out)
    document = out.getvalue()
    assert document.startswith("agent: release-bot") and "delete_repo" in document  # YAML for review in git
    path = tmp_path / "policy.yaml"
    path.write_text(document)
    assert run("policy_import", "--org", slug, "--agent", "copy-bot", str(path)) == {
        "organization": slug,
        "agent": "copy-bot",
        "rules": 2,
    }
    release, copy = Agent.objects.get(name="release-bot"), Agent.objects.get(name="copy-bot")
    assert rules_of(copy) == rules_of(release)
    exported = io.StringIO()
    call_command("policy_export", "--org", slug, "--agent", "copy-bot", "--json", stdout=exported)
    assert json.loads(exported.getvalue())["rules"] == yaml.safe_load(document)["rules"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [\n", "Not valid YAML or JSON"),
        ('{"rules": [{"effect": "allow", "connection": "nowhere", "target": "all"}]}', "no connection named"),
        ('{"rules": [{"effect": "allow", "connection": "github", "colour": "red"}]}', "unknown fields colour"),
        ("[]", "an object with a list of rules"),
    ],
)
def test_a_bad_policy_document_changes_nothing_and_says_why(world, connections, tmp_path, text, message):
    slug = world.acme.slug
    run("create_agent", "--org", slug, "--name", "release-bot")
    run("set_rules", "--org", slug, "--agent", "release-bot", "--allow", "drive")
    before = rules_of(Agent.objects.get(name="release-bot"))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        call_command("policy_import", "--org", slug, "--agent", "release-bot", str(path))
    assert rules_of(Agent.objects.get(name="release-bot")) == before


def test_policy_commands_name_what_they_cannot_find(world, connections, tmp_path):
    with pytest.raises(CommandError, match="no agent named 'ghost'"):
        call_command("policy_export", "--org", world.acme.slug, "--agent", "ghost")
    run("create_agent", "--org", world.acme.slug, "--name", "release-bot")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("policy_import", "--org", world.acme.slug, "--agent", "release-bot", str(tmp_path / "none.yaml"))
