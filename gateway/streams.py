"""Server-to-agent streams: the legacy GET stream of a session and the modern ``subscriptions/listen``.

A change that alters what an agent sees (its rules, a connection's catalogue) is announced to channel-layer
groups once it commits; every node holding a stream for that agent or organization turns it into
``list_changed`` notifications, so a client learns of it whichever node it is connected to. An upstream's
``resources/updated`` is announced to the organization and reaches the agents that can see the resource.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonrpc as rpc
from policies.runtime import AgentRuntime

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
LIST_CHANGED = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
KEEPALIVE_SECONDS = 15.0


def agent_group(public_id: str) -> str:
    return f"mcp.agent.{public_id}"


def org_group(organization_id: int) -> str:
    return f"mcp.org.{organization_id}"


def frame(payload: dict) -> bytes:
    return b"event: message\ndata: " + rpc.dumps(payload) + b"\n\n"


class StreamSpec:
    """What a stream sends: its opening frames, then the notifications each change becomes."""

    def __init__(
        self,
        agent: AgentRuntime,
        methods: list[str],
        subscription_id: Any = None,
        opening: list[dict] | None = None,
        resources: set[str] | None = None,
    ) -> None:
        self.agent = agent
        self.groups = [agent_group(agent.public_id), org_group(agent.organization_id)]
        self.methods, self.subscription_id, self.opening = methods, subscription_id, opening or []
        self.connections = set(agent.by_name)
        self.mounted = agent.mounted
        self.resources = resources  # None: every resource the agent may read (legacy); else the subscribed URIs

    def _payload(self, method: str, params: dict | None = None) -> bytes:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        params = dict(params or {})
        if self.subscription_id is not None:
            params["_meta"] = {SUBSCRIPTION_ID: self.subscription_id}
        if params:
            body["params"] = params
        return frame(body)

    def render(self, message: dict) -> list[bytes]:
        if message.get("type") == "mcp.changed":
            return [self._payload(method) for method in self.methods]
        if message.get("type") == "mcp.updated" and message.get("connection") in self.connections:
            name, upstream = message["connection"], message["uri"]
            uri = upstream if self.mounted else f"{name}+{upstream}"
            # Any agent of the organization may have subscribed it: this one hears of it only if it may read it
            # now (a URI can say what it names, e.g. a file of a folder this agent was never given), and on a
            # listen stream only if it asked.
            connection_id = self.agent.by_name.get(name)  # the agent may be newer than the stream
            if (
                connection_id is not None
                and (self.resources is None or uri in self.resources)
                and self.agent.may_read(connection_id, upstream)
            ):
                return [self._payload("notifications/resources/updated", {"uri": uri})]
        return []


def legacy_stream(agent: AgentRuntime) -> StreamSpec:
    return StreamSpec(agent, list(LIST_CHANGED.values()))


def listen_stream(agent: AgentRuntime, request_id: Any, params: dict, resources: list[str]) -> StreamSpec:
    """``resources``: the requested subscriptions the agent may read (the caller checked them)."""
    wanted = params.get("notifications") if isinstance(params.get("notifications"), dict) else {}
    honored: dict[str, Any] = {flag: True for flag in LIST_CHANGED if wanted.get(flag) is True}
    if resources:
        honored["resourceSubscriptions"] = resources
    ack = {
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": {SUBSCRIPTION_ID: request_id}, "notifications": honored},
    }
    methods = [LIST_CHANGED[flag] for flag in LIST_CHANGED if flag in honored]
    return StreamSpec(agent, methods, subscription_id=request_id, opening=[ack], resources=set(resources))
