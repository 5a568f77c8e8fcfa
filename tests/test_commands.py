"""Headless administration: what an operator's script runs and reads."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken, Membership, User
from accounts.services import api_token_authenticate

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None, monkeypatch=None) -> dict:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_an_operator_creates_a_user_an_organization_and_a_token(monkeypatch):
    user = run(
        "create_user", "Ops@Example.test", "--password-stdin", stdin="a long passphrase 77\n", monkeypatch=monkeypatch
    )
    assert user == {"user": "ops@example.test", "organization": user["organization"], "can_log_in": True}
    assert User.objects.get(email="ops@example.test").check_password("a long passphrase 77")

    org = run("create_org", "Platform Team", "--owner", "ops@example.test")
    assert org["organization"] == "platform-team"
    assert Membership.objects.get(organization__slug="platform-team").role == "owner"

    issued = run(
        "issue_api_token",
        "--org",
        "platform-team",
        "--name",
        "terraform",
        "--role",
        "auditor",
        "--expires-in-days",
        "30",
    )
    assert api_token_authenticate(issued["token"]).role == "auditor"
    assert issued["api"].endswith("/api/v1/orgs/platform-team/")
    assert issued["token"] not in {t.digest for t in ApiToken.objects.all()}


def test_commands_explain_what_is_wrong():
    with pytest.raises(CommandError, match="no user"):
        call_command("create_org", "X", "--owner", "nobody@example.test")
    with pytest.raises(CommandError, match="no organization"):
        call_command("issue_api_token", "--org", "nope")
    with pytest.raises(CommandError, match="email"):
        call_command("create_user", "not-an-email")
    call_command("create_user", "a@example.test", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "A@example.test")


def test_a_weak_password_is_refused(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="password"):
        call_command("create_user", "weak@example.test", "--password-stdin")
    assert not User.objects.filter(email="weak@example.test").exists()
