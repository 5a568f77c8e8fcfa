"""Every URL of the project, as every role of one organization and as an outsider from another.

The outsider gets 404 everywhere (not even the organization's existence leaks); each role gets exactly what
the table says. A URL added without a row here fails ``test_every_url_is_in_the_table``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import services
from accounts.models import Membership
from accounts.tenancy import resolve_org_context
from audit.models import VerifyRun
from audit.tests.helpers import make_call
from connectors.models import CatalogItem, Connection, Credential
from connectors.services import connection_create
from policies.approvals import approval_open, new_token
from policies.services import agent_create, agent_key_issue, rule_create

ROLES = ("owner", "admin", "member", "auditor")
ALL = dict.fromkeys(ROLES)


def only(status: int, *allowed: str, other: int = 403) -> dict[str, int]:
    return {role: status if role in allowed else other for role in ROLES}


def every(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


@dataclass
class Row:
    name: str
    method: str
    expect: dict[str, int]
    args: Callable[[dict], dict] = lambda objs: {}
    data: dict | Callable[[dict], dict] = field(default_factory=dict)
    org_scoped: bool = True

    def body(self, objs: dict) -> dict:
        return self.data(objs) if callable(self.data) else self.data


def acme(objs):
    return {"org_slug": objs["acme"].slug}


def erin(objs):
    return {**acme(objs), "pk": objs["erin"].pk}


def invitation(objs):
    return {**acme(objs), "pk": objs["invitation"].pk}


def token(objs):
    return {**acme(objs), "pk": objs["token"].pk}


def connection(objs):
    return {**acme(objs), "pk": objs["connection"].pk}


def github(objs):
    return {**acme(objs), "pk": objs["oauth_connection"].pk}


def item(objs):
    return {**connection(objs), "item_pk": objs["item"].pk}


def agent(objs):
    return {**acme(objs), "pk": objs["agent"].pk}


def agent_key(objs):
    return {**agent(objs), "key_pk": objs["key"].pk}


def agent_item(objs):
    return {**agent(objs), "item_pk": objs["item"].pk}


def approval(objs):
    return {**acme(objs), "pk": objs["approval"]}


def agent_rule(objs):
    return {**agent(objs), "rule_pk": objs["rule"].pk}


def event(objs):
    return {**acme(objs), "pk": objs["event"].pk}


def verify_run(objs):
    return {**acme(objs), "pk": objs["verify_run"].pk}


# Nothing listens there: creating or syncing a connection to it fails fast and records the error.
CLOSED_UPSTREAM = "http://127.0.0.1:9/mcp"

OWNER_ADMIN = ("owner", "admin")
READERS = ("owner", "admin", "auditor")

ROWS = [
    # pages
    Row("root", "get", every(302), org_scoped=False),
    Row("org_create", "get", every(200), org_scoped=False),
    Row("org_create", "post", every(302), data={"name": "Side project"}, org_scoped=False),
    Row("invitation_detail", "get", every(404), args=lambda o: {"secret": "sg_inv_nope"}, org_scoped=False),
    Row("healthz", "get", every(200), org_scoped=False),
    Row("org_home", "get", every(200), acme),
    Row("connections", "get", every(200), acme),
    Row(
        "connections",
        "post",
        only(302, *OWNER_ADMIN),
        acme,
        {"name": "new-server", "transport": "streamable_http", "url": CLOSED_UPSTREAM},
    ),
    Row("connection_detail", "get", every(200), connection),
    Row("connection_sync", "post", only(302, *OWNER_ADMIN), connection),
    Row("connection_delete", "post", only(302, *OWNER_ADMIN), connection),
    Row("catalog_item_approve", "post", only(302, *OWNER_ADMIN), item),
    Row(
        "connect_start",
        "post",
        only(302, *OWNER_ADMIN),
        lambda o: {**acme(o), "provider": "github"},
        {"github-name": "gh-new", "github-access": "read"},
    ),
    Row("connection_reconnect", "post", only(302, *OWNER_ADMIN), github),
    Row("connection_disconnect", "post", only(302, *OWNER_ADMIN), connection),
    Row("oauth_callback", "get", every(400), lambda o: {"provider": "github"}, org_scoped=False),
    Row("agents", "get", every(200), acme),
    Row("agents", "post", only(302, *OWNER_ADMIN), acme, {"name": "new-bot"}),
    Row("agent_detail", "get", every(200), agent),
    Row("agent_simulate", "post", every(200), agent, {"sim-tool": "echo__echo", "sim-arguments": '{"message": "hi"}'}),
    Row("agent_update", "post", only(302, *OWNER_ADMIN), agent, {"agent-name": "renamed"}),
    Row("agent_activation", "post", only(302, *OWNER_ADMIN), agent, {"is_active": "0"}),
    Row("agent_delete", "post", only(302, *OWNER_ADMIN), agent),
    Row("agent_key_issue", "post", only(200, *OWNER_ADMIN), agent, {"key-name": "laptop"}),
    Row("agent_key_revoke", "post", only(302, *OWNER_ADMIN), agent_key),
    Row("agent_tools", "post", only(302, *OWNER_ADMIN), agent, lambda o: {"tool": f"{o['connection'].pk}:echo"}),
    Row(
        "agent_rule_create",
        "post",
        only(302, *OWNER_ADMIN),
        agent,
        lambda o: {"rule-connection": o["connection"].pk, "rule-target": "tool", "rule-name": "delete_repo"},
    ),
    Row("agent_rule_delete", "post", only(302, *OWNER_ADMIN), agent_rule),
    Row("activity", "get", only(200, *READERS), acme),
    Row("activity_event", "get", only(200, *READERS), event),
    Row("activity_charts", "get", only(200, *READERS), acme, {"by": "agent"}),
    Row("activity_export", "get", only(200, *READERS), acme, {"format": "csv", "agent": "release-bot"}),
    Row("activity_verify", "post", only(302, *READERS), acme),
    Row("activity_verify_run", "get", only(200, *READERS), verify_run),
    Row("audit_settings", "get", only(200, *READERS), acme),
    Row("audit_settings", "post", only(302, *OWNER_ADMIN), acme, {"days": "30"}),
    Row("audit_siem", "post", only(200, *OWNER_ADMIN), acme, {"url": "https://siem.example.test/collect"}),
    Row("audit_siem_rotate", "post", only(302, *OWNER_ADMIN), acme),
    Row("audit_siem_delete", "post", only(302, *OWNER_ADMIN), acme),
    Row("matrix", "get", every(200), acme),
    Row("matrix_cell", "get", every(200), agent_item),
    Row("matrix_cell", "post", only(200, *OWNER_ADMIN), agent_item, {"effect": "ask", "step": "save"}),
    Row("matrix_bulk", "post", only(200, *OWNER_ADMIN), agent, {"action": "read_only", "step": "preview"}),
    Row("approvals", "get", only(200, *READERS), acme),
    Row("approvals_list", "get", only(200, *READERS), acme),
    Row("approvals_badge", "get", only(200, *READERS), acme),
    Row("approval_decide", "post", only(302, *OWNER_ADMIN), approval, {"verdict": "deny"}),
    Row("org_settings", "get", every(200), acme),
    Row("org_settings", "post", only(302, *OWNER_ADMIN), acme, {"name": "Acme Inc"}),
    Row("org_delete", "post", only(302, "owner"), acme, {"confirm_slug": "acme"}),
    Row("members", "get", every(200), acme),
    Row("invitation_create", "post", only(302, *OWNER_ADMIN), acme, {"email": "n@acme.test", "role": "member"}),
    Row("invitation_revoke", "post", only(302, *OWNER_ADMIN), invitation),
    Row("membership_role", "post", only(302, *OWNER_ADMIN), erin, {"role": "auditor"}),
    Row("membership_remove", "post", only(302, *OWNER_ADMIN), erin),
    Row("settings_tokens", "get", only(200, *OWNER_ADMIN), acme),
    Row("settings_tokens", "post", only(200, *OWNER_ADMIN), acme, {"name": "ci", "role": "auditor"}),
    Row("settings_token_revoke", "post", only(302, *OWNER_ADMIN), token),
    # REST API
    Row("api_orgs", "get", every(200), org_scoped=False),
    Row("api_orgs", "post", every(201), data={"name": "Side project"}, org_scoped=False),
    Row("api_invitation_accept", "post", every(400), data={"token": "sg_inv_nope"}, org_scoped=False),
    Row("api_schema", "get", every(200), org_scoped=False),
    Row("api_docs", "get", every(200), org_scoped=False),
    Row("api_org", "get", every(200), acme),
    Row("api_org", "patch", only(200, *OWNER_ADMIN), acme, {"name": "Acme Inc"}),
    Row("api_org", "delete", only(204, "owner"), acme),
    Row("api_members", "get", every(200), acme),
    Row("api_member", "get", every(200), erin),
    Row("api_member", "patch", only(200, *OWNER_ADMIN), erin, {"role": "auditor"}),
    Row("api_member", "delete", only(204, *OWNER_ADMIN), erin),
    Row("api_invitations", "get", only(200, *OWNER_ADMIN), acme),
    Row("api_invitations", "post", only(201, *OWNER_ADMIN), acme, {"email": "n@acme.test", "role": "member"}),
    Row("api_invitation", "get", only(200, *OWNER_ADMIN), invitation),
    Row("api_invitation", "delete", only(204, *OWNER_ADMIN), invitation),
    Row("api_tokens", "get", only(200, *OWNER_ADMIN), acme),
    Row("api_tokens", "post", only(201, *OWNER_ADMIN), acme, {"name": "ci", "role": "auditor"}),
    Row("api_token", "get", only(200, *OWNER_ADMIN), token),
    Row("api_token", "delete", only(204, *OWNER_ADMIN), token),
    Row("api_connections", "get", every(200), acme),
    Row("api_connections", "post", only(201, *OWNER_ADMIN), acme, {"name": "new-server", "url": CLOSED_UPSTREAM}),
    Row("api_connection", "get", every(200), connection),
    Row("api_connection", "delete", only(204, *OWNER_ADMIN), connection),
    Row("api_connection_sync", "post", only(200, *OWNER_ADMIN), connection),
    Row("api_connection_items", "get", every(200), connection),
    Row("api_catalog_item_approve", "post", only(200, *OWNER_ADMIN), item),
    Row("api_agents", "get", every(200), acme),
    Row("api_agents", "post", only(201, *OWNER_ADMIN), acme, {"name": "new-bot"}),
    Row("api_agent", "get", every(200), agent),
    Row("api_agent", "patch", only(200, *OWNER_ADMIN), agent, {"description": "Ships releases.", "is_active": False}),
    Row("api_agent", "delete", only(204, *OWNER_ADMIN), agent),
    Row("api_agent_keys", "get", every(200), agent),
    Row("api_agent_keys", "post", only(201, *OWNER_ADMIN), agent, {"name": "ci"}),
    Row("api_agent_key", "get", every(200), agent_key),
    Row("api_agent_key", "delete", only(204, *OWNER_ADMIN), agent_key),
    Row("api_agent_rules", "get", every(200), agent),
    Row(
        "api_agent_rules",
        "post",
        only(201, *OWNER_ADMIN),
        agent,
        lambda o: {"effect": "deny", "connection": o["connection"].pk, "target": "tool", "name": "delete_repo"},
    ),
    Row("api_events", "get", only(200, *READERS), acme, {"agent": "release-bot", "limit": "10"}),
    Row("api_event", "get", only(200, *READERS), event),
    Row("api_events_export", "get", only(200, *READERS), acme, {"format": "jsonl"}),
    Row("api_agent_rule", "get", every(200), agent_rule),
    Row("api_agent_rule", "patch", only(200, *OWNER_ADMIN), agent_rule, {"effect": "ask"}),
    Row("api_agent_rule", "delete", only(204, *OWNER_ADMIN), agent_rule),
    Row("api_agent_policy", "get", every(200), agent),
    Row("api_agent_policy", "put", only(200, *OWNER_ADMIN), agent, {"rules": []}),
    Row("api_agent_simulate", "post", every(200), agent, {"tool": "echo__echo", "arguments": {"message": "hi"}}),
    Row(
        "api_agent_tools",
        "put",
        only(200, *OWNER_ADMIN),
        agent,
        lambda o: {"whole": [], "allowed": {str(o["connection"].pk): ["echo"]}},
    ),
]

# Third-party pages (sign-up, log-in, password reset, ...) hold no tenant data; they are swept for 5xx only.
THIRD_PARTY_PREFIXES = ("accounts/",)
UNNAMED_CATCH_ALLS = {"api/v1/^.*$", "^api/.*$", "favicon.ico"}


def _walk(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route, p.name


def project_urls() -> list[tuple[str, str | None]]:
    return [(r, n) for r, n in _walk(get_resolver().url_patterns) if not r.startswith(THIRD_PARTY_PREFIXES)]


def test_every_url_is_in_the_table():
    named = {row.name for row in ROWS}
    missing = [(r, n) for r, n in project_urls() if n not in named and r not in UNNAMED_CATCH_ALLS]
    assert missing == [], f"add these URLs to the sweep: {missing}"


@pytest.fixture
def objs(world):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    inv, _ = services.invitation_create(ctx=ctx, email="pending@acme.test", role="member")
    tok, _ = services.api_token_issue(ctx=ctx, name="deploy", role="admin")
    conn = connection_create(
        ctx=ctx, name="echo", url=CLOSED_UPSTREAM, headers={"Authorization": "Bearer upstream-secret"}, sync=False
    )
    tool = CatalogItem.objects.create(
        organization=world.acme,
        connection=conn,
        kind=CatalogItem.Kind.TOOL,
        name="echo",
        description="Echo the message back.",
        fingerprint="b" * 64,
        approved_fingerprint="a" * 64,
        status=CatalogItem.Status.CHANGED,
    )
    gh = Connection.objects.create(organization=world.acme, name="gh", kind="github", transport="")
    credential = Credential(organization=world.acme, connection=gh, provider="github", scopes=["repo"])
    credential.set_tokens(access_token="gho_sweepaccesstoken0123456789", refresh_token="ghr_sweeprefresh0123456789")
    credential.save()
    bot = agent_create(ctx=ctx, name="release-bot", mount_id=None)
    key, key_secret = agent_key_issue(ctx=ctx, agent_id=bot.pk, name="laptop")
    rule = rule_create(ctx=ctx, agent_id=bot.pk, effect="allow", connection_id=conn.pk, target="tool", name="echo")
    call, _ = make_call(world.acme, agent_name="release-bot", arguments={"message": "hi"})
    pending = approval_open(
        token=new_token(),
        organization_id=world.acme.pk,
        agent_id=bot.pk,
        rule_id=rule.pk,
        connection_id=conn.pk,
        tool="echo__echo",
        upstream_name="echo",
        arguments={"message": "hi"},
        reason="asks",
        timeout_seconds=300,
    )
    return {
        "acme": world.acme,
        "erin": world.membership(world.erin),
        "invitation": inv,
        "token": tok,
        "connection": conn,
        "oauth_connection": gh,
        "item": tool,
        "agent": bot,
        "key": key,
        "key_secret": key_secret,
        "rule": rule,
        "event": call,
        "approval": pending,
        "verify_run": VerifyRun.objects.create(organization=world.acme, status="done", ok=True),
        "world": world,
    }


def _request(client, row: Row, objs: dict):
    url = reverse(row.name, kwargs=row.args(objs))
    if row.name.startswith("api_"):
        return _api(client, row, url, objs)
    if row.method == "get":
        return client.get(url, row.body(objs))
    return client.post(url, data=row.body(objs))


def _api(client, row: Row, url: str, objs: dict, **headers):
    if row.method == "get":
        return client.get(url, row.body(objs), **headers)
    body = json.dumps(row.body(objs))
    return getattr(client, row.method)(url, data=body, content_type="application/json", **headers)


def _row_id(row: Row) -> str:
    return f"{row.method.upper()} {row.name}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_each_role_gets_exactly_what_it_may(row, role, objs, client_as):
    response = _request(client_as(objs["world"].user(role)), row, objs)
    assert response.status_code == row.expect[role], response.content[:300]


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_no_answer_shows_an_upstream_header_value_or_an_agent_key(row, objs, client_as):
    response = _request(client_as(objs["world"].owner), row, objs)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    secrets = ("upstream-secret", objs["key_secret"], objs["key"].digest, "gho_sweepaccess", "ghr_sweeprefresh")
    for secret in secrets:
        assert secret.encode() not in body, secret


@pytest.mark.parametrize("row", [r for r in ROWS if r.org_scoped], ids=_row_id)
def test_an_outsider_gets_404_everywhere(row, objs, client_as):
    before = Membership.objects.count()
    response = _request(client_as(objs["world"].outsider), row, objs)
    assert response.status_code == 404
    assert Membership.objects.count() == before


@pytest.mark.parametrize("row", [r for r in ROWS if r.org_scoped and r.name.startswith("api_")], ids=_row_id)
def test_an_api_token_of_another_organization_gets_404_everywhere(row, objs, client):
    world = objs["world"]
    ctx = resolve_org_context(user=world.outsider, token=None, slug=world.evil.slug)
    _, secret = services.api_token_issue(ctx=ctx, name="evil", role="admin")
    url = reverse(row.name, kwargs=row.args(objs))
    response = _api(client, row, url, objs, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 404


@pytest.mark.parametrize("row", [r for r in ROWS if r.name.startswith("api_") and r.org_scoped], ids=_row_id)
def test_an_api_token_acts_with_its_role(row, objs, client):
    world = objs["world"]
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    _, secret = services.api_token_issue(ctx=ctx, name="auditor-bot", role="auditor")
    url = reverse(row.name, kwargs=row.args(objs))
    response = _api(client, row, url, objs, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == row.expect["auditor"]


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_anonymous_people_are_sent_to_log_in_or_refused(row, objs, client):
    response = _request(client, row, objs)
    if row.name in {"healthz", "api_schema", "api_docs"}:
        assert response.status_code == 200  # public: health and the API's documentation
    elif row.name.startswith("api_"):
        assert response.status_code in {401, 403}
        assert "error" in response.json()
    elif row.name == "invitation_detail" or row.method == "get":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    else:
        assert response.status_code in {302, 403}
        if response.status_code == 302:
            assert "/accounts/login/" in response["Location"]


def _third_party_urls():
    return [(r, n) for r, n in _walk(get_resolver().url_patterns) if r.startswith(THIRD_PARTY_PREFIXES)]


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_sign_up_and_account_pages_never_fail(role, objs, client_as):
    import re

    client = client_as(None if role == "anonymous" else objs["world"].user(role))
    for route, _name in _third_party_urls():
        path = "/" + re.sub(r"<[^>]+>", "x", route).replace("^", "").replace("$", "")
        response = client.get(path)
        assert response.status_code < 500, path
