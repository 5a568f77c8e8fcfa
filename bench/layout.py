"""Where the benchmark's processes run: the CPUs of this machine shared by all of them, or a core of its own for
the local PostgreSQL server (as on its own machine in production) and the rest for the gateway, the upstream and
the load. Only CPU affinity changes, and every mask is put back as it was found, for the server's processes that
were there before and for those forked meanwhile (they inherit the server's mask)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's name and parent, or None if it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, int(text.rsplit(")", 1)[1].split()[1])


def postgres_server(backend_pid: int) -> list[int]:
    """The PostgreSQL server's processes: the postmaster (the parent of ``backend_pid``) and all its children."""
    stat = _stat(backend_pid)
    if stat is None or stat[0] != "postgres":  # a server elsewhere (a container, another machine)
        return []
    postmaster = stat[1]
    pids = [postmaster]
    for entry in Path("/proc").glob("[0-9]*"):
        found = _stat(int(entry.name))
        if found is not None and found[1] == postmaster:
            pids.append(int(entry.name))
    return pids


def threads(pid: int) -> list[int]:
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def _pin(pids: list[int], cpus: set[int], before: dict[int, set[int]]) -> None:
    """Pins every thread of ``pids`` to ``cpus``, noting in ``before`` each thread's mask as it was (a thread is
    noted before it is pinned, so that a failure half-way leaves nothing unrestored)."""
    for pid in pids:
        for tid in threads(pid):
            with contextlib.suppress(ProcessLookupError):
                mask = os.sched_getaffinity(tid)
                before.setdefault(tid, mask)
                os.sched_setaffinity(tid, cpus)


def split(database_cpus: int = 1) -> tuple[set[int], set[int]] | None:
    """This machine's CPUs as (the database's, everything else's), or None when there are too few to split."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) <= database_cpus:
        return None
    return set(cpus[-database_cpus:]), set(cpus[:-database_cpus])


@contextlib.contextmanager
def dedicated(backend_pid: int, ours: list[int], database: set[int], rest: set[int]) -> Iterator[None]:
    """The PostgreSQL server on ``database``, ``ours`` (the bench, the gateways, the upstream) on ``rest``, for
    the block. Raises PermissionError when the server's processes may not be pinned (another user's, no
    CAP_SYS_NICE)."""
    server = postgres_server(backend_pid)
    if not server:
        raise ProcessLookupError("the PostgreSQL server is not a process of this machine")
    postmaster_mask = os.sched_getaffinity(server[0])
    saved: dict[int, set[int]] = {}
    try:
        _pin(server, database, saved)
        _pin(ours, rest, saved)
        yield
    finally:
        for tid, mask in saved.items():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, mask)
        for pid in postgres_server(backend_pid) or [server[0]]:  # backends forked meanwhile inherited the pin
            for tid in threads(pid):
                if tid not in saved:
                    with contextlib.suppress(ProcessLookupError):
                        os.sched_setaffinity(tid, postmaster_mask)
