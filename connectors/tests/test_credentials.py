"""A credential's life outside a call: refreshed ahead of expiry by beat, serialized across threads, revoked
with retries until the page says it failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from audit.models import Event
from connectors.credentials import connection_disconnect, credential_refresh
from connectors.models import Credential
from connectors.providers.tests.flow import connect
from connectors.tasks import credentials_refresh_due

pytestmark = pytest.mark.django_db(transaction=True)


def github(world, emulator):
    client = Client()
    client.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
    return connect(client, world.acme.slug, "github", name="gh")


def test_beat_refreshes_the_tokens_about_to_expire_and_only_those(world, emulator):
    gh = github(world, emulator)
    assert credentials_refresh_due() == 0
    Credential.objects.filter(connection=gh).update(expires_at=timezone.now() + timedelta(seconds=60))
    assert credentials_refresh_due() == 1
    credential = Credential.objects.get(connection=gh)
    assert credential.version == 2 and credential.expires_at > timezone.now() + timedelta(minutes=30)
    assert Event.objects.filter(method="credential.refresh", via="system").count() == 1


def test_concurrent_refreshes_from_many_threads_reach_the_provider_once(world, emulator):
    gh = github(world, emulator)
    credential = Credential.objects.get(connection=gh)
    emulator.github.knobs.refresh_delay = 0.2

    def refresh(_):
        try:
            return credential_refresh(credential_id=credential.pk, seen_version=credential.version).version
        finally:
            close_old_connections()

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(refresh, range(16)))
    assert versions == [2] * 16
    assert emulator.github.counts["refreshes"] == 1


def test_a_revocation_the_provider_keeps_failing_ends_in_a_visible_failure(world, emulator):
    gh = github(world, emulator)
    emulator.github.knobs.revoke = "error500"
    connection_disconnect(ctx=world.ctx(), connection_id=gh.pk)
    credential = Credential.objects.get(connection=gh)
    assert credential.status == "revoke_failed" and credential.revoke_attempts == 7
    assert credential.last_error == "GitHub answered HTTP 500 to the grant deletion."
    assert emulator.github.counts["revocations"] == 7
    page = Client()
    page.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
    body = page.get(f"/o/{world.acme.slug}/connections/{gh.pk}/").content.decode()
    assert "revocation at the provider failed" in body


def test_deleting_a_connected_connection_still_revokes_its_grant(world, emulator):
    from connectors.services import connection_delete

    gh = github(world, emulator)
    connection_delete(ctx=world.ctx(), connection_id=gh.pk)
    credential = Credential.objects.get()
    assert credential.connection is None and credential.status == "revoked"
    assert emulator.github.counts["revoked"] == 1


def test_google_revocation_revokes_the_refresh_token(world, emulator):
    client = Client()
    client.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
    work = connect(client, world.acme.slug, "google", name="work")
    connection_disconnect(ctx=world.ctx(), connection_id=work.pk)
    assert Credential.objects.get().status == "revoked"
    assert emulator.google.counts["revoked"] == 1


def test_deleting_an_organization_revokes_its_grants_first(world, emulator):
    from accounts.services import organization_delete

    github(world, emulator)
    organization_delete(ctx=world.ctx(), confirm_slug=world.acme.slug)
    assert emulator.github.counts["revoked"] == 1
    assert not Credential.objects.exists()
    assert Event.objects.filter(organization_id=world.acme.pk, method="organization.delete").exists()
