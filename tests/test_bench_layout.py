"""The audit bench's dedicated layout pins the local PostgreSQL server to a CPU of its own and puts every mask back
as it found it, for the server's processes that were there and for those forked meanwhile: a bench that left the
database pinned would slow every later run on the machine."""

from __future__ import annotations

import contextlib
import os

import psycopg
import pytest
from django.conf import settings

from audit.pgwriter import connect_params
from bench.layout import dedicated, postgres_server, split

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or split() is None,
    reason="needs PostgreSQL and at least two CPUs",
)


def _masks(pids: list[int]) -> dict[int, set[int]]:
    out = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            out[pid] = os.sched_getaffinity(pid)
    return out


def test_the_dedicated_layout_pins_the_server_and_restores_every_mask():
    params = connect_params(settings.DATABASES["default"], dbname="postgres")
    with psycopg.connect(**params, autocommit=True) as held:
        (backend,) = held.execute("SELECT pg_backend_pid()").fetchone()
        server = postgres_server(backend)
        if not server:
            pytest.skip("the PostgreSQL server is not a process of this machine")
        before, ours_before = _masks(server), os.sched_getaffinity(0)
        database, rest = split()
        forked = None
        try:
            with dedicated(backend, [os.getpid()], database, rest):
                assert all(mask == database for mask in _masks(server).values())
                assert os.sched_getaffinity(0) == rest
                forked = psycopg.connect(**params, autocommit=True)  # a backend forked while the server is pinned
                (new_backend,) = forked.execute("SELECT pg_backend_pid()").fetchone()
                assert os.sched_getaffinity(new_backend) == database
            after = _masks(server)
            assert after == {pid: before[pid] for pid in after}
            assert os.sched_getaffinity(new_backend) == before[server[0]]
            assert os.sched_getaffinity(0) == ours_before
        except PermissionError:
            pytest.skip("the PostgreSQL server's processes may not be pinned from here")
        finally:
            if forked is not None:
                forked.close()
