"""The hash chain over audit events: canonical form, links, and the genesis of each segment.

Each event's hash is an HMAC, under a key the database does not hold, of its canonical content and the hash of
the event before it in the same (organization, segment): someone who can write to the database but not read
the server's secrets cannot forge a link, so an edited, inserted, deleted or reordered row breaks the chain.
Deleting the newest rows of a segment is caught by the signed checkpoints (``audit.sealing``).

The canonical form is what comes back from the database, so a row read back hashes the same as the row
written: times in UTC to the microsecond, IPs normalised, JSON with sorted keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
from typing import Any

from django.conf import settings

from audit.models import Event

# Every column the hash covers: all but the row's id and its own hash.
HASHED = [f.attname for f in Event._meta.concrete_fields if f.attname not in ("id", "hash")]


def _key() -> bytes:
    return hashlib.sha256(b"scopegate-audit-chain\n" + settings.AUDIT_CHAIN_KEY.encode()).digest()


def genesis(organization_id: int | None, segment: str) -> str:
    return hmac.new(_key(), f"genesis:{organization_id}:{segment}".encode(), hashlib.sha256).hexdigest()


def _canonical_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if name == "source_ip":
        return str(ipaddress.ip_address(value))
    if isinstance(value, float):
        return repr(value)
    return value


def canonical(row: dict[str, Any]) -> bytes:
    data = {name: _canonical_value(name, row.get(name)) for name in HASHED}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def link(prev_hash: str, row: dict[str, Any]) -> str:
    return hmac.new(_key(), prev_hash.encode() + b"\n" + canonical(row), hashlib.sha256).hexdigest()


def sign(text: str) -> str:
    return hmac.new(_key(), b"checkpoint\n" + text.encode(), hashlib.sha256).hexdigest()


def clean_text(value: Any) -> Any:
    """PostgreSQL refuses NUL in text and JSON: replace it, recursively, before an event is stored or hashed."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_text(v) for v in value]
    return value
