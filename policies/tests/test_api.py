"""The agents API as a script uses it: agents, keys (the secret once), rules and the permission matrix."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from accounts.tenancy import resolve_org_context
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.models import AgentKey, Rule
from scopegate.tokens import secret_digest


@pytest.fixture
def token(world, capsys):
    call_command("issue_api_token", org=world.acme.slug, name="script", role="admin", json=True)
    return json.loads(capsys.readouterr().out)["token"]


@pytest.fixture
def github(world):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    connection = connection_create(ctx=ctx, name="github", url="http://127.0.0.1:9/mcp", sync=False)
    for name in ("create_issue", "delete_repo", "list_repos"):
        CatalogItem.objects.create(
            organization=world.acme,
            connection=connection,
            kind="tool",
            name=name,
            fingerprint="f",
            approved_fingerprint="f",
        )
    return connection


def api(client, method, path, token, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", **headers)


def test_a_script_sets_up_an_agent_end_to_end(client, world, token, github, settings):
    settings.PUBLIC_URL = "https://gate.example.test"
    base = f"/api/v1/orgs/{world.acme.slug}/agents/"
    created = api(client, "post", base, token, {"name": "release-bot", "mount": github.pk})
    assert created.status_code == 201, created.content
    agent = created.json()
    assert agent["mount"] == github.pk and agent["is_active"] is True
    assert agent["endpoint"] == f"https://gate.example.test/mcp/{agent['public_id']}"
    one = f"{base}{agent['id']}/"

    patched = api(client, "patch", one, token, {"description": "Ships releases.", "mount": None, "is_active": False})
    assert patched.status_code == 200
    assert (patched.json()["description"], patched.json()["mount"], patched.json()["is_active"]) == (
        "Ships releases.",
        None,
        False,
    )

    issued = api(client, "post", f"{one}keys/", token, {"name": "ci", "expires_at": "2999-01-01T00:00:00Z"})
    assert issued.status_code == 201
    key = issued.json()
    assert key["key"].startswith("sg_key_") and key["prefix"] == key["key"][: len(key["prefix"])]
    assert key["secret_url"] == f"{agent['endpoint']}/{key['key']}" and key["endpoint"] == agent["endpoint"]
    assert AgentKey.objects.get(pk=key["id"]).digest == secret_digest(key["key"])
    listed = api(client, "get", f"{one}keys/", token)
    assert [k["name"] for k in listed.json()["results"]] == ["ci"]
    assert key["key"] not in listed.content.decode() and "digest" not in listed.content.decode()
    assert api(client, "get", f"{one}keys/{key['id']}/", token).json()["is_active"] is True

    matrix = api(client, "put", f"{one}tools/", token, {"whole": [], "allowed": {str(github.pk): ["create_issue"]}})
    assert matrix.status_code == 200
    assert matrix.json() == {"whole": [], "allowed": {str(github.pk): ["create_issue"]}}
    matrix = api(client, "put", f"{one}tools/", token, {"whole": [github.pk], "allowed": {}})
    assert matrix.json() == {"whole": [github.pk], "allowed": {}}

    deny = api(
        client,
        "post",
        f"{one}rules/",
        token,
        {"effect": "deny", "connection": github.pk, "target": "tool", "name": "delete_repo"},
    )
    assert deny.status_code == 201
    assert deny.json()["connection_name"] == "github"
    rules = api(client, "get", f"{one}rules/", token).json()["results"]
    assert {(r["effect"], r["target"], r["name"]) for r in rules} == {
        ("allow", "all", ""),
        ("deny", "tool", "delete_repo"),
    }
    assert api(client, "get", f"{one}rules/{deny.json()['id']}/", token).json()["effect"] == "deny"
    assert api(client, "delete", f"{one}rules/{deny.json()['id']}/", token).status_code == 204
    assert not Rule.objects.filter(effect="deny").exists()

    assert api(client, "delete", f"{one}keys/{key['id']}/", token).status_code == 204
    revoked = api(client, "get", f"{one}keys/{key['id']}/", token).json()
    assert revoked["revoked_at"] is not None and revoked["is_active"] is False

    assert api(client, "delete", one, token).status_code == 204
    assert api(client, "get", one, token).status_code == 404


def test_rows_of_one_agent_are_not_reachable_through_another(client, world, token, github):
    base = f"/api/v1/orgs/{world.acme.slug}/agents/"
    first = api(client, "post", base, token, {"name": "first"}).json()
    second = api(client, "post", base, token, {"name": "second"}).json()
    key = api(client, "post", f"{base}{second['id']}/keys/", token, {"name": "k"}).json()
    rule = api(
        client, "post", f"{base}{second['id']}/rules/", token, {"effect": "allow", "connection": github.pk}
    ).json()
    assert api(client, "delete", f"{base}{first['id']}/keys/{key['id']}/", token).status_code == 404
    assert api(client, "delete", f"{base}{first['id']}/rules/{rule['id']}/", token).status_code == 404
    assert api(client, "get", f"{base}{first['id']}/keys/", token).json()["results"] == []
    assert AgentKey.objects.get(pk=key["id"]).revoked_at is None and Rule.objects.filter(pk=rule["id"]).exists()
