"""Connect GitHub and Google through their OAuth flows (at the emulator): what is saved, what the person
sees, and every way the flow can go wrong ending in a clear message with nothing half-saved."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages

from audit.models import Event
from connectors.models import CatalogItem, Connection, Credential
from connectors.providers.tests.flow import connect, consent, start

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_connecting_github_saves_an_encrypted_credential_and_the_tools_its_grant_offers(world, client_as, emulator):
    client = client_as(world.owner)
    connection = connect(client, world.acme.slug, "github", name="gh-work")

    assert connection.kind == "github" and connection.name == "gh-work"
    credential = connection.credential
    assert credential.status == "active" and credential.account_login == "octocat"
    assert credential.access == "write" and "repo" in credential.scopes and credential.refreshable
    tokens = emulator.github.issued()
    assert tokens and all(t.encode() not in bytes(credential.tokens_ciphertext) for t in tokens)
    assert credential.get_tokens()["access_token"] in tokens
    tools = set(connection.items.filter(kind="tool").values_list("name", flat=True))
    assert {"create_issue", "list_repositories", "open_pull_request"} <= tools
    item = connection.items.get(name="list_issues")
    assert item.resources == {"arguments": {"repository": "repository", "labels": "label"}}
    assert item.definition["annotations"]["readOnlyHint"] is True
    event = Event.objects.get(method="connection.connect")
    assert event.user_email == world.owner.email and event.after["account"] == "octocat"
    page = client.get(f"/o/{world.acme.slug}/connections/{connection.pk}/")
    assert b"octocat" in page.content and b"Disconnect" in page.content


def test_the_authorize_url_uses_pkce_s256_a_fresh_state_and_the_exact_redirect_uri(world, client_as, emulator):
    from django.conf import settings

    query = parse_qs(urlsplit(start(client_as(world.owner), world.acme.slug, "github")).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [f"{settings.PUBLIC_URL}/oauth/github/callback/"]
    assert len(query["state"][0]) >= 40


def test_a_read_only_connection_offers_only_the_tools_that_read(world, client_as, emulator):
    connection = connect(client_as(world.owner), world.acme.slug, "github", access="read")
    tools = connection.items.filter(kind=CatalogItem.Kind.TOOL)
    assert tools.count() == 8
    assert all(t.definition["annotations"]["readOnlyHint"] for t in tools)


def test_google_asks_for_offline_access_and_the_chosen_services_only(world, client_as, emulator):
    client = client_as(world.owner)
    url = start(client, world.acme.slug, "google", access="read", services=["drive"])
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"] and query["include_granted_scopes"] == ["true"]
    assert query["scope"][0].split() == ["openid", "email", "profile", "https://www.googleapis.com/auth/drive.readonly"]
    response = client.get(consent(url))
    connection = Connection.objects.get(kind="google")
    assert response.status_code == 302
    assert sorted(connection.items.values_list("name", flat=True)) == [
        "drive_list_folder",
        "drive_read_file",
        "drive_search",
    ]
    assert connection.credential.account_email == "ana@example.test"


def test_two_accounts_of_one_provider_are_two_connections(world, client_as, emulator):
    client = client_as(world.owner)
    client.get(consent(start(client, world.acme.slug, "github", name="gh-personal")))
    client.get(consent(start(client, world.acme.slug, "github", name="gh-work"), account="octo-work"))
    accounts = dict(Credential.objects.values_list("connection__name", "account_login"))
    assert accounts == {"gh-personal": "octocat", "gh-work": "octo-work"}


def nothing_saved() -> bool:
    return not Connection.objects.exists() and not Credential.objects.exists()


@pytest.mark.parametrize("state", ["", "forged-state-value", None])
def test_a_callback_with_a_missing_or_wrong_state_is_refused_and_saves_nothing(world, client_as, emulator, state):
    client = client_as(world.owner)
    callback = consent(start(client, world.acme.slug, "github"))
    path, query = callback.split("?")
    params = parse_qs(query)
    if state is None:
        params.pop("state")
    else:
        params["state"] = [state]
    response = client.get(path, {k: v[0] for k, v in params.items()})
    assert response.status_code == 400
    assert b"This connection attempt is not valid" in response.content
    assert nothing_saved()


def test_a_replayed_callback_is_refused(world, client_as, emulator):
    client = client_as(world.owner)
    callback = consent(start(client, world.acme.slug, "github"))
    assert client.get(callback).status_code == 302
    replay = client.get(callback)
    assert replay.status_code == 400 and b"already used" in replay.content
    assert Connection.objects.count() == 1


def test_a_state_from_another_persons_session_is_refused(world, client_as, emulator):
    callback = consent(start(client_as(world.owner), world.acme.slug, "github"))
    response = client_as(world.admin).get(callback)
    assert response.status_code == 400
    assert nothing_saved()


def test_a_denied_consent_says_so_and_saves_nothing(world, client_as, emulator):
    client = client_as(world.owner)
    response = client.get(consent(start(client, world.acme.slug, "google"), decision="deny"))
    assert response.status_code == 302 and response["Location"].endswith("/connections/")
    assert messages_of(response) == ["Google access was not granted. Nothing was saved."]
    assert nothing_saved()


def test_a_provider_error_on_the_callback_is_shown(world, client_as, emulator):
    client = client_as(world.owner)
    callback = consent(start(client, world.acme.slug, "github"))
    path, query = callback.split("?")
    state = parse_qs(query)["state"][0]
    response = client.get(path, {"error": "application_suspended", "error_description": "Suspended", "state": state})
    assert messages_of(response) == ["GitHub refused the connection (Suspended). Nothing was saved."]
    assert nothing_saved()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("timeout", "GitHub did not answer in time. Nothing was saved; try again."),
        ("garbage", "GitHub answered something unexpected. Nothing was saved; try again."),
        ("error500", "GitHub answered something unexpected. Nothing was saved; try again."),
    ],
)
def test_a_token_endpoint_that_fails_ends_in_a_clear_message(world, client_as, emulator, settings, mode, message):
    settings.PROVIDER_TIMEOUT_SECONDS = 1
    client = client_as(world.owner)
    callback = consent(start(client, world.acme.slug, "github"))
    emulator.github.knobs.token_endpoint = mode
    response = client.get(callback)
    assert messages_of(response) == [message]
    assert nothing_saved() and not Event.objects.filter(method="connection.connect").exists()


def test_a_code_the_provider_does_not_know_is_a_clear_refusal(world, client_as, emulator):
    client = client_as(world.owner)
    callback = consent(start(client, world.acme.slug, "google"))
    emulator.google.codes.clear()
    response = client.get(callback)
    assert messages_of(response) == ["Google refused the connection: The code passed is incorrect or expired."]
    assert nothing_saved()


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_only_those_who_govern_may_connect(world, client_as, emulator, role):
    response = client_as(world.user(role)).post(
        f"/o/{world.acme.slug}/connections/connect/github/", {"github-name": "gh", "github-access": "read"}
    )
    assert response.status_code == 403


def test_a_bad_connect_form_answers_field_errors(world, client_as, emulator):
    client = client_as(world.owner)
    connect(client, world.acme.slug, "github", name="taken")
    url = f"/o/{world.acme.slug}/connections/connect/github/"
    taken = client.post(url, {"github-name": "taken", "github-access": "read"})
    assert taken.status_code == 400 and b"A connection with this name exists." in taken.content
    bad = client.post(url, {"github-name": "Not A Name", "github-access": "admin"})
    assert bad.status_code == 400 and b"Select a valid choice" in bad.content
    assert Connection.objects.count() == 1
