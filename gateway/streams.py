"""Server-to-agent streams: the legacy GET stream of a session and the modern ``subscriptions/listen``.

A change that alters what an agent sees (its rules, a connection's catalogue) is announced to channel-layer
groups once it commits; every node holding a stream for that agent or organization turns it into
``list_changed`` notifications, so a client learns of it whichever node it is connected to.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonrpc as rpc

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
        self, groups: list[str], methods: list[str], subscription_id: Any = None, opening: list[dict] | None = None
    ) -> None:
        self.groups, self.methods, self.subscription_id = groups, methods, subscription_id
        self.opening = opening or []

    def render(self, message: dict) -> list[bytes]:
        if message.get("type") != "mcp.changed":
            return []
        frames = []
        for method in self.methods:
            payload: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
            if self.subscription_id is not None:
                payload["params"] = {"_meta": {SUBSCRIPTION_ID: self.subscription_id}}
            frames.append(frame(payload))
        return frames


def legacy_stream(agent_public_id: str, organization_id: int) -> StreamSpec:
    return StreamSpec([agent_group(agent_public_id), org_group(organization_id)], list(LIST_CHANGED.values()))


def listen_stream(agent_public_id: str, organization_id: int, request_id: Any, params: dict) -> StreamSpec:
    wanted = params.get("notifications") if isinstance(params.get("notifications"), dict) else {}
    honored = {flag: True for flag in LIST_CHANGED if wanted.get(flag) is True}
    ack = {
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": {SUBSCRIPTION_ID: request_id}, "notifications": honored},
    }
    return StreamSpec(
        [agent_group(agent_public_id), org_group(organization_id)],
        [LIST_CHANGED[flag] for flag in honored],
        subscription_id=request_id,
        opening=[ack],
    )
