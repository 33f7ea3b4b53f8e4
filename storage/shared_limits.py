"""The send limits (bot/core/ratelimit.py SendLimiter) in Redis, shared by every process.

Several outbox workers, on several machines, send for one bot; the platform counts their
sends together, so the windows must be counted in one place. Each rule key has a sorted set
of its recent sends (score: the time in microseconds, member: one token per send) and may have
a pause key whose time to live is the pause. One Lua script checks every rule and records the
send under all of them, or under none: run by Redis one at a time, it cannot count a send
under one rule and refuse it under another, nor let two processes take the last slot. Time is
Redis's (`TIME` in the script), so the processes' clocks do not matter.

If Redis cannot be reached, `take` and `pause` raise (redis.exceptions.RedisError or OSError)
instead of guessing: the caller logs it and tries again later, and sends nothing meanwhile.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.core.ratelimit import Rule

# KEYS: per rule, its window (sorted set) then its pause key. ARGV: the send's token, then per
# rule its count and its window in microseconds. Returns {wait in microseconds, server time in
# microseconds}; a wait of 0 means the send was counted under every rule.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local rules = #KEYS / 2
for i = 1, rules do
  local sent, paused = KEYS[2 * i - 1], KEYS[2 * i]
  local count, per = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local pause_ms = redis.call('PTTL', paused)
  if pause_ms > 0 then wait = math.max(wait, pause_ms * 1000) end
  redis.call('ZREMRANGEBYSCORE', sent, '-inf', now - per)
  local n = redis.call('ZCARD', sent)
  if n >= count then
    -- the send that must leave the window before one more fits
    local oldest = redis.call('ZRANGE', sent, n - count, n - count, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + per - now)
  end
end
if wait == 0 then
  for i = 1, rules do
    local sent, per = KEYS[2 * i - 1], tonumber(ARGV[2 * i + 1])
    redis.call('ZADD', sent, now, ARGV[1])
    -- once the newest send has left the window the set says nothing: let it go
    redis.call('PEXPIRE', sent, math.ceil(per / 1000))
  end
end
return {wait, now}
"""

# KEYS[1]: the pause key; ARGV[1]: the pause in milliseconds. A longer pause is kept.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
"""


class RedisLimiter:
    """Sliding windows and pauses in Redis: one limit per bot however many processes send.

    A key names one limit (give a key one `Limit`), as with `RateLimiter`. Every key of one
    `take` is touched by one script, so on a Redis Cluster they would need one hash slot.
    """

    def __init__(self, url: str, prefix: str = "koxbot:limit:") -> None:
        # Bounded timeouts and no retries: an unreachable Redis raises soon, and the outbox
        # decides what to do (a send is never made without the limiter's yes).
        self._redis = aioredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._pause = self._redis.register_script(_PAUSE)

    def _sent_key(self, key: str) -> str:
        return f"{self._prefix}sent:{key}"

    def _paused_key(self, key: str) -> str:
        return f"{self._prefix}paused:{key}"

    async def take(self, rules: Sequence[Rule]) -> float:
        """One send under every rule: if all allow it now, count it and return 0; otherwise
        count nothing and return the seconds until they may (a pause included)."""
        wait, _ = await self.take_timed(rules)
        return wait

    async def take_timed(self, rules: Sequence[Rule]) -> tuple[float, float]:
        """`take`, with the Redis server time (epoch seconds) of the decision: the clock the
        windows are counted on, so a test or a log can check the sends against them."""
        keys: list[str] = []
        args: list[str | int] = [uuid.uuid4().hex]
        for key, limit in rules:
            keys += [self._sent_key(key), self._paused_key(key)]
            args += [limit.count, math.ceil(limit.per_seconds * 1_000_000)]
        wait_us, now_us = await self._take(keys=keys, args=args)
        return int(wait_us) / 1_000_000, int(now_us) / 1_000_000

    async def pause(self, key: str, seconds: float) -> None:
        """The platform said `retry_after`: nothing under this key goes before then, in any
        process (a longer pause already set is kept)."""
        if seconds > 0:
            await self._pause(keys=[self._paused_key(key)], args=[math.ceil(seconds * 1000)])

    async def ping(self) -> bool:
        """Whether Redis answers (for the health check; never raises)."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
