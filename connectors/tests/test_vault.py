"""Secrets at rest: AES-GCM envelope encryption bound to the row and organization."""

import pytest
from django.test import override_settings

from connectors import vault
from connectors.models import Connection
from connectors.services import connection_create


def test_a_secret_round_trips_and_is_not_stored_in_clear():
    blob = vault.encrypt(b"Bearer upstream-secret", aad=b"row:1:org:1")
    assert b"upstream-secret" not in blob
    assert vault.decrypt(blob, aad=b"row:1:org:1") == b"Bearer upstream-secret"


@pytest.mark.parametrize("position", [5, 20, 60, -1])
def test_a_tampered_ciphertext_fails_to_decrypt(position):
    blob = bytearray(vault.encrypt(b"secret", aad=b"a"))
    blob[position] ^= 0x01
    with pytest.raises(vault.VaultError):
        vault.decrypt(bytes(blob), aad=b"a")


def test_a_ciphertext_moved_to_another_row_fails_to_decrypt(world):
    ctx = world.ctx()
    first = connection_create(ctx=ctx, name="one", url="http://127.0.0.1:9/mcp", headers={"X-Token": "t1"}, sync=False)
    second = connection_create(ctx=ctx, name="two", url="http://127.0.0.1:9/mcp", headers={"X-Token": "t2"}, sync=False)
    Connection.objects.filter(pk=second.pk).update(headers_ciphertext=first.headers_ciphertext)
    second.refresh_from_db()
    with pytest.raises(vault.VaultError):
        second.get_headers()
    assert Connection.objects.get(pk=first.pk).get_headers() == {"X-Token": "t1"}


def test_old_keys_still_decrypt_after_a_new_key_is_added_first():
    old = {"k1": b"1" * 32}
    with override_settings(ENCRYPTION_KEYS=old):
        blob = vault.encrypt(b"secret", aad=b"a")
    rotated = {"k2": b"2" * 32, **old}
    with override_settings(ENCRYPTION_KEYS=rotated):
        assert vault.decrypt(blob, aad=b"a") == b"secret"
        assert vault.key_id_of(vault.encrypt(b"x", aad=b"a")) == "k2"
    with (
        override_settings(ENCRYPTION_KEYS={"k2": b"2" * 32}),
        pytest.raises(vault.VaultError, match="not in the key ring"),
    ):
        vault.decrypt(blob, aad=b"a")
