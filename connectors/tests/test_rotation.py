"""The vault across rows of every kind: credentials are bound to their row like headers are, and rotating the
key ring re-encrypts every row without ever leaving one unreadable."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from audit.models import Event
from connectors import vault
from connectors.models import Connection, Credential
from connectors.services import connection_create

OLD = {"k1": b"1" * 32}
NEW = {"k2": b"2" * 32, **OLD}


def _credential(world, name: str, token: str) -> Credential:
    connection = Connection.objects.create(organization=world.acme, name=name, kind="github", transport="")
    credential = Credential(organization=world.acme, connection=connection, provider="github")
    credential.set_tokens(access_token=token, refresh_token=f"{token}-refresh")
    credential.save()
    return credential


def test_a_credential_moved_to_another_row_or_tampered_with_fails_to_decrypt(world):
    first, second = _credential(world, "one", "gho_first"), _credential(world, "two", "gho_second")
    Credential.objects.filter(pk=second.pk).update(tokens_ciphertext=first.tokens_ciphertext)
    second.refresh_from_db()
    with pytest.raises(vault.VaultError):
        second.get_tokens()
    blob = bytearray(first.tokens_ciphertext)
    blob[-3] ^= 0x01
    first.tokens_ciphertext = bytes(blob)
    with pytest.raises(vault.VaultError):
        first.get_tokens()


def test_a_credential_moved_to_another_organization_fails_to_decrypt(world):
    credential = _credential(world, "one", "gho_first")
    Credential.objects.filter(pk=credential.pk).update(organization=world.evil)
    with pytest.raises(vault.VaultError):
        Credential.objects.get(pk=credential.pk).get_tokens()


@pytest.mark.django_db
def test_rotation_re_encrypts_every_row_in_batches_and_nothing_becomes_unreadable(world, capsys):
    with override_settings(ENCRYPTION_KEYS=OLD):
        ctx = world.ctx()
        for n in range(3):
            connection_create(
                ctx=ctx, name=f"mcp{n}", url="http://127.0.0.1:9/mcp", headers={"X-Key": f"v{n}"}, sync=False
            )
        for n in range(4):
            _credential(world, f"gh{n}", f"gho_token{n}")
    with override_settings(ENCRYPTION_KEYS=NEW):
        call_command("rotate_keys", "--batch-size", "2", "--json")
        report = json.loads(capsys.readouterr().out)
        assert report == {"key": "k2", "rotated": 7, "already_current": 0, "unreadable": 0}
        blobs = [*Connection.objects.values_list("headers_ciphertext", flat=True)]
        blobs += [*Credential.objects.values_list("tokens_ciphertext", flat=True)]
        assert {vault.key_id_of(bytes(b)) for b in blobs if b} == {"k2"} and len([b for b in blobs if b]) == 7
        call_command("rotate_keys", "--json")
        assert json.loads(capsys.readouterr().out)["already_current"] == 7
    with override_settings(ENCRYPTION_KEYS={"k2": NEW["k2"]}):  # the old key can go now
        assert sorted(c.get_headers()["X-Key"] for c in Connection.objects.filter(kind="mcp")) == ["v0", "v1", "v2"]
        assert sorted(c.get_tokens()["access_token"] for c in Credential.objects.all()) == [
            f"gho_token{n}" for n in range(4)
        ]
    events = Event.objects.filter(method="vault.rotate")
    assert events.filter(organization_id=world.acme.pk).first().after == {"key": "k2", "rotated": 7}
    assert events.filter(via="command").count() == 3  # acme and overall, then overall only (nothing left)
    assert "gho_token" not in json.dumps(list(events.values("after", "error")))


@pytest.mark.django_db
def test_rotation_reports_a_row_no_key_decrypts_and_fails(world):
    with override_settings(ENCRYPTION_KEYS={"k0": base64.b64decode(base64.b64encode(b"0" * 32))}):
        _credential(world, "lost", "gho_lost")
    from django.core.management.base import CommandError

    with override_settings(ENCRYPTION_KEYS=NEW), pytest.raises(CommandError, match="Credential:"):
        call_command("rotate_keys")
