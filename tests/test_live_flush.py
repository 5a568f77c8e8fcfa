"""The flush after a transactional test survives a deadlock with a live server's transaction: the server (a real
daphne) goes on working after its test ends, and a flush that lost a deadlock left the last test's rows for the
next one (CI saw it: a catalogue refresh an upstream's list change had started was still writing)."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connection

from accounts.models import User
from audit.pgwriter import connect_params
from tests.live import flushing_despite_live_servers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="needs PostgreSQL"
    ),
]


def _flush(_case=None) -> None:
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True)


def _deadlock_the_next_flush() -> threading.Thread:
    """Another session, as a live server's would: it holds the last table the flush truncates, waits until the
    flush holds the first and waits for the last, then wants the first. Its own deadlock check waits 10 s, so
    the flush's (1 s) is the one that finds the cycle, and the flush is the one PostgreSQL ends."""
    (statement,) = sql_flush(no_style(), connection, reset_sequences=False)
    tables = re.findall(r'"([^"]+)"', statement)
    first, last = tables[0], tables[-1]
    ready = threading.Event()

    def hold() -> None:
        with psycopg.connect(**connect_params(settings.DATABASES["default"])) as other:
            other.execute("SET deadlock_timeout = '10s'")
            other.execute(f'LOCK TABLE "{last}" IN ROW EXCLUSIVE MODE')
            ready.set()
            for _ in range(100):  # until the flush waits for the table this session holds
                if other.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE NOT l.granted AND c.relname = %s",
                    [last],
                ).fetchone()[0]:
                    break
                time.sleep(0.05)
            other.execute(f'LOCK TABLE "{first}" IN ROW EXCLUSIVE MODE')  # waits for the flush: the cycle
            time.sleep(0.3)
            other.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread


def test_a_flush_that_lost_a_deadlock_fails_without_the_retry():
    User.objects.create(email="left@example.test")
    thread = _deadlock_the_next_flush()
    with pytest.raises(CommandError) as lost:
        _flush()
    thread.join(15)
    assert "deadlock" in str(lost.value.__cause__)
    assert User.objects.filter(email="left@example.test").exists()  # what the next test would have found


def test_the_flush_tries_again_after_losing_a_deadlock():
    User.objects.create(email="left@example.test")
    thread = _deadlock_the_next_flush()
    flushing_despite_live_servers(_flush, pause=0.5)(None)
    thread.join(15)
    assert not User.objects.exists()
