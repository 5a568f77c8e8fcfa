"""Rules through the REST API: constraints, rate limits and expiry; a change audited with before and after; the
policy exported as YAML and imported back; the simulator answering the decision and the rule."""

import pytest
import yaml
from django.urls import reverse

from accounts.services import api_token_issue
from audit.models import Event
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.models import Rule
from policies.resources import catalog_resources_set
from policies.services import agent_create

pytestmark = pytest.mark.django_db
REPOS = [{"resource": "repository", "op": "one_of", "values": ["acme/web", "acme/api"]}]


@pytest.fixture
def api(world, client):
    ctx = world.ctx("owner")
    _, secret = api_token_issue(ctx=ctx, name="ops", role="admin")
    github = connection_create(ctx=ctx, name="github", url="http://127.0.0.1:9/mcp", sync=False)
    item = CatalogItem.objects.create(
        organization=world.acme,
        connection=github,
        kind="tool",
        name="create_issue",
        definition={"name": "create_issue", "annotations": {"destructiveHint": False}},
        fingerprint="a" * 64,
        approved_fingerprint="a" * 64,
    )
    catalog_resources_set(ctx=ctx, item_id=item.pk, resources={"arguments": {"repo": "repository"}})
    agent = agent_create(ctx=ctx, name="release-bot")
    base = f"/api/v1/orgs/{world.acme.slug}/agents/{agent.pk}/"

    def call(method: str, path: str, body=None, **extra):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {secret}", **extra}
        if body is not None and "content_type" not in kwargs:
            kwargs["content_type"] = "application/json"
        return (
            getattr(client, method)(base + path, body, **kwargs)
            if body is not None
            else getattr(client, method)(base + path, **kwargs)
        )

    return call, github, agent


def test_a_rule_with_constraints_and_a_rate_limit_is_created_changed_and_audited(api, world):
    call, github, _ = api
    created = call(
        "post",
        "rules/",
        {
            "effect": "allow",
            "connection": github.pk,
            "target": "tool",
            "name": "create_issue",
            "constraints": REPOS,
            "rate_limit": 20,
            "rate_burst": 5,
        },
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["constraints"] == REPOS and rule["rate_limit"] == 20 and rule["connection_name"] == "github"
    changed = call("patch", f"rules/{rule['id']}/", {"effect": "ask"})
    assert changed.status_code == 200 and changed.json()["effect"] == "ask"
    update = Event.objects.get(method="rule.update")
    assert update.before["effect"] == "allow" and update.after["effect"] == "ask"
    assert update.after["constraints"] == REPOS and update.target_id == str(rule["id"])
    assert Event.objects.filter(method="rule.create").count() == 1


def test_the_policy_round_trips_through_yaml_and_the_import_is_one_audited_change(api):
    call, github, agent = api
    call("post", "rules/", {"effect": "allow", "connection": github.pk, "target": "all", "constraints": REPOS})
    call("post", "rules/", {"effect": "deny", "target": "annotation", "name": "destructive"})
    exported = call("get", "policy/?as=yaml")
    assert exported["Content-Type"].startswith("application/yaml")
    document = yaml.safe_load(exported.content)
    assert document["agent"] == "release-bot"
    assert [(r["effect"], r["connection"], r["target"]) for r in document["rules"]] == [
        ("allow", "github", "all"),
        ("deny", None, "annotation"),
    ]
    document["rules"][0]["effect"] = "ask"
    imported = call("put", "policy/", yaml.safe_dump(document), content_type="application/yaml")
    assert imported.status_code == 200, imported.content
    assert sorted(Rule.objects.filter(agent=agent).values_list("effect", flat=True)) == ["ask", "deny"]
    event = Event.objects.get(method="policy.import")
    assert [r["effect"] for r in event.before["rules"]] == ["allow", "deny"]
    assert [r["effect"] for r in event.after["rules"]] == ["ask", "deny"]


def test_the_simulator_answers_the_decision_the_rule_and_why(api):
    call, github, _ = api
    rule = call(
        "post",
        "rules/",
        {"effect": "allow", "connection": github.pk, "target": "tool", "name": "create_issue", "constraints": REPOS},
    ).json()
    allowed = call("post", "simulate/", {"tool": "github__create_issue", "arguments": {"repo": "acme/web"}}).json()
    assert (allowed["decision"], allowed["rule"]) == ("allow", rule["id"])
    refused = call("post", "simulate/", {"tool": "github__create_issue", "arguments": {"repo": "x/y"}}).json()
    assert refused["decision"] == "deny" and refused["rule"] == rule["id"]
    assert refused["reason"] == f"argument repo 'x/y' is not one of acme/api, acme/web (rule {rule['id']})"
    unknown = call("post", "simulate/", {"tool": "github__delete_repo", "arguments": {}}).json()
    assert unknown == {
        "tool": "github__delete_repo",
        "decision": "deny",
        "rule": None,
        "reason": "no rule allows it (denied by default)",
        "rate_limits": [],
        "known_tool": False,
    }


def test_a_member_may_simulate_but_not_change_rules(world, client_as):
    ctx = world.ctx("owner")
    connection_create(ctx=ctx, name="github", url="http://127.0.0.1:9/mcp", sync=False)
    agent = agent_create(ctx=ctx, name="bot")
    member = client_as(world.member)
    url = reverse("api_agent_simulate", args=[world.acme.slug, agent.pk])
    answer = member.post(url, {"tool": "github__x", "arguments": {}}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["decision"] == "deny"
    put = member.put(
        reverse("api_agent_policy", args=[world.acme.slug, agent.pk]), {"rules": []}, content_type="application/json"
    )
    assert put.status_code == 403
