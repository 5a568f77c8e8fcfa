"""Starting and stopping real upstream MCP servers for tests and benchmarks, on loopback ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = str(ROOT / "node_modules" / ".bin" / "node")
EVERYTHING = str(ROOT / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js")

# The stdio servers the tests' operator allows (SCOPEGATE_STDIO_COMMANDS).
STDIO_COMMANDS = {
    "echo": [sys.executable, "-m", "tests.upstreams.echo_server", "stdio"],
    "everything": [NODE, EVERYTHING, "stdio"],
    "time": [str(Path(sys.executable).parent / "mcp-server-time")],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Upstream:
    url: str
    process: subprocess.Popen


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"upstream exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"upstream did not listen on {port} within {timeout} s")


@contextlib.contextmanager
def _running(argv: list[str], port: int, url: str, env: dict | None = None) -> Iterator[Upstream]:
    log = open(os.devnull, "wb")  # noqa: SIM115
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    try:
        _wait_for_port(port, process)
        yield Upstream(url=url, process=process)
    finally:
        process.terminate()
        try:
            # uvicorn waits for open connections (a gateway's watcher holds one) before it exits: do not wait long
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def echo_server(transport: str = "streamable-http") -> contextlib.AbstractContextManager[Upstream]:
    """Our SDK echo server; transport "streamable-http" (endpoint /mcp) or "sse" (endpoint /sse)."""
    port = free_port()
    path = "/sse" if transport == "sse" else "/mcp"
    argv = [sys.executable, "-m", "tests.upstreams.echo_server", transport, str(port)]
    return _running(argv, port, f"http://127.0.0.1:{port}{path}")


def everything(transport: str = "streamableHttp") -> contextlib.AbstractContextManager[Upstream]:
    """@modelcontextprotocol/server-everything; "streamableHttp" (endpoint /mcp) or "sse" (endpoint /sse)."""
    port = free_port()
    path = "/sse" if transport == "sse" else "/mcp"
    return _running([NODE, EVERYTHING, transport], port, f"http://127.0.0.1:{port}{path}", {"PORT": str(port)})
