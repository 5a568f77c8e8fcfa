"""add_connection: what an operator's script runs to register an MCP server headlessly."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.models import CatalogItem, Connection

pytestmark = pytest.mark.django_db

HEADER_VALUE = "Bearer upstream-token-93be11"


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_add_connection_discovers_the_catalogue_and_prints_its_counts(world, echo_url):
    out = io.StringIO()
    call_command(
        "add_connection",
        "--org",
        world.acme.slug,
        "--name",
        "echo",
        "--url",
        echo_url,
        "--header",
        f"Authorization: {HEADER_VALUE}",
        "--header",
        "X-Team: platform",
        "--json",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    connection = Connection.objects.get(organization=world.acme, name="echo")
    tools = CatalogItem.objects.filter(connection=connection, kind="tool").count()
    assert printed == {
        "organization": world.acme.slug,
        "connection_id": connection.pk,
        "name": "echo",
        "status": "active",
        "protocol_version": connection.protocol_version,
        "header_names": ["Authorization", "X-Team"],
        "catalogue": {"tool": tools, "resource": 1, "template": 1, "prompt": 1},
        "last_error": "",
    }
    assert tools >= 4
    assert HEADER_VALUE not in out.getvalue()
    assert connection.get_headers()["Authorization"] == HEADER_VALUE


def test_add_connection_runs_an_operator_allowed_stdio_command(world):
    printed = run(
        "add_connection", "--org", world.acme.slug, "--name", "local", "--transport", "stdio", "--command", "echo"
    )
    assert printed["status"] == "active" and printed["catalogue"]["prompt"] == 1


def test_add_connection_saves_an_unreachable_server_and_fails_loudly(world):
    with pytest.raises(CommandError, match="discovery failed: Could not reach the server"):
        call_command(
            "add_connection",
            "--org",
            world.acme.slug,
            "--name",
            "down",
            "--url",
            "http://127.0.0.1:9/mcp",
            stdout=io.StringIO(),
        )
    assert Connection.objects.get(name="down").status == Connection.Status.ERROR

    printed = run(
        "add_connection", "--org", world.acme.slug, "--name", "later", "--url", "http://127.0.0.1:9/mcp", "--no-sync"
    )
    assert printed["status"] == "pending" and printed["catalogue"] == {
        "tool": 0,
        "resource": 0,
        "template": 0,
        "prompt": 0,
    }


def test_add_connection_explains_what_is_wrong(world):
    slug = world.acme.slug
    with pytest.raises(CommandError, match="no organization"):
        call_command("add_connection", "--org", "nope", "--name", "x", "--url", "http://127.0.0.1:9/")
    with pytest.raises(CommandError, match="headers: Line 1 is not of the form"):
        call_command("add_connection", "--org", slug, "--name", "x", "--url", "http://127.0.0.1:9/", "--header", "junk")
    with pytest.raises(CommandError, match="name: Use 1-32 lower-case"):
        call_command("add_connection", "--org", slug, "--name", "Bad Name", "--url", "http://127.0.0.1:9/")
    with pytest.raises(CommandError, match="command_name: Choose a command the operator allows"):
        call_command("add_connection", "--org", slug, "--name", "x", "--transport", "stdio", "--command", "bash")
    assert not Connection.objects.exists()
