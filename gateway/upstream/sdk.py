"""HTTP+SSE and stdio upstreams, through the official SDK's client, kept open per connection in a task of its own."""

from __future__ import annotations

import asyncio
import logging

from mcp_types import CONNECTION_CLOSED

from connectors.egress import scrub_urls
from connectors.sdk import UpstreamTarget, ambiguous, dump, open_client, refusal
from gateway.auditing import refused_question
from gateway.upstream.base import Ask, Notify, UpstreamError
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)


class SdkUpstream:
    """An SDK client (HTTP+SSE or stdio) held open by a task of its own, since the SDK's cancel scopes must be
    entered and left in one task; each call is made from its caller's task, so the gateway's deadline (which stops
    while the call's agent answers the upstream's question) bounds it, and a call that is cancelled (its agent's
    notifications/cancelled, a client that left, the deadline) is cancelled at the upstream too (the SDK sends
    notifications/cancelled) instead of holding up the calls after it.

    Calls run concurrently: a slow call of one agent does not hold up the others on the same connection. These
    transports do not say which call an upstream's sampling or elicitation request belongs to, so it goes to the
    agent of the one call in progress that can be asked; when several could be, it is refused (the agent of a
    call must never answer another agent's question) and from then on this connection's calls run one at a time,
    so that every later question has exactly one call it can belong to."""

    def __init__(self, conn: ConnectionRuntime) -> None:
        self.target = UpstreamTarget(
            name=conn.name,
            transport=conn.transport,
            url=conn.url,
            command_name=conn.command_name,
            headers=conn.headers,
        )
        self.organization_id = conn.organization_id
        self._lock = asyncio.Lock()  # taken by every call once the connection runs one call at a time
        self.one_at_a_time = False
        self._opened: asyncio.Future | None = None  # the open client, once the holder has it
        self._holder: asyncio.Task | None = None
        self._calls: dict[object, Ask | None] = {}  # the calls in progress, each with the agent it may ask

    async def _relay(self, method: str, params: dict) -> dict:
        asks = [ask for ask in self._calls.values() if ask is not None]
        if len(asks) == 1:
            return await asks[0]({"method": method, "params": params})
        if not asks:
            return self._refused(method, refusal(method))
        if not self.one_at_a_time:
            self.one_at_a_time = True
            logger.warning(
                "connection %s asked %s during %s calls; its calls now run one at a time",
                self.target.name,
                method,
                len(asks),
            )
        return self._refused(method, ambiguous(method, len(asks)))

    def _refused(self, method: str, error: dict) -> dict:
        refused_question(self.organization_id, self.target.name, method, error)
        return {"error": error}

    async def _hold(self, opened: asyncio.Future) -> None:
        """Opens the client and keeps it open until the session fails or ``close`` cancels this task."""
        try:
            async with open_client(self.target, relay=self._relay, bounded_requests=False) as client:
                opened.set_result(client)
                await asyncio.Event().wait()
        except Exception as exc:
            if not opened.done():
                opened.set_exception(UpstreamError(f"is unreachable: {scrub_urls(repr(exc))}"[:300]))
            else:
                logger.info("the session with connection %s ended: %s", self.target.name, scrub_urls(repr(exc)))

    async def _client(self):
        loop = asyncio.get_running_loop()
        if self._holder is None or self._holder.done() or self._holder.get_loop() is not loop:
            self._opened = loop.create_future()
            self._holder = loop.create_task(self._hold(self._opened))
        return await asyncio.shield(self._opened)  # a caller that gives up does not fail the opening for the next

    async def request(
        self,
        method: str,
        params: dict,
        *,
        notify: Notify | None,
        timeout: float,
        headers: dict | None = None,
        ask: Ask | None = None,
    ) -> dict:
        if self.one_at_a_time:
            async with self._lock:
                reply = await self._call(method, params, notify, ask)
        else:
            reply = await self._call(method, params, notify, ask)
        error = reply.get("error")
        if isinstance(error, dict) and error.get("code") == CONNECTION_CLOSED:
            self.close()  # the session is over: the next call opens another
        return reply

    async def _call(self, method: str, params: dict, notify: Notify | None, ask: Ask | None) -> dict:
        client = await self._client()
        token = object()
        self._calls[token] = ask
        try:
            return await _sdk_call(client, method, params, notify)
        finally:
            del self._calls[token]

    def close(self) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(UpstreamError("was closed while it opened"))
            self._opened.exception()  # retrieved here: its waiters, if any, get it too
        if self._holder is not None and not self._holder.done():
            self._holder.cancel()
        self._holder = self._opened = None


async def _sdk_call(client, method: str, params: dict, notify: Notify | None) -> dict:
    from mcp.shared.exceptions import MCPError

    try:
        if method == "tools/call":
            token = (params.get("_meta") or {}).get("progressToken")

            async def progress(value: float, total: float | None, message: str | None) -> None:
                if notify is not None and token is not None:
                    note = {"progressToken": token, "progress": value}
                    if total is not None:
                        note["total"] = total
                    if message:
                        note["message"] = message
                    await notify({"jsonrpc": "2.0", "method": "notifications/progress", "params": note})

            result = await client.call_tool(params["name"], params.get("arguments"), progress_callback=progress)
        elif method == "resources/read":
            result = await client.read_resource(params["uri"])
        elif method == "prompts/get":
            result = await client.get_prompt(params["name"], params.get("arguments"))
        elif method == "completion/complete":
            result = await client.session.complete(
                ref=params["ref"],
                argument=params["argument"],
                context_arguments=(params.get("context") or {}).get("arguments"),
            )
        elif method == "ping":
            result = await client.send_ping()
        else:
            return {"error": {"code": -32601, "message": f"Method not found: {method}"}}
    except MCPError as exc:
        return {"error": dump(exc.error)}
    return {"result": dump(result)}
