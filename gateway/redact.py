"""Keeping agent keys out of logs: the secret-URL form puts the key in the path."""

import re

_SECRET_PATH = re.compile(r"(/mcp/[A-Za-z0-9_-]{1,64}/)[A-Za-z0-9_-]+")
_KEY = re.compile(r"sg_(key|api|inv)_[A-Za-z0-9_-]{8,}")
# An OAuth callback's query carries the authorization code (and its state): single use, but a secret until used.
_OAUTH_PARAM = re.compile(r"([?&](?:code|state)=)[^&\s\"]+")


def redact_path(text: str) -> str:
    text = _OAUTH_PARAM.sub(r"\1[redacted]", text)
    return _KEY.sub(r"sg_\1_[redacted]", _SECRET_PATH.sub(r"\1[redacted]", text))
