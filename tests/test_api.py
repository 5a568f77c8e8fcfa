"""The REST API as a script uses it: a token from the command line, then organizations, members,
invitations and tokens; and its OpenAPI schema."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from accounts.models import ApiToken, Invitation, Membership


@pytest.fixture
def token(world, capsys):
    call_command("issue_api_token", org=world.acme.slug, name="script", role="admin", json=True)
    return json.loads(capsys.readouterr().out)["token"]


def api(client, method, path, token=None, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", **headers)


def test_a_script_manages_its_organization_with_a_token(client, world, token):
    slug = world.acme.slug
    orgs = api(client, "get", "/api/v1/orgs/", token).json()
    assert orgs == [
        {"slug": slug, "name": "Acme", "is_personal": False, "created_at": orgs[0]["created_at"], "role": "admin"}
    ]

    members = api(client, "get", f"/api/v1/orgs/{slug}/members/", token).json()
    assert members["count"] == 5 and {m["email"] for m in members["results"]} >= {"olivia@acme.test"}

    created = api(
        client, "post", f"/api/v1/orgs/{slug}/invitations/", token, {"email": "Zed@Acme.test", "role": "auditor"}
    )
    assert created.status_code == 201 and created.json()["email"] == "zed@acme.test"
    assert Invitation.objects.get(organization=world.acme, email="zed@acme.test").invited_by is None

    erin = world.membership(world.erin)
    changed = api(client, "patch", f"/api/v1/orgs/{slug}/members/{erin.pk}/", token, {"role": "auditor"})
    assert changed.status_code == 200 and changed.json()["role"] == "auditor"

    owner = world.membership(world.owner)
    refused = api(client, "patch", f"/api/v1/orgs/{slug}/members/{owner.pk}/", token, {"role": "member"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_denied"

    issued = api(client, "post", f"/api/v1/orgs/{slug}/tokens/", token, {"name": "second", "role": "member"}).json()
    assert issued["token"].startswith("sg_api_")
    listed = api(client, "get", f"/api/v1/orgs/{slug}/tokens/", token).json()["results"]
    assert all("token" not in t for t in listed)
    assert issued["token"] not in json.dumps(listed)

    assert api(client, "delete", f"/api/v1/orgs/{slug}/tokens/{issued['id']}/", token).status_code == 204
    assert api(client, "get", "/api/v1/orgs/", issued["token"]).status_code == 401


def test_a_token_cannot_create_organizations_or_accept_invitations(client, world, token):
    response = api(client, "post", "/api/v1/orgs/", token, {"name": "Shadow"})
    assert response.status_code == 403
    assert "Only a person" in response.json()["error"]["detail"]
    response = api(client, "post", "/api/v1/invitations/accept/", token, {"token": "sg_inv_x"})
    assert response.status_code == 403


def test_a_person_accepts_an_invitation_through_the_api(
    client_as, world, token, client, django_capture_on_commit_callbacks
):
    from django.core import mail

    from tests.factories import make_user

    with django_capture_on_commit_callbacks(execute=True):
        api(
            client,
            "post",
            f"/api/v1/orgs/{world.acme.slug}/invitations/",
            token,
            {"email": "new@acme.test", "role": "member"},
        )
    secret = next(w for w in mail.outbox[-1].body.split() if "sg_inv_" in w).rsplit("/", 2)[-2]
    newcomer = client_as(make_user("new@acme.test"))
    response = api(newcomer, "post", "/api/v1/invitations/accept/", body={"token": secret})
    assert response.status_code == 200, response.content
    assert response.json()["organization"] == world.acme.slug
    assert Membership.objects.filter(organization=world.acme, user__email="new@acme.test", role="member").exists()


def test_a_token_records_when_it_was_last_used(client, world, token):
    assert ApiToken.objects.get().last_used_at is None
    api(client, "get", "/api/v1/orgs/", token)
    assert ApiToken.objects.get().last_used_at is not None


def test_the_openapi_schema_is_valid_and_documents_every_endpoint(tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())
    assert set(schema["paths"]) >= {
        "/api/v1/orgs/",
        "/api/v1/orgs/{org_slug}/",
        "/api/v1/orgs/{org_slug}/members/",
        "/api/v1/orgs/{org_slug}/members/{id}/",
        "/api/v1/orgs/{org_slug}/invitations/",
        "/api/v1/orgs/{org_slug}/tokens/",
        "/api/v1/invitations/accept/",
    }
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_the_docs_page_loads_its_script_from_a_file(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"<script>" not in page.content.replace(b" ", b"")
