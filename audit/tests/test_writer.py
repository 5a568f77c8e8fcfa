"""The group writer: ids come back, failures reach every caller, and an unknown commit never forks the chain."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from audit import services
from audit.models import Event
from audit.pgwriter import connect_params
from audit.services import close_connection, event_record
from audit.verify import verify_organization
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    async def go():
        try:
            return await coro
        finally:
            await close_connection()

    return asyncio.run(go())


async def many(org_id: int, count: int, tag: str) -> list:
    return await asyncio.gather(
        *(event_record(organization_id=org_id, method="tools/call", tool=f"{tag}{i}") for i in range(count)),
        return_exceptions=True,
    )


def test_each_caller_gets_the_id_of_its_own_event(world):
    ids = run(many(world.acme.pk, 20, "t"))
    assert [Event.objects.get(pk=pk).tool for pk in ids] == [f"t{i}" for i in range(20)]


def test_a_commit_whose_answer_was_lost_does_not_fork_the_chain(world, monkeypatch):
    """The database committed, then the connection dropped: the callers see a failure, the rows exist. On
    PostgreSQL the writer's connection goes through a proxy that cuts it instead of passing on the reply to the
    first batch (one row, so its reply says ``INSERT 0 1``): PostgreSQL sends that reply once it has committed."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        proxy = CuttableProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432), lose_reply_with=b"INSERT 0 1\x00")
        proxy.start()
        monkeypatch.setitem(db, "HOST", "127.0.0.1")
        monkeypatch.setitem(db, "PORT", str(proxy.port))
    else:  # SQLite has no connection to cut: the insert's answer is lost on its way back instead
        original, lost = services._insert_orm, []

        def lose_answer(rows):
            ids = original(rows)
            if not lost:
                lost.append(ids)
                raise ConnectionError("server closed the connection after commit")
            return ids

        monkeypatch.setattr(services, "_insert_orm", lose_answer)

    async def scenario():
        first = await many(world.acme.pk, 5, "a")
        second = await many(world.acme.pk, 5, "b")
        return first, second

    first, second = run(scenario())
    if connection.vendor == "postgresql":
        monkeypatch.undo()  # the test's own connection goes straight to the server again
        assert proxy.lost.is_set()
        proxy.cut()
    assert isinstance(first[0], Exception)  # the first batch: its caller was told it failed
    assert all(isinstance(r, int) for r in first[1:] + second)
    assert Event.objects.filter(organization_id=world.acme.pk, kind="mcp").count() == 10  # the lost one too
    report = verify_organization(world.acme.pk)
    assert report.ok, report.first_break
    assert report.segments == 3  # the lost batch's, the next one's, and the creation of the organization


def test_a_caller_never_waits_for_batches_after_its_own(world):
    """Under steady load the queue never empties: the caller that wrote a batch returns when its batch is
    stored, and the rows that gathered meanwhile go on in the background."""
    org = world.acme.pk

    async def scenario():
        first = asyncio.ensure_future(event_record(organization_id=org, method="tools/call", tool="first"))
        await asyncio.sleep(0)  # the first caller's batch is in flight
        later = [
            asyncio.ensure_future(event_record(organization_id=org, method="tools/call", tool=f"later{i}"))
            for i in range(5)
        ]
        first_id = await first
        writer = services._writer()
        # The first call is answered while the rows that arrived after it are still being written.
        handed_over = writer._busy and not all(task.done() for task in later)
        later_ids = await asyncio.gather(*later)
        while writer._busy:
            await asyncio.sleep(0.001)
        return first_id, later_ids, handed_over

    first_id, later_ids, handed_over = run(scenario())
    assert handed_over
    assert Event.objects.get(pk=first_id).tool == "first"
    assert [Event.objects.get(pk=pk).tool for pk in later_ids] == [f"later{i}" for i in range(5)]
    assert verify_organization(org).ok


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the libpq writer runs on PostgreSQL")


@postgres_only
def test_a_batch_of_many_chunks_is_one_transaction(world):
    """A batch larger than the largest prepared statement is several executions in one pipeline and one commit:
    a row that PostgreSQL refuses (a name longer than its column) fails every row of its batch, none is stored,
    and the next batch is stored on a new connection, in a new segment, and the chain holds."""
    org = world.acme.pk

    async def scenario():
        first = asyncio.ensure_future(event_record(organization_id=org, method="tools/call", tool="first"))
        await asyncio.sleep(0)  # in flight: the next 45 rows gather into one batch (32 + 8 + 5)
        bad = [event_record(organization_id=org, method="tools/call", tool=f"bad{i}") for i in range(44)]
        bad.append(event_record(organization_id=org, method="tools/call", agent_name="x" * 101))
        gathered = asyncio.gather(*bad, return_exceptions=True)
        await first
        failed = await gathered
        good = await many(org, 40, "good")  # 32 + 8
        return failed, good

    failed, good = run(scenario())
    assert all(isinstance(r, Exception) for r in failed)
    assert "too long" in str(failed[0])
    assert not Event.objects.filter(organization_id=org, tool__startswith="bad").exists()
    assert all(isinstance(r, int) for r in good)
    assert [Event.objects.get(pk=pk).tool for pk in good] == [f"good{i}" for i in range(40)]
    assert verify_organization(org).ok


@postgres_only
def test_a_commit_that_hangs_times_out_and_the_writer_recovers(world, settings):
    """The table is locked by another session: the batch's callers are refused after the write timeout (fail
    closed), and once the lock goes the next event is stored."""
    import psycopg

    settings.AUDIT_WRITE_TIMEOUT_SECONDS = 1
    org = world.acme.pk
    db = settings.DATABASES["default"]
    locker = psycopg.connect(**connect_params(db))

    async def scenario():
        await event_record(organization_id=org, method="tools/call", tool="before")  # connected and prepared
        locker.execute(f"LOCK TABLE {Event._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        started = asyncio.get_running_loop().time()
        stalled = await asyncio.gather(
            *(event_record(organization_id=org, method="tools/call", tool=f"s{i}") for i in range(3)),
            return_exceptions=True,
        )
        waited = asyncio.get_running_loop().time() - started
        locker.rollback()
        after = await event_record(organization_id=org, method="tools/call", tool="after")
        return stalled, waited, after

    try:
        stalled, waited, after = run(scenario())
    finally:
        locker.close()
    assert all(isinstance(r, TimeoutError) for r in stalled)
    assert 0.9 < waited < 3
    assert Event.objects.get(pk=after).tool == "after"
    assert verify_organization(org).ok
