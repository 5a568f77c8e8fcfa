"""Every kind of bad input to /mcp/ gets its precise answer and an audit event; nothing crashes a consumer,
nothing leaks; a fuzzer throwing random JSON-RPC finds no 500 and no hang."""

import json

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import Event
from gateway.tests.helpers import agent_with, connect, org_ctx
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def echo():
    with echo_server() as upstream:
        yield upstream


@pytest.fixture
def gate(live, echo):
    ctx = org_ctx()
    conn = connect(ctx, "echo", echo.url)
    setup = agent_with(ctx, live.url, allow=[(conn, "echo")])
    client = httpx2.Client(timeout=10)
    yield setup, client
    client.close()


def headers(setup, **extra):
    base = {
        "Authorization": f"Bearer {setup.key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    base.update({k.replace("_", "-"): v for k, v in extra.items()})
    return base


def modern(method, request_id=1, **params):
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}


def modern_headers(setup, method, name=None):
    extra = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name:
        extra["Mcp-Name"] = name
    return headers(setup, **extra)


def post(client, setup, body, hdrs=None):
    raw = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(setup.endpoint, content=raw, headers=hdrs or headers(setup))


def test_malformed_json_is_a_parse_error(gate):
    setup, client = gate
    response = post(client, setup, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert response.status_code == 400 and response.json()["error"]["code"] == -32700


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "ping"},
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        [{"jsonrpc": "2.0", "id": 1, "method": "ping"}],
        "just a string",
    ],
)
def test_an_invalid_request_is_refused(gate, body):
    setup, client = gate
    response = post(client, setup, body, modern_headers(setup, "ping"))
    assert response.status_code == 400 and response.json()["error"]["code"] == -32600


def test_an_unknown_method_and_bad_params_get_their_codes(gate):
    setup, client = gate
    response = post(client, setup, modern("tools/frobnicate"), modern_headers(setup, "tools/frobnicate"))
    assert response.json()["error"]["code"] == -32601 and response.status_code == 404
    bad = modern("tools/call", name="echo__echo", arguments=[1, 2])
    response = post(client, setup, bad, modern_headers(setup, "tools/call", "echo__echo"))
    assert response.json()["error"]["code"] == -32602


def test_headers_that_contradict_the_body_are_a_header_mismatch(gate):
    setup, client = gate
    body = modern("tools/call", name="echo__echo", arguments={"message": "x"})
    response = post(client, setup, body, modern_headers(setup, "tools/call", "echo__other"))
    assert response.status_code == 400 and response.json()["error"]["code"] == -32020
    response = post(client, setup, body, modern_headers(setup, "tools/list"))
    assert response.json()["error"]["code"] == -32020


def test_an_unsupported_protocol_version_is_named(gate):
    setup, client = gate
    body = modern("ping")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    hdrs = modern_headers(setup, "ping")
    hdrs["MCP-Protocol-Version"] = "2099-01-01"
    response = post(client, setup, body, hdrs)
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == -32022 and MODERN in error["data"]["supported"]


def test_a_legacy_request_before_initialize_is_refused(gate):
    setup, client = gate
    response = post(client, setup, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 400 and "initialize" in response.json()["error"]["message"]
    forged = headers(setup, Mcp_Session_Id="not-a-session")
    response = post(client, setup, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, forged)
    assert response.status_code == 404


@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer sg_key_unknown", "Basic dXNlcjpwYXNz", "Bearer sg_api_x"])
def test_a_missing_or_unknown_key_gets_401_with_a_challenge(gate, auth):
    setup, client = gate
    hdrs = modern_headers(setup, "ping")
    hdrs.pop("Authorization")
    if auth:
        hdrs["Authorization"] = auth
    response = post(client, setup, modern("ping"), hdrs)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_of_another_agent_is_refused(gate, live, echo):
    setup, client = gate
    other = agent_with(setup.ctx, live.url, name="other")
    response = post(
        client, setup, modern("ping"), {**modern_headers(setup, "ping"), "Authorization": f"Bearer {other.key}"}
    )
    assert response.status_code == 401


def test_media_types_origin_and_size_are_checked(gate):
    setup, client = gate
    hdrs = modern_headers(setup, "ping")
    assert post(client, setup, modern("ping"), {**hdrs, "Content-Type": "text/plain"}).status_code == 415
    assert post(client, setup, modern("ping"), {**hdrs, "Accept": "text/html"}).status_code == 406
    assert post(client, setup, modern("ping"), {**hdrs, "Origin": "https://evil.example"}).status_code == 403
    huge = json.dumps(modern("tools/call", name="echo__echo", arguments={"message": "x" * 5_000_000}))
    assert post(client, setup, huge.encode(), hdrs).status_code == 413


def test_the_secret_url_form_works_and_no_log_or_audit_row_shows_the_key(gate, live):
    setup, client = gate
    hdrs = modern_headers(setup, "tools/call", "echo__echo")
    hdrs.pop("Authorization")
    body = modern("tools/call", name="echo__echo", arguments={"message": "via url"})
    response = client.post(f"{setup.endpoint}/{setup.key}", content=json.dumps(body), headers=hdrs)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "via url"
    rows = list(Event.objects.values())
    assert rows and setup.key not in json.dumps(rows, default=str)
    assert setup.key not in live.log()


def test_every_refusal_leaves_an_audit_event(gate):
    setup, client = gate
    before = set(Event.objects.values_list("id", flat=True))
    post(client, setup, b"{", headers(setup))
    post(client, setup, modern("ping"), {**modern_headers(setup, "ping"), "Authorization": "Bearer nope"})
    post(
        client,
        setup,
        modern("tools/call", name="echo__add", arguments={}),
        modern_headers(setup, "tools/call", "echo__add"),
    )
    # Ids come from per-process blocks, so time tells the order; only the requests' own events count.
    events = [e for e in Event.objects.filter(kind="mcp").order_by("time") if e.id not in before]
    assert [e.outcome for e in events] == ["error", "refused", "refused"]
    assert events[2].decision == "deny" and events[2].tool == "echo__add"


def test_an_answer_to_no_question_is_accepted_and_audited_as_one(gate):
    """A JSON-RPC response the agent sends unasked (or refusing something) is taken (202, as the spec wants) and
    shows in the trail as a response, with what was wrong: never as a bare "POST"."""
    setup, client = gate
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    opened = post(client, setup, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
    session = headers(setup, Mcp_Session_Id=opened.headers["mcp-session-id"], MCP_Protocol_Version="2025-11-25")
    before = set(Event.objects.values_list("id", flat=True))
    stray = {"jsonrpc": "2.0", "id": "made-up", "result": {"action": "accept", "content": {"pin": "1234"}}}
    refusing = {"jsonrpc": "2.0", "id": "sg-input-0a", "error": {"code": -1, "message": "User rejected sampling"}}
    for body in (stray, refusing):
        response = post(client, setup, body, session)
        assert response.status_code == 202, response.text
    # A 2026-07-28 client is never asked anything, so it may not answer: refused, and audited as a response too.
    response = post(client, setup, stray, modern_headers(setup, "tools/call"))
    assert response.status_code == 400, response.text
    events = [e for e in Event.objects.filter(kind="mcp").order_by("time") if e.id not in before]
    assert [(e.method, e.request_id, e.outcome) for e in events] == [
        ("response", "made-up", "error"),
        ("response", "sg-input-0a", "refused"),
        ("response", "made-up", "error"),
    ]
    assert "answers no question" in events[0].error and events[1].error == "User rejected sampling"
    assert all(e.arguments is None for e in events)  # what a person answered is not kept
    assert "1234" not in json.dumps(list(Event.objects.filter(id__in=[e.id for e in events]).values()), default=str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=12,
    ),
    st.sampled_from(
        [
            "tools/call",
            "tools/list",
            "resources/read",
            "prompts/get",
            "initialize",
            "ping",
            "completion/complete",
            "server/discover",
            "nope",
        ]
    ),
    st.booleans(),
)
def test_random_json_rpc_never_gets_a_500_or_hangs(gate, params, method, as_modern):
    setup, client = gate
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    hdrs = headers(setup)
    if as_modern:
        if isinstance(params, dict):
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        hdrs = modern_headers(setup, method)
    response = post(client, setup, body, hdrs)
    assert response.status_code < 500, response.text
    assert "error" in response.json() or "result" in response.json()
