"""A real daphne process on loopback, serving the test database: what the end-to-end tests talk to."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_env() -> dict[str, str]:
    """Points a child process at the database the tests use (the test database, not the real one)."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return {"DATABASE_URL": f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"}
    return {"DATABASE_URL": "", "SCOPEGATE_SQLITE_PATH": str(s["NAME"])}


@dataclass
class LiveServer:
    url: str
    mail_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def mails(self) -> list[str]:
        return [p.read_text() for p in sorted(self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)]

    def wait_for_link(self, pattern: str, *, timeout: float = 10.0) -> str:
        """The newest link matching ``pattern`` in the e-mails this server sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            links = [m for text in self.mails() for m in re.findall(r"http://\S+", text) if re.search(pattern, m)]
            if links:
                return links[-1]
            time.sleep(0.1)
        raise AssertionError(f"no e-mail with a link matching {pattern!r} arrived")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_daphne(tmp_dir: Path, *, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mail_dir = tmp_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(database_env())
    if not os.environ.get("REDIS_URL"):
        # Without Redis the channel layer is in-memory, so this process cannot tell the child that a key was
        # revoked: the child reads every policy afresh instead. With Redis (CI) the real invalidation runs.
        env["SCOPEGATE_POLICY_CACHE_SECONDS"] = "0"
    env.update(
        SCOPEGATE_ENV="test",
        SCOPEGATE_UPSTREAM_TIMEOUT_SECONDS="3",
        SCOPEGATE_DEBUG="0",
        SCOPEGATE_PUBLIC_URL=url,
        EMAIL_FILE_PATH=str(mail_dir),
        PYTHONUNBUFFERED="1",
        **(extra_env or {}),
    )
    log_path = tmp_dir / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "scopegate.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=url, mail_dir=mail_dir, log_path=log_path, process=process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"daphne did not answer within 30 s:\n{server.log()}")


def stop(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


def flushing_despite_live_servers(teardown, *, attempts: int = 5, pause: float = 0.5):
    """Wraps ``TransactionTestCase._fixture_teardown`` (the flush after each transactional test) so that it tries
    again when it lost a deadlock. A live server is a real process that goes on working after the test that used
    it ends (a catalogue refresh that an upstream's list change started, an outcome row written after the answer):
    the flush's TRUNCATE takes its tables one by one, and a transaction of the server's that holds one and wants
    another deadlocks with it. PostgreSQL ends one of the two; when it is the flush, the next test found the last
    one's rows. The server's transaction, when it is the one ended, fails as it would against a deleted row."""
    import functools

    from django.core.management.base import CommandError
    from django.db import OperationalError

    @functools.wraps(teardown)
    def retrying(self):
        for attempt in range(attempts):
            try:
                return teardown(self)
            except CommandError as exc:
                if not isinstance(exc.__cause__, OperationalError) or attempt == attempts - 1:
                    raise
                time.sleep(pause)

    return retrying
