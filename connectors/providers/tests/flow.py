"""Driving the connect flow in tests without a browser: the test client for ScopeGate, plain HTTP for the
emulator's consent page."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import requests
from django.urls import reverse

from connectors.models import Connection


def start(client, org_slug: str, provider: str, **fields) -> str:
    """Posts the connect form; returns where ScopeGate sends the browser (the provider's authorize URL)."""
    data = {"name": provider, "access": "write"}
    if provider == "google":
        data["services"] = ["gmail", "drive", "calendar"]
    data.update(fields)
    response = client.post(
        reverse("connect_start", kwargs={"org_slug": org_slug, "provider": provider}),
        {f"{provider}-{k}": v for k, v in data.items()},
    )
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def consent(authorize_url: str, decision: str = "allow", account: str | None = None) -> str:
    """Answers the emulator's consent page; returns the callback URL it redirects to (path and query)."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    fields = {unescape(n): unescape(v) for n, v in re.findall(r"name='([^']+)' value='([^']*)'", page.text)}
    if account:
        fields["account"] = account
    fields["decision"] = decision
    answer = requests.post(authorize_url.split("?")[0], data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["Location"])
    return f"{target.path}?{target.query}"


def connect(client, org_slug: str, provider: str, **fields) -> Connection:
    """The whole flow, consenting; the connection it made."""
    callback = consent(start(client, org_slug, provider, **fields))
    response = client.get(callback)
    assert response.status_code == 302, response.content[:500]
    match = re.search(r"/connections/(\d+)/$", response["Location"])
    assert match, response["Location"]
    return Connection.objects.get(pk=int(match.group(1)))
