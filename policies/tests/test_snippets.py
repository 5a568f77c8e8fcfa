"""The agent page's snippets work as pasted: an admin sets an agent up in the dashboard, then the Python SDK
snippet and the secret URL reach the echo server through a real daphne."""

from __future__ import annotations

import json
import subprocess
import sys
from ast import literal_eval
from html import unescape

import pytest
from django.urls import reverse

from connectors.models import Connection
from policies.models import Agent
from tests.factories import make_org, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET_URL_CLIENT = """
import asyncio, sys
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

async def main():
    async with Client(streamable_http_client(sys.argv[1])) as client:
        print([tool.name for tool in (await client.list_tools()).tools])

asyncio.run(main())
"""


def between(html: str, start: str, end: str = "</code>") -> str:
    return unescape(html.split(start, 1)[1].split(end, 1)[0])


def run_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_pasted_python_snippet_and_the_secret_url_reach_the_allowed_tools(live, echo_url, client_as, settings):
    settings.PUBLIC_URL = live.url
    owner = make_user("ops@example.test")
    org = make_org("Acme", owner=owner)
    browser = client_as(owner)
    browser.post(
        reverse("connections", args=[org.slug]), data={"name": "echo", "transport": "streamable_http", "url": echo_url}
    )
    connection = Connection.objects.get(organization=org, name="echo")
    assert connection.status == Connection.Status.ACTIVE, connection.last_error
    browser.post(reverse("agents", args=[org.slug]), data={"name": "release-bot"})
    agent = Agent.objects.get(organization=org)
    browser.post(
        reverse("agent_tools", args=[org.slug, agent.pk]),
        data={"tool": [f"{connection.pk}:echo", f"{connection.pk}:add"]},
    )
    html = browser.post(reverse("agent_key_issue", args=[org.slug, agent.pk]), data={"key-name": "ci"}).content
    html = html.decode()

    config = json.loads(between(html, '<code id="snippet-json">'))
    assert config["mcpServers"]["release-bot"]["url"] == f"{live.url}/mcp/{agent.public_id}"
    printed = run_python(between(html, '<code id="snippet-python">'))
    assert sorted(literal_eval(printed)) == ["echo__add", "echo__echo"]

    secret_url = between(html, '<code id="new-key-url">')
    assert sorted(literal_eval(run_python(SECRET_URL_CLIENT, secret_url))) == ["echo__add", "echo__echo"]
