"""Send limits: sliding windows per key (all sends of a bot, one chat) and pauses from
`retry_after`.

`SendLimiter` is the port; `RateLimiter` keeps the windows in this process (one process, or
tests); `storage/shared_limits.py` keeps them in Redis so that every process sending for one
bot shares them. Wall time (monotonic), not the app's clock: the limits are the platform's,
in real seconds.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Limit:
    """At most `count` sends in any `per_seconds` window (a burst of `count`, then the pace)."""

    count: int
    per_seconds: float


# (key, limit): e.g. ("telegram:<bot>:all", Limit(30, 1.0)).
Rule = tuple[str, Limit]


class SendLimiter(Protocol):
    async def take(self, rules: Sequence[Rule]) -> float:
        """One send under every rule: if all allow it now, count it and return 0; otherwise
        count nothing and return the seconds until they may (a pause included)."""

    async def pause(self, key: str, seconds: float) -> None:
        """The platform said `retry_after`: nothing under this key goes before then."""


class RateLimiter:
    """The limits in this process's memory."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self._paused_until: dict[str, float] = {}

    async def take(self, rules: Sequence[Rule]) -> float:
        wait = self.wait(rules)
        if wait == 0:
            now = self._now()
            for key, _ in rules:
                self._sent[key].append(now)
        return wait

    async def pause(self, key: str, seconds: float) -> None:
        until = self._now() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def wait(self, rules: Sequence[Rule]) -> float:
        """Seconds until a send under every rule is allowed (0: now)."""
        now = self._now()
        longest = 0.0
        for key, limit in rules:
            longest = max(longest, self._paused_until.get(key, 0.0) - now)
            sent = self._sent[key]
            while sent and sent[0] <= now - limit.per_seconds:
                sent.popleft()
            if len(sent) >= limit.count:
                longest = max(longest, sent[len(sent) - limit.count] + limit.per_seconds - now)
        return max(0.0, longest)
