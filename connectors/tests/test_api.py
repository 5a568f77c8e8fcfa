"""The connections API as a script uses it, with an API token and our SDK echo server."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from connectors.models import CatalogItem, Connection

HEADER_VALUE = "Bearer upstream-token-7d1a0b"


@pytest.fixture
def token(world, capsys):
    call_command("issue_api_token", org=world.acme.slug, name="script", role="admin", json=True)
    return json.loads(capsys.readouterr().out)["token"]


def api(client, method, path, token, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", **headers)


def test_a_script_adds_a_server_reads_its_catalogue_approves_a_change_and_deletes_it(client, world, token, echo_url):
    base = f"/api/v1/orgs/{world.acme.slug}/connections/"
    body = {"name": "echo", "url": echo_url, "headers": {"Authorization": HEADER_VALUE}}
    created = api(client, "post", base, token, body)
    assert created.status_code == 201, created.content
    data = created.json()
    tools = CatalogItem.objects.filter(connection_id=data["id"], kind="tool").count()
    assert data["status"] == "active" and data["header_names"] == ["Authorization"]
    assert data["catalogue"] == {"tool": tools, "resource": 1, "template": 1, "prompt": 1}
    assert data["server_info"]["name"] == "scopegate-test-echo"
    assert Connection.objects.get(pk=data["id"]).created_by is None  # a token, not a person

    listed = api(client, "get", base, token).json()
    assert [c["name"] for c in listed["results"]] == ["echo"]
    assert listed["results"][0]["catalogue"] == data["catalogue"]

    items = api(client, "get", f"{base}{data['id']}/items/", token).json()["results"]
    assert {i["kind"] for i in items} == {"tool", "resource", "template", "prompt"}
    echo = next(i for i in items if i["kind"] == "tool" and i["name"] == "echo")
    assert echo["definition"]["inputSchema"]["properties"]["message"]["type"] == "string"

    CatalogItem.objects.filter(pk=echo["id"]).update(approved_fingerprint="0" * 64)
    synced = api(client, "post", f"{base}{data['id']}/sync/", token)
    assert synced.status_code == 200 and synced.json()["status"] == "active"
    assert CatalogItem.objects.get(pk=echo["id"]).status == "changed"
    approved = api(client, "post", f"{base}{data['id']}/items/{echo['id']}/approve/", token)
    assert approved.status_code == 200
    assert approved.json()["status"] == "active" and approved.json()["approved_fingerprint"] == echo["fingerprint"]

    for response in (created, api(client, "get", base, token), api(client, "get", f"{base}{data['id']}/", token)):
        assert HEADER_VALUE not in response.content.decode()

    assert api(client, "delete", f"{base}{data['id']}/", token).status_code == 204
    assert api(client, "get", f"{base}{data['id']}/", token).status_code == 404


def test_a_connection_can_be_saved_without_discovery_and_synced_later(client, world, token):
    base = f"/api/v1/orgs/{world.acme.slug}/connections/"
    created = api(client, "post", base, token, {"name": "later", "url": "http://127.0.0.1:9/mcp", "sync": False})
    assert created.status_code == 201 and created.json()["status"] == "pending"
    synced = api(client, "post", f"{base}{created.json()['id']}/sync/", token).json()
    assert synced["status"] == "error" and synced["last_error"].startswith("Could not reach the server")
