"""Reading configuration from the environment, failing fast with ImproperlyConfigured.

Every secret may also come from a file: ``NAME_FILE=/run/secrets/name`` wins over ``NAME``.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def persisted_secret(path: Path, *, generate) -> str:
    """A secret kept in the data folder so that a development install survives restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_key_ring() -> str:
    return "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_key_ring(raw: str) -> dict[str, bytes]:
    """``id:base64(32 bytes)`` entries separated by commas; the first entry encrypts, all decrypt."""
    ring: dict[str, bytes] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id or not key_id.isalnum():
            raise ImproperlyConfigured("SCOPEGATE_ENCRYPTION_KEYS entries look like 'k1:<base64 of 32 bytes>'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"SCOPEGATE_ENCRYPTION_KEYS key {key_id!r} is not base64") from exc
        if len(key) != 32:
            raise ImproperlyConfigured(f"SCOPEGATE_ENCRYPTION_KEYS key {key_id!r} must be 32 bytes")
        if key_id in ring:
            raise ImproperlyConfigured(f"SCOPEGATE_ENCRYPTION_KEYS names key {key_id!r} twice")
        ring[key_id] = key
    if not ring:
        raise ImproperlyConfigured("SCOPEGATE_ENCRYPTION_KEYS holds no key")
    return ring


def refuse_private_url(what: str, url: str) -> None:
    """Production never talks to a provider on loopback or a private network (that is a test emulator)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host:
        raise ImproperlyConfigured(f"the {what} must be an https:// URL, not {url!r}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise ImproperlyConfigured(f"the {what} points at a local host ({host})") from None
        return
    if not address.is_global:
        raise ImproperlyConfigured(f"the {what} points at a private address ({host})")
