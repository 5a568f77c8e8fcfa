"""Benchmark: tools/call through ScopeGate against the same calls made directly to the same upstream.

    .venv/bin/python bench/gateway_bench.py [--seconds 10] [--database-url postgres://postgres@127.0.0.1:5432/sgbench]

One run, same machine, same load generator (a lean aiohttp client speaking 2026-07-28 Streamable HTTP):
1. starts the SDK echo server (tests/upstreams/echo_server.py) and one daphne gateway on PostgreSQL with
   auditing on, an agent allowed the echo tool;
2. at concurrency 1 and 32, runs tools/call "echo" directly and through the gateway for --seconds each, in
   alternating rounds (this VM's speed drifts by a tenth over a minute: back to back, that drift showed as
   gateway cost or hid it);
3. prints calls per second, p50/p99 latency, the gateway's CPU time per call (from /proc), and the ratios;
4. opens 1,000 legacy sessions (initialize) and prints the gateway process's memory;
5. with --rules N: a second agent gets N rules with argument constraints (tool, pattern and annotation rules,
   the echo rule itself constrained), and p50 at concurrency 1 is measured for both agents, interleaved, in this
   same run: the cost of a large policy.
Every loop is bounded in time and count; only the processes it started are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODERN = "2026-07-28"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROUNDS = 8  # each side's --seconds is split into this many alternating rounds
# py-spy (pip install py-spy) from the same environment as this interpreter, else from PATH
PY_SPY = (
    str(Path(sys.executable).with_name("py-spy")) if Path(sys.executable).with_name("py-spy").exists() else "py-spy"
)


def cpu_split(pid: int) -> tuple[float, float]:
    """The process's user and system CPU seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def wakeups(pid: int) -> int:
    """How often the process has been switched out (waits and preemptions, all its threads)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (the server is local; exited backends are missed,
    and the bench's own connections live for the whole phase)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call_body(i: int, name: str) -> bytes:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "tools/call",
            "params": {"name": name, "arguments": {"message": "ping"}, "_meta": meta},
        }
    ).encode()


async def load(url: str, tool: str, headers: dict, concurrency: int, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    hdrs = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
        **headers,
    }
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(w: int) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < deadline and i < 1_000_000:
                i += 1
                started = time.perf_counter()
                async with session.post(url, data=call_body(i, tool), headers=hdrs) as response:
                    payload = await response.read()
                if response.status != 200 or b'"result"' not in payload:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return errors, latencies


def summarize(label: str, latencies: list[float], seconds: float, errors: int) -> dict:
    ordered = sorted(latencies)
    result = {
        "label": label,
        "calls": len(ordered),
        "errors": errors,
        "rps": len(ordered) / seconds,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan"),
    }
    print(
        f"  {label:<34} {result['rps']:8.0f} calls/s  p50 {result['p50_ms']:6.2f} ms  "
        f"p99 {result['p99_ms']:6.2f} ms  errors {errors}"
    )
    return result


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def manage_shell(env: dict, script: str):
    """Runs ``script`` in ``manage.py shell`` and returns the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def database_create(url: str) -> None:
    """The bench's own database, created if missing (an existing one is reused: its migrations run anyway)."""
    server, name = url.rsplit("/", 1)
    subprocess.run(["psql", server + "/postgres", "-qc", f"CREATE DATABASE {name}"], capture_output=True)


def py_spy_record(pid: int, seconds: float, out: str) -> subprocess.Popen:
    """py-spy sampling ``pid`` for ``seconds`` into ``out`` (raw collapsed stacks, 500 Hz). Without pausing the
    process: paused at each sample, an audited gateway served a tenth of its calls and the profile showed a
    different program. A sample is the thread's stack whether it runs or waits for a CPU, so time the gateway
    spends preempted shows in the frame where it happened (for the audit writer's send, 560 us of wall against
    190 us of CPU per batch: the PostgreSQL backend it wakes takes its CPU)."""
    command = [PY_SPY, "record", "--nonblocking", "--format", "raw", "--rate", "500", "-o", out, "--pid", str(pid)]
    return subprocess.Popen([*command, "-d", str(int(seconds))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_upstream(port: int) -> subprocess.Popen:
    """The SDK echo server (tests/upstreams/echo_server.py) over Streamable HTTP, listening once this returns."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstreams.echo_server", "streamable-http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process


def start_gateway(env: dict, port: int) -> subprocess.Popen:
    """One daphne gateway started as scripts/serve.sh starts it (its access log on its standard output, here a
    file: every line formatted, written in blocks as a served one's is), listening once this returns."""
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "scopegate.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process


def prepare(env: dict, upstream_url: str, rules: int = 0) -> tuple[str, str, str, str]:
    """Migrates the bench database and creates an organization, a connection, an agent and its key."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    script = f"""
import json
from accounts.models import User
from accounts.services import user_create
from accounts.models import Membership
from accounts.tenancy import resolve_org_context
from connectors.services import connection_create
from policies.services import agent_create, agent_key_issue, rule_create
User.objects.filter(email="bench@example.test").delete()
from accounts.models import Organization
Organization.objects.filter(name="bench@example.test").delete()
user = user_create(email="bench@example.test", password=None)
org = Membership.objects.get(user=user).organization
ctx = resolve_org_context(user=user, token=None, slug=org.slug)
conn = connection_create(ctx=ctx, name="echo", url="{upstream_url}")
agent = agent_create(ctx=ctx, name="bench")
rule_create(ctx=ctx, agent_id=agent.pk, effect="allow", connection_id=conn.pk, target="tool", name="echo")
_, key = agent_key_issue(ctx=ctx, agent_id=agent.pk)
many, many_key = "", ""
if {rules}:
    from policies.rules import agent_rules_replace
    big = agent_create(ctx=ctx, name="bench-many")
    repos = [{{"resource": "repository", "op": "glob", "values": ["acme/*", "tools/**"]}}]
    words = [f"word{{i}}" for i in range(99)] + ["ping"]
    echo_checks = [
        {{"argument": "message", "op": "one_of", "values": words}},
        {{"argument": "message", "op": "regex", "pattern": "[a-z0-9]+"}},
    ]
    spec = [dict(effect="allow", connection_id=conn.pk, target="tool", name="echo", constraints=echo_checks)]
    for i in range({rules} - 1):
        if i % 10 == 0:
            spec.append(dict(effect="ask", connection_id=conn.pk, target="pattern", name=f"echo__x{{i}}_*"))
        elif i % 25 == 1:
            spec.append(dict(effect="deny", connection_id=conn.pk, target="tool", name=f"danger_{{i}}"))
        elif i % 25 == 2:
            spec.append(dict(effect="allow", target="annotation", name="read_only", connection_id=None,
                             constraints=repos))
        else:
            spec.append(dict(effect="allow", connection_id=conn.pk, target="tool", name=f"tool_{{i}}",
                             constraints=repos, rate_limit=1000))
    agent_rules_replace(ctx=ctx, agent_id=big.pk, rules=spec[:{rules}], action="bench.rules")
    many = big.public_id
    _, many_key = agent_key_issue(ctx=ctx, agent_id=big.pk)
print(json.dumps({{"agent": agent.public_id, "key": key, "many": many, "many_key": many_key,
                  "status": conn.status, "error": conn.last_error}}))
"""
    data = manage_shell(env, script)
    if data["status"] != "active":
        raise RuntimeError(f"the bench connection failed: {data['error']}")
    return data["agent"], data["key"], data["many"], data["many_key"]


async def open_sessions(url: str, key: str, count: int) -> int:
    opened = 0
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        }
    )
    hdrs = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {key}",
    }
    connector = aiohttp.TCPConnector(limit=count, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        sem = asyncio.Semaphore(64)

        async def one() -> None:
            nonlocal opened
            async with sem, session.post(url, data=body, headers=hdrs) as response:
                await response.read()
                if response.headers.get("Mcp-Session-Id"):
                    opened += 1

        await asyncio.gather(*(one() for _ in range(count)))
    return opened


def compare_rules(base: str, one: tuple[str, str], many: tuple[str, str], rules: int, seconds: float, pid: int) -> dict:
    """p50 at concurrency 1 of the one-rule agent and the N-rule agent, interleaved in rounds so that drift of the
    machine affects both alike; and the gateway's CPU per call for each, which the commit's fsync jitter that
    dominates p50 here does not blur."""
    print(f"policy size (concurrency 1, {rules} constrained rules vs 1 rule, interleaved):")
    latencies: dict[str, list[float]] = {"1 rule": [], f"{rules} rules": []}
    cpu: dict[str, float] = dict.fromkeys(latencies, 0.0)
    for public_id, secret in (one, many):  # warm both
        asyncio.run(load(base + public_id, "echo__echo", {"Authorization": f"Bearer {secret}"}, 2, 1.0))
    for _ in range(8):
        for label, (public_id, secret) in (("1 rule", one), (f"{rules} rules", many)):
            cpu0 = cpu_seconds(pid)
            errors, lat = asyncio.run(
                load(base + public_id, "echo__echo", {"Authorization": f"Bearer {secret}"}, 1, seconds / 8)
            )
            cpu[label] += cpu_seconds(pid) - cpu0
            if errors:
                raise RuntimeError(f"{errors} calls of the {label} agent failed")
            latencies[label] += lat
    results = {label: summarize(f"agent with {label}", lat, seconds, 0) for label, lat in latencies.items()}
    small, large = results["1 rule"]["p50_ms"], results[f"{rules} rules"]["p50_ms"]
    added = (large - small) / small
    print(f"  p50 added by {rules} rules: {large - small:+.3f} ms ({added:+.1%})")
    cpu_ms = {label: cpu[label] / max(len(latencies[label]), 1) * 1000 for label in cpu}
    one_cpu, many_cpu = cpu_ms["1 rule"], cpu_ms[f"{rules} rules"]
    print(f"  gateway CPU per call: {one_cpu:.3f} ms vs {many_cpu:.3f} ms ({(many_cpu - one_cpu) / one_cpu:+.1%})")
    return {
        "one_rule": results["1 rule"],
        "many_rules": results[f"{rules} rules"],
        "p50_added_fraction": added,
        "cpu_ms_per_call": cpu_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sgbench")
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--profile", metavar="FILE", help="record the gateway with py-spy at concurrency 1")
    parser.add_argument(
        "--rules", type=int, default=0, metavar="N", help="also compare p50 of an agent with N constrained rules"
    )
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
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    else:
        env.pop("REDIS_URL", None)
    database_create(args.database_url)

    upstream_port, gateway_port = free_port(), free_port()
    started: list[subprocess.Popen] = []
    try:
        upstream = start_upstream(upstream_port)
        started.append(upstream)
        upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
        agent, key, many, many_key = prepare(env, upstream_url, args.rules)
        gateway = start_gateway(env, gateway_port)
        started.append(gateway)
        gateway_url = f"http://127.0.0.1:{gateway_port}/mcp/{agent}"
        auth = {"Authorization": f"Bearer {key}"}
        print(
            f"upstream: SDK echo server (pid {upstream.pid}); gateway: daphne (pid {gateway.pid}), "
            f"PostgreSQL {'+ Redis ' if args.redis_url else ''}with auditing on"
        )
        asyncio.run(load(gateway_url, "echo__echo", auth, 4, 1.5))  # warm up both paths
        asyncio.run(load(upstream_url, "echo", {}, 4, 1.0))
        report = {}
        for concurrency in (1, 32):
            print(f"concurrency {concurrency} ({ROUNDS} rounds of each, alternating):")
            spy = None
            if args.profile and concurrency == 1:
                spy = py_spy_record(gateway.pid, 2 * args.seconds, args.profile)  # both sides' rounds
            direct_lat, through_lat, direct_errors, through_errors = [], [], 0, 0
            user = system = switches = database = 0.0
            for _ in range(ROUNDS):  # alternating, so that a drift of this machine's speed touches both alike
                errors, lat = asyncio.run(load(upstream_url, "echo", {}, concurrency, args.seconds / ROUNDS))
                direct_lat += lat
                direct_errors += errors
                (user0, system0), switches0 = cpu_split(gateway.pid), wakeups(gateway.pid)
                database0 = postgres_cpu_seconds()
                errors, lat = asyncio.run(load(gateway_url, "echo__echo", auth, concurrency, args.seconds / ROUNDS))
                (user1, system1), switches1 = cpu_split(gateway.pid), wakeups(gateway.pid)
                database += postgres_cpu_seconds() - database0
                user, system = user + user1 - user0, system + system1 - system0
                switches += switches1 - switches0
                through_lat += lat
                through_errors += errors
            if spy is not None:
                spy.wait(timeout=60)
            direct = summarize("direct to upstream", direct_lat, args.seconds, direct_errors)
            through = summarize("through ScopeGate", through_lat, args.seconds, through_errors)
            calls = max(through["calls"], 1)
            cpu_ms = (user + system) / calls * 1000
            print(
                f"  gateway CPU per call {cpu_ms:.3f} ms (system {system / calls * 1000:.3f}), "
                f"{switches / calls:.1f} context switches; PostgreSQL CPU per call {database / calls * 1000:.3f} ms; "
                f"added p50 {through['p50_ms'] - direct['p50_ms']:+.2f} ms; "
                f"throughput {through['rps'] / direct['rps']:.0%} of direct"
            )
            report[concurrency] = {"direct": direct, "gateway": through, "gateway_cpu_ms_per_call": cpu_ms}
        if args.rules:
            report["rules"] = compare_rules(
                f"http://127.0.0.1:{gateway_port}/mcp/",
                (agent, key),
                (many, many_key),
                args.rules,
                args.seconds,
                gateway.pid,
            )
        before = rss_mib(gateway.pid)
        opened = asyncio.run(open_sessions(gateway_url, key, args.sessions))
        after = rss_mib(gateway.pid)
        print(
            f"memory: gateway RSS {before:.1f} MiB before, {after:.1f} MiB after opening {opened} legacy sessions "
            f"(sessions are signed tokens: no per-session state is kept)"
        )
        report["sessions"] = {"opened": opened, "rss_before_mib": before, "rss_after_mib": after}
        out = ROOT / "artifacts" / "bench-gateway.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
