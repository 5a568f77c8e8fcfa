"""The audit chain: what is written verifies, and every kind of tampering is caught and located."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit import partitions
from audit.changes import change_record
from audit.models import Checkpoint, Event
from audit.sealing import retention_enforce, seal_all
from audit.services import close_connection, event_record
from audit.verify import verify_organization

pytestmark = pytest.mark.django_db(transaction=True)


def write_calls(org_id: int, count: int, **extra) -> list[int]:
    """``count`` concurrent gateway events from one writer (one event loop: one segment)."""

    async def go():
        try:
            return await asyncio.gather(
                *(
                    event_record(
                        organization_id=org_id,
                        agent_name="bot",
                        method="tools/call",
                        tool=f"gh__t{i}",
                        arguments={"i": i, "text": "héllo\x00", "nested": {"b": [1, 2.5], "a": None}},
                        source_ip="::ffff:127.0.0.1" if i % 2 else "10.0.0.1",
                        latency_ms=1.0 / 3,
                        decision="allow",
                        **extra,
                    )
                    for i in range(count)
                )
            )
        finally:
            await close_connection()

    return asyncio.run(go())


@pytest.fixture
def trail(world):
    org = world.acme.pk
    write_calls(org, 25)
    write_calls(org, 10)  # a second writer: a second segment
    change_record(
        organization_id=org,
        actor=world.owner,
        action="rule.create",
        target_type="rule",
        target_id=1,
        target_repr="allow gh:*",
        before=None,
        after={"effect": "allow", "token": "ghp_" + "x" * 30},
    )
    return org


def test_what_was_written_verifies(trail):
    report = verify_organization(trail)
    assert report.ok, report.first_break
    assert report.checked == 37 and report.segments == 3  # 35 calls, the rule, the organization's creation


def test_secrets_in_a_change_snapshot_are_redacted(trail):
    change = Event.objects.get(kind="change", method="rule.create")
    assert change.after == {"effect": "allow", "token": "[redacted]"}


def test_an_edited_event_is_caught_and_named(trail):
    victim = Event.objects.filter(organization_id=trail, kind="mcp").order_by("id")[5]
    Event.objects.filter(pk=victim.pk).update(decision="deny")
    report = verify_organization(trail)
    assert not report.ok
    assert report.first_break["event_id"] == victim.pk and "edited" in report.first_break["reason"]


def test_a_deleted_event_is_caught(trail):
    victim = Event.objects.filter(organization_id=trail, seq=3).first()
    victim.delete()
    report = verify_organization(trail)
    assert not report.ok and report.first_break["seq"] == 3 and "deleted" in report.first_break["reason"]


def test_an_inserted_event_is_caught(trail):
    row = Event.objects.filter(organization_id=trail, kind="mcp").order_by("-seq").first()
    row.pk, row.seq, row.tool = None, row.seq + 1, "gh__forged"
    row.save()  # the forger copies a real row's hash: it cannot compute a valid one without the key
    report = verify_organization(trail)
    assert not report.ok and report.first_break["event_id"] == row.pk


def test_reordered_events_are_caught(trail):
    segment = Event.objects.filter(kind="mcp").order_by("id").first().segment
    a, b = Event.objects.filter(organization_id=trail, segment=segment).order_by("seq")[4:6]
    Event.objects.filter(pk=a.pk).update(seq=-1)
    Event.objects.filter(pk=b.pk).update(seq=a.seq)
    Event.objects.filter(pk=a.pk).update(seq=b.seq)
    report = verify_organization(trail)
    assert not report.ok and report.first_break["seq"] == a.seq


def test_truncating_a_sealed_segment_is_caught(trail):
    assert seal_all() == 4  # Acme's three segments, and Evil Corp's creation
    last = Event.objects.filter(organization_id=trail, kind="mcp").order_by("-seq").first()
    Event.objects.filter(segment=last.segment, seq__gte=last.seq - 2).delete()
    report = verify_organization(trail)
    assert not report.ok and "deleted" in report.first_break["reason"]


def test_a_forged_checkpoint_is_caught(trail):
    seal_all()
    Checkpoint.objects.filter(kind="seal").update(seq=1)
    report = verify_organization(trail)
    assert not report.ok and "forged" in report.first_break["reason"]


def test_retention_removes_a_prefix_and_leaves_a_verifiable_chain(world, monkeypatch):
    org = world.acme.pk
    past = timezone.now() - dt.timedelta(days=120)
    monkeypatch.setattr(timezone, "now", lambda: past)
    write_calls(org, 8)
    monkeypatch.undo()
    write_calls(org, 4)
    seal_all()
    removed = retention_enforce()
    assert removed == {org: 8}
    report = verify_organization(org)
    assert report.ok, report.first_break
    assert Event.objects.filter(organization_id=org, kind="mcp").count() == 4
    assert Event.objects.filter(organization_id=org, method="audit.retention").exists()


def test_audit_verify_command_fails_on_a_broken_chain(trail, capsys):
    call_command("audit_verify")
    assert "OK, 37 events" in capsys.readouterr().out
    Event.objects.filter(organization_id=trail, kind="mcp", seq=2).first().delete()
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "BROKEN" in capsys.readouterr().out


@pytest.mark.skipif(connection.vendor != "postgresql", reason="monthly partitions exist on PostgreSQL only")
def test_retention_drops_a_whole_month_and_the_chain_still_verifies(world, monkeypatch):
    org = world.acme.pk
    past = timezone.now() - dt.timedelta(days=200)
    created = partitions.ensure_partitions(past.date(), months_ahead=1)
    assert partitions.partition_name(past.date().replace(day=1)) in created
    monkeypatch.setattr(timezone, "now", lambda: past)
    write_calls(org, 6)
    monkeypatch.undo()
    write_calls(org, 3)
    old_partition = partitions.partition_name(past.date().replace(day=1))
    removed = retention_enforce()
    assert removed == {org: 6}
    assert old_partition not in [name for name, _, _ in partitions.monthly_partitions()]
    report = verify_organization(org)
    assert report.ok, report.first_break
    assert Event.objects.filter(organization_id=org, kind="mcp").count() == 3


def test_a_row_with_a_nul_anywhere_is_cleaned_as_it_is_linked():
    from audit import chain

    row = {
        "organization_id": 7,
        "time": timezone.now(),
        "tool": "ech\x00o",
        "arguments": {"k\x00ey": ["a\x00", {"deep": "x\x00"}], "plain": "ok"},
        "latency_ms": 1.5,
    }
    digest = chain.link_clean("00" * 32, row)
    assert row["tool"] == "ech\ufffdo"
    assert row["arguments"] == {"k\ufffdey": ["a\ufffd", {"deep": "x\ufffd"}], "plain": "ok"}
    assert digest == chain.link("00" * 32, row)  # the hash covers what is stored
    clean = {"organization_id": 7, "time": row["time"], "tool": "echo", "arguments": {"a": "\\u0000"}}
    assert chain.link_clean("00" * 32, dict(clean)) == chain.link("00" * 32, clean)  # a backslash is not a NUL
