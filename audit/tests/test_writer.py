"""The group writer: ids come back, failures reach every caller, and an unknown commit never forks the chain."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from audit import services
from audit.models import Event
from audit.services import close_connection, event_record
from audit.verify import verify_organization

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
    """The database committed, then the connection dropped: the callers see a failure, the rows exist."""
    postgres = connection.vendor == "postgresql"
    original = services._pg.insert if postgres else services._insert_orm
    failed = {"done": False}

    def lose_answer(result):
        if not failed["done"]:
            failed["done"] = True
            raise ConnectionError("server closed the connection after commit")
        return result

    if postgres:

        async def insert(rows):
            return lose_answer(await original(rows))

        monkeypatch.setattr(services._pg, "insert", insert)
    else:
        monkeypatch.setattr(services, "_insert_orm", lambda rows: lose_answer(original(rows)))

    async def scenario():
        first = await many(world.acme.pk, 5, "a")
        second = await many(world.acme.pk, 5, "b")
        return first, second

    first, second = run(scenario())
    assert isinstance(first[0], ConnectionError)  # the first batch: its callers were told it failed
    assert all(isinstance(r, int) for r in second)
    assert Event.objects.filter(organization_id=world.acme.pk, kind="mcp").count() == 10
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
        # The first call is answered while the rows that arrived after it are still being written by another task.
        handed_over = writer._draining and not all(task.done() for task in later)
        later_ids = await asyncio.gather(*later)
        while writer._draining:
            await asyncio.sleep(0.001)
        return first_id, later_ids, handed_over

    first_id, later_ids, handed_over = run(scenario())
    assert handed_over
    assert Event.objects.get(pk=first_id).tool == "first"
    assert [Event.objects.get(pk=pk).tool for pk in later_ids] == [f"later{i}" for i in range(5)]
    assert verify_organization(org).ok
