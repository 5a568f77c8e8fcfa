"""The organization's live event stream, through the whole ASGI application."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from accounts import services
from accounts.tenancy import resolve_org_context
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


async def connect(user, slug):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", (await session_cookie(user)).encode()))
    communicator = WebsocketCommunicator(application, f"/ws/o/{slug}/events/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@database_sync_to_async
def change_erins_role(world):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    services.membership_change_role(ctx=ctx, membership_id=world.membership(world.erin).pk, role="auditor")


async def test_a_member_hears_the_organizations_changes(world):
    communicator, connected, _ = await connect(world.auditor, world.acme.slug)
    assert connected
    await change_erins_role(world)
    assert await communicator.receive_json_from(timeout=5) == {"event": "members.changed", "data": {}}
    await communicator.disconnect()


async def test_an_outsider_and_an_anonymous_visitor_are_turned_away(world):
    for user in (world.outsider, None):
        communicator, connected, code = await connect(user, world.acme.slug)
        assert not connected and code == 4404
        await communicator.disconnect()


async def test_another_organizations_changes_are_not_heard(world):
    communicator, connected, _ = await connect(world.outsider, world.evil.slug)
    assert connected
    await change_erins_role(world)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused(world):
    communicator = WebsocketCommunicator(
        application,
        f"/ws/o/{world.acme.slug}/events/",
        headers=[(b"origin", b"http://evil.example"), (b"host", b"localhost")],
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_a_member_removed_while_the_page_is_open_hears_nothing_more(world, monkeypatch):
    import accounts.consumers

    monkeypatch.setattr(accounts.consumers, "RECHECK_SECONDS", 0.0)
    communicator, connected, _ = await connect(world.erin, world.acme.slug)
    assert connected

    @database_sync_to_async
    def remove_erin():
        ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
        services.membership_remove(ctx=ctx, membership_id=world.membership(world.erin).pk)

    await remove_erin()
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    again, connected, code = await connect(world.erin, world.acme.slug)  # what the page does next
    assert not connected and code == 4404
    await again.disconnect()
