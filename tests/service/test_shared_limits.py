"""The send limits: one contract for `RateLimiter` (in memory) and `RedisLimiter` (shared),
and proof that processes sharing a Redis never together exceed a limit.

Redis counts on its own clock in real time, so its cases use short real windows and check
each wait against bounds measured around the calls (never a wall-time equality): they hold
however late a busy machine runs them. The in-memory cases move an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.exceptions import RedisError

from bot.core.ratelimit import Limit, RateLimiter, Rule, SendLimiter
from storage.shared_limits import RedisLimiter
from tests import redis_support
from tests.redis_support import REDIS_URL, needs_redis

redis_prefix = redis_support.redis_prefix  # the fixture, for this module's tests

ROOT = Path(__file__).resolve().parents[2]
# Rounding: waits come back in whole microseconds (pauses in milliseconds).
SLACK = 0.005


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """One limiter under test and how time passes for it."""

    limiter: SendLimiter
    window: float  # a window short enough to wait out
    clock: FakeMonotonic | None = None  # None: real time (Redis)

    def watch(self) -> float:
        """Now, on the clock that bounds the limiter's answers."""
        return self.clock.now if self.clock else time.monotonic()

    async def elapse(self, seconds: float) -> None:
        if self.clock:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)

    async def take_after_waiting(self, rules: Sequence[Rule]) -> None:
        """Wait what the limiter says, then the send goes (allowing for clock granularity:
        a second wait may be a few milliseconds, never a window)."""
        for _ in range(3):
            wait = await self.limiter.take(rules)
            if wait == 0:
                return
            assert wait <= self.window * 3, wait
            await self.elapse(wait)
        raise AssertionError("still refused after waiting what the limiter said")


@pytest.fixture(params=["memory", pytest.param("redis", marks=[needs_redis, pytest.mark.redis])])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeMonotonic()
        yield Harness(RateLimiter(monotonic=clock), window=10.0, clock=clock)
        return
    limiter = RedisLimiter(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    try:
        # Short enough to wait out a few times, long enough that a busy machine's stalls
        # between two calls do not let a window slip by unnoticed (with 0.5 s the burst test
        # failed once in a run of the whole suite).
        yield Harness(limiter, window=1.0)
    finally:
        await limiter.close()


def assert_wait(wait: float, expected_at_start: float, elapsed: float) -> None:
    """`wait` was expected to be `expected_at_start` when the test's clock started and
    `elapsed` has passed since: it lies between the two ends, up to rounding."""
    assert expected_at_start - elapsed - SLACK <= wait <= expected_at_start + SLACK, (
        wait,
        expected_at_start,
        elapsed,
    )


async def test_a_burst_of_count_then_a_wait(harness: Harness) -> None:
    window = harness.window
    rule: Rule = ("bot:all", Limit(3, window))
    start = harness.watch()
    for _ in range(3):
        assert await harness.limiter.take([rule]) == 0
        await harness.elapse(window / 20)
    wait = await harness.limiter.take([rule])
    # The first send leaves the window `window` after it was made.
    assert_wait(wait, window, harness.watch() - start)
    assert wait > 0
    # Refused again at once: the refusal counted nothing and changed nothing.
    again = await harness.limiter.take([rule])
    assert 0 < again <= wait + SLACK
    await harness.take_after_waiting([rule])
    # Only one slot came free (the first send's); the next waits for the second send.
    wait = await harness.limiter.take([rule])
    assert 0 < wait <= window + SLACK


async def test_the_wait_is_the_longest_of_the_rules(harness: Harness) -> None:
    window = harness.window
    short: Rule = ("chat:1", Limit(1, window / 2))
    long: Rule = ("bot:all", Limit(1, window))
    start = harness.watch()
    assert await harness.limiter.take([short, long]) == 0
    wait = await harness.limiter.take([short, long])
    assert_wait(wait, window, harness.watch() - start)
    await harness.take_after_waiting([short, long])


async def test_a_refusal_counts_under_no_rule(harness: Harness) -> None:
    # A long window: nothing here waits, and nothing may expire midway on a slow machine.
    per = 30.0
    everyone = ("bot:all", Limit(2, per))
    limiter = harness.limiter
    assert await limiter.take([("chat:1", Limit(1, per)), everyone]) == 0
    # Refused by the chat: the bot-wide slot it would have used stays free...
    assert await limiter.take([("chat:1", Limit(1, per)), everyone]) > 0
    assert await limiter.take([("chat:2", Limit(1, per)), everyone]) == 0
    # ...refused by the bot-wide rule: chat 3's own slot stays free.
    assert await limiter.take([("chat:3", Limit(1, per)), everyone]) > 0
    assert await limiter.take([("chat:3", Limit(1, per))]) == 0


async def test_a_pause_delays_its_key_only(harness: Harness) -> None:
    window = harness.window
    paused: Rule = ("bot:all", Limit(100, window))
    start = harness.watch()
    await harness.limiter.pause("bot:all", window)
    wait = await harness.limiter.take([("chat:1", Limit(100, window)), paused])
    assert_wait(wait, window, harness.watch() - start)
    assert wait > 0
    # The refusal counted nothing under the chat, and other keys go on.
    assert await harness.limiter.take([("chat:1", Limit(1, window))]) == 0
    await harness.take_after_waiting([paused])


async def test_a_shorter_pause_keeps_the_longer(harness: Harness) -> None:
    rule: Rule = ("bot:all", Limit(100, 1.0))
    start = harness.watch()
    await harness.limiter.pause("bot:all", 30.0)
    await harness.limiter.pause("bot:all", 0.5)
    assert_wait(await harness.limiter.take([rule]), 30.0, harness.watch() - start)
    # and a longer one after a shorter one lengthens it
    await harness.limiter.pause("bot:all", 60.0)
    assert_wait(await harness.limiter.take([rule]), 60.0, harness.watch() - start)


async def test_redis_unreachable_raises_and_ping_says_no() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await limiter.ping() is False
        with pytest.raises(RedisError):
            await limiter.take([("bot:all", Limit(1, 1.0))])
        with pytest.raises(RedisError):
            await limiter.pause("bot:all", 1.0)
    finally:
        await limiter.close()


@needs_redis
@pytest.mark.redis
async def test_keys_expire_with_their_window(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        assert await limiter.ping() is True
        await limiter.take([("bot:all", Limit(5, 2.0))])
        await limiter.pause("chat:1", 3.0)
    finally:
        await limiter.close()
    with redis.Redis.from_url(REDIS_URL) as raw:
        assert 0 < raw.pttl(f"{redis_prefix}sent:bot:all") <= 2000
        assert 0 < raw.pttl(f"{redis_prefix}paused:chat:1") <= 3000


# --- several processes, one limit -------------------------------------------------------

WINDOW = 0.5
GLOBAL = Limit(10, WINDOW)
PER_CHAT = Limit(3, WINDOW)
CHATS = ("a", "b", "c", "d", "e")
HAMMER_SECONDS = 2.5  # five windows
PAUSE_AFTER, PAUSE_SECONDS = 1.0, 0.6

# One worker: say "ready", wait for "go", then take as fast as it may for HAMMER_SECONDS; the
# first worker pauses the bot-wide key midway. Every attempt is reported with the Redis time
# of its decision, in whole microseconds, as the windows are counted.
WORKER = f"""
import asyncio, json, random, sys, time
from bot.core.ratelimit import Limit
from storage.shared_limits import RedisLimiter

url, prefix, me = sys.argv[1], sys.argv[2], int(sys.argv[3])

async def main():
    limiter = RedisLimiter(url, prefix=prefix)
    attempts, pause = [], None
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start = time.monotonic()
    while time.monotonic() - start < {HAMMER_SECONDS}:
        if me == 0 and pause is None and time.monotonic() - start > {PAUSE_AFTER}:
            await limiter.pause("bot:all", {PAUSE_SECONDS})
            wait, at = await limiter.take_timed([("bot:all", {GLOBAL!r})])
            pause = [round(at * 1e6), round(wait * 1e6)]
            continue
        chat = random.choice({CHATS!r})
        rules = [("bot:all", {GLOBAL!r}), ("chat:" + chat, {PER_CHAT!r})]
        wait, at = await limiter.take_timed(rules)
        attempts.append([round(at * 1e6), wait == 0, round(wait * 1e6), chat])
        if wait:
            await asyncio.sleep(random.uniform(0, min(wait, 0.05)))  # and try again
    await limiter.close()
    print(json.dumps({{"attempts": attempts, "pause": pause}}), flush=True)

asyncio.run(main())
"""


def most_in_a_window(times: list[int], window_us: int) -> int:
    """The most of `times` in any window (t - window, t], as the limiter counts."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window_us:
            first += 1
        most = max(most, last - first + 1)
    return most


async def run_workers(count: int, prefix: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            REDIS_URL,
            prefix,
            str(i),
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(count)
    ]
    try:
        for worker in workers:  # all started before any begins: they overlap
            assert worker.stdout and await asyncio.wait_for(worker.stdout.readline(), 60)
        for worker in workers:
            assert worker.stdin
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(worker.communicate() for worker in workers)), 60
        )
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
    assert all(worker.returncode == 0 for worker in workers)
    return [json.loads(out.decode().splitlines()[-1]) for out, _ in outputs]


@needs_redis
@pytest.mark.redis
@pytest.mark.timeout(180)
async def test_processes_together_never_exceed_a_limit(redis_prefix: str) -> None:
    reports = await run_workers(4, redis_prefix)
    window_us = round(WINDOW * 1e6)
    granted = [(a[0], me, a[3]) for me, r in enumerate(reports) for a in r["attempts"] if a[1]]

    # Every window, on Redis's clock: never more than the limit, bot-wide or in one chat.
    assert most_in_a_window([t for t, _, _ in granted], window_us) == GLOBAL.count
    for chat in CHATS:
        times = [t for t, _, c in granted if c == chat]
        assert most_in_a_window(times, window_us) <= PER_CHAT.count, chat
    # Not vacuous: the limit was reached (above), by several processes competing for it.
    assert len({me for _, me, _ in granted}) >= 3

    # The pause worker 0 set held the others back: none was granted until it ended, and
    # each one refused meanwhile was told to wait at least that long. Redis keeps a pause in
    # whole milliseconds on the clock it read when the script began, so the end it reports
    # may be up to a millisecond (and the script's few microseconds) late.
    at, wait = reports[0]["pause"]
    assert wait > 0
    until = at + wait - 2000
    held = [a for r in reports[1:] for a in r["attempts"] if at <= a[0] < until]
    assert held, "no other process tried during the pause"
    assert not [a for a in held if a[1]]
    assert all(a[0] + a[2] >= until for a in held)
    assert [a for r in reports[1:] for a in r["attempts"] if a[1] and a[0] >= until]
