"""Rate limits by GCRA (the generic cell rate algorithm), shared by every gateway node through one Redis script.

Each limited thing (an agent; an agent's rule on one tool) keeps one number, its theoretical arrival time (TAT).
A call at ``now`` is admitted when ``TAT + interval - burst * interval <= now``; admitting it moves the TAT on by
one interval. So ``burst`` calls may come back to back, then one per ``interval`` (= period / count). All the
limits of one call are checked and moved in one script, atomically: a call refused by one limit consumes none.
The clock is Redis' own (``TIME``), so nodes with drifting clocks still agree. Without Redis (the embedded
default) the same arithmetic runs in this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from django.conf import settings

from policies.compiled import RateLimit

# KEYS: one per limit; ARGV: interval_us, burst for each key, in order. Returns {0, -1} when admitted, else
# {microseconds until the call would be admitted, index of the limit (0-based)}.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allow_at = tat + interval - interval * burst
  if allow_at > now then
    return {math.ceil(allow_at - now), i - 1}
  end
  tats[i] = tat + interval
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, -1}
"""


def interval_us(rate: RateLimit) -> float:
    return rate.period_seconds * 1_000_000 / rate.count


def _prefix() -> str:
    """The deployment's key prefix (SCOPEGATE_CACHE_PREFIX): deployments, and test runs, sharing one Redis
    never share a limit."""
    return settings.CACHES["default"].get("KEY_PREFIX") or "sg"


def rule_key(rule_id: int, tool: str) -> str:
    return f"{_prefix()}:rl:r:{rule_id}:{hashlib.sha256(tool.encode()).hexdigest()[:16]}"


def agent_key(agent_id: int) -> str:
    return f"{_prefix()}:rl:a:{agent_id}"


class _Local:
    """The embedded default: the same GCRA in this process."""

    def __init__(self) -> None:
        self.tats: dict[str, float] = {}

    def hit(self, limits: list[tuple[str, RateLimit]]) -> tuple[int, int]:
        now = time.monotonic() * 1_000_000
        moved = []
        for i, (key, rate) in enumerate(limits):
            interval = interval_us(rate)
            tat = max(self.tats.get(key, now), now)
            allow_at = tat + interval - interval * rate.burst
            if allow_at > now:
                return int(allow_at - now) + 1, i
            moved.append((key, tat + interval))
        if len(self.tats) > 100_000:  # forget the idle ones rather than grow without bound
            self.tats = {k: v for k, v in self.tats.items() if v > now}
        self.tats.update(moved)
        return 0, -1


class _Redis:
    """One asyncio Redis client per event loop, and the registered script."""

    def __init__(self) -> None:
        self.client = None
        self.script = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def get(self):
        loop = asyncio.get_running_loop()
        if self.client is None or self.loop is not loop:
            import redis.asyncio as redis

            self.client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
            self.script = self.client.register_script(GCRA)
            self.loop = loop
        return self.script

    async def hit(self, limits: list[tuple[str, RateLimit]]) -> tuple[int, int]:
        args: list[float | int] = []
        for _, rate in limits:
            args += [interval_us(rate), rate.burst]
        wait_us, index = await self.get()(keys=[k for k, _ in limits], args=args)
        return int(wait_us), int(index)


_local = _Local()
_redis = _Redis()


async def rate_hit(limits: list[tuple[str, RateLimit]]) -> tuple[int, int]:
    """Counts one call against every limit, or none: (0, -1) when admitted, else (microseconds to wait, the
    index of the limit that refused). Raises when Redis cannot be reached (the caller refuses the call)."""
    if not limits:
        return 0, -1
    if settings.REDIS_URL:
        return await _redis.hit(limits)
    return _local.hit(limits)
