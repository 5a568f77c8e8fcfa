"""No OAuth token, client secret, authorization code or encryption key appears in anything a person or an
operator can see: every log line (ours, daphne's, the libraries'), audit row, API answer and page captured
while connecting, calling tools, refreshing, failing and disconnecting is searched for them."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs

import pytest
from django.conf import settings
from django.test import Client

from audit.models import Event
from connectors.credentials import connection_disconnect
from connectors.providers.tests.flow import connect, consent, start
from gateway.tests.helpers import agent_with, connected, org_ctx, run
from tests.emulators.server import CLIENTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_no_token_or_key_appears_in_logs_audit_rows_api_answers_or_pages(live, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    ctx = org_ctx("owner@example.test")
    web = Client()
    web.force_login(ctx.user, backend="django.contrib.auth.backends.ModelBackend")
    slug = ctx.organization.slug
    captured: list[str] = []
    codes: list[str] = []

    def get(path: str) -> None:
        captured.append(web.get(path).content.decode())

    gh = connect(web, slug, "github", name="gh")
    callback = consent(start(web, slug, "google", name="work"))
    codes.append(parse_qs(callback.split("?")[1])["code"][0])
    get(callback)
    setup = agent_with(ctx, live.url, allow=[(gh, "")])
    emulator.github.expire_tokens_now()  # the first call meets a rejected token and refreshes

    async def scenario():
        async with connected(setup) as client:
            answer = await client.call_tool("gh__get_file", {"repository": "acme/web", "path": "README.md"})
            captured.append(answer.model_dump_json())
            emulator.github.knobs.api = "rate_limited"
            answer = await client.call_tool("gh__list_repositories", {})
            captured.append(answer.model_dump_json())

    run(scenario())
    emulator.github.knobs.api = "ok"
    get(f"/o/{slug}/connections/{gh.pk}/")
    get(f"/o/{slug}/connections/")
    get(f"/o/{slug}/agents/{setup.agent.pk}/")
    get(f"/api/v1/orgs/{slug}/connections/")
    get(f"/api/v1/orgs/{slug}/connections/{gh.pk}/")
    get(f"/api/v1/orgs/{slug}/connections/{gh.pk}/items/")
    connection_disconnect(ctx=ctx, connection_id=gh.pk)
    get(f"/o/{slug}/connections/{gh.pk}/")

    assert emulator.github.counts["refreshes"] == 1 and emulator.github.counts["revoked"] == 1
    captured += [live.log()]
    captured += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    captured += [json.dumps(list(Event.objects.values()), default=str)]
    text = "\n".join(captured)
    assert "octocat" in text and "credential.refresh" in text  # the capture holds what happened
    secrets = [*emulator.issued_tokens(), *codes, CLIENTS["github"][1], CLIENTS["google"][1]]
    secrets += [base64.b64encode(key).decode() for key in settings.ENCRYPTION_KEYS.values()]
    assert len(secrets) >= 8 and len(caplog.records) > 20
    leaked = [s[:12] + "…" for s in secrets if s in text]
    assert leaked == []
