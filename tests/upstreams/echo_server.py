"""An upstream MCP server of our own, written with the official SDK: the benchmark's echo tool and a few
items of every kind. Run: python -m tests.upstreams.echo_server [streamable-http|sse|stdio] [port]."""

from __future__ import annotations

import sys
from typing import TypedDict

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("scopegate-test-echo", version="1.0.0")


@server.tool(description="Echo the message back.")
def echo(message: str) -> str:
    return message


_tally = 0


@server.tool(description="Count the calls that reached this server, this one included.")
def tally() -> int:
    global _tally
    _tally += 1
    return _tally


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Delete a repository (a destructive tool to deny).")
def delete_repo(repo: str) -> str:
    return f"deleted {repo}"


class Repository(TypedDict):
    full_name: str
    private: bool


class RepositoryList(TypedDict):
    items: list[Repository]


REPOSITORIES = ["acme/web", "acme/api", "acme/secret-plans", "other/lib"]


@server.tool(description="List the repositories (a listing to filter).", annotations=ToolAnnotations(readOnlyHint=True))
def list_repos() -> RepositoryList:
    return {"items": [{"full_name": name, "private": "secret" in name} for name in REPOSITORIES]}


@server.tool(description="Open an issue in a repository.", annotations=ToolAnnotations(destructiveHint=False))
def create_issue(repo: str, title: str) -> str:
    return f"opened '{title}' in {repo}"


@server.tool(description="Report progress three times, then finish.")
async def slow_count(ctx: Context, steps: int = 3) -> str:
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    return f"counted {steps}"


@server.tool(description="Sleep for some seconds, then answer (a slow upstream).")
async def sleep(seconds: float) -> str:
    import anyio

    await anyio.sleep(seconds)
    return f"slept {seconds}"


class Confirmation(BaseModel):
    proceed: bool


@server.tool(description="Ask the client to confirm (an elicitation), and say what came back.")
async def confirm(ctx: Context) -> str:
    try:
        answer = await ctx.elicit("Proceed?", Confirmation)
    except Exception as exc:  # the client refused the request itself
        return f"no answer: {exc}"
    return f"answered: {answer.action}"


@server.tool(description="Tell which HTTP headers reached the upstream (to prove what the gateway forwards).")
def headers(ctx: Context) -> dict:
    return {"headers": {k.lower(): v for k, v in (ctx.headers or {}).items()}}


def late(message: str) -> str:
    return f"late: {message}"


@server.tool(description="Add a tool named 'late' and announce that the list changed (in both eras).")
async def grow(ctx: Context) -> str:
    import contextlib

    if "late" not in {t.name for t in await server.list_tools()}:
        server.add_tool(late, name="late", description="A tool added at run time.")
    await ctx.notify_tools_changed()  # 2026-07-28 listeners
    with contextlib.suppress(Exception):  # legacy sessions' GET streams
        await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool(description="Announce that a resource changed (in both eras).")
async def touch(ctx: Context, uri: str) -> str:
    import contextlib

    await ctx.notify_resource_updated(uri)  # 2026-07-28 listeners
    with contextlib.suppress(Exception):  # legacy sessions
        await ctx.session.send_resource_updated(uri)
    return f"touched {uri}"


@server.resource("echo://greeting", description="A greeting.", mime_type="text/plain")
def greeting() -> str:
    return "hello from upstream"


@server.resource("echo://items/{item_id}", description="One item.", mime_type="text/plain")
def item(item_id: str) -> str:
    return f"item {item_id}"


@server.prompt(description="Ask for a summary of a topic.")
def summarize(topic: str) -> str:
    return f"Summarize {topic} in one sentence."


def main() -> None:
    transport = sys.argv[1] if len(sys.argv) > 1 else "streamable-http"
    if transport == "stdio":
        server.run("stdio")
        return
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 38100
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        server.run("sse", host="127.0.0.1", port=port, transport_security=security)
    else:
        server.run("streamable-http", host="127.0.0.1", port=port, transport_security=security)


if __name__ == "__main__":
    main()
