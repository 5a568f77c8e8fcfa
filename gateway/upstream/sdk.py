"""HTTP+SSE and stdio upstreams, through the official SDK's client, kept open per connection in a task of its own."""

from __future__ import annotations

import asyncio
import logging

from mcp_types import CONNECTION_CLOSED

from connectors.sdk import UpstreamTarget, dump, open_client, refusal
from gateway.upstream.base import Ask, Notify, UpstreamError
from policies.runtime import ConnectionRuntime

logger = logging.getLogger(__name__)


class SdkUpstream:
    """An SDK client (HTTP+SSE or stdio) held open by a task of its own, since the SDK's cancel scopes must be
    entered and left in one task; each call is made from its caller's task, so the gateway's deadline (which stops
    while the call's agent answers the upstream's question) bounds it, and a call that is cancelled (its agent's
    notifications/cancelled, a client that left, the deadline) is cancelled at the upstream too (the SDK sends
    notifications/cancelled) instead of holding up the calls after it. One call at a time: an upstream's sampling
    or elicitation request then belongs to the call in progress and goes to its agent."""

    def __init__(self, conn: ConnectionRuntime) -> None:
        self.target = UpstreamTarget(
            name=conn.name,
            transport=conn.transport,
            url=conn.url,
            command_name=conn.command_name,
            headers=conn.headers,
        )
        self._lock = asyncio.Lock()
        self._opened: asyncio.Future | None = None  # the open client, once the holder has it
        self._holder: asyncio.Task | None = None
        self._ask: Ask | None = None  # the agent of the call in progress

    async def _relay(self, method: str, params: dict) -> dict:
        ask = self._ask
        return await ask({"method": method, "params": params}) if ask is not None else {"error": refusal(method)}

    async def _hold(self, opened: asyncio.Future) -> None:
        """Opens the client and keeps it open until the session fails or ``close`` cancels this task."""
        try:
            async with open_client(self.target, relay=self._relay, bounded_requests=False) as client:
                opened.set_result(client)
                await asyncio.Event().wait()
        except Exception as exc:
            if not opened.done():
                opened.set_exception(UpstreamError(f"is unreachable: {exc!r}"[:300]))
            else:
                logger.info("the session with connection %s ended: %r", self.target.name, exc)

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
        async with self._lock:
            client = await self._client()
            self._ask = ask
            try:
                reply = await _sdk_call(client, method, params, notify)
            finally:
                self._ask = None
        error = reply.get("error")
        if isinstance(error, dict) and error.get("code") == CONNECTION_CLOSED:
            self.close()  # the session is over: the next call opens another
        return reply

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
