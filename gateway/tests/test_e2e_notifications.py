"""list_changed reaches the agent: from a rule change made on another process, over the legacy GET stream and
the modern subscriptions/listen stream. Needs Redis, the channel layer that crosses processes (as in CI)."""

import asyncio
import contextlib
import os

import pytest
from asgiref.sync import sync_to_async
from mcp import types

from gateway.tests.helpers import agent_with, connect, connected, org_ctx, run, tool_names
from policies.services import rule_create
from tests.upstreams.run import echo_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="a change made in this process reaches daphne's through Redis"
)


@needs_redis
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_rule_change_reaches_the_agent_as_list_changed(live, mode):
    with echo_server() as upstream:
        ctx = org_ctx()
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "echo")])
        changed = asyncio.Event()

        async def on_message(message):
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async def scenario():
            async with connected(setup, mode, message_handler=on_message) as client:
                assert await tool_names(client) == {"echo__echo"}
                listen = None
                if mode != "legacy":
                    listen = client.listen(tools_list_changed=True)
                    await listen.__aenter__()
                else:
                    await asyncio.sleep(0.5)  # the SDK opens the GET stream after initialize
                await sync_to_async(rule_create)(
                    ctx=ctx, agent_id=setup.agent.pk, effect="allow", connection_id=conn.pk, target="tool", name="add"
                )
                await asyncio.wait_for(changed.wait(), timeout=10)
                assert await tool_names(client) == {"echo__echo", "echo__add"}
                if listen is not None:
                    await listen.__aexit__(None, None, None)

        run(scenario())


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_an_upstreams_list_changed_refreshes_the_catalogue_and_reaches_the_agent(live, mode):
    with echo_server() as upstream:
        ctx = org_ctx("grow@example.test")
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        changed = asyncio.Event()

        async def on_message(message):
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async def scenario():
            async with connected(setup, mode, message_handler=on_message) as client:
                assert "echo__late" not in await tool_names(client)
                listen = None
                if mode != "legacy":
                    listen = client.listen(tools_list_changed=True)
                    await listen.__aenter__()
                else:
                    await asyncio.sleep(0.5)
                # The gateway's watcher of this connection starts listening in the background: a change made before
                # it listens is not seen, so grow (idempotent) until the change arrives (bounded).
                deadline = asyncio.get_running_loop().time() + 20
                while not changed.is_set():
                    assert asyncio.get_running_loop().time() < deadline, "no list_changed arrived"
                    assert (await client.call_tool("echo__grow", {})).content[0].text == "grown"
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), timeout=1.5)
                assert "echo__late" in await tool_names(client)
                assert (await client.call_tool("echo__late", {"message": "hi"})).content[0].text == "late: hi"
                if listen is not None:
                    await listen.__aexit__(None, None, None)

        run(scenario())


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_subscribed_resource_update_reaches_the_agent(live, mode):
    with echo_server() as upstream:
        ctx = org_ctx(f"touch-{mode}@example.test")
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        # An agent of the same organization that may call a tool of the connection but read none of its resources:
        # its legacy stream hears of no update (it once heard of every resource any agent had subscribed).
        blind = agent_with(ctx, live.url, allow=[(conn, "echo")], name="blind")
        updated: list[str] = []
        overheard: list[str] = []
        arrived = asyncio.Event()

        async def on_message(message):
            if isinstance(message, types.ResourceUpdatedNotification):
                updated.append(str(message.params.uri))
                arrived.set()

        blind_listening = asyncio.Event()

        async def on_blind_message(message):
            if isinstance(message, types.ResourceUpdatedNotification):
                overheard.append(str(message.params.uri))
            elif isinstance(message, types.ToolListChangedNotification):
                blind_listening.set()

        async def scenario():
            async with (
                connected(setup, mode, message_handler=on_message) as client,
                connected(blind, mode, message_handler=on_blind_message) as blind_client,
            ):
                assert (await blind_client.call_tool("echo__echo", {"message": "here"})).content[0].text == "here"
                # Its stream is open: an upstream's list change reaches it (grow until the watcher listens).
                deadline = asyncio.get_running_loop().time() + 20
                while mode == "legacy" and not blind_listening.is_set():
                    assert asyncio.get_running_loop().time() < deadline, "the blind agent's stream never opened"
                    assert (await client.call_tool("echo__grow", {})).content[0].text == "grown"
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(blind_listening.wait(), timeout=1.5)
                listen = None
                if mode == "legacy":
                    await client.subscribe_resource("echo+echo://greeting")
                    await asyncio.sleep(0.5)
                else:
                    listen = client.listen(resource_subscriptions=["echo+echo://greeting"])
                    await listen.__aenter__()
                # The gateway's watcher subscribes upstream in the background; an update made before that is
                # live is not delivered (as with any subscription), so touch until one arrives (bounded).
                deadline = asyncio.get_running_loop().time() + 20
                while not arrived.is_set():
                    assert asyncio.get_running_loop().time() < deadline, "no resources/updated arrived"
                    await client.call_tool("echo__touch", {"uri": "echo://greeting"})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(arrived.wait(), timeout=1)
                await asyncio.sleep(0.5)  # the blind agent's stream is on the same node and group: time to hear
                if listen is not None:
                    await listen.__aexit__(None, None, None)

        run(scenario())
        assert set(updated) == {"echo+echo://greeting"}
        assert overheard == []


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_an_agent_whose_read_is_taken_away_hears_no_more_updates(live, mode):
    """A stream decides on the agent's policy as it is when an update arrives, not as it was when the stream
    opened: a deny added meanwhile silences it (another agent, still allowed, goes on hearing)."""
    from channels.db import database_sync_to_async

    from policies.services import rule_create

    with echo_server() as upstream:
        ctx = org_ctx(f"taken-{mode}@example.test")
        conn = connect(ctx, "echo", upstream.url)
        setup = agent_with(ctx, live.url, allow=[(conn, "")])
        other = agent_with(ctx, live.url, allow=[(conn, "")], name="other")
        heard: dict[str, list[str]] = {"setup": [], "other": []}
        arrived = {"setup": asyncio.Event(), "other": asyncio.Event()}

        def listener(who: str):
            async def on_message(message):
                if isinstance(message, types.ResourceUpdatedNotification):
                    heard[who].append(str(message.params.uri))
                    arrived[who].set()

            return on_message

        async def touch_until(client, *who: str) -> None:
            deadline = asyncio.get_running_loop().time() + 20
            while not all(arrived[w].is_set() for w in who):
                assert asyncio.get_running_loop().time() < deadline, f"no resources/updated reached {who}"
                await client.call_tool("echo__touch", {"uri": "echo://greeting"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(arrived[w].wait() for w in who)), timeout=1)

        async def scenario():
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(connected(setup, mode, message_handler=listener("setup")))
                other_client = await stack.enter_async_context(
                    connected(other, mode, message_handler=listener("other"))
                )
                if mode == "legacy":
                    await client.subscribe_resource("echo+echo://greeting")
                else:
                    for each in (client, other_client):
                        await stack.enter_async_context(each.listen(resource_subscriptions=["echo+echo://greeting"]))
                await touch_until(client, "setup", "other")
                await database_sync_to_async(rule_create)(
                    ctx=ctx,
                    agent_id=other.agent.pk,
                    effect="deny",
                    connection_id=conn.pk,
                    target="resource",
                    name="echo://greeting",
                )
                await asyncio.sleep(1.0)  # the deny reaches the gateway's policy cache
                heard["other"].clear()
                arrived["setup"].clear()
                await touch_until(client, "setup")
                await asyncio.sleep(0.5)

        run(scenario())
        assert heard["setup"] and heard["other"] == []
