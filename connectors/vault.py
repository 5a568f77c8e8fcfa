"""Secrets at rest: AES-GCM envelope encryption under the operator's key ring.

Each secret gets its own data key; the data key is wrapped by the newest key of the ring
(``SCOPEGATE_ENCRYPTION_KEYS``, first entry). Both layers authenticate the same associated data, which binds
the ciphertext to its row and organization: a ciphertext copied to another row does not decrypt. Old keys
stay in the ring to decrypt until rotation has re-encrypted everything under the new one.

Layout: b"sg1" | len(key id) | key id | wrap nonce (12) | wrapped data key (48) | nonce (12) | ciphertext
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

MAGIC = b"sg1"


class VaultError(Exception):
    """A ciphertext that cannot be decrypted: tampered, moved to another row, or its key left the ring."""


def _ring() -> dict[str, bytes]:
    return settings.ENCRYPTION_KEYS


def current_key_id() -> str:
    return next(iter(_ring()))


def encrypt(plaintext: bytes, *, aad: bytes) -> bytes:
    key_id = current_key_id()
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce, nonce = os.urandom(12), os.urandom(12)
    wrapped = AESGCM(_ring()[key_id]).encrypt(wrap_nonce, data_key, aad)
    body = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    encoded_id = key_id.encode()
    return MAGIC + bytes([len(encoded_id)]) + encoded_id + wrap_nonce + wrapped + nonce + body


def key_id_of(blob: bytes) -> str:
    if not blob.startswith(MAGIC) or len(blob) < 4:
        raise VaultError("not a vault ciphertext")
    return blob[4 : 4 + blob[3]].decode()


def decrypt(blob: bytes, *, aad: bytes) -> bytes:
    blob = bytes(blob)
    key_id = key_id_of(blob)
    key = _ring().get(key_id)
    if key is None:
        raise VaultError(f"key {key_id!r} is not in the key ring")
    offset = 4 + blob[3]
    wrap_nonce, wrapped = blob[offset : offset + 12], blob[offset + 12 : offset + 60]
    nonce, body = blob[offset + 60 : offset + 72], blob[offset + 72 :]
    try:
        data_key = AESGCM(key).decrypt(wrap_nonce, wrapped, aad)
        return AESGCM(data_key).decrypt(nonce, body, aad)
    except InvalidTag as exc:
        raise VaultError("the ciphertext does not match its row") from exc
