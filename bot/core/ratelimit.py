"""Sliding-window send limits per key (all sends, one chat), and pauses from `retry_after`.

Wall time (monotonic), not the app's clock: these limits are the platform's, in real seconds.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    count: int
    per_seconds: float


class RateLimiter:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._sent: dict[Hashable, deque[float]] = defaultdict(deque)
        self._paused_until: dict[Hashable, float] = {}

    def wait(self, rules: list[tuple[Hashable, Limit]]) -> float:
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

    def record(self, rules: list[tuple[Hashable, Limit]]) -> None:
        now = self._now()
        for key, _ in rules:
            self._sent[key].append(now)

    def pause(self, key: Hashable, seconds: float) -> None:
        """The platform said `retry_after`: nothing under this key goes before then."""
        until = self._now() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)
