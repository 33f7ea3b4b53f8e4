"""The clock's work: jobs the app registers, run in order on every tick.

`tick()` runs them once (the console's `!advance`, tests). `run()` ticks in real time: at the
earliest moment any job says it next has work (a GO at its second, not a poll later), at
least every `max_sleep` seconds, and at once when something calls `wake()` (a timeline that
was moved, a broadcast that was scheduled). With several processes, only the one `leading`
ticks; the others stand by, ready to take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]
NextWake = Callable[[], Awaitable[datetime | None]]
MAX_SLEEP_SECONDS = 5.0


@dataclass(frozen=True)
class _Entry:
    job: Job
    next_wake: NextWake | None


class Scheduler:
    def __init__(self, clock: Clock, max_sleep: float = MAX_SLEEP_SECONDS) -> None:
        self.clock = clock
        self.max_sleep = max_sleep
        self._jobs: list[_Entry] = []
        self._wake = asyncio.Event()
        self._stopping = False

    def every_tick(self, job: Job, next_wake: NextWake | None = None) -> None:
        """Run `job` on every tick, after those registered before it; `next_wake` tells when
        it next has work (None: nothing planned)."""
        self._jobs.append(_Entry(job, next_wake))

    def wake(self) -> None:
        self._wake.set()

    async def tick(self) -> None:
        for entry in self._jobs:
            await entry.job()

    async def run(self, leading: Callable[[], bool] = lambda: True) -> None:
        """Tick in real time until `stop()` (which may come before the task first runs), while
        `leading` says this process runs the clock's work (a standby is woken when it may)."""
        while not self._stopping:
            self._wake.clear()
            if not leading():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.max_sleep)
                continue
            try:
                await self.tick()
                wait = await self._seconds_to_next_wake()
            except Exception:  # a database hiccup must not end the clock's work for good
                log.exception("scheduled tick failed")
                wait = self.max_sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _seconds_to_next_wake(self) -> float:
        wait = self.max_sleep
        for entry in self._jobs:
            if entry.next_wake is None:
                continue
            moment = await entry.next_wake()
            if moment is not None:
                wait = min(wait, max((moment - self.clock.now()).total_seconds(), 0.0))
        return wait
