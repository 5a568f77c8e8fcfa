"""A real Celery worker on CI's Redis sends the invitation e-mail: the task path works outside eager mode."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accounts import services
from scopegate.celery import app as celery_app
from tests.live import database_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="a worker needs the Redis broker"),
]


@pytest.fixture
def worker(tmp_path):
    queue = f"sgtest{os.getpid()}"
    env = {**os.environ, **database_env(), "SCOPEGATE_CELERY_EAGER": "0", "EMAIL_FILE_PATH": str(tmp_path)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scopegate", "worker", "--pool=solo", "-Q", queue, "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = False, queue
    try:
        yield tmp_path
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_worker_sends_the_invitation_e_mail(world, worker):
    _, secret = services.invitation_create(ctx=world.ctx("owner"), email="queued@acme.test", role="member")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mails = [p.read_text() for p in worker.glob("*.log")]
        if mails:
            break
        time.sleep(0.2)
    assert len(mails) == 1 and secret in mails[0] and "queued@acme.test" in mails[0]
