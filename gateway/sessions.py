"""Legacy-era sessions that any gateway node can serve.

The ``Mcp-Session-Id`` is a signed token naming the agent, the key and the negotiated version, so a node that
never saw the ``initialize`` still serves the session. Ending a session (DELETE, or revoking its key) is
broadcast to every node like a policy change; a node that missed it learns at the latest when the key is
refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from django.core import signing

SALT = "scopegate.gateway.session"
MAX_AGE_SECONDS = 7 * 24 * 3600
_ended: dict[str, float] = {}


@dataclass(frozen=True)
class Session:
    token: str
    agent_public_id: str
    key_id: int
    version: str
    capabilities: dict  # what the client declared at initialize, forwarded to upstreams
    client: tuple[str, str] = ("", "")  # the client's name and version from initialize, for the audit trail


def session_issue(
    *,
    agent_public_id: str,
    key_id: int,
    version: str,
    capabilities: dict | None = None,
    client: tuple[str, str] = ("", ""),
) -> str:
    # The nonce makes every session distinct: without it, two opened in the same second would be one token,
    # and ending one would end both.
    data = {"a": agent_public_id, "k": key_id, "v": version, "c": capabilities or {}, "n": secrets.token_urlsafe(9)}
    if client[0]:
        data["i"] = [client[0][:64], client[1][:32]]
    return signing.dumps(data, salt=SALT, compress=True)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def session_open(token: str, *, agent_public_id: str) -> Session | None:
    if not token or len(token) > 512 or _token_hash(token) in _ended:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != agent_public_id:
        return None
    caps = data.get("c") if isinstance(data.get("c"), dict) else {}
    info = data.get("i") if isinstance(data.get("i"), list) and len(data["i"]) == 2 else ("", "")
    return Session(
        token=token,
        agent_public_id=data["a"],
        key_id=int(data["k"]),
        version=str(data["v"]),
        capabilities=caps,
        client=(str(info[0]), str(info[1])),
    )


def session_ref(token: str) -> str:
    """What the audit trail keeps of a session: enough to group its events, useless as a credential."""
    return _token_hash(token)[:16]


_levels: dict[str, str] = {}


def session_log_level(token: str) -> str | None:
    return _levels.get(_token_hash(token))


async def session_set_log_level(token: str, level: str) -> None:
    """A legacy session's logging level, remembered on every node (like the end of a session)."""
    from policies.invalidation import announce_async

    await announce_async({"session_levels": {_token_hash(token): level}})


def remember_levels(levels: dict[str, str]) -> None:
    if len(_levels) > 100_000:
        _levels.clear()
    _levels.update(levels)


async def session_end(token: str) -> None:
    from policies.invalidation import announce_sessions_ended

    await announce_sessions_ended([_token_hash(token)])


def forget_ended(hashes: list[str]) -> None:
    now = time.monotonic()
    for digest in hashes:
        _ended[digest] = now
    if len(_ended) > 100_000:  # bounded: the oldest go first; their signatures expire anyway
        for digest, _ in sorted(_ended.items(), key=lambda kv: kv[1])[:50_000]:
            _ended.pop(digest, None)
