"""Keeping secrets that URLs carry out of the access log (``scopegate.asgi`` applies it to daphne's, whichever way
daphne is started): an agent key in the secret-URL form of its endpoint, an invitation (``sg_inv_``), an e-mail
confirmation or password reset link, an OAuth callback's code and state, and any ``key``/``token``/``secret``
query parameter."""

import re

_SECRET_PATH = re.compile(
    r"(/mcp/[A-Za-z0-9_-]{1,64}/|/accounts/confirm-email/|/accounts/password/reset/key/)[^/?#\s\"]+"
)
_KEY = re.compile(r"sg_(key|api|inv)_[A-Za-z0-9_-]{8,}")
# An OAuth callback's query carries the authorization code (and its state): single use, but a secret until used.
_SECRET_PARAM = re.compile(r"([?&](?:code|state|key|token|access_token|secret)=)[^&#\s\"]+", re.IGNORECASE)


def redact_path(text: str) -> str:
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    return _KEY.sub(r"sg_\1_[redacted]", _SECRET_PATH.sub(r"\1[redacted]", text))
