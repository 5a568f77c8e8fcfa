"""High-entropy bearer secrets: a visible prefix, shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedSecret:
    plaintext: str  # shown once, never stored
    prefix: str  # stored and shown, to tell secrets apart
    digest: str  # stored, to recognise the secret


def issue_secret(kind: str) -> IssuedSecret:
    body = secrets.token_urlsafe(32)  # 256 bits
    plaintext = f"sg_{kind}_{body}"
    return IssuedSecret(plaintext=plaintext, prefix=plaintext[: len(kind) + 12], digest=secret_digest(plaintext))


def secret_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()
