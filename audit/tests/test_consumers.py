"""Live rows of the Activity page, through the whole ASGI application and the real channel layer."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from audit.live import group_name, summary
from audit.selectors import as_row
from audit.tests.helpers import make_call, make_event
from scopegate.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def session_cookie(user) -> str:
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


async def connect(user, slug, query=""):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", (await session_cookie(user)).encode()))
    path = f"/ws/o/{slug}/activity/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def announce(*events):
    """What the writer does after a commit: the stored rows' summaries to their organization's group."""
    by_org = {}
    for event in events:
        by_org.setdefault(event.organization_id, []).append(summary(as_row(event)))
    for org_id, summaries in by_org.items():
        await get_channel_layer().group_send(group_name(org_id), {"type": "audit.events", "events": summaries})


async def test_an_auditor_sees_a_new_call_arrive_as_a_row_and_its_outcome_update_it(world):
    communicator, connected, _ = await connect(world.auditor, world.acme.slug)
    assert connected
    call, done = await database_sync_to_async(make_call)(world.acme, tool="github__create_issue", latency_ms=33)
    await announce(call)
    message = await communicator.receive_json_from(timeout=5)
    [row] = message["rows"]
    assert (
        row["id"] == call.id and "github__create_issue" in row["html"] and "Forwarded, outcome follows" in row["html"]
    )
    await announce(done)
    message = await communicator.receive_json_from(timeout=5)
    [row] = message["rows"]
    assert row["id"] == call.id and "Succeeded" in row["html"] and "33.0 ms" in row["html"]
    await communicator.disconnect()


async def test_only_rows_matching_the_pages_filters_are_sent(world):
    communicator, connected, _ = await connect(world.owner, world.acme.slug, "agent=ci-bot&decision=deny")
    assert connected
    other = await database_sync_to_async(make_event)(world.acme, agent_name="release-bot", decision="deny")
    allowed = await database_sync_to_async(make_event)(world.acme, agent_name="ci-bot", decision="allow")
    wanted = await database_sync_to_async(make_event)(world.acme, agent_name="ci-bot", decision="deny")
    await announce(other, allowed, wanted)
    message = await communicator.receive_json_from(timeout=5)
    assert [r["id"] for r in message["rows"]] == [wanted.id]
    await communicator.disconnect()


async def test_a_call_filtered_by_outcome_appears_when_its_outcome_matches(world):
    communicator, connected, _ = await connect(world.owner, world.acme.slug, "outcome=error")
    assert connected
    call, done = await database_sync_to_async(make_call)(world.acme, outcome="error", error="boom")
    await announce(call)
    assert await communicator.receive_nothing(timeout=0.3)
    await announce(done)
    message = await communicator.receive_json_from(timeout=5)
    assert message["rows"][0]["id"] == call.id and "boom" in message["rows"][0]["html"]
    await communicator.disconnect()


async def test_another_organizations_events_never_reach_the_page(world):
    communicator, connected, _ = await connect(world.owner, world.acme.slug)
    assert connected
    foreign = await database_sync_to_async(make_event)(world.evil)
    await announce(foreign)
    # Even a message for the wrong organization sent to this group is dropped.
    await get_channel_layer().group_send(
        group_name(world.acme.pk), {"type": "audit.events", "events": [summary(as_row(foreign))]}
    )
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_outsiders_members_without_audit_rights_and_bad_filters_are_turned_away(world):
    for user, query, expected in (
        (world.outsider, "", 4404),
        (None, "", 4404),
        (world.member, "", 4403),
        (world.auditor, "decision=maybe", 4400),
        (world.auditor, "cursor=garbage", 4400),
    ):
        communicator, connected, code = await connect(user, world.acme.slug, query)
        assert not connected and code == expected, (user, query)
        await communicator.disconnect()


async def test_the_stream_is_one_way(world):
    communicator, connected, _ = await connect(world.auditor, world.acme.slug)
    assert connected
    await communicator.send_json_to({"subscribe": "everything"})
    assert await communicator.receive_json_from(timeout=5) == {"error": "this stream accepts no messages"}
    await communicator.disconnect()


async def test_a_change_made_by_a_person_appears_live(world):
    from accounts.models import Membership
    from accounts.services import membership_change_role

    communicator, connected, _ = await connect(world.auditor, world.acme.slug)
    assert connected

    @database_sync_to_async
    def promote():
        member = Membership.objects.get(organization=world.acme, user=world.member)
        membership_change_role(ctx=world.ctx("owner"), membership_id=member.pk, role="admin")

    await promote()
    message = await communicator.receive_json_from(timeout=5)
    [row] = message["rows"]
    assert "membership.role" in row["html"]
    await communicator.disconnect()


@pytest.fixture
def recheck_every_time(monkeypatch):
    import accounts.consumers
    import audit.consumers

    monkeypatch.setattr(accounts.consumers, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(audit.consumers, "RECHECK_SECONDS", 0.0)


async def _closed_before_the_next_row(communicator, world) -> None:
    event = await database_sync_to_async(make_event)(world.acme, agent_name="ci-bot")
    await announce(event)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}  # the page reconnects: the connect checks decide


@pytest.mark.parametrize("change", ["removed", "demoted", "signed out", "password changed"])
async def test_a_page_left_open_stops_receiving_once_its_visitor_may_no_longer_read_the_trail(
    world, recheck_every_time, change
):
    """The socket's checks ran when it opened; a member removed, demoted to a role without the trail, signed
    out or whose password changed (every session ends) must not go on reading calls and their arguments."""
    from django.contrib.sessions.models import Session

    from accounts.models import Membership

    communicator, connected, _ = await connect(world.auditor, world.acme.slug)
    assert connected
    first = await database_sync_to_async(make_event)(world.acme, agent_name="ci-bot")
    await announce(first)
    assert [r["id"] for r in (await communicator.receive_json_from(timeout=5))["rows"]] == [first.id]

    def apply() -> None:
        if change == "removed":
            world.membership(world.auditor).delete()
        elif change == "demoted":
            Membership.objects.filter(user=world.auditor).update(role=Membership.Role.MEMBER)
        elif change == "signed out":
            Session.objects.all().delete()
        else:
            world.auditor.set_password("a new one, long enough")
            world.auditor.save()

    await database_sync_to_async(apply)()
    await _closed_before_the_next_row(communicator, world)
    # The page connects again with the browser's session: a fresh sign-in (after a sign-out, or the session a
    # person's own password change gave them) is let in again; a removed or demoted member is turned away.
    again, connected, code = await connect(world.auditor, world.acme.slug)
    expected = {"removed": (False, 4404), "demoted": (False, 4403)}.get(change, (True, None))
    assert (connected, code if not connected else None) == expected
    await again.disconnect()
