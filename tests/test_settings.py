"""Settings come from the environment: the embedded default, PostgreSQL and Redis, and a production mode
that refuses to start unsafe. Each case runs Django in a child process with exactly that environment."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY_RING = "k1:" + base64.b64encode(b"k" * 32).decode()
SECRET = "s3cr3t-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ" * 2


def run_django(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SCOPEGATE_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_", "DJANGO_ALLOW_ASYNC")
        )
    }
    base.update(DJANGO_SETTINGS_MODULE="scopegate.settings", SCOPEGATE_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "SCOPEGATE_ENV": "production",
        "SECRET_KEY": SECRET,
        "SCOPEGATE_ENCRYPTION_KEYS": KEY_RING,
        "ALLOWED_HOSTS": "gate.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "EMAIL_HOST": "smtp.example.com",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_the_embedded_default_needs_no_services(tmp_path):
    result = run_django(
        tmp_path,
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.CELERY_TASK_ALWAYS_EAGER, s.EMAIL_BACKEND, s.DEBUG)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "True",
        "django.core.mail.backends.console.EmailBackend",
        "True",
    ]
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path):
    result = run_django(
        tmp_path,
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.CACHES['default']['BACKEND'], s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6379/3",
        "False",
    ]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"SCOPEGATE_DEBUG": "1"}, "SCOPEGATE_DEBUG must be off"),
        ({"SECRET_KEY": None}, "needs SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "needs SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "needs SECRET_KEY"),
        ({"SCOPEGATE_ENCRYPTION_KEYS": None}, "needs SCOPEGATE_ENCRYPTION_KEYS"),
        ({"SCOPEGATE_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, "must be 32 bytes"),
        ({"ALLOWED_HOSTS": None}, "needs ALLOWED_HOSTS"),
        ({"DATABASE_URL": None}, "needs DATABASE_URL"),
        ({"REDIS_URL": None}, "needs REDIS_URL"),
        ({"SCOPEGATE_GITHUB_API_URL": "http://127.0.0.1:8765/github/api"}, "github api URL must be an https:// URL"),
        ({"SCOPEGATE_GOOGLE_OAUTH2_URL": "https://127.0.0.1/google"}, "points at a private address"),
        ({"SCOPEGATE_GITHUB_OAUTH_URL": "https://localhost:8765"}, "points at a local host"),
        ({"SCOPEGATE_GITHUB_CLIENT_ID": "Iv1.x"}, "set both SCOPEGATE_GITHUB_CLIENT_ID"),
    ],
)
def test_production_refuses_to_start_unsafe(tmp_path, overrides, complaint):
    result = run_django(tmp_path, "pass", **production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr


def test_production_passes_the_deployment_checklist_with_secure_headers(tmp_path):
    result = run_django(
        tmp_path,
        "from django.core.management import call_command; "
        "call_command('check', deploy=True, fail_level='WARNING'); "
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, s.DEBUG, "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE)",
        **production_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-5:] == ["True", "True", "True", "False", "True"]


def test_secrets_can_be_read_from_files(tmp_path):
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "keys").write_text(KEY_RING)
    result = run_django(
        tmp_path,
        f"from django.conf import settings as s; print(s.SECRET_KEY == {SECRET!r}, list(s.ENCRYPTION_KEYS))",
        **production_env(SECRET_KEY=None, SCOPEGATE_ENCRYPTION_KEYS=None),
        SECRET_KEY_FILE=str(tmp_path / "secret"),
        SCOPEGATE_ENCRYPTION_KEYS_FILE=str(tmp_path / "keys"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "['k1']"]


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path):
    result = run_django(tmp_path, "pass", SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode != 0 and "SECRET_KEY_FILE" in result.stderr


def test_allowed_upstream_networks_are_read_as_cidrs_and_a_bad_one_is_a_clear_error(tmp_path):
    code = "from django.conf import settings; print([str(n) for n in settings.UPSTREAM_ALLOWED_NETWORKS])"
    result = run_django(tmp_path, code, SCOPEGATE_UPSTREAM_ALLOWED_NETWORKS="10.20.0.0/16, fd00::/8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['10.20.0.0/16', 'fd00::/8']"
    bad = run_django(tmp_path, "pass", SCOPEGATE_UPSTREAM_ALLOWED_NETWORKS="10.20.0.1/16")
    assert bad.returncode != 0 and "SCOPEGATE_UPSTREAM_ALLOWED_NETWORKS" in bad.stderr


def test_social_login_is_switched_on_from_the_environment(tmp_path):
    code = "from django.urls import reverse; print(reverse('github_login'))"
    assert run_django(tmp_path, code).returncode != 0
    result = run_django(
        tmp_path, code, SCOPEGATE_GITHUB_LOGIN_CLIENT_ID="id", SCOPEGATE_GITHUB_LOGIN_CLIENT_SECRET="secret"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/accounts/github/login/"
    half = run_django(tmp_path, "pass", SCOPEGATE_GOOGLE_LOGIN_CLIENT_ID="id")
    assert half.returncode != 0 and "set both" in half.stderr


def test_the_responses_carry_a_strict_content_security_policy(client, db):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def test_the_served_application_freezes_its_start_up_objects_out_of_the_collector(tmp_path):
    """A full collection would otherwise walk Django, Twisted and the SDK's types on every pass: 115 ms pauses."""
    done = run_django(
        tmp_path,
        "import gc, sys; import scopegate.asgi; "
        "print(gc.get_freeze_count(), 'psycopg' in sys.modules, 'gateway.bridge' in sys.modules)",
    )
    assert done.returncode == 0, done.stderr
    frozen, psycopg_loaded, bridge_loaded = done.stdout.split()
    assert int(frozen) > 50_000 and psycopg_loaded == "True" and bridge_loaded == "True"
