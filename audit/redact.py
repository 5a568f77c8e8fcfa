"""What an event may keep of the arguments and objects it records: secrets redacted, size capped."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from django.conf import settings

from audit.chain import clean_text

REDACTED = "[redacted]"
SECRET_NAME = re.compile(
    r"(pass(word|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|authorization|cookie|"
    r"credential|session[_-]?id|signature|otp|pin)$",
    re.IGNORECASE,
)
# Values that look like a credential whatever their field is called: our own keys, bearer tokens, JWTs,
# well-known provider token formats.
SECRET_VALUE = re.compile(
    r"(sg_[a-z]+_[A-Za-z0-9_-]{16,}|bearer\s+\S{8,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+|"
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|ya29\.[A-Za-z0-9_.-]{20,}|1//[A-Za-z0-9_-]{20,})",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    """Argument names repeat from call to call: each is matched once."""
    return SECRET_NAME.search(name) is not None


def _redact(value: Any, extra: frozenset[str], depth: int = 0) -> Any:
    if depth > 20:
        return "[too deep]"
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            name = str(k)
            hidden = _secret_name(name) or (extra and name.lower() in extra)
            out[name] = REDACTED if hidden and v not in (None, "") else _redact(v, extra, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_redact(v, extra, depth + 1) for v in value]
    if isinstance(value, str):
        return SECRET_VALUE.sub(REDACTED, value)
    return value


def redact(value: Any, *, fields: frozenset[str] = frozenset(), max_bytes: int | None = None) -> Any:
    """A copy of ``value`` with secrets and the named fields redacted, capped at ``max_bytes`` of JSON."""
    if value is None:
        return None
    cap = settings.AUDIT_ARGUMENTS_MAX_BYTES if max_bytes is None else max_bytes
    cleaned = clean_text(_redact(value, frozenset(f.lower() for f in fields)))
    encoded = json.dumps(cleaned, ensure_ascii=False, default=str)
    if len(encoded) * 4 <= cap:  # no character takes more than 4 bytes: small enough without encoding it
        return cleaned
    size = len(encoded.encode())
    if size <= cap:
        return cleaned
    return {"_truncated": True, "_bytes": size, "preview": encoded[: max(cap // 2, 64)]}
