"""The fixture server the MCP conformance suite (`npx conformance server`) expects, written with the official SDK.

It serves every fixture the server scenarios of @modelcontextprotocol/conformance name (tools `test_*`,
`json_schema_2020_12_tool`, resources `test://...`, prompts `test_*`, completion, logging/setLevel,
resources/(un)subscribe) in both protocol eras on one endpoint:

- 2025-11-25 and earlier (legacy): `initialize`, `Mcp-Session-Id`, server-to-client requests (sampling,
  elicitation, roots) on the tool call's SSE stream, progress and log notifications, a resumable event store
  (SEP-1699: priming events, `retry`, `test_reconnection` closes its stream mid-call);
- 2026-07-28 (modern): stateless requests with the `_meta` envelope, `server/discover`, `subscriptions/listen`,
  and `InputRequiredResult` + `requestState` (SEP-2322) instead of server-to-client requests.

The same tools work in both eras: a tool that needs client input asks for it with real requests on a legacy
session and returns an `InputRequiredResult` on a modern request.

Run:
    python -m tests.upstreams.conformance_server streamable-http PORT [--dns-rebinding-protection]
    python -m tests.upstreams.conformance_server sse PORT
    python -m tests.upstreams.conformance_server stdio

The HTTP endpoint is `/mcp` on 127.0.0.1. DNS-rebinding protection (Host/Origin checks) is OFF by default because
the server sits behind a gateway on loopback; `--dns-rebinding-protection` turns it on (localhost hosts and
origins only), which is what the `dns-rebinding-protection` scenario wants when the suite talks to it directly.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import sys
import warnings
import zlib
from collections import deque
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import (
    AudioContent,
    CallToolResult,
    ClientCapabilities,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequiredResult,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCResponse,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

# The logging capability and ctx.log are deprecated at 2026-07-28, but the legacy scenarios still test them.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

MISSING_REQUIRED_CLIENT_CAPABILITY = -32021


# --------------------------------------------------------------------------------------------------------------
# Binary payloads, built here so they are valid files: a 1x1 red PNG and a short silent 8 kHz mono WAV.


def _png_1x1_red() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte 0, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence(samples: int = 800, rate: int = 8000) -> bytes:
    data = b"\x00\x00" * samples  # 16-bit mono
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


PNG_BYTES = _png_1x1_red()
PNG_B64 = base64.b64encode(PNG_BYTES).decode()
WAV_B64 = base64.b64encode(_wav_silence()).decode()


# --------------------------------------------------------------------------------------------------------------
# Resumability (SEP-1699): a small bounded in-memory event store for legacy POST/GET SSE streams.


class InMemoryEventStore(EventStore):
    """Keeps the last `max_events` events of all streams; replays one stream after a given event id.

    The SDK names a POST stream after its JSON-RPC request id, which is unique within a session but not across
    sessions, and the store does not learn the session. Replay therefore stops at that request's own response, so
    a resumed stream can only pick up another session's events if two sessions reuse the same request id at the
    same time (good enough for a test fixture).
    """

    def __init__(self, max_events: int = 2000) -> None:
        self._events: deque[tuple[EventId, StreamId, JSONRPCMessage | None]] = deque(maxlen=max_events)
        self._counter = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = f"{stream_id}_{next(self._counter)}"
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        events = list(self._events)
        position = next((i for i, (eid, _, _) in enumerate(events) if eid == last_event_id), None)
        if position is None:
            return None
        stream_id = events[position][1]
        for event_id, sid, message in events[position + 1 :]:
            if sid != stream_id or message is None:
                continue
            await send_callback(EventMessage(message, event_id))
            if isinstance(message, JSONRPCResponse | JSONRPCError) and str(message.id) == str(stream_id):
                break
        return stream_id


def _text(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)])


# ----------------------------------------------------------- tools with hand-written input schemas

JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict[str, Any] | None = None,
    contactMethod: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> CallToolResult:
    contact = phone if contactMethod == "phone" else email
    return _text(f"Received: name={name}, contact={contact}, address={json.dumps(address)}")


def _tool_with_schema(fn: Any, description: str, schema: dict[str, Any]) -> Tool:
    # The advertised schema is hand-written; arguments are still validated against the function signature.
    return Tool.from_function(fn, description=description).model_copy(update={"parameters": schema})


JSON_SCHEMA_TOOL = _tool_with_schema(
    json_schema_2020_12_tool,
    "Tool with JSON Schema 2020-12 features ($schema, $defs, $anchor, allOf/anyOf, if/then/else).",
    JSON_SCHEMA_2020_12,
)


def test_custom_header(region: str, query: str = "") -> CallToolResult:
    return _text(f"region={region} query={query}")


CUSTOM_HEADER_TOOL = _tool_with_schema(
    test_custom_header,
    "Has an argument mirrored into the Mcp-Param-Region header (SEP-2243 x-mcp-header).",
    {
        "type": "object",
        "properties": {
            "region": {"type": "string", "description": "Region", "x-mcp-header": "Region"},
            "query": {"type": "string", "description": "Free text", "default": ""},
        },
        "required": ["region"],
    },
)


# --------------------------------------------------------------------------------------------------------------
# The server.

server = MCPServer(
    "scopegate-conformance-fixture",
    version="1.0.0",
    instructions="Fixture server for the MCP conformance suite.",
    log_level="WARNING",
    tools=[JSON_SCHEMA_TOOL, CUSTOM_HEADER_TOOL],
)


def _is_modern(ctx: Context) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _elicit(message: str, schema: dict[str, Any]) -> ElicitRequest:
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int = 100) -> CreateMessageRequest:
    return CreateMessageRequest(
        params=CreateMessageRequestParams(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=text))],
            max_tokens=max_tokens,
        )
    )


_REQUIRED_CAPABILITY = {
    "elicitation/create": ("elicitation", {"elicitation": {}}),
    "sampling/createMessage": ("sampling", {"sampling": {}}),
    "roots/list": ("roots", {"roots": {}}),
}
_RESULT_TYPE = {
    "elicitation/create": ElicitResult,
    "sampling/createMessage": CreateMessageResult,
    "roots/list": ListRootsResult,
}


def _declared(ctx: Context, capability: str) -> bool:
    caps: ClientCapabilities | None = ctx.client_capabilities
    return caps is not None and getattr(caps, capability, None) is not None


def _require_capabilities(ctx: Context, requests: dict[str, Any]) -> None:
    """-32021 (modern) or a tool error (legacy) when the client did not declare what the requests need."""
    missing: dict[str, Any] = {}
    for request in requests.values():
        capability, wire = _REQUIRED_CAPABILITY[request.method]
        if not _declared(ctx, capability):
            missing.update(wire)
    if not missing:
        return
    names = ", ".join(sorted(missing))
    if _is_modern(ctx):
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message=f"Client did not declare the required capabilities: {names}",
            data={"requiredCapabilities": missing},
        )
    raise ToolError(f"Client does not support the required capabilities: {names}")


async def _gather(ctx: Context, requests: dict[str, Any]) -> dict[str, Any] | InputRequiredResult:
    """Ask the client for input in the way the request's era allows.

    Modern: answers come back as `inputResponses` on a retry; return an `InputRequiredResult` for the keys that are
    still unanswered (extra keys are ignored). Legacy: send each request on the tool call's stream and wait.
    """
    _require_capabilities(ctx, requests)
    if _is_modern(ctx):
        responses = ctx.input_responses or {}
        missing = {key: request for key, request in requests.items() if key not in responses}
        if missing:
            return InputRequiredResult(input_requests=missing)
        return {key: responses[key] for key in requests}
    answers: dict[str, Any] = {}
    for key, request in requests.items():
        answers[key] = await ctx.session.send_request(
            request,
            _RESULT_TYPE[request.method],
            metadata=ServerMessageMetadata(related_request_id=ctx.request_context.request_id),
        )
    return answers


def _describe(answer: Any) -> str:
    if isinstance(answer, ElicitResult):
        return f"action={answer.action}, content={json.dumps(answer.content or {}, sort_keys=True)}"
    if isinstance(answer, ListRootsResult):
        return "roots=" + ", ".join(str(root.uri) for root in answer.roots)
    content = getattr(answer, "content", None)
    if isinstance(content, TextContent):
        return content.text
    return str(content)


# ---------------------------------------------------------------------------------------------- content tools


@server.tool(description="Returns a simple text content block.")
def test_simple_text() -> CallToolResult:
    return _text("This is a simple text response for testing.")


@server.tool(description="Returns an image content block (a 1x1 red PNG).")
def test_image_content() -> CallToolResult:
    return CallToolResult(content=[ImageContent(type="image", data=PNG_B64, mime_type="image/png")])


@server.tool(description="Returns an audio content block (a short WAV).")
def test_audio_content() -> CallToolResult:
    return CallToolResult(content=[AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")])


@server.tool(description="Returns an embedded text resource.")
def test_embedded_resource() -> CallToolResult:
    resource = TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return CallToolResult(content=[EmbeddedResource(type="resource", resource=resource)])


@server.tool(description="Returns text, image and embedded resource content together.")
def test_multiple_content_types() -> CallToolResult:
    resource = TextResourceContents(
        uri="test://mixed-content-resource",
        mime_type="application/json",
        text=json.dumps({"test": "data", "value": 123}),
    )
    return CallToolResult(
        content=[
            TextContent(type="text", text="Multiple content types test:"),
            ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=resource),
        ]
    )


@server.tool(description="Always fails with isError: true.")
def test_error_handling() -> CallToolResult:
    raise ToolError("This tool intentionally returns an error for testing")


# -------------------------------------------------------------------------------- notifications during a call


@server.tool(description="Sends three info log notifications about 50 ms apart, then returns.")
async def test_tool_with_logging(ctx: Context) -> CallToolResult:
    await ctx.log("info", "Tool execution started")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return _text("Tool with logging executed successfully")


@server.tool(description="Logs at info level; a 2026 request that does not opt in with logLevel must not see them.")
async def test_logging_tool(ctx: Context) -> CallToolResult:
    for message in ("Logging tool started", "Logging tool working", "Logging tool finished"):
        await ctx.log("info", message)
    return _text("Logging tool executed")


@server.tool(description="Reports progress 0/100, 50/100 and 100/100 about 50 ms apart when given a progressToken.")
async def test_tool_with_progress(ctx: Context) -> CallToolResult:
    await ctx.report_progress(0, 100)
    await anyio.sleep(0.05)
    await ctx.report_progress(50, 100)
    await anyio.sleep(0.05)
    await ctx.report_progress(100, 100)
    return _text("Tool with progress executed successfully")


@server.tool(description="Closes its SSE stream mid-call (SEP-1699); the result arrives after the client resumes.")
async def test_reconnection(ctx: Context) -> CallToolResult:
    await anyio.sleep(0.1)
    await ctx.close_sse_stream()
    await anyio.sleep(0.5)
    return _text("Reconnection test completed")


# --------------------------------------------------------------------------------- client input (both eras)


ELICITATION_SCHEMA = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}

SEP1034_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}

SEP1330_SCHEMA = {
    "type": "object",
    "properties": {
        "untitledSingle": {
            "type": "string",
            "description": "Select one option",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Select multiple options",
            "minItems": 1,
            "maxItems": 3,
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}

NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@server.tool(description="Asks the client's LLM (sampling/createMessage) and returns its answer.")
async def test_sampling(ctx: Context, prompt: str) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"sampling": _sample(prompt)})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"LLM response: {_describe(answers['sampling'])}")


@server.tool(description="Asks the user for a username and email (elicitation/create) and returns the answer.")
async def test_elicitation(ctx: Context, message: str) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"user_info": _elicit(message, ELICITATION_SCHEMA)})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"User response: {_describe(answers['user_info'])}")


@server.tool(description="Elicits a form whose fields carry default values for every primitive type (SEP-1034).")
async def test_elicitation_sep1034_defaults(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"defaults": _elicit("Please review and update the form fields", SEP1034_SCHEMA)})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Elicitation completed: {_describe(answers['defaults'])}")


@server.tool(description="Elicits a form using all five enum schema variants (SEP-1330).")
async def test_elicitation_sep1330_enums(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"enums": _elicit("Please select options from the enum fields", SEP1330_SCHEMA)})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Elicitation completed: {_describe(answers['enums'])}")


@server.tool(description="Needs the sampling capability; a request that does not declare it gets -32021.")
async def test_missing_capability(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"probe": _sample("Say hello")})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Sampling capability present: {_describe(answers['probe'])}")


@server.tool(description="Asks for input; at 2026-07-28 the response stream carries only the InputRequiredResult.")
async def test_streaming_elicitation(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"user_name": _elicit("What is your name?", NAME_SCHEMA)})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Hello, {(answers['user_name'].content or {}).get('name', 'stranger')}!")


# ----------------------------------------------------------------- SEP-2322 InputRequiredResult fixtures


@server.tool(description="InputRequiredResult with one elicitation request (key user_name), then a greeting.")
async def test_input_required_result_elicitation(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"user_name": _elicit("What is your name?", NAME_SCHEMA)})
    if isinstance(answers, InputRequiredResult):
        return answers
    answer = answers["user_name"]
    if answer.action != "accept":
        return _text(f"No name given ({answer.action}).")
    return _text(f"Hello, {(answer.content or {}).get('name', 'stranger')}!")


@server.tool(description="InputRequiredResult with one sampling request (key capital_question), then its answer.")
async def test_input_required_result_sampling(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"capital_question": _sample("What is the capital of France?")})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Sampling answer: {_describe(answers['capital_question'])}")


@server.tool(description="InputRequiredResult with one roots/list request (key client_roots), then the roots.")
async def test_input_required_result_list_roots(ctx: Context) -> CallToolResult | InputRequiredResult:
    answers = await _gather(ctx, {"client_roots": ListRootsRequest()})
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text(f"Client roots: {_describe(answers['client_roots'])}")


REQUEST_STATE_PREFIX = "conformance-request-state:"


@server.tool(description="InputRequiredResult with requestState; the retry must echo it (answers state-ok).")
async def test_input_required_result_request_state(ctx: Context) -> CallToolResult | InputRequiredResult:
    return await _stateful_confirm(ctx, "test_input_required_result_request_state")


@server.tool(description="Like the request-state fixture; a tampered requestState is rejected with -32602.")
async def test_input_required_result_tampered_state(ctx: Context) -> CallToolResult | InputRequiredResult:
    # The SDK's RequestStateBoundary seals the state we mint (AES-GCM, bound to method, tool name and arguments);
    # a modified token fails to unseal and is answered -32602 before this body runs.
    return await _stateful_confirm(ctx, "test_input_required_result_tampered_state")


async def _stateful_confirm(ctx: Context, tool: str) -> CallToolResult | InputRequiredResult:
    confirm = {
        "confirm": _elicit(
            "Please confirm", {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        )
    }
    if not _is_modern(ctx):
        answers = await _gather(ctx, confirm)
        assert not isinstance(answers, InputRequiredResult)
        return _text(f"state-ok (legacy, no state needed): {_describe(answers['confirm'])}")
    _require_capabilities(ctx, confirm)
    state = ctx.request_state
    responses = ctx.input_responses or {}
    if state is None or not state.startswith(REQUEST_STATE_PREFIX + tool) or "confirm" not in responses:
        return InputRequiredResult(input_requests=confirm, request_state=f"{REQUEST_STATE_PREFIX}{tool}:round-1")
    return _text(f"state-ok: {_describe(responses['confirm'])}")


@server.tool(description="InputRequiredResult with elicitation, sampling and roots/list requests plus requestState.")
async def test_input_required_result_multiple_inputs(ctx: Context) -> CallToolResult | InputRequiredResult:
    requests = {
        "user_name": _elicit("What is your name?", NAME_SCHEMA),
        "greeting": _sample("Generate a greeting", max_tokens=50),
        "client_roots": ListRootsRequest(),
    }
    if not _is_modern(ctx):
        answers = await _gather(ctx, requests)
        assert not isinstance(answers, InputRequiredResult)
    else:
        _require_capabilities(ctx, requests)
        responses = ctx.input_responses or {}
        missing = {key: request for key, request in requests.items() if key not in responses}
        if missing:
            return InputRequiredResult(input_requests=missing, request_state="multiple-inputs:pending")
        answers = responses
    return _text("All inputs received: " + "; ".join(f"{key}: {_describe(answers[key])}" for key in requests))


@server.tool(description="Three rounds: asks for a name, then a colour (new requestState each round), then completes.")
async def test_input_required_result_multi_round(ctx: Context) -> CallToolResult | InputRequiredResult:
    step1 = {"step1": _elicit("Step 1: What is your name?", NAME_SCHEMA)}
    step2 = {
        "step2": _elicit(
            "Step 2: What is your favorite color?",
            {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]},
        )
    }
    if not _is_modern(ctx):
        first = await _gather(ctx, step1)
        second = await _gather(ctx, step2)
        assert not isinstance(first, InputRequiredResult) and not isinstance(second, InputRequiredResult)
        return _text(f"Multi-round complete: {_describe(first['step1'])}; {_describe(second['step2'])}")
    _require_capabilities(ctx, step1)
    state = ctx.request_state or ""
    responses = ctx.input_responses or {}
    if state.startswith("multi-round:2:") and "step2" in responses:
        name = state.removeprefix("multi-round:2:")
        color = (responses["step2"].content or {}).get("color", "?")
        return _text(f"Multi-round complete: name={name}, color={color}")
    if state == "multi-round:1" and "step1" in responses:
        name = (responses["step1"].content or {}).get("name", "?")
        return InputRequiredResult(input_requests=step2, request_state=f"multi-round:2:{name}")
    return InputRequiredResult(input_requests=step1, request_state="multi-round:1")


@server.tool(description="Only asks for input the client declared a capability for (sampling and/or elicitation).")
async def test_input_required_result_capabilities(ctx: Context) -> CallToolResult | InputRequiredResult:
    candidates = {
        "capital_question": _sample("What is the capital of France?"),
        "user_name": _elicit("What is your name?", NAME_SCHEMA),
    }
    requests = {k: r for k, r in candidates.items() if _declared(ctx, _REQUIRED_CAPABILITY[r.method][0])}
    if not requests:
        return _text("The client declared neither sampling nor elicitation; nothing to ask.")
    answers = await _gather(ctx, requests)
    if isinstance(answers, InputRequiredResult):
        return answers
    return _text("Answers: " + "; ".join(f"{key}: {_describe(value)}" for key, value in answers.items()))


# ------------------------------------------------------------------- list-changed and update triggers


@server.tool(description="Announces a tools list change (listen streams at 2026-07-28, the GET stream on a session).")
async def test_trigger_tool_change(ctx: Context) -> CallToolResult:
    if _is_modern(ctx):
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_tool_list_changed()
    return _text("tools/list_changed sent")


@server.tool(description="Announces a prompts list change (listen streams at 2026-07-28, the GET stream on a session).")
async def test_trigger_prompt_change(ctx: Context) -> CallToolResult:
    if _is_modern(ctx):
        await ctx.notify_prompts_changed()
    else:
        await ctx.session.send_prompt_list_changed()
    return _text("prompts/list_changed sent")


@server.tool(description="Announces an update of test://watched-resource to its subscribers.")
async def test_trigger_resource_update(ctx: Context) -> CallToolResult:
    if _is_modern(ctx):
        await ctx.notify_resource_updated(WATCHED_URI)
    elif WATCHED_URI in _subscriptions.get(_session_key(ctx.request_context), set()):
        await ctx.session.send_resource_updated(WATCHED_URI)
    return _text("resources/updated sent")


# ---------------------------------------------------------------------------------------------- resources

WATCHED_URI = "test://watched-resource"


@server.resource(
    "test://static-text", name="static-text", description="A static text resource.", mime_type="text/plain"
)
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource(
    "test://static-binary", name="static-binary", description="A static binary resource (PNG).", mime_type="image/png"
)
def static_binary() -> bytes:
    return PNG_BYTES


@server.resource(
    WATCHED_URI, name="watched-resource", description="A resource clients may subscribe to.", mime_type="text/plain"
)
def watched_resource() -> str:
    return "Watched resource content."


@server.resource(
    "test://template/{id}/data",
    name="template-data",
    description="A resource template with an id parameter.",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


# Legacy resources/subscribe and resources/unsubscribe: remembered per session (Mcp-Session-Id, or "stdio").
_subscriptions: dict[str, set[str]] = {}


def _session_key(request_context: Any) -> str:
    request = getattr(request_context, "request", None)
    headers = getattr(request, "headers", None)
    return (headers.get("mcp-session-id") if headers is not None else None) or "stdio"


async def _subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
    _subscriptions.setdefault(_session_key(ctx), set()).add(str(params.uri))
    return EmptyResult()


async def _unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
    _subscriptions.get(_session_key(ctx), set()).discard(str(params.uri))
    return EmptyResult()


# Legacy logging/setLevel: accepted and remembered per session (2026-07-28 has no such method; the SDK answers
# -32601 there). MCPServer has no public hook for these three methods, so they go on its low-level server.
_log_levels: dict[str, str] = {}


async def _set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    _log_levels[_session_key(ctx)] = params.level
    return EmptyResult()


server._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
server._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe)
server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)


# ------------------------------------------------------------------------------------------------ prompts


@server.prompt(description="A simple prompt without arguments.")
def test_simple_prompt() -> list[Message]:
    return [UserMessage("This is a simple prompt for testing.")]


@server.prompt(description="A prompt with two required arguments.")
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[Message]:
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@server.prompt(description="A prompt that embeds a resource.")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
    resource = TextResourceContents(
        uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
    )
    return [
        UserMessage(EmbeddedResource(type="resource", resource=resource)),
        UserMessage("Please process the embedded resource above."),
    ]


@server.prompt(description="A prompt with image content.")
def test_prompt_with_image() -> list[Message]:
    return [
        UserMessage(ImageContent(type="image", data=PNG_B64, mime_type="image/png")),
        UserMessage("Please analyze the image above."),
    ]


@server.prompt(description="A prompt that first asks the user for context (SEP-2322 on prompts/get).")
async def test_input_required_result_prompt(ctx: Context) -> list[Message] | InputRequiredResult:
    schema = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}
    answers = await _gather(ctx, {"user_context": _elicit("What context should the prompt use?", schema)})
    if isinstance(answers, InputRequiredResult):
        return answers
    context = (answers["user_context"].content or {}).get("context", "")
    return [UserMessage(f"Prompt generated with context: {context}")]


# --------------------------------------------------------------------------------------------- completion

_COMPLETIONS = {
    ("test_prompt_with_arguments", "arg1"): ["paris", "park", "party", "test", "testValue1"],
    ("test_prompt_with_arguments", "arg2"): ["test", "testValue2", "value"],
    ("test://template/{id}/data", "id"): ["1", "2", "3", "123"],
}


@server.completion()
async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion:
    key = ref.name if isinstance(ref, PromptReference) else ref.uri
    values = [v for v in _COMPLETIONS.get((key, argument.name), []) if v.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)


# ------------------------------------------------------------------------------------------------ running


def _http_security(protect: bool) -> TransportSecuritySettings:
    if not protect:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


USAGE = (
    "usage: python -m tests.upstreams.conformance_server "
    "[streamable-http PORT [--dns-rebinding-protection] | sse PORT | stdio]"
)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    protect = "--dns-rebinding-protection" in args
    args = [a for a in args if a != "--dns-rebinding-protection"]
    transport = args[0] if args else "streamable-http"
    if transport == "stdio":
        server.run("stdio")
        return
    if transport not in ("streamable-http", "sse") or len(args) > 2:
        sys.exit(USAGE)
    port = int(args[1]) if len(args) > 1 else 38200
    if transport == "sse":
        server.run("sse", host="127.0.0.1", port=port, transport_security=_http_security(protect))
        return
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=port,
        transport_security=_http_security(protect),
        event_store=InMemoryEventStore(),
        retry_interval=500,
    )


if __name__ == "__main__":
    main()
