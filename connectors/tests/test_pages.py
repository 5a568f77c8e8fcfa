"""The connections pages as a person uses them, against our SDK echo server on loopback."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from connectors.models import CatalogItem, Connection
from connectors.services import connection_create

HEADER_VALUE = "Bearer upstream-token-4f9c2e"
CLOSED_UPSTREAM = "http://127.0.0.1:9/mcp"


def owner_ctx(world):
    return world.ctx()


def page(client, name, **kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    return response.content.decode()


def test_an_admin_adds_an_mcp_server_and_sees_its_catalogue_grouped_by_kind(world, client_as, echo_url):
    admin = client_as(world.admin)
    body = {
        "name": "echo",
        "transport": "streamable_http",
        "url": echo_url,
        "headers": f"Authorization: {HEADER_VALUE}\nX-Team: platform",
    }
    response = admin.post(reverse("connections", args=[world.acme.slug]), data=body)

    connection = Connection.objects.get(organization=world.acme, name="echo")
    assert response.status_code == 302
    assert response["Location"] == reverse("connection_detail", args=[world.acme.slug, connection.pk])
    assert connection.status == Connection.Status.ACTIVE
    assert connection.get_headers() == {"Authorization": HEADER_VALUE, "X-Team": "platform"}
    assert HEADER_VALUE.encode() not in bytes(connection.headers_ciphertext)

    html = page(admin, "connection_detail", org_slug=world.acme.slug, pk=connection.pk)
    tools = connection.items.filter(kind=CatalogItem.Kind.TOOL).count()
    assert f"echo: {tools} tools, 1 resources, 1 resource templates, 1 prompts." in html
    assert "scopegate-test-echo 1.0.0" in html and connection.protocol_version in html
    for heading in ("Tools", "Resources", "Resource templates", "Prompts"):
        assert f"<h3>{heading} <span" in html
    for name in ("add", "delete_repo", "echo://greeting", "echo://items/{item_id}", "summarize"):
        assert f"<code>{name}</code>" in html
    assert "Add two integers." in html
    item = connection.items.get(name="add")
    assert f'<code title="{item.fingerprint}">{item.fingerprint[:12]}</code>' in html
    assert "<code>Authorization</code>" in html and "<code>X-Team</code>" in html
    assert HEADER_VALUE not in html and "platform" not in html


def test_a_server_that_cannot_be_reached_is_saved_with_its_error(world, client_as):
    owner = client_as(world.owner)
    response = owner.post(
        reverse("connections", args=[world.acme.slug]),
        data={"name": "down", "transport": "streamable_http", "url": CLOSED_UPSTREAM},
        follow=True,
    )
    connection = Connection.objects.get(name="down")
    assert connection.status == Connection.Status.ERROR
    html = response.content.decode()
    assert '<span class="badge danger">Error</span>' in html
    assert "Could not reach the server" in html


def test_refreshing_in_place_quarantines_a_changed_tool_until_someone_approves_it(world, client_as, echo_url):
    connection = connection_create(ctx=owner_ctx(world), name="echo", url=echo_url)
    echo = connection.items.get(kind=CatalogItem.Kind.TOOL, name="echo")
    # As if the server had told agents something else when the tool was approved.
    CatalogItem.objects.filter(pk=echo.pk).update(approved_fingerprint="0" * 64)
    owner = client_as(world.owner)

    sync_url = reverse("connection_sync", args=[world.acme.slug, connection.pk])
    response = owner.post(sync_url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="connection-state">') and "<html" not in html
    assert "Changed upstream: awaiting approval" in html and "Approve change" in html
    echo.refresh_from_db()
    assert echo.status == CatalogItem.Status.CHANGED

    approve_url = reverse("catalog_item_approve", args=[world.acme.slug, connection.pk, echo.pk])
    html = owner.post(approve_url, HTTP_HX_REQUEST="true").content.decode()
    echo.refresh_from_db()
    assert echo.status == CatalogItem.Status.ACTIVE and echo.approved_fingerprint == echo.fingerprint
    assert "Approve change" not in html and "Approved the change of echo" in html


def test_an_item_of_another_connection_cannot_be_approved_through_this_one(world, client_as):
    ctx = owner_ctx(world)
    first = connection_create(ctx=ctx, name="first", url=CLOSED_UPSTREAM, sync=False)
    second = connection_create(ctx=ctx, name="second", url=CLOSED_UPSTREAM, sync=False)
    item = CatalogItem.objects.create(
        organization=world.acme, connection=second, kind="tool", name="t", fingerprint="b", approved_fingerprint="a"
    )
    response = client_as(world.owner).post(reverse("catalog_item_approve", args=[world.acme.slug, first.pk, item.pk]))
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.approved_fingerprint == "a"


def test_deleting_asks_first_and_removes_the_connection(world, client_as):
    connection = connection_create(ctx=owner_ctx(world), name="old", url=CLOSED_UPSTREAM, sync=False)
    owner = client_as(world.owner)
    html = page(owner, "connection_detail", org_slug=world.acme.slug, pk=connection.pk)
    assert '<details class="confirm">' in html and "Yes, delete old" in html

    response = owner.post(reverse("connection_delete", args=[world.acme.slug, connection.pk]), follow=True)
    assert "Deleted old." in response.content.decode()
    assert not Connection.objects.filter(pk=connection.pk).exists()


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_people_who_do_not_govern_see_connections_but_no_controls(world, client_as, role):
    connection = connection_create(ctx=owner_ctx(world), name="echo", url=CLOSED_UPSTREAM, sync=False)
    CatalogItem.objects.create(
        organization=world.acme, connection=connection, kind="tool", name="t", fingerprint="b", approved_fingerprint="a"
    )
    CatalogItem.objects.filter(name="t").update(status=CatalogItem.Status.CHANGED)
    client = client_as(world.user(role))
    listing = page(client, "connections", org_slug=world.acme.slug)
    assert "echo" in listing and "Add MCP server" not in listing
    detail = page(client, "connection_detail", org_slug=world.acme.slug, pk=connection.pk)
    for control in ("Refresh catalogue", "Approve change", "Delete echo"):
        assert control not in detail
    response = client.post(reverse("connections", args=[world.acme.slug]), data={"name": "x", "url": CLOSED_UPSTREAM})
    assert response.status_code == 403
    assert Connection.objects.count() == 1


@override_settings(STDIO_COMMANDS={})
def test_stdio_is_no_choice_when_the_operator_allows_no_command(world, client_as):
    owner = client_as(world.owner)
    html = page(owner, "connections", org_slug=world.acme.slug)
    assert 'value="stdio"' not in html and 'name="command_name"' not in html
    response = owner.post(
        reverse("connections", args=[world.acme.slug]),
        data={"name": "local", "transport": "stdio", "command_name": "echo"},
    )
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_the_operators_stdio_commands_are_offered_by_name(world, client_as, settings):
    settings.STDIO_COMMANDS = {"echo": ["python", "-m", "tests.upstreams.echo_server", "stdio"]}
    html = page(client_as(world.owner), "connections", org_slug=world.acme.slug)
    assert 'value="stdio"' in html and '<option value="echo">echo</option>' in html
    assert "tests.upstreams" not in html  # the command line itself stays the operator's
