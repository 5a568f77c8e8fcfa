"""Malformed, wrongly typed, missing and oversized input to every form and API endpoint: each answers field
errors (400) or 413 (415 for a body that is not JSON), never a 500, and nothing half-saved remains."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken, Invitation, Membership, Organization, User
from accounts.tenancy import resolve_org_context
from audit.models import SiemSink
from connectors.models import CatalogItem, Connection, Credential
from connectors.services import connection_create
from policies.approvals import approval_open, new_token
from policies.models import Agent, AgentKey, Rule
from policies.services import agent_create, agent_key_issue, rule_create

OVERSIZED = "x" * 1_200_000
LONG = "x" * 1000


def snapshot() -> tuple:
    ids = [
        sorted(m.objects.values_list("pk", flat=True)) for m in (Organization, Membership, Invitation, ApiToken, User)
    ]
    names = list(Organization.objects.values_list("name", "audit_retention_days"))
    roles = list(Membership.objects.values_list("role", flat=True))
    gateway = [
        sorted(Connection.objects.values_list("pk", "name", "url", "header_names", "status")),
        sorted(Credential.objects.values_list("pk", "status", "version")),
        sorted(CatalogItem.objects.values_list("pk", "status", "approved_fingerprint")),
        sorted(Agent.objects.values_list("pk", "name", "description", "mount_id", "is_active")),
        sorted(AgentKey.objects.values_list("pk", "name", "revoked_at", "expires_at")),
        sorted(
            Rule.objects.values_list(
                "pk", "effect", "connection_id", "target", "name", "rate_limit", "rate_period", "rate_burst"
            )
        ),
        sorted(map(str, Rule.objects.values_list("constraints", "expires_at"))),
        sorted(SiemSink.objects.values_list("pk", "url", "enabled", "secret_prefix")),
    ]
    return (*ids, names, roles, *gateway)


@pytest.fixture
def setup(world, client_as):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    _, secret = services.api_token_issue(ctx=ctx, name="ops", role="admin")
    connection = connection_create(ctx=ctx, name="echo", url="http://127.0.0.1:9/mcp", sync=False)
    item = CatalogItem.objects.create(
        organization=world.acme,
        connection=connection,
        kind=CatalogItem.Kind.TOOL,
        name="echo",
        fingerprint="a" * 64,
        approved_fingerprint="a" * 64,
    )
    agent = agent_create(ctx=ctx, name="release-bot")
    agent_create(ctx=ctx, name="other-bot")
    agent_key_issue(ctx=ctx, agent_id=agent.pk, name="laptop")
    rule = rule_create(
        ctx=ctx, agent_id=agent.pk, effect="allow", connection_id=connection.pk, target="tool", name="echo"
    )
    approval = approval_open(
        token=new_token(),
        organization_id=world.acme.pk,
        agent_id=agent.pk,
        rule_id=None,
        connection_id=connection.pk,
        tool="echo__echo",
        upstream_name="echo",
        arguments={},
        reason="asks",
        timeout_seconds=300,
    )
    evil_ctx = resolve_org_context(user=world.outsider, token=None, slug=world.evil.slug)
    evil_connection = connection_create(ctx=evil_ctx, name="loot", url="http://127.0.0.1:9/mcp", sync=False)
    return {
        "connection": connection.pk,
        "agent": agent.pk,
        "approval": approval,
        "rule": rule.pk,
        "item": item.pk,
        "evil_connection": evil_connection.pk,
        "world": world,
        "owner": client_as(world.owner),
        "anon": client_as(None),
        "slug": world.acme.slug,
        "own_membership": world.membership(world.owner).pk,
        "erin": world.membership(world.erin).pk,
        "token": secret,
    }


# A valid "Add MCP server" form to break one field at a time: nothing listens on the port.
SERVER = {"name": "new-server", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "headers": ""}

# (url name, kwargs from setup, [bad bodies, or functions of setup returning one]) posted as the owner
FORM_CASES = [
    ("org_create", lambda s: {}, [{}, {"name": ""}, {"name": "   "}, {"name": LONG}]),
    ("org_settings", lambda s: {"org_slug": s["slug"]}, [{}, {"name": ""}, {"name": LONG}]),
    ("org_delete", lambda s: {"org_slug": s["slug"]}, [{}, {"confirm_slug": "wrong"}, {"confirm_slug": LONG}]),
    (
        "invitation_create",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"email": "not-an-email", "role": "member"},
            {"email": "a@b.test", "role": "god"},
            {"email": "a" * 300 + "@x.test", "role": "member"},
            {"email": "mia@acme.test", "role": "member"},
        ],
    ),
    (
        "membership_role",
        lambda s: {"org_slug": s["slug"], "pk": s["erin"]},
        [{}, {"role": "god"}, {"role": ""}],
    ),
    ("membership_role", lambda s: {"org_slug": s["slug"], "pk": s["own_membership"]}, [{"role": "member"}]),
    ("membership_remove", lambda s: {"org_slug": s["slug"], "pk": s["own_membership"]}, [{}]),
    (
        "settings_tokens",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"name": "", "role": "admin"},
            {"name": "x", "role": "owner"},
            {"name": "x", "role": "admin", "expires_at": "yesterday"},
            {"name": "x", "role": "admin", "expires_at": "2001-01-01T00:00"},
            {"name": LONG, "role": "admin"},
        ],
    ),
    ("invitation_detail", lambda s: {"secret": "sg_inv_bogus"}, [{}]),
    (
        "connections",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {**SERVER, "name": ""},
            {**SERVER, "name": "Not A Name"},
            {**SERVER, "name": "two__underscores"},
            {**SERVER, "name": LONG},
            {**SERVER, "name": "echo"},
            {**SERVER, "transport": "carrier-pigeon"},
            {**SERVER, "url": ""},
            {**SERVER, "url": "ftp://files.example.test/"},
            {**SERVER, "url": "not a url"},
            {**SERVER, "url": "http://" + LONG * 3},
            {**SERVER, "transport": "stdio", "command_name": ""},
            {**SERVER, "transport": "stdio", "command_name": "rm -rf /"},
            {**SERVER, "headers": "no colon on this line"},
            {**SERVER, "headers": ": no name"},
            {**SERVER, "headers": "Host: evil.test"},
            {**SERVER, "headers": "Mcp-Session-Id: x"},
            {**SERVER, "headers": "Bad Name: x"},
            {**SERVER, "headers": "X-Team: a\nx-team: b"},
            {**SERVER, "headers": "\n".join(f"X-H{i}: v" for i in range(21))},
        ],
    ),
    (
        "agents",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"name": ""},
            {"name": "   "},
            {"name": LONG},
            {"name": "release-bot"},
            {"name": "new", "description": "d" * 2001},
            {"name": "new", "mount": "999999"},
            {"name": "new", "mount": "abc"},
            lambda s: {"name": "new", "mount": s["evil_connection"]},
        ],
    ),
    (
        "agent_update",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"]},
        [
            {},
            {"agent-name": ""},
            {"agent-name": LONG},
            {"agent-name": "other-bot"},
            {"agent-name": "x", "agent-mount": "999999"},
            lambda s: {"agent-name": "x", "agent-mount": s["evil_connection"]},
        ],
    ),
    ("agent_activation", lambda s: {"org_slug": s["slug"], "pk": s["agent"]}, [{}, {"is_active": "maybe"}]),
    (
        "agent_key_issue",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"]},
        [
            {},
            {"key-name": ""},
            {"key-name": LONG},
            {"key-name": "x", "key-expires_at": "yesterday"},
            {"key-name": "x", "key-expires_at": "2001-01-01T00:00"},
        ],
    ),
    (
        "agent_tools",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"]},
        [
            {"whole": "abc"},
            {"whole": "999999"},
            {"tool": "no-colon"},
            {"tool": "999999:echo"},
            lambda s: {"tool": f"{s['connection']}:no-such-tool"},
            lambda s: {"whole": s["evil_connection"]},
        ],
    ),
    (
        "audit_settings",
        lambda s: {"org_slug": s["slug"]},
        [{}, {"days": ""}, {"days": "0"}, {"days": "3651"}, {"days": "-1"}, {"days": "ninety"}, {"days": "1e3"}],
    ),
    (
        "audit_siem",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"url": ""},
            {"url": "not a url"},
            {"url": "ftp://siem.example.test/"},
            {"url": "javascript:alert(1)"},
            {"url": "https://" + LONG * 3},
        ],
    ),
    (
        "matrix_cell",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"], "item_pk": s["item"]},
        [
            {"effect": "maybe", "step": "save"},
            {"effect": "allow", "constraints": "not json", "step": "save"},
            {"effect": "allow", "constraints": '[{"argument": "x", "op": "eval"}]', "step": "save"},
            {"effect": "deny", "constraints": '[{"argument": "x", "op": "present"}]', "step": "save"},
            {"effect": "allow", "rate_limit": "ten", "step": "save"},
            {"effect": "allow", "rate_limit": "0", "step": "preview"},
            {"effect": "allow", "expires_at": "2001-01-01T00:00", "step": "save"},
        ],
    ),
    ("matrix_bulk", lambda s: {"org_slug": s["slug"], "pk": s["agent"]}, [{}, {"action": "nuke"}]),
    (
        "agent_simulate",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"]},
        [
            {},
            {"sim-tool": "echo__echo", "sim-arguments": "not json"},
            {"sim-tool": "echo__echo", "sim-arguments": "[1, 2]"},
            {"sim-tool": "nosuchconnection__x", "sim-arguments": "{}"},
            {"sim-tool": LONG, "sim-arguments": "{}"},
        ],
    ),
    (
        "approval_decide",
        lambda s: {"org_slug": s["slug"], "pk": s["approval"]},
        [{}, {"verdict": "maybe"}, {"verdict": LONG}],
    ),
    (
        "agent_rule_create",
        lambda s: {"org_slug": s["slug"], "pk": s["agent"]},
        [
            {},
            {"rule-connection": "999999", "rule-target": "tool", "rule-name": "echo"},
            lambda s: {"rule-connection": s["connection"], "rule-target": "everything"},
            lambda s: {"rule-connection": s["connection"], "rule-target": "all", "rule-name": "echo"},
            lambda s: {"rule-connection": s["connection"], "rule-target": "tool", "rule-name": "x" * 2001},
            lambda s: {"rule-connection": s["evil_connection"], "rule-target": "all"},
        ],
    ),
    (
        "connect_start",
        lambda s: {"org_slug": s["slug"], "provider": "github"},
        [
            {},
            {"github-name": "", "github-access": "read"},
            {"github-name": "Not A Name", "github-access": "read"},
            {"github-name": "two__parts", "github-access": "read"},
            {"github-name": LONG, "github-access": "read"},
            {"github-name": "gh", "github-access": "admin"},
            {"github-name": "echo", "github-access": "read"},
        ],
    ),
    (
        "connect_start",
        lambda s: {"org_slug": s["slug"], "provider": "google"},
        [
            {"google-name": "work", "google-access": "read"},
            {"google-name": "work", "google-access": "read", "google-services": ["photos"]},
        ],
    ),
]


def _form_params():
    for name, kwargs, bodies in FORM_CASES:
        for i, body in enumerate(bodies):
            yield pytest.param(name, kwargs, body, id=f"{name}-{i}")


@pytest.mark.parametrize(("name", "kwargs", "body"), list(_form_params()))
def test_a_bad_form_answers_400_with_field_errors_and_saves_nothing(setup, name, kwargs, body):
    before = snapshot()
    data = body(setup) if callable(body) else body
    response = setup["owner"].post(reverse(name, kwargs=kwargs(setup)), data=data)
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    assert snapshot() == before


ALLAUTH_FORMS = [
    (
        "account_signup",
        [
            {},
            {"email": "bad", "password1": "x", "password2": "y"},
            {"email": "new@x.test", "password1": "short", "password2": "short"},
        ],
    ),
    ("account_login", [{}, {"login": "olivia@acme.test", "password": "wrong"}, {"login": LONG, "password": LONG}]),
    ("account_reset_password", [{}, {"email": "not-an-email"}]),
]


@pytest.mark.parametrize(
    ("name", "body"), [pytest.param(n, b, id=f"{n}-{i}") for n, bodies in ALLAUTH_FORMS for i, b in enumerate(bodies)]
)
def test_a_bad_account_form_answers_400(setup, name, body):
    before = snapshot()
    response = setup["anon"].post(reverse(name), data=body)
    assert response.status_code == 400
    assert snapshot() == before


def test_signing_up_with_a_taken_address_reveals_nothing_and_creates_nothing(setup):
    before = snapshot()
    body = {"email": "olivia@acme.test", "password1": "a long passphrase 1", "password2": "a long passphrase 1"}
    response = setup["anon"].post(reverse("account_signup"), data=body)
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")
    assert snapshot() == before


def test_a_bad_password_change_answers_400(setup):
    response = setup["owner"].post(reverse("account_change_password"), data={"oldpassword": "wrong"})
    assert response.status_code == 400


FORM_URLS = [name for name, _, _ in FORM_CASES] + ["account_signup", "account_login"]


@pytest.mark.parametrize("name", sorted(set(FORM_URLS)))
def test_an_oversized_form_answers_413(setup, name):
    kwargs = next((k(setup) for n, k, _ in FORM_CASES if n == name), {})
    before = snapshot()
    response = setup["owner"].post(reverse(name, kwargs=kwargs), data={"name": OVERSIZED})
    assert response.status_code == 413
    assert snapshot() == before


@dataclass(frozen=True)
class Write:
    """An API write endpoint and a valid body to break: each field of ``breakable`` with every WRONG_VALUE
    (except those ``valid_too`` names for that field), then each override of ``extra`` on its own."""

    name: str
    method: str
    kwargs: Callable[[dict], dict]
    body: dict | Callable[[dict], dict]
    breakable: tuple[str, ...] = ()  # default: every field of a dict body
    valid_too: dict[str, tuple] = field(default_factory=dict)
    extra: tuple[dict | Callable[[dict], dict], ...] = ()

    def valid(self, setup: dict) -> dict:
        return self.body(setup) if callable(self.body) else dict(self.body)

    def fields(self) -> tuple[str, ...]:
        return self.breakable or tuple(self.body)  # type: ignore[arg-type]


def org(s):
    return {"org_slug": s["slug"]}


def agent(s):
    return {"org_slug": s["slug"], "pk": s["agent"]}


API_WRITES = [
    Write("api_orgs", "post", lambda s: {}, {"name": "New"}),
    Write("api_org", "patch", org, {"name": "New"}),
    Write("api_member", "patch", lambda s: {**org(s), "pk": s["erin"]}, {"role": "auditor"}),
    Write("api_invitations", "post", org, {"email": "n@acme.test", "role": "member"}),
    Write("api_tokens", "post", org, {"name": "ci", "role": "auditor"}),
    Write("api_invitation_accept", "post", lambda s: {}, {"token": "sg_inv_x"}),
    Write(
        "api_connections",
        "post",
        org,
        {"name": "new-server", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"},
        extra=(
            {"name": "Not A Name"},
            {"name": "echo"},
            {"url": "ftp://files.example.test/"},
            {"transport": "stdio", "command_name": "rm -rf /"},
            {"command_name": 5},
            {"headers": []},
            {"headers": "Authorization: x"},
            {"headers": None},
            {"headers": {"X-Team": 1}},
            {"headers": {"Host": "evil.test"}},
            {"headers": {"Bad Name": "x"}},
            {"headers": {"X-Team": "a\r\nInjected: yes"}},
            {"headers": {f"X-H{i}": "v" for i in range(21)}},
            {"sync": "yes"},
            {"sync": 1},
            {"sync": None},
        ),
    ),
    Write(
        "api_agents",
        "post",
        org,
        {"name": "new-bot"},
        extra=(
            {"name": "release-bot"},
            {"description": 5},
            {"description": "d" * 2001},
            {"mount": "1"},
            {"mount": True},
            {"mount": 1.5},
            {"mount": 999999},
            lambda s: {"mount": s["evil_connection"]},
        ),
    ),
    Write(
        "api_agent",
        "patch",
        agent,
        {"name": "renamed"},
        extra=(
            {"name": "other-bot"},
            {"description": None},
            {"is_active": "yes"},
            {"is_active": 1},
            {"is_active": None},
            {"mount": "x"},
            {"mount": 999999},
            lambda s: {"mount": s["evil_connection"]},
        ),
    ),
    Write(
        "api_agent_keys",
        "post",
        agent,
        {"name": "ci"},
        extra=(
            {"expires_at": "yesterday"},
            {"expires_at": "2001-01-01T00:00:00Z"},
            {"expires_at": 12},
            {"expires_at": True},
        ),
    ),
    Write(
        "api_agent_rules",
        "post",
        agent,
        lambda s: {"effect": "deny", "connection": s["connection"], "target": "tool", "name": "echo"},
        breakable=("effect", "connection", "target"),
        extra=(
            {"effect": "maybe"},
            {"name": 5},
            {"name": "x" * 2001},
            {"target": "all", "name": "echo"},
            {"connection": 999999},
            {"connection": "1"},
            lambda s: {"connection": s["evil_connection"]},
        ),
    ),
    Write(
        "api_agent_rules",
        "post",
        agent,
        lambda s: {"effect": "allow", "connection": s["connection"], "target": "tool", "name": "echo"},
        breakable=("effect", "target"),
        extra=(
            {"constraints": "repo"},
            {"constraints": [{"argument": "repo", "op": "eval", "values": ["x"]}]},
            {"constraints": [{"argument": "repo", "op": "regex", "pattern": "(a+)+b"}]},
            {"constraints": [{"argument": "repo", "op": "one_of", "values": []}]},
            {"effect": "deny", "constraints": [{"argument": "repo", "op": "present"}]},
            {"target": "annotation", "name": "sneaky"},
            {"target": "pattern", "name": ""},
            {"connection": None, "target": "tool"},
            {"rate_limit": 0},
            {"rate_limit": "10"},
            {"rate_period": "fortnight"},
            {"rate_burst": -1},
            {"expires_at": "2001-01-01T00:00:00Z"},
        ),
    ),
    Write(
        "api_agent_rule",
        "patch",
        lambda s: {**agent(s), "rule_pk": s["rule"]},
        {"effect": "ask"},
        extra=(
            {"target": "all", "name": "echo"},
            {"constraints": [{"op": "present"}]},
            {"connection": 999999},
            lambda s: {"connection": s["evil_connection"]},
        ),
    ),
    Write(
        "api_agent_policy",
        "put",
        agent,
        {"rules": []},
        valid_too={"rules": ([],)},
        extra=(
            {"rules": [5]},
            {"rules": [{"effect": "allow", "connection": "nope", "target": "all"}]},
            {"rules": [{"effect": "allow", "connection": "loot", "target": "all"}]},
            {"rules": [{"effect": "allow", "connection": "echo", "target": "all", "sql": "drop"}]},
            {"rules": [{"effect": "maybe", "connection": "echo", "target": "all"}]},
        ),
    ),
    Write(
        "api_agent_simulate",
        "post",
        agent,
        {"tool": "echo__echo", "arguments": {}},
        valid_too={"arguments": ({}, {"a": 1})},
        extra=({"tool": "nope"}, {"tool": "loot__echo"}, {"tool": "echo__"}),
    ),
    Write(
        "api_agent_tools",
        "put",
        agent,
        lambda s: {"whole": [], "allowed": {str(s["connection"]): ["echo"]}},
        breakable=("whole", "allowed"),
        valid_too={"whole": ([],), "allowed": ({},)},
        extra=(
            {"whole": [999999]},
            {"whole": ["1"]},
            {"whole": [True]},
            {"allowed": {"999999": ["echo"]}},
            {"allowed": {"abc": ["echo"]}},
            {"allowed": {"1": "echo"}},
            {"allowed": {"1": [5]}},
            lambda s: {"allowed": {str(s["connection"]): ["no-such-tool"]}},
            lambda s: {"whole": [s["evil_connection"]]},
            lambda s: {"allowed": {str(s["evil_connection"]): ["echo"]}},
        ),
    ),
]
WRONG_VALUES = [None, True, 12.5, [], {}, ["a"], {"a": 1}, LONG, ""]


def _raw(text: str) -> Callable[[dict], str]:
    return lambda setup: text


def _broken(write: Write, override) -> Callable[[dict], str]:
    def raw(setup: dict) -> str:
        changes = override(setup) if callable(override) else override
        return json.dumps({**write.valid(setup), **changes})

    return raw


def _api_params():
    for w in API_WRITES:
        yield pytest.param(w, _raw("{not json"), id=f"{w.name}-malformed")
        yield pytest.param(w, _raw("[1, 2]"), id=f"{w.name}-array")
        yield pytest.param(w, _raw("null"), id=f"{w.name}-null")
        yield pytest.param(w, _raw("{}"), id=f"{w.name}-missing")
        for name in w.fields():
            for i, value in enumerate(WRONG_VALUES):
                if value not in w.valid_too.get(name, ()):
                    yield pytest.param(w, _broken(w, {name: value}), id=f"{w.name}-{name}-wrong{i}")
        for i, override in enumerate(w.extra):
            yield pytest.param(w, _broken(w, override), id=f"{w.name}-bad{i}")


def _call(setup, write: Write, raw: str, **extra):
    client = setup["owner"] if write.name in {"api_orgs", "api_invitation_accept"} else setup["anon"]
    headers = {} if client is setup["owner"] else {"HTTP_AUTHORIZATION": f"Bearer {setup['token']}"}
    return getattr(client, write.method)(
        reverse(write.name, kwargs=write.kwargs(setup)),
        data=raw,
        **{"content_type": "application/json", **extra, **headers},
    )


@pytest.mark.parametrize(("write", "raw"), list(_api_params()))
def test_bad_api_input_answers_field_errors_in_one_shape_and_saves_nothing(setup, write, raw):
    before = snapshot()
    response = _call(setup, write, raw(setup))
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["type"] in {"validation_error", "parse_error"} and error["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("write", API_WRITES, ids=[w.name for w in API_WRITES])
def test_an_oversized_api_body_answers_413(setup, write):
    before = snapshot()
    response = _call(setup, write, json.dumps({**write.valid(setup), "pad": OVERSIZED}))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert snapshot() == before


@pytest.mark.parametrize("write", API_WRITES, ids=[w.name for w in API_WRITES])
def test_a_body_that_is_not_json_answers_415(setup, write):
    response = _call(setup, write, "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "unsupported_media_type"


def test_a_bad_bearer_token_answers_401_with_a_challenge(client, world):
    for header in ("Bearer", "Bearer a b", "Bearer sg_api_nope", "Bearer \u00e9t\u00e9"):
        response = client.get(reverse("api_orgs"), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["type"] == "authentication_failed"


def test_unknown_api_paths_and_ids_answer_404_in_the_api_shape(setup):
    for path in ("/api/v1/nope/", "/api/v2/orgs/", f"/api/v1/orgs/{setup['slug']}/members/999999/"):
        response = setup["owner"].get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"


# (url name, bad query parameters, the field at fault), read as the owner: pages answer 400 naming the field,
# the API answers in its one error shape.
READ_CASES = [
    ("activity", {"decision": "maybe"}, "decision"),
    ("activity", {"since": "yesterday"}, "since"),
    ("activity", {"cursor": "garbage"}, "cursor"),
    ("activity", {"since": "2026-11-25T10:00", "until": "2026-11-24T10:00"}, "until"),
    ("activity", {"q": LONG}, "q"),
    ("activity", {"agent": "a\x00b"}, "agent"),
    ("activity_charts", {"by": "planet"}, "by"),
    ("activity_charts", {"until": "2026-02-30T00:00"}, "until"),
    ("activity_export", {"format": "xlsx"}, "format"),
    ("activity_export", {"format": "csv", "kind": "outcome"}, "kind"),
    ("api_events", {"decision": "maybe"}, "decision"),
    ("api_events", {"cursor": "garbage"}, "cursor"),
    ("api_events", {"limit": "-1"}, "limit"),
    ("api_events", {"limit": "1000"}, "limit"),
    ("api_events", {"colour": "blue"}, "colour"),
    ("api_events_export", {"format": "pdf"}, "format"),
    ("api_events_export", {"format": "csv", "outcome": "great"}, "outcome"),
]


@pytest.mark.parametrize(
    ("name", "params", "field"), READ_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(READ_CASES)]
)
def test_bad_filters_answer_400_with_the_field_named(setup, name, params, field):
    response = setup["owner"].get(reverse(name, kwargs={"org_slug": setup["slug"]}), params)
    assert response.status_code == 400, response.content[:300]
    if name.startswith("api_"):
        error = response.json()["error"]
        assert error["type"] == "validation_error" and field in error["fields"]
    elif name == "activity_export":
        assert f"{field}:".encode() in response.content
    else:
        assert b'role="alert"' in response.content
