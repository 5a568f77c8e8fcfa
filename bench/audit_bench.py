"""Load test of the audit trail: 32 concurrent agents through the real gateway on PostgreSQL.

    .venv/bin/python bench/audit_bench.py [--seconds 60] [--agents 32] [--layout both|shared|dedicated]
                                          [--database-url postgres://...]

One run, same machine:
1. with auditing on, 32 agents (one key each) call tools/call for --seconds; every answered call must have
   exactly one event (stored before forwarding) and one outcome row: counted per agent and by request id;
2. the same load with auditing switched off (SCOPEGATE_AUDIT_ENABLED=0, refused in production): the ratio of
   calls per second is what full auditing costs. Both gateways run side by side and the load alternates between
   them in 5 s rounds; each phase also reports the CPU per call of the gateway, PostgreSQL, the upstream and the
   load generator, and how much of the machine stayed idle (a latency-bound run is not a CPU-bound one);
   steps 1 and 2 run in two layouts of the processes on the CPUs (``--layout both``, the default):
   - shared: every process may run on every CPU, so the PostgreSQL backend that commits a batch competes for
     them with the gateway, the upstream and the load generator (on a 2-core machine, the audited gateway then
     waits for its commits behind everyone else's work);
   - dedicated: the local PostgreSQL server's processes are pinned to the last CPU and the bench, the gateways
     and the upstream to the others, as when the database runs on its own machine, which is how a production
     deployment runs it. Only CPU affinity changes, and every mask is restored (``bench/layout.py``); where the
     server's processes may not be pinned (another user's, no CAP_SYS_NICE) the layout is skipped and says why;
3. the same load again, and the gateway is SIGKILLed half-way: every call the clients saw answered must still
   have its event.
Every loop is bounded in time and count; only the processes it started are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway_bench import (  # noqa: E402
    call_body,
    cpu_seconds,
    database_create,
    manage_shell,
    postgres_cpu_seconds,
    py_spy_record,
    start_gateway,
    start_upstream,
    wakeups,
)
from layout import dedicated, split  # noqa: E402

MODERN = "2026-07-28"
LAYOUTS = {
    "shared": "every process on every CPU: the gateways, the upstream, the load and PostgreSQL compete for them",
    "dedicated": "PostgreSQL on a CPU of its own (as on its own machine in production), the rest on the others",
}


def machine_idle_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def prepare(env: dict, upstream_url: str, agents: int) -> list[tuple[str, str, int]]:
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    script = f"""
import json
from accounts.models import Membership, Organization, User
from accounts.services import user_create
from accounts.tenancy import resolve_org_context
from connectors.services import connection_create
from policies.services import agent_create, agent_key_issue, rule_create
User.objects.filter(email="auditbench@example.test").delete()
Organization.objects.filter(name="auditbench@example.test").delete()
user = user_create(email="auditbench@example.test", password=None)
org = Membership.objects.get(user=user).organization
ctx = resolve_org_context(user=user, token=None, slug=org.slug)
conn = connection_create(ctx=ctx, name="echo", url="{upstream_url}")
out = []
for i in range({agents}):
    agent = agent_create(ctx=ctx, name=f"agent-{{i}}")
    rule_create(ctx=ctx, agent_id=agent.pk, effect="allow", connection_id=conn.pk, target="tool", name="echo")
    _, key = agent_key_issue(ctx=ctx, agent_id=agent.pk)
    out.append([agent.public_id, key, agent.pk])
print(json.dumps(out))
"""
    return [tuple(row) for row in manage_shell(env, script)]


async def agents_load(base: str, agents: list, seconds: float, tag: str) -> tuple[dict[int, list[str]], int]:
    """Each agent calls in its own loop; returns the request ids each saw answered, and the errors."""
    answered: dict[int, list[str]] = {pk: [] for _, _, pk in agents}
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=len(agents) * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def worker(public_id: str, key: str, pk: int) -> None:
            nonlocal errors
            hdrs = {
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": "echo__echo",
                "Authorization": f"Bearer {key}",
            }
            i = 0
            while time.perf_counter() < deadline and i < 1_000_000:
                i += 1
                body = json.loads(call_body(i, "echo__echo"))
                body["id"] = f"{tag}-{pk}-{i}"
                try:
                    async with session.post(f"{base}/mcp/{public_id}", data=json.dumps(body), headers=hdrs) as r:
                        payload = await r.read()
                except (TimeoutError, aiohttp.ClientError):
                    errors += 1
                    await asyncio.sleep(0.05)
                    continue
                if r.status == 200 and b'"result"' in payload:
                    answered[pk].append(body["id"])
                else:
                    errors += 1

        await asyncio.gather(*(worker(*a) for a in agents))
    return answered, errors


def stored(env: dict, tag: str) -> dict:
    """Events and outcome rows per request id of this phase, read back from the database."""
    script = f"""
import json
from collections import Counter
from audit.models import Event
events = Counter(Event.objects.filter(kind="mcp", method="tools/call", request_id__startswith="{tag}-")
                 .values_list("request_id", flat=True))
outcomes = Counter(Event.objects.filter(kind="outcome", request_id__startswith="{tag}-")
                   .values_list("request_id", flat=True))
print(json.dumps({{"events": events, "outcomes": outcomes}}))
"""
    return manage_shell(env, script)


def check(label: str, answered: dict[int, list[str]], rows: dict) -> dict:
    ids = [rid for per in answered.values() for rid in per]
    events, outcomes = rows["events"], rows["outcomes"]
    missing = [rid for rid in ids if events.get(rid, 0) == 0]
    doubled = [rid for rid, n in events.items() if n > 1]
    no_outcome = [rid for rid in ids if outcomes.get(rid, 0) != 1]
    print(
        f"  {label}: {len(ids)} answered calls; events {len(events)}; answered without an event {len(missing)}; "
        f"with more than one {len(doubled)}; answered without exactly one outcome row {len(no_outcome)}"
    )
    return {
        "answered": len(ids),
        "events": len(events),
        "missing": len(missing),
        "doubled": len(doubled),
        "without_outcome": len(no_outcome),
    }


def measure(
    args, agents: list, bases: dict, pids: dict, upstream, run_id: str, profile: str | None
) -> tuple[dict, dict]:
    """The load alternating between the audited and the unaudited gateway in 5 s rounds; what each phase did."""
    report: dict = {}
    rounds = max(1, int(args.seconds // 5))
    answered_on: dict[int, list[str]] = {}
    calls = {"on": 0, "off": 0}
    cpu = {"on": 0.0, "off": 0.0}
    db_cpu = {"on": 0.0, "off": 0.0}
    idle = {"on": 0.0, "off": 0.0}
    up_cpu = {"on": 0.0, "off": 0.0}
    load_cpu = {"on": 0.0, "off": 0.0}
    switches = {"on": 0, "off": 0}
    per_round: dict[str, list[int]] = {"on": [], "off": []}
    for r in range(rounds):
        for phase in ("on", "off"):
            tag = f"b{run_id}{phase}-{r}"
            spy = None
            if profile and r == 0 and phase == "on":
                spy = py_spy_record(pids[phase], args.seconds / rounds, profile)
            cpu0, db0, idle0 = cpu_seconds(pids[phase]), postgres_cpu_seconds(), machine_idle_seconds()
            up0, me0 = cpu_seconds(upstream.pid), cpu_seconds(os.getpid())
            sw0 = wakeups(pids[phase])
            answered, errors = asyncio.run(agents_load(bases[phase], agents, args.seconds / rounds, tag))
            cpu[phase] += cpu_seconds(pids[phase]) - cpu0
            db_cpu[phase] += postgres_cpu_seconds() - db0
            idle[phase] += machine_idle_seconds() - idle0
            up_cpu[phase] += cpu_seconds(upstream.pid) - up0
            load_cpu[phase] += cpu_seconds(os.getpid()) - me0
            switches[phase] += wakeups(pids[phase]) - sw0
            if spy is not None:
                spy.wait(timeout=60)
            calls[phase] += sum(len(v) for v in answered.values())
            per_round[phase].append(sum(len(v) for v in answered.values()))
            if errors:
                print(f"  round {r} auditing {phase}: {errors} errors")
            if phase == "on":
                for pk, ids in answered.items():
                    answered_on.setdefault(pk, []).extend(ids)
    rates = {phase: n / args.seconds for phase, n in calls.items()}
    cpu_ms = {phase: cpu[phase] / max(calls[phase], 1) * 1000 for phase in cpu}
    db_ms = {phase: db_cpu[phase] / max(calls[phase], 1) * 1000 for phase in cpu}
    for phase in ("on", "off"):
        print(
            f"auditing {phase}: {rates[phase]:.0f} calls/s, gateway CPU {cpu_ms[phase]:.3f} ms per call, "
            f"PostgreSQL CPU {db_ms[phase]:.3f} ms per call"
        )
        n = max(calls[phase], 1) / 1000
        print(
            f"  upstream {up_cpu[phase] / n:.3f} ms, load generator {load_cpu[phase] / n:.3f} ms per call; "
            f"machine idle {idle[phase] / args.seconds:.0%} of a CPU"  # each phase ran args.seconds in all
        )
        print(f"  gateway context switches {switches[phase] / max(calls[phase], 1):.2f} per call")
    ratio = rates["on"] / rates["off"]
    print(f"full auditing keeps {ratio:.0%} of the throughput without it (target: at least 85%)")
    # Each round's pair (on, then off, 5 s apart): how much the machine's own drift moves the figure.
    pairs = sorted(on / off for on, off in zip(per_round["on"], per_round["off"], strict=True) if off)
    if len(pairs) >= 4:
        q = len(pairs) // 4
        print(
            f"  round by round: median {statistics.median(pairs):.0%}, middle half "
            f"{pairs[q]:.0%} to {pairs[-q - 1]:.0%}, all {pairs[0]:.0%} to {pairs[-1]:.0%} ({len(pairs)} rounds)"
        )
    report["rates"] = {**rates, "ratio": ratio, "round_ratios": pairs}
    report["cpu_ms_per_call"] = cpu_ms
    report["postgres_cpu_ms_per_call"] = db_ms
    return answered_on, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sgbench")
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="record the audited gateway with py-spy in round 1 of the first layout"
    )
    parser.add_argument("--layout", choices=["shared", "dedicated", "both"], default="both", help=", ".join(LAYOUTS))
    args = parser.parse_args()
    from tests.upstreams.run import free_port

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "SCOPEGATE_ENV": "development",
        "SCOPEGATE_DEBUG": "0",
        "SCOPEGATE_DATA_DIR": str(ROOT / "data" / "bench"),
        "SCOPEGATE_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    database_create(args.database_url)
    started: list[subprocess.Popen] = []
    report: dict = {}
    database = None
    try:
        upstream_port = free_port()
        upstream = start_upstream(upstream_port)
        started.append(upstream)
        agents = prepare(env, f"http://127.0.0.1:{upstream_port}/mcp", args.agents)
        print(f"{len(agents)} agents, {args.seconds:.0f} s per phase, one daphne gateway on PostgreSQL")
        run_id = str(int(time.time()))
        # Both gateways run side by side and the load alternates between them in short rounds, so that whatever
        # else the machine does falls on both alike.
        bases, pids = {}, {}
        for phase, audit in (("on", "1"), ("off", "0")):
            port = free_port()
            started.append(start_gateway({**env, "SCOPEGATE_AUDIT_ENABLED": audit}, port))
            pids[phase] = started[-1].pid
            bases[phase] = f"http://127.0.0.1:{port}"
            asyncio.run(agents_load(bases[phase], agents[:4], 1.5, f"warm{run_id}{phase}"))
        layouts = ["shared", "dedicated"] if args.layout == "both" else [args.layout]
        # A connection held open for the whole run: its backend's parent is the server to pin.
        database = psycopg.connect(args.database_url, autocommit=True)
        (database_pid,) = database.execute("SELECT pg_backend_pid()").fetchone()
        for layout in layouts:
            ours = [os.getpid(), upstream.pid, *pids.values()]
            cpus = split()
            if layout == "dedicated" and cpus is None:
                print("dedicated: skipped (this machine has one CPU)")
                continue
            print(f"{layout}: {LAYOUTS[layout]}")
            try:
                with dedicated(database_pid, ours, *cpus) if layout == "dedicated" else contextlib.nullcontext():
                    # py-spy records the first layout measured only (a second would overwrite its file)
                    profile = args.profile if layout == layouts[0] else None
                    answered_on, measured = measure(
                        args, agents, bases, pids, upstream, f"{run_id}{layout[0]}", profile
                    )
            except (PermissionError, ProcessLookupError) as exc:
                print(f"  skipped: the PostgreSQL server's processes cannot be pinned from here ({exc})")
                continue
            time.sleep(1.0)  # outcome rows follow their answers by a commit
            measured["completeness"] = check("auditing on", answered_on, stored(env, f"b{run_id}{layout[0]}on"))
            report[layout] = measured
        database.close()
        database = None
        for process in started[1:]:
            process.terminate()
            process.wait(timeout=10)
        del started[1:]

        print("kill: the gateway is SIGKILLed half-way through a load")
        port = free_port()
        gateway = start_gateway(env, port)
        started.append(gateway)
        tag = f"k{run_id}"

        async def killed_run():
            load = asyncio.create_task(agents_load(f"http://127.0.0.1:{port}", agents, min(args.seconds, 10), tag))
            await asyncio.sleep(min(args.seconds, 10) / 2)
            os.kill(gateway.pid, signal.SIGKILL)
            return await load

        answered, errors = asyncio.run(killed_run())
        gateway.wait(timeout=10)
        started.remove(gateway)
        rows = stored(env, tag)
        ids = [rid for per in answered.values() for rid in per]
        missing = [rid for rid in ids if rows["events"].get(rid, 0) == 0]
        print(
            f"  {len(ids)} calls answered before the kill, {errors} failed with it; "
            f"answered without an event: {len(missing)}"
        )
        report["kill"] = {"answered": len(ids), "missing": len(missing)}
        out = ROOT / "artifacts" / "bench-audit.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        if database is not None:
            database.close()
        for process in reversed(started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
