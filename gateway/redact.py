"""Keeping agent keys out of logs: the secret-URL form puts the key in the path."""

import re

_SECRET_PATH = re.compile(r"(/mcp/[A-Za-z0-9_-]{1,64}/)[A-Za-z0-9_-]+")
_KEY = re.compile(r"sg_(key|api|inv)_[A-Za-z0-9_-]{8,}")


def redact_path(text: str) -> str:
    return _KEY.sub(r"sg_\1_[redacted]", _SECRET_PATH.sub(r"\1[redacted]", text))
